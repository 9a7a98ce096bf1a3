"""Parsing generateContent responses into plain rows (dicts of column values).

The column names here are the output contract (DESIGN.md); the Parquet types
for them live in transforms/schemas.py. Answers are read leniently: a field
Google adds tomorrow is kept in response_json, never an error.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, Callable, Iterable

import vertex_schema
from vertex.errors import MalformedResponseError, UnreadableAnswerError, error_code_and_message

class Status(StrEnum):
    """A row's status: its record answered (ok), refused or stopped by a
    filter (blocked), or not answered (error). A str: columns hold its value."""
    OK = "ok"
    BLOCKED = "blocked"
    ERROR = "error"


OK, BLOCKED, ERROR = Status.OK, Status.BLOCKED, Status.ERROR

# The status of an answer by its first candidate's finish reason (the v1
# enum, newer names Google documents, and the legacy FINISH_REASON_* names,
# read without their prefix). A reason not listed here is an error.
FINISH_STATUS = {
    "UNSPECIFIED": OK, "STOP": OK, "MAX_TOKENS": OK,
    # a filter stopped the answer, not the model
    "SAFETY": BLOCKED, "RECITATION": BLOCKED, "BLOCKLIST": BLOCKED,
    "PROHIBITED_CONTENT": BLOCKED, "SPII": BLOCKED, "MODEL_ARMOR": BLOCKED,
    "IMAGE_SAFETY": BLOCKED, "IMAGE_PROHIBITED_CONTENT": BLOCKED,
    "IMAGE_RECITATION": BLOCKED,
    # the model failed to give a usable answer
    "OTHER": ERROR, "MALFORMED_FUNCTION_CALL": ERROR, "IMAGE_OTHER": ERROR,
    "NO_IMAGE": ERROR, "UNEXPECTED_TOOL_CALL": ERROR, "TOO_MANY_TOOL_CALLS": ERROR,
    "LANGUAGE": ERROR,
}
_LEGACY_PREFIX = "FINISH_REASON_"

_USAGE_COUNTS = {
    "promptTokenCount": "prompt_token_count",
    "candidatesTokenCount": "candidates_token_count",
    "totalTokenCount": "total_token_count",
    "cachedContentTokenCount": "cached_content_token_count",
    "thoughtsTokenCount": "thoughts_token_count",
    "toolUsePromptTokenCount": "tool_use_prompt_token_count",
}
_USAGE_DETAILS = {
    "promptTokensDetails": "prompt_tokens_details",
    "candidatesTokensDetails": "candidates_tokens_details",
    "cacheTokensDetails": "cache_tokens_details",
    "toolUsePromptTokensDetails": "tool_use_prompt_tokens_details",
}


def finish_status(reason: str | None) -> Status:
    """ok, blocked or error, for a finish reason (None: the answer did not say)."""
    if not reason:
        return OK
    name = reason[len(_LEGACY_PREFIX):] if reason.startswith(_LEGACY_PREFIX) else reason
    return FINISH_STATUS.get(name, ERROR)


def usage_row(usage_metadata: dict | None) -> dict:
    usage = usage_metadata or {}
    row = {column: _int_or_none(usage.get(field)) for field, column in _USAGE_COUNTS.items()}
    for field, column in _USAGE_DETAILS.items():
        row[column] = [{"modality": d.get("modality"), "token_count": _int_or_none(d.get("tokenCount"))}
                       for d in usage.get(field) or [] if isinstance(d, dict)]
    if row["tool_use_prompt_token_count"] is None and row["tool_use_prompt_tokens_details"]:
        # v1 reports tool-use prompt tokens only by modality
        row["tool_use_prompt_token_count"] = sum(d["token_count"] or 0
                                                 for d in row["tool_use_prompt_tokens_details"])
    return row


def safety_rating_rows(ratings: Iterable[dict] | None) -> list[dict]:
    return [{
        "category": r.get("category"),
        "probability": r.get("probability"),
        "probability_score": _float_or_none(r.get("probabilityScore")),
        "severity": r.get("severity"),
        "severity_score": _float_or_none(r.get("severityScore")),
        "blocked": bool(r.get("blocked", False)),
    } for r in ratings or [] if isinstance(r, dict)]


def _parts(candidate: dict) -> list[dict]:
    return [p for p in (candidate.get("content") or {}).get("parts") or [] if isinstance(p, dict)]


def candidate_text(candidate: dict, thoughts: bool = False) -> str | None:
    """The answer text of a candidate (thoughts=False), or its thought
    summary (thoughts=True): thought parts are not the answer."""
    texts = [p["text"] for p in _parts(candidate)
             if isinstance(p.get("text"), str) and bool(p.get("thought")) == thoughts]
    return "".join(texts) if texts else None


def function_call_rows(candidate: dict) -> list[dict]:
    return [{"name": p["functionCall"].get("name"),
             "args_json": json.dumps(p["functionCall"].get("args") or {}, sort_keys=True)}
            for p in _parts(candidate) if isinstance(p.get("functionCall"), dict)]


def citation_rows(candidate: dict) -> list[dict]:
    rows = []
    for c in (candidate.get("citationMetadata") or {}).get("citations") or []:
        date = c.get("publicationDate") or {}
        rows.append({
            "start_index": _int_or_none(c.get("startIndex")),
            "end_index": _int_or_none(c.get("endIndex")),
            "uri": c.get("uri"), "title": c.get("title"), "license": c.get("license"),
            "publication_date": "-".join(f"{int(date[k]):0{w}d}" for k, w in
                                         (("year", 4), ("month", 2), ("day", 2))
                                         if date.get(k)) or None,
        })
    return rows


def logprob_rows(candidate: dict) -> list[dict]:
    """The chosen token of each step, with its log probability."""
    return [{"token": c.get("token"), "log_probability": _float_or_none(c.get("logProbability"))}
            for c in (candidate.get("logprobsResult") or {}).get("chosenCandidates") or []]


def grounding_columns(candidate: dict) -> dict:
    grounding = candidate.get("groundingMetadata") or {}
    sources = []
    for chunk in grounding.get("groundingChunks") or []:
        source = chunk.get("web") or chunk.get("retrievedContext") or chunk.get("maps") or {}
        sources.append({"uri": source.get("uri"), "title": source.get("title")})
    return {"grounding_queries": list(grounding.get("webSearchQueries") or [])
            + list(grounding.get("retrievalQueries") or []),
            "grounding_sources": sources}


def _candidates(response: dict) -> list[dict]:
    return [c for c in response.get("candidates") or [] if isinstance(c, dict)]


def _status_and_block_reason(response: dict) -> tuple[str, str | None]:
    candidates = _candidates(response)
    finish_reason = candidates[0].get("finishReason") if candidates else None
    block_reason = (response.get("promptFeedback") or {}).get("blockReason")
    if block_reason:
        return BLOCKED, block_reason
    if not candidates:
        return BLOCKED, "NO_CANDIDATES"
    status = finish_status(finish_reason)
    return status, finish_reason if status == BLOCKED else None


def response_status(response: dict) -> str:
    """ok, blocked or error: the status of an answer's row (see response_row)."""
    return _status_and_block_reason(response)[0]


def answer_text(response: dict) -> str | None:
    """The first candidate's answer text (thought parts left out)."""
    candidates = _candidates(response)
    return candidate_text(candidates[0]) if candidates else None


def response_row(response: dict) -> dict:
    """The parsed columns of one GenerateContentResponse.

    status is `blocked` when the prompt was refused (promptFeedback.blockReason)
    or a filter stopped the first candidate, `error` when its finish reason
    says the model failed (FINISH_STATUS), `ok` otherwise.
    """
    candidates = _candidates(response)
    first = candidates[0] if candidates else {}
    feedback = response.get("promptFeedback") or {}
    finish_reason = first.get("finishReason")
    status, block_reason = _status_and_block_reason(response)
    usage = response.get("usageMetadata") or {}
    row = {
        "status": status,
        "text": candidate_text(first),
        "thoughts": candidate_text(first, thoughts=True),
        "finish_reason": finish_reason,
        "finish_message": first.get("finishMessage"),
        "safety_ratings": safety_rating_rows(first.get("safetyRatings")),
        "prompt_safety_ratings": safety_rating_rows(feedback.get("safetyRatings")),
        "block_reason": block_reason,
        "block_reason_message": feedback.get("blockReasonMessage"),
        "usage": usage_row(usage),
        "traffic_type": usage.get("trafficType"),
        "model_version": response.get("modelVersion"),
        "response_id": response.get("responseId"),
        "create_time": _timestamp_or_none(response.get("createTime")),
        "avg_logprobs": _float_or_none(first.get("avgLogprobs")),
        "logprobs": logprob_rows(first),
        "citations": citation_rows(first),
        **grounding_columns(first),
        "function_calls": function_call_rows(first),
        "candidates": [{
            "index": _int_or_none(c.get("index", i)),
            "text": candidate_text(c),
            "finish_reason": c.get("finishReason"),
            "finish_message": c.get("finishMessage"),
            "avg_logprobs": _float_or_none(c.get("avgLogprobs")),
            "safety_ratings": safety_rating_rows(c.get("safetyRatings")),
        } for i, c in enumerate(candidates)],
    }
    if status == ERROR:  # the call worked, the answer did not
        row["error_code"] = finish_reason
        row["error_message"] = first.get("finishMessage") or \
            f"the answer stopped with finish reason {finish_reason}"
    return row


def error_columns(error: BaseException, redact: Callable[[str], str]) -> dict:
    """Why a call failed, as output columns: the canonical status name (e.g.
    RESOURCE_EXHAUSTED), the HTTP status if there was one, and the message
    with every secret taken out."""
    code, status, message = error_code_and_message(error)
    return {"error_code": code, "http_status": status, "error_message": redact(message)}


def merge_stream_chunks(chunks: list[dict]) -> dict:
    """Joins the chunks of a streamGenerateContent answer into the answer
    generateContent would have given: text parts are concatenated per
    candidate (answer and thought text apart, thought signatures kept),
    other parts appended; citations, logprobs and grounding gathered from
    every chunk; for everything else the last chunk that has it wins."""
    merged: dict[str, Any] = {}
    by_index: dict[int, dict] = {}
    for chunk in chunks:
        for key, value in chunk.items():  # a field Google adds tomorrow is kept too
            if key != "candidates" and value:
                merged[key] = value
        for position, candidate in enumerate(chunk.get("candidates") or []):
            index = candidate.get("index", position)
            target = by_index.setdefault(index, {"content": {"role": "model", "parts": []}})
            if index:
                target["index"] = index
            _append_parts(target["content"]["parts"], _parts(candidate))
            for key, value in candidate.items():
                if key in ("content", "index") or not value:
                    continue
                if key == "citationMetadata":
                    _extend(target, key, value, ("citations",))
                elif key == "logprobsResult":
                    _extend(target, key, value, ("topCandidates", "chosenCandidates"))
                elif key == "groundingMetadata":
                    _extend(target, key, value, tuple(k for k, v in value.items()
                                                      if isinstance(v, list)))
                else:
                    target[key] = value
    if by_index:
        merged["candidates"] = [by_index[i] for i in sorted(by_index)]
    return merged


def _append_parts(parts: list[dict], new_parts: list[dict]) -> None:
    for part in new_parts:
        previous = parts[-1] if parts else None
        if (previous is not None and "text" in part and "text" in previous
                and bool(part.get("thought")) == bool(previous.get("thought"))):
            joined = {**part, **previous, "text": previous["text"] + part["text"]}
            parts[-1] = joined  # the first signature of the text stays; a later one is kept too
        else:
            parts.append(dict(part))


def _extend(target: dict, key: str, value: dict, list_keys: tuple[str, ...]) -> None:
    """Gathers the lists of a metadata object across chunks; its other
    fields: the last chunk wins."""
    current = target.setdefault(key, {})
    for name, item in value.items():
        if name in list_keys:
            current[name] = current.get(name, []) + list(item)
        else:
            current[name] = item


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


def _timestamp_or_none(value) -> datetime | None:
    """An RFC 3339 time as Google writes it (Z, up to nanoseconds)."""
    if not isinstance(value, str):
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # Python reads at most microseconds
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def joined_stream(chunks: list[dict]) -> dict:
    """A streamed answer's chunks as one answer; MalformedResponseError when
    the stream ended before it was finished (an answer with no candidates is
    read as the unstreamed one is: no answer, blocked)."""
    merged = merge_stream_chunks(chunks)
    candidates = merged.get("candidates") or []
    if not chunks or not all(isinstance(c, dict) and c.get("finishReason") for c in candidates):
        raise MalformedResponseError("the stream ended before the answer was finished")
    return merged


def read_answer(answer: dict, version: str = "v1") -> dict:
    """A generateContent answer as Google's response protos read it (enums
    by number, numbers as strings, ...), or UnreadableAnswerError keeping
    the body when nothing makes it one."""
    try:
        return vertex_schema.read_generate_content_response(answer, version)
    except vertex_schema.InvalidRequest as error:
        raise UnreadableAnswerError(
            "the answer is not a GenerateContentResponse: "
            + "; ".join(m.replace("Invalid JSON payload received. ", "")
                        for m in error.messages[:3]), answer) from None
