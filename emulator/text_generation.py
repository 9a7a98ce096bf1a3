"""Deterministic answers: the same request always gets the same answer.

The text is seeded from the model, the contents, the system instruction and
generationConfig.seed, but not from the settings that only cut an answer
short (maxOutputTokens, stopSequences), so a shorter answer is a prefix of the
longer one, as with a real model at temperature 0.
"""
from __future__ import annotations

import base64
import hashlib
import json
import random
import re
from dataclasses import dataclass, field

import vertex_catalog
from emulator import speech
from emulator.markers import Markers, strip_markers
from emulator.words import WORDS, sentence_text

TOKEN = re.compile(r"\w+|[^\w\s]")
MEDIA_PART_TOKENS = 258  # what Gemini bills for one image
# A part's own mediaResolution.level (per-part media resolution, Gemini 3):
# the tokens of an image or document page at that level.
MEDIA_RESOLUTION_TOKENS = {"MEDIA_RESOLUTION_LOW": 280, "MEDIA_RESOLUTION_MEDIUM": 560,
                           "MEDIA_RESOLUTION_HIGH": 1120, "MEDIA_RESOLUTION_ULTRA_HIGH": 2240}
THINKING_LEVEL_WORDS = {"MINIMAL": 4, "LOW": 12, "MEDIUM": 24, "HIGH": 40}  # thinking, roughly
HARM_CATEGORIES = ("HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_DANGEROUS_CONTENT",
                   "HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_SEXUALLY_EXPLICIT")


def count_tokens(text: str) -> int:
    return len(TOKEN.findall(text))


def request_text(request: dict, with_system: bool = True) -> str:
    contents = list(request.get("contents") or [])
    if with_system and request.get("systemInstruction"):
        contents.insert(0, request["systemInstruction"])
    return "\n".join(part["text"] for content in contents for part in content.get("parts", [])
                     if isinstance(part.get("text"), str))


def part_modality(part: dict) -> str | None:
    """The modality a media part is billed as, from its MIME type."""
    blob = part.get("inlineData") or part.get("fileData")
    if not blob:
        return None
    kind = str(blob.get("mimeType", "")).split("/")[0]
    return {"image": "IMAGE", "audio": "AUDIO", "video": "VIDEO"}.get(kind, "DOCUMENT")


def prompt_tokens_by_modality(request: dict) -> dict[str, int]:
    """Prompt tokens per modality: text (with tools), and a fixed count per media part."""
    tools = request.get("tools")
    counts = {"TEXT": count_tokens(strip_markers(request_text(request)))
              + (count_tokens(json.dumps(tools)) if tools else 0)}
    for content in request.get("contents") or []:
        for part in content["parts"]:
            modality = part_modality(part)
            if modality:
                level = (part.get("mediaResolution") or {}).get("level")
                counts[modality] = counts.get(modality, 0) + MEDIA_RESOLUTION_TOKENS.get(
                    level, MEDIA_PART_TOKENS)
    return counts


def prompt_token_count(request: dict) -> int:
    return sum(prompt_tokens_by_modality(request).values())


def _rng(*parts) -> random.Random:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass
class Candidate:
    parts: list[dict]
    finish_reason: str
    safety_ratings: list[dict]
    token_count: int                  # output tokens of the answer
    index: int = 0
    thought_tokens: int = 0           # thinking, billed apart from the answer
    image_count: int = 0              # images among the parts
    image_tokens: int = 0             # what they are billed as (by model and size)
    audio_tokens: int = 0             # spoken answers (TTS models)
    logprobs: list[dict] = field(default_factory=list)  # the chosen token of each step
    logprobs_requested: bool = False  # generationConfig.responseLogprobs
    top_logprobs: list[dict] | None = None  # with generationConfig.logprobs
    citations: list[dict] = field(default_factory=list)
    finish_message: str | None = None

    def as_json(self) -> dict:
        candidate = {"content": {"role": "model", "parts": self.parts},
                     "finishReason": self.finish_reason, "safetyRatings": self.safety_ratings}
        if self.index:
            candidate["index"] = self.index
        if self.logprobs:
            candidate["avgLogprobs"] = avg_logprobs(self.logprobs)
            if self.logprobs_requested:
                candidate["logprobsResult"] = logprobs_result(self.logprobs, self.top_logprobs)
        if self.citations:
            candidate["citationMetadata"] = {"citations": self.citations}
        if self.finish_message:
            candidate["finishMessage"] = self.finish_message
        return candidate


def avg_logprobs(chosen: list[dict]) -> float:
    return round(sum(c["logProbability"] for c in chosen) / len(chosen), 6)


def logprobs_result(chosen: list[dict], top: list[dict] | None) -> dict:
    result = {"chosenCandidates": chosen}
    if top is not None:
        result["topCandidates"] = top
    return result


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
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    text = text.ljust(low, "x")
    return text[:int(high)] if high is not None else text


def _off_schema(value, schema: dict):
    """A value that misses the schema: without its first required field, or
    of the wrong type."""
    required = schema.get("required") or []
    if isinstance(value, dict) and required:
        return {k: v for k, v in value.items() if k != required[0]}
    return [] if isinstance(value, dict) else {}


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
    words = set(re.findall(r"[a-z0-9]+", lowered))

    def relevance(declaration: dict) -> int:
        """The prompt names the function, or uses words of its name
        (find_theaters: "Which theaters ...")."""
        name = declaration["name"].lower()
        named = name in lowered or name.replace("_", " ") in lowered
        return 100 * named + sum(1 for w in re.findall(r"[a-z0-9]+", name)
                                 if len(w) > 3 and w in words)
    best = max(declarations, key=relevance)
    if relevance(best):
        return best
    return declarations[0] if mode == "ANY" else None


def cut(text: str, config: dict) -> tuple[str, str]:
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


# Image sizes of Gemini image models by imageConfig.aspectRatio, at 1K; 2K and
# 4K are two and four times as wide and high.
GEMINI_IMAGE_SIZES = {"1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832),
                      "3:4": (864, 1184), "4:3": (1184, 864), "4:5": (896, 1152),
                      "5:4": (1152, 896), "9:16": (768, 1344), "16:9": (1344, 768),
                      "21:9": (1536, 672)}


def generate_candidates(model: str, request: dict, markers: Markers,
                        image_scale: float = 0.25, always_thinks: bool = False,
                        attempt: int = 1, default_level: str = "HIGH") -> list[Candidate]:
    """always_thinks: a Gemini 3 model (thinkingLevel), which thinks at every
    call and signs its thinking (thoughtSignature on the first function call,
    else the last part) whether or not the thoughts are asked for. attempt:
    which attempt of this same request (for bad_json and off_schema)."""
    spoil = next((name for name in ("bad_json", "off_schema") if markers.active(name, attempt)),
                 None)
    config = request.get("generationConfig") or {}
    thresholds = {s.get("category"): s.get("threshold")
                  for s in request.get("safetySettings") or []}
    prompt = strip_markers(request_text(request, with_system=False))
    seed_parts = (model, request_text(request), config.get("seed"))
    thinking_config = config.get("thinkingConfig") or {}
    thinking = thinking_config.get("includeThoughts", False)
    level = thinking_config.get("thinkingLevel") or default_level  # the model's own default
    candidates = []
    for index in range(int(config.get("candidateCount", 1))):
        rng = _rng(*seed_parts, index)
        ratings, blocked = safety_ratings(rng, markers.unsafe, thresholds)
        declaration = _function_to_call(request, prompt)
        if blocked:
            candidates.append(Candidate([], "SAFETY", ratings, 0, index))
            continue
        if markers.finish and markers.finish not in ("STOP", "MAX_TOKENS"):
            candidates.append(Candidate([], markers.finish, ratings, 0, index,
                                        finish_message=_finish_message(markers.finish)))
            continue
        parts, finish, media = _answer_parts(model, request, config, prompt, declaration, rng,
                                             index, image_scale, spoil)
        finish = markers.finish or finish
        answer_text = "".join(p.get("text", "") for p in parts)
        tokens = TOKEN.findall(answer_text)
        chosen = [{"token": t, "logProbability": round(-rng.random() * 1.5, 6)} for t in tokens]
        top = None
        if config.get("responseLogprobs") and config.get("logprobs"):
            top = [{"candidates": [c] + [
                {"token": rng.choice(WORDS), "logProbability": round(c["logProbability"]
                                                                      - rng.random() * 3, 6)}
                for _ in range(int(config["logprobs"]) - 1)]} for c in chosen]
        thought_tokens = 0
        if always_thinks and not thinking and parts:
            thought = sentence_text(rng, THINKING_LEVEL_WORDS.get(level, 40))
            thought_tokens = 4 * count_tokens(thought)
            signed = next((p for p in parts if "functionCall" in p), parts[-1])
            signed["thoughtSignature"] = base64.b64encode(
                hashlib.sha256(thought.encode()).digest()).decode()
        if thinking:
            thought = sentence_text(rng, rng.randint(8, 20))
            thought_tokens = 4 * count_tokens(thought)  # the summary is shorter than the thinking
            parts[0]["thoughtSignature"] = base64.b64encode(
                hashlib.sha256(thought.encode()).digest()).decode()
            parts.insert(0, {"text": thought, "thought": True})
        candidates.append(Candidate(
            parts, finish, ratings,
            count_tokens(answer_text) + sum(count_tokens(json.dumps(p["functionCall"]))
                                            for p in parts if "functionCall" in p),
            index, thought_tokens=thought_tokens, **media,
            logprobs=chosen, logprobs_requested=bool(config.get("responseLogprobs")),
            top_logprobs=top, citations=_citations(answer_text, rng) if markers.cite else []))
    return candidates


def _answer_parts(model, request, config, prompt, declaration, rng, index, image_scale,
                  spoil=None):
    """The answer's parts (text, a function call, images or speech), its
    finish reason, and its media counts (Candidate's image_count, audio_tokens)."""
    if declaration is not None:
        schema = declaration.get("parameters") or declaration.get("parametersJsonSchema")
        args = schema_instance(schema, rng) if schema else {}
        return [{"functionCall": {"name": declaration["name"], "args": args}}], "STOP", {}
    if "AUDIO" in (config.get("responseModalities") or []):  # a TTS model reads the prompt
        pcm = speech.synthesize(prompt)
        return [{"inlineData": {"mimeType": f"audio/L16;codec=pcm;rate={speech.OUTPUT_RATE}",
                                "data": base64.b64encode(pcm).decode()}}], "STOP", \
            {"audio_tokens": speech.tokens(pcm)}
    mime = config.get("responseMimeType", "text/plain")
    if mime == "text/x.enum":
        full = str(schema_instance(config["responseSchema"], rng))
    elif mime == "application/json":
        schema = config.get("responseSchema") or config.get("responseJsonSchema")
        value = (schema_instance(schema, rng) if schema
                 else {"answer": sentence_text(rng, rng.randint(5, 15))})
        if spoil == "off_schema":
            value = _off_schema(value, schema or {})
        full = json.dumps(value)
        if spoil == "bad_json":
            full = full[:max(1, len(full) // 2)]  # broken off mid-value
    else:
        full = sentence_text(rng, rng.randint(15, 60))
    text, finish = cut(full, config)
    modalities = config.get("responseModalities") or []
    parts = [{"text": text}] if "TEXT" in modalities or "IMAGE" not in modalities else []
    if "IMAGE" in modalities:
        image = (vertex_catalog.get(model).image if vertex_catalog.get(model) else None) or {}
        image_config = config.get("imageConfig") or {}
        size = image_config.get("imageSize") or "1K"
        mime = (image_config.get("imageOutputOptions") or {}).get("mimeType") or "image/png"
        parts.append({"inlineData": {"mimeType": mime, "data": _image_part(
            prompt, index, image_config.get("aspectRatio") or "1:1", size, mime, image_scale,
            config.get("seed"))}})
        tokens = (image.get("tokens_per_image") or {}).get(size, 1290)
        return parts, "STOP", {"image_count": 1, "image_tokens": tokens}
    return parts, finish, {}


def _citations(text: str, rng: random.Random) -> list[dict]:
    """Two sources for stretches of the answer (asked for by the `cite` marker)."""
    if len(text) < 4:
        return []
    middle = len(text) // 2
    return [{"startIndex": start, "endIndex": end, "uri": f"https://example.com/source-{n}",
             "title": f"Source {n}", "license": "mit",
             "publicationDate": {"year": 2024, "month": rng.randint(1, 12), "day": 1}}
            for n, (start, end) in enumerate(((0, min(middle, 40)), (middle, len(text))), 1)]


def _finish_message(reason: str) -> str:
    if reason == "MALFORMED_FUNCTION_CALL":
        return "Malformed function call: the model's call could not be parsed."
    return f"The answer was stopped: {reason}."


def grounding_metadata(prompt: str, answer_text: str) -> dict:
    """What a googleSearch tool adds: the queries made and the pages used."""
    query = " ".join(prompt.split()[:6]) or "query"
    slug = re.sub(r"\W+", "-", query.lower()).strip("-") or "page"
    return {
        "webSearchQueries": [query],
        "searchEntryPoint": {"renderedContent": f"<div class=\"search\">{query}</div>"},
        "groundingChunks": [{"web": {"uri": f"https://www.example.org/{slug}/{n}",
                                     "title": f"example.org: {query} ({n})"}} for n in (1, 2)],
        "groundingSupports": [{"segment": {"startIndex": 0, "endIndex": len(answer_text),
                                           "text": answer_text},
                               "groundingChunkIndices": [0, 1],
                               "confidenceScores": [0.9, 0.7]}] if answer_text else [],
    }


def image_size(aspect_ratio: str, size: str = "1K") -> tuple[int, int]:
    """The pixels of a Gemini image of this aspect ratio and imageSize."""
    if aspect_ratio in GEMINI_IMAGE_SIZES:
        width, height = GEMINI_IMAGE_SIZES[aspect_ratio]
    else:  # the extreme ratios (1:4, 8:1, ...): about a megapixel, sides a multiple of 16
        w, h = (int(n) for n in aspect_ratio.split(":"))
        width = round((1024 * 1024 * w / h) ** 0.5 / 16) * 16
        height = round(width * h / w / 16) * 16
    factor = {"512": 0.5, "1K": 1, "2K": 2, "4K": 4}.get(size, 1)
    return round(width * factor), round(height * factor)


def _image_part(prompt: str, index: int, aspect_ratio: str, size: str, mime: str,
                scale: float, seed: int | None) -> str:
    """An image in an answer, for image-capable models asked for IMAGE output."""
    from emulator.images import render_image
    width, height = image_size(aspect_ratio, size)
    # With generationConfig.seed the same request draws the same image; without, anew.
    data, _ = render_image(prompt, {"seed": seed, "aspectRatio": aspect_ratio,
                                    "outputOptions": {"mimeType": mime}}, index,
                           size=(max(8, round(width * scale)), max(8, round(height * scale))))
    return base64.b64encode(data).decode()
