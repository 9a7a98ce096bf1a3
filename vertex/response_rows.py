"""Parsing generateContent responses into plain rows (dicts of column values).

The column names here are the output contract (DESIGN.md); the Parquet types
for them live in transforms/schemas.py.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from vertex.errors import error_code_and_message

# Finish reasons that mean a filter stopped the answer, not the model.
BLOCKING_FINISH_REASONS = frozenset({
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
    "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION",
})

_USAGE_FIELDS = {
    "promptTokenCount": "prompt_token_count",
    "candidatesTokenCount": "candidates_token_count",
    "totalTokenCount": "total_token_count",
    "cachedContentTokenCount": "cached_content_token_count",
    "thoughtsTokenCount": "thoughts_token_count",
    "toolUsePromptTokenCount": "tool_use_prompt_token_count",
}


def usage_row(usage_metadata: dict | None) -> dict:
    usage = usage_metadata or {}
    return {column: _int_or_none(usage.get(field)) for field, column in _USAGE_FIELDS.items()}


def safety_rating_rows(ratings: Iterable[dict] | None) -> list[dict]:
    return [{
        "category": r.get("category"),
        "probability": r.get("probability"),
        "probability_score": _float_or_none(r.get("probabilityScore")),
        "severity": r.get("severity"),
        "severity_score": _float_or_none(r.get("severityScore")),
        "blocked": bool(r.get("blocked", False)),
    } for r in ratings or [] if isinstance(r, dict)]


def candidate_text(candidate: dict) -> str | None:
    """The answer text of a candidate; thought summaries are not the answer."""
    parts = (candidate.get("content") or {}).get("parts") or []
    texts = [p["text"] for p in parts
             if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")]
    return "".join(texts) if texts else None


def function_call_rows(candidate: dict) -> list[dict]:
    parts = (candidate.get("content") or {}).get("parts") or []
    return [{"name": p["functionCall"].get("name"),
             "args_json": json.dumps(p["functionCall"].get("args") or {}, sort_keys=True)}
            for p in parts if isinstance(p, dict) and isinstance(p.get("functionCall"), dict)]


def response_row(response: dict) -> dict:
    """The parsed columns of one GenerateContentResponse.

    status is `blocked` when the prompt was refused (promptFeedback.blockReason)
    or the first candidate was stopped by a filter, `ok` otherwise.
    """
    candidates = [c for c in response.get("candidates") or [] if isinstance(c, dict)]
    first = candidates[0] if candidates else {}
    feedback = response.get("promptFeedback") or {}
    finish_reason = first.get("finishReason")

    block_reason = feedback.get("blockReason")
    if block_reason:
        status, ratings = "blocked", feedback.get("safetyRatings")
    elif finish_reason in BLOCKING_FINISH_REASONS:
        status, block_reason, ratings = "blocked", finish_reason, first.get("safetyRatings")
    else:
        status, ratings = "ok", first.get("safetyRatings")
    if not candidates and not block_reason:
        status, block_reason = "blocked", "NO_CANDIDATES"

    return {
        "status": status,
        "text": candidate_text(first) if first else None,
        "finish_reason": finish_reason,
        "safety_ratings": safety_rating_rows(ratings),
        "block_reason": block_reason,
        "block_reason_message": feedback.get("blockReasonMessage"),
        "usage": usage_row(response.get("usageMetadata")),
        "model_version": response.get("modelVersion"),
        "response_id": response.get("responseId"),
        "function_calls": function_call_rows(first) if first else [],
        "candidates": [{
            "index": _int_or_none(c.get("index", i)),
            "text": candidate_text(c),
            "finish_reason": c.get("finishReason"),
        } for i, c in enumerate(candidates)],
    }


def error_columns(error: BaseException, redact: Callable[[str], str]) -> dict:
    """Why a call failed, as output columns: the canonical status name (e.g.
    RESOURCE_EXHAUSTED), the HTTP status if there was one, and the message
    with every secret taken out."""
    code, status, message = error_code_and_message(error)
    return {"error_code": code, "http_status": status, "error_message": redact(message)}


def merge_stream_chunks(chunks: list[dict]) -> dict:
    """Joins the chunks of a streamGenerateContent answer into one response,
    as if generateContent had been called: text parts are concatenated per
    candidate, other parts appended, the last finishReason, safetyRatings and
    usageMetadata win."""
    merged: dict[str, Any] = {}
    by_index: dict[int, dict] = {}
    for chunk in chunks:
        for key in ("usageMetadata", "modelVersion", "promptFeedback", "responseId", "createTime"):
            if chunk.get(key):
                merged[key] = chunk[key]
        for position, candidate in enumerate(chunk.get("candidates") or []):
            index = candidate.get("index", position)
            target = by_index.setdefault(index, {"content": {"role": "model", "parts": []}})
            if index:
                target["index"] = index
            parts = target["content"]["parts"]
            for part in (candidate.get("content") or {}).get("parts") or []:
                if ("text" in part and parts and "text" in parts[-1]
                        and bool(part.get("thought")) == bool(parts[-1].get("thought"))):
                    parts[-1] = {**parts[-1], "text": parts[-1]["text"] + part["text"]}
                else:
                    parts.append(dict(part))
            for key, value in candidate.items():
                if key not in ("content", "index") and value:
                    target[key] = value
    if by_index:
        merged["candidates"] = [by_index[i] for i in sorted(by_index)]
    return merged


def _int_or_none(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _float_or_none(value) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
