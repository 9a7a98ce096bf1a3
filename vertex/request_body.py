"""generateContent request bodies: built from a prompt, merged with the
job's defaults, measured for the tokens-per-minute limit. Bodies here are
in camelCase, as vertex_schema reads them."""
from __future__ import annotations

import copy
import json
import math
from typing import Any


def user_content(text: str) -> dict:
    return {"role": "user", "parts": [{"text": text}]}


def as_content(value: Any) -> dict:
    """A system instruction given as a string or as a Content object."""
    if isinstance(value, str):
        return {"parts": [{"text": value}]}
    if isinstance(value, dict) and "parts" in value:
        return value
    raise ValueError("system instruction must be a string or a Content object with parts")


def merge_defaults(body: dict, defaults: dict) -> dict:
    """Job-level defaults under a record's own body; the record wins.

    generationConfig merges field by field, safetySettings by category,
    everything else (systemInstruction, tools, ...) is taken whole. The
    defaults are copied (every record gets them); the body is not (it is
    the record's own, just read).
    """
    merged = copy.deepcopy(defaults) if defaults else {}
    for key, value in body.items():
        if key == "generationConfig" and isinstance(value, dict):
            merged[key] = {**merged.get(key, {}), **value}
        elif key == "safetySettings" and isinstance(value, list):
            by_category = {s.get("category"): s for s in merged.get(key, [])}
            by_category.update({s.get("category"): s for s in value if isinstance(s, dict)})
            merged[key] = list(by_category.values())
        else:
            merged[key] = value
    return merged


def prompt_text(body: dict) -> str:
    """All the text a generateContent body sends (contents and system instruction)."""
    texts = []
    for content in [body.get("systemInstruction") or {}, *(body.get("contents") or [])]:
        if isinstance(content, dict):
            for part in content.get("parts") or []:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    texts.append(part["text"])
    return "\n".join(texts)


def estimate_tokens(body: dict) -> int:
    """A cheap, deliberately generous estimate of a request's prompt tokens,
    for the tokens-per-minute limit before the real count is known.
    Gemini tokens average about four characters of English text."""
    text_chars = len(prompt_text(body))
    # Non-text parts and tools are billed too; count their JSON size coarsely.
    other = body.get("tools")
    other_chars = len(json.dumps(other)) if other else 0
    return max(1, math.ceil((text_chars + other_chars) / 4))


ASSUMED_OUTPUT_TOKENS = 500  # when a request sets no maxOutputTokens (budget and --dry_run)


# Thinking tokens an answer likely spends when its request leaves thinking to
# the model (Google publishes no figures: generous guesses, which the job
# replaces by what it measures as answers come in).
THINKING_TOKENS_BY_LEVEL = {"MINIMAL": 256, "LOW": 1024, "MEDIUM": 4096, "HIGH": 8192}
DYNAMIC_THINKING_TOKENS = 8192  # thinkingBudget -1, or a budget model's default


def expected_thinking_tokens(body: dict, thinking: dict | None) -> int:
    """The thinking an answer will likely add to its output tokens (billed
    at the output price), before the call. `thinking`: the model's thinking
    control from the catalog (None: a model that does not think). With a
    maxOutputTokens the cap already bounds thinking and answer together."""
    config = body.get("generationConfig") or {}
    if not thinking or config.get("maxOutputTokens"):
        return 0
    asked = config.get("thinkingConfig") or {}
    if asked.get("thinkingBudget") is not None:
        budget = int(asked["thinkingBudget"])
        return DYNAMIC_THINKING_TOKENS if budget < 0 else budget
    level = asked.get("thinkingLevel") or thinking.get("default")
    if thinking.get("control") == "level" or level:
        return THINKING_TOKENS_BY_LEVEL.get(str(level).upper(), THINKING_TOKENS_BY_LEVEL["HIGH"])
    return DYNAMIC_THINKING_TOKENS


def expected_output_tokens(body: dict) -> int:
    """What an answer will likely hold, for estimates before the call:
    maxOutputTokens where set (an upper bound), else ASSUMED_OUTPUT_TOKENS,
    per candidate."""
    config = body.get("generationConfig") or {}
    per_candidate = int(config.get("maxOutputTokens") or ASSUMED_OUTPUT_TOKENS)
    return per_candidate * int(config.get("candidateCount") or 1)
