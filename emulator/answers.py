"""Whole generateContent answers from candidates: usage by modality, the
per-call identity (responseId, createTime), grounding, the stream's chunks,
and the legacy dialect of the gemini-pro models.

Every answer of a current model is a strictly valid
aiplatform_v1.GenerateContentResponse (tests/jobs/test_response_surface.py checks).
"""
from __future__ import annotations

import base64
import os
from datetime import datetime, timezone

from emulator import text_generation
from emulator.text_generation import Candidate


def usage_metadata(request: dict, candidates: list[Candidate], traffic_type: str) -> dict:
    prompt = text_generation.prompt_tokens_by_modality(request)
    text = sum(c.token_count for c in candidates)
    images = sum(c.image_tokens for c in candidates)
    audio = sum(c.audio_tokens for c in candidates)
    thoughts = sum(c.thought_tokens for c in candidates)
    prompt_total = sum(prompt.values())
    usage = {"promptTokenCount": prompt_total, "candidatesTokenCount": text + images + audio,
             "totalTokenCount": prompt_total + text + images + audio + thoughts,
             "promptTokensDetails": [{"modality": m, "tokenCount": n} for m, n in prompt.items()],
             "trafficType": traffic_type}
    if text + images + audio:
        usage["candidatesTokensDetails"] = [
            {"modality": m, "tokenCount": n}
            for m, n in (("TEXT", text), ("IMAGE", images), ("AUDIO", audio)) if n]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def identity(model: str) -> dict:
    """What every answer of one call carries: the model version, when it was
    made, and an id of its own."""
    return {"modelVersion": model, "createTime": _now(),
            "responseId": base64.urlsafe_b64encode(os.urandom(15)).decode()}


def answer(request: dict, candidates: list[Candidate], usage: dict, common: dict,
           block_reason: str | None) -> dict:
    if block_reason:
        return {"promptFeedback": prompt_feedback(block_reason), "usageMetadata": usage, **common}
    result = {"candidates": [c.as_json() for c in candidates], "usageMetadata": usage, **common}
    grounding = _grounding(request, candidates)
    if grounding:
        result["candidates"][0]["groundingMetadata"] = grounding
    return result


def stream_chunks(request: dict, candidates: list[Candidate], usage: dict, common: dict,
                  block_reason: str | None) -> list[dict]:
    """The answer cut into chunks of a few tokens, as Vertex AI streams it:
    each chunk has the logprobs of its own tokens and the citations that end
    in it; the last one carries the finish reason, the safety ratings, the
    average logprobs, grounding and the usage. Joining them gives the
    unstreamed answer back."""
    if block_reason:
        return [answer(request, candidates, usage, common, block_reason)]
    candidate = candidates[0]
    pieces: list[dict] = []
    for part in candidate.parts:
        if "text" in part:
            ends = [m.end() for m in text_generation.TOKEN.finditer(part["text"])]
            cuts = [0] + ends[7::8] + [len(part["text"])]
            texts = [part["text"][a:b] for a, b in zip(cuts, cuts[1:]) if b > a] or [""]
            pieces += [{**part, "text": t} if i == 0 else
                       {k: v for k, v in {**part, "text": t}.items() if k != "thoughtSignature"}
                       for i, t in enumerate(texts)]
        else:
            pieces.append(part)
    pieces = pieces or [{"text": ""}]
    chunks, answer_chars, chosen_used = [], 0, 0
    for piece in pieces:
        chunk_candidate: dict = {"content": {"role": "model", "parts": [piece]}}
        if "text" in piece and not piece.get("thought"):
            start, answer_chars = answer_chars, answer_chars + len(piece["text"])
            count = len(text_generation.TOKEN.findall(piece["text"]))
            if candidate.logprobs_requested and count:
                chunk_candidate["logprobsResult"] = text_generation.logprobs_result(
                    candidate.logprobs[chosen_used:chosen_used + count],
                    None if candidate.top_logprobs is None
                    else candidate.top_logprobs[chosen_used:chosen_used + count])
            chosen_used += count
            cited = [c for c in candidate.citations if start < c["endIndex"] <= answer_chars]
            if cited:
                chunk_candidate["citationMetadata"] = {"citations": cited}
        chunks.append({"candidates": [chunk_candidate], **common})
    whole = answer(request, candidates, usage, common, None)["candidates"][0]
    last = chunks[-1]["candidates"][0]
    for key in ("finishReason", "safetyRatings", "avgLogprobs", "finishMessage",
                "groundingMetadata"):
        if key in whole:
            last[key] = whole[key]
    chunks[-1]["usageMetadata"] = usage
    return chunks


def legacy_dialect(answer_or_chunk: dict) -> dict:
    """An answer as the legacy gemini-pro models gave it: FINISH_REASON_*
    names, ratings by probability only, the three token counts, no
    per-call identity."""
    usage = answer_or_chunk.get("usageMetadata")
    result: dict = {}
    if "candidates" in answer_or_chunk:
        result["candidates"] = []
        for candidate in answer_or_chunk["candidates"]:
            old = {"content": candidate["content"]}
            if candidate.get("finishReason"):
                old["finishReason"] = "FINISH_REASON_" + candidate["finishReason"]
            if "safetyRatings" in candidate:
                old["safetyRatings"] = [{k: r[k] for k in ("category", "probability", "blocked")
                                         if k in r} for r in candidate["safetyRatings"]]
            if "citationMetadata" in candidate:
                old["citationMetadata"] = candidate["citationMetadata"]
            result["candidates"].append(old)
    if "promptFeedback" in answer_or_chunk:
        result["promptFeedback"] = answer_or_chunk["promptFeedback"]
    if usage:
        result["usageMetadata"] = {k: usage[k] for k in
                                   ("promptTokenCount", "candidatesTokenCount", "totalTokenCount")}
    return result


def prompt_feedback(reason: str) -> dict:
    ratings = [{"category": c, "probability": "NEGLIGIBLE"}
               for c in text_generation.HARM_CATEGORIES]
    ratings[0] = {"category": ratings[0]["category"], "probability": "HIGH", "blocked": True}
    return {"blockReason": reason, "safetyRatings": ratings,
            "blockReasonMessage": "The prompt was blocked due to safety reasons."}


def _grounding(request: dict, candidates: list[Candidate]) -> dict | None:
    searches = [t for t in request.get("tools") or []
                if "googleSearch" in t or "googleSearchRetrieval" in t]
    if not searches or not candidates or not candidates[0].parts:
        return None
    prompt = text_generation.request_text(request, with_system=False)
    text = "".join(p.get("text", "") for p in candidates[0].parts if not p.get("thought"))
    return text_generation.grounding_metadata(text_generation.strip_markers(prompt), text)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
