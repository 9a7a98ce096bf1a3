"""Deterministic answers: the same request always gets the same answer.

The text is seeded from the model, the contents, the system instruction and
generationConfig.seed, but not from the settings that only cut an answer
short (maxOutputTokens, stopSequences), so a shorter answer is a prefix of the
longer one, as with a real model at temperature 0.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field

from emulator.markers import Markers, strip_markers

TOKEN = re.compile(r"\w+|[^\w\s]")
MEDIA_PART_TOKENS = 258  # what Gemini bills for one image
HARM_CATEGORIES = ("HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_DANGEROUS_CONTENT",
                   "HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_SEXUALLY_EXPLICIT")
_WORDS = (
    "the data shows a clear pattern across each sample and label set with strong signal "
    "model answer record value field result quality review customer product order item "
    "price return delivery support team issue update report summary insight trend growth "
    "risk score rating positive negative neutral mixed clearly likely often rarely mostly "
    "because while although however therefore overall in short note that this suggests "
    "we can see the main point is simple fast reliable useful careful balanced accurate "
    "river mountain city garden ocean forest morning evening light color shape texture "
    "small large bright calm quiet busy early late new old first last next best key"
).split()


def count_tokens(text: str) -> int:
    return len(TOKEN.findall(text))


def request_text(request: dict, with_system: bool = True) -> str:
    contents = list(request.get("contents") or [])
    if with_system and request.get("systemInstruction"):
        contents.insert(0, request["systemInstruction"])
    return "\n".join(part["text"] for content in contents for part in content.get("parts", [])
                     if isinstance(part.get("text"), str))


def prompt_token_count(request: dict) -> int:
    media = sum(1 for content in request.get("contents") or [] for part in content["parts"]
                if "inlineData" in part or "fileData" in part)
    tools = request.get("tools")
    return (count_tokens(strip_markers(request_text(request)))
            + media * MEDIA_PART_TOKENS
            + (count_tokens(json.dumps(tools)) if tools else 0))


def _rng(*parts) -> random.Random:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass
class Candidate:
    parts: list[dict]
    finish_reason: str
    safety_ratings: list[dict]
    token_count: int
    index: int = 0
    extra: dict = field(default_factory=dict)

    def as_json(self, include_parts: bool = True) -> dict:
        candidate = {"content": {"role": "model", "parts": self.parts if include_parts else []},
                     "finishReason": self.finish_reason, "safetyRatings": self.safety_ratings}
        if self.index:
            candidate["index"] = self.index
        return candidate


def safety_ratings(rng: random.Random, unsafe: list[str], thresholds: dict[str, str],
                   ) -> tuple[list[dict], bool]:
    """Ratings for the four categories; returns (ratings, blocked)."""
    ratings, blocked = [], False
    for category in HARM_CATEGORIES:
        if category in unsafe:
            hit = thresholds.get(category) not in ("BLOCK_NONE", "OFF")
            blocked = blocked or hit
            rating = {"category": category, "probability": "HIGH",
                      "probabilityScore": round(0.9 + rng.random() * 0.09, 6),
                      "severity": "HARM_SEVERITY_HIGH",
                      "severityScore": round(0.8 + rng.random() * 0.19, 6)}
            if hit:
                rating["blocked"] = True
        else:
            rating = {"category": category, "probability": "NEGLIGIBLE",
                      "probabilityScore": round(rng.random() * 0.1, 6),
                      "severity": "HARM_SEVERITY_NEGLIGIBLE",
                      "severityScore": round(rng.random() * 0.1, 6)}
        ratings.append(rating)
    return ratings, blocked


def _sentence_text(rng: random.Random, words: int) -> str:
    sentences, current = [], []
    for _ in range(words):
        current.append(rng.choice(_WORDS))
        if len(current) >= rng.randint(6, 14):
            sentences.append(" ".join(current).capitalize() + ".")
            current = []
    if current:
        sentences.append(" ".join(current).capitalize() + ".")
    return " ".join(sentences)


def schema_instance(schema: dict | None, rng: random.Random, depth: int = 0):
    """A value valid against an OpenAPI (Vertex responseSchema) or JSON schema."""
    schema = schema or {}
    if schema.get("enum"):
        return rng.choice(schema["enum"])
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return schema_instance(schema[key][0], rng, depth)
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    kind = str(kind).lower()
    if kind == "object":
        properties = schema.get("properties") or {}
        order = schema.get("propertyOrdering") or list(properties)
        if depth > 6:
            return {}
        return {name: schema_instance(properties[name], rng, depth + 1)
                for name in order if name in properties}
    if kind == "array":
        low = int(schema.get("minItems", 1))
        high = max(low, int(schema.get("maxItems", low + 2)))
        count = rng.randint(low, min(high, low + 3))
        return [schema_instance(schema.get("items"), rng, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        low = schema.get("minimum", 0)
        high = schema.get("maximum", low + 100)
        value = rng.uniform(low, high)
        return int(round(value)) if kind == "integer" else round(value, 3)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    fmt = schema.get("format")
    if fmt == "date-time":
        return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T12:00:00Z"
    if fmt == "date":
        return f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 4)))
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    text = text.ljust(low, "x")
    return text[:int(high)] if high is not None else text


def _function_to_call(request: dict, prompt: str) -> dict | None:
    declarations = [d for tool in request.get("tools") or []
                    for d in tool.get("functionDeclarations") or []]
    if not declarations:
        return None
    mode = (((request.get("toolConfig") or {}).get("functionCallingConfig") or {})
            .get("mode", "AUTO"))
    if mode == "NONE":
        return None
    lowered = prompt.lower()
    for declaration in declarations:
        name = declaration["name"]
        if name.lower() in lowered or name.lower().replace("_", " ") in lowered:
            return declaration
    return declarations[0] if mode == "ANY" else None


def _cut(text: str, config: dict) -> tuple[str, str]:
    """Applies stopSequences and maxOutputTokens; returns (text, finishReason)."""
    finish = "STOP"
    stops = [s for s in config.get("stopSequences") or [] if s]
    positions = [text.find(s) for s in stops if s in text]
    if positions:
        text = text[:min(positions)]
    limit = config.get("maxOutputTokens")
    if limit is not None and count_tokens(text) > limit:
        ends = [m.end() for m in TOKEN.finditer(text)]
        text, finish = text[:ends[int(limit) - 1]] if limit > 0 else "", "MAX_TOKENS"
    return text, finish


def generate_candidates(model: str, request: dict, markers: Markers) -> list[Candidate]:
    config = request.get("generationConfig") or {}
    thresholds = {s.get("category"): s.get("threshold")
                  for s in request.get("safetySettings") or []}
    prompt = strip_markers(request_text(request, with_system=False))
    seed_parts = (model, request_text(request), config.get("seed"))
    candidates = []
    for index in range(int(config.get("candidateCount", 1))):
        rng = _rng(*seed_parts, index)
        ratings, blocked = safety_ratings(rng, markers.unsafe, thresholds)
        declaration = _function_to_call(request, prompt)
        if blocked:
            candidates.append(Candidate([], "SAFETY", ratings, 0, index))
            continue
        if declaration is not None:
            schema = declaration.get("parameters") or declaration.get("parametersJsonSchema")
            args = schema_instance(schema, rng) if schema else {}
            call = {"functionCall": {"name": declaration["name"], "args": args}}
            candidates.append(Candidate([call], "STOP", ratings,
                                        count_tokens(json.dumps(call)), index))
            continue
        mime = config.get("responseMimeType", "text/plain")
        if mime == "text/x.enum":
            full = str(schema_instance(config["responseSchema"], rng))
        elif mime == "application/json":
            schema = config.get("responseSchema") or config.get("responseJsonSchema")
            value = (schema_instance(schema, rng) if schema
                     else {"answer": _sentence_text(rng, rng.randint(5, 15))})
            full = json.dumps(value)
        else:
            full = _sentence_text(rng, rng.randint(15, 60))
        text, finish = _cut(full, config)
        parts = [{"text": text}]
        if "IMAGE" in (config.get("responseModalities") or []):
            parts.append({"inlineData": {"mimeType": "image/png",
                                         "data": _image_part(prompt, index)}})
        candidates.append(Candidate(parts, finish, ratings, count_tokens(text), index))
    return candidates


def _image_part(prompt: str, index: int) -> str:
    """An image in an answer, for image-capable models asked for IMAGE output."""
    import base64

    from emulator.images import render_image
    # Gemini answers are deterministic from the request: a fixed seed.
    data, _ = render_image(prompt, {"outputOptions": {}, "seed": 1}, index, scale=0.25)
    return base64.b64encode(data).decode()
