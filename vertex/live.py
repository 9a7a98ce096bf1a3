"""The Live API (BidiGenerateContent over a WebSocket), one turn per session:
open, send `setup`, wait for `setupComplete`, send the turn (text as
`clientContent`, or audio as `realtimeInput` chunks then `audioStreamEnd`),
gather `serverContent` until `turnComplete`.

A session that closes before its turn completes raises VertexApiError with
the HTTP status its close code stands for, so that it is retried, refused or
stops the job under the same rules as a generateContent call.
"""
from __future__ import annotations

import base64
import json
import re
import time

import aiohttp

from vertex.audio import INPUT_RATE, OUTPUT_RATE, rate_of
from vertex.errors import MalformedResponseError, VertexApiError

CHUNK_BYTES = INPUT_RATE * 2 // 10   # 100 ms of 16 kHz 16-bit audio per realtimeInput message
# LiveConnectConfig fields that travel in setup.generationConfig, and those
# that are setup fields of their own (live-api.md; the SDK's converters agree).
_GENERATION_FIELDS = ("responseModalities", "temperature", "topP", "topK", "maxOutputTokens",
                      "mediaResolution", "seed", "speechConfig", "thinkingConfig",
                      "enableAffectiveDialog")
_SETUP_FIELDS = ("systemInstruction", "tools", "toolConfig", "realtimeInputConfig",
                 "sessionResumption", "contextWindowCompression", "inputAudioTranscription",
                 "outputAudioTranscription", "proactivity")
_SNAKE = re.compile(r"_([a-z])")


def setup_from_config(config: dict) -> dict:
    """A LiveConnectConfig (camelCase or snake_case) as the setup message's
    fields, without the model. The answer is audio unless the config says
    otherwise, as with the SDK. Raises ValueError for a field it does not have."""
    setup: dict = {}
    generation = dict(config.get("generationConfig") or config.get("generation_config") or {})
    for key, value in config.items():
        name = _SNAKE.sub(lambda m: m.group(1).upper(), key)
        if name == "generationConfig":
            continue
        if name in _GENERATION_FIELDS:
            generation[name] = value
        elif name in _SETUP_FIELDS:
            if name == "systemInstruction" and isinstance(value, str):
                value = {"parts": [{"text": value}]}
            setup[name] = value
        else:
            raise ValueError(f"config: unknown LiveConnectConfig field {key!r}")
    generation.setdefault("responseModalities", ["AUDIO"])
    setup["generationConfig"] = generation
    return setup


def _close_error(code: int | None, reason: str) -> VertexApiError:
    """A close before the turn completed, as the HTTP error it stands for."""
    text = reason or "the session closed before the turn completed"
    if code == 1007:
        return VertexApiError(400, "INVALID_ARGUMENT", text)
    if code == 1008:
        if "not found" in text.lower():
            return VertexApiError(404, "NOT_FOUND", text)
        return VertexApiError(403, "PERMISSION_DENIED", text)
    if code == 1011 and re.search(r"RESOURCE_EXHAUSTED|quota|exhausted", text, re.I):
        return VertexApiError(429, "RESOURCE_EXHAUSTED", text)
    if code == 1011:
        return VertexApiError(500, "INTERNAL", text)
    return VertexApiError(503, "UNAVAILABLE", f"{text} (close code {code})")


async def run_turn(http: aiohttp.ClientSession, url: str, headers: dict[str, str], setup: dict,
                   text: str | None = None, audio: bytes | None = None) -> dict:
    """One session, one turn. Returns {text, input_transcript,
    output_transcript, audio (PCM bytes), sample_rate_hz, usageMetadata,
    first_audio_ms, go_away}."""
    async with http.ws_connect(url, headers=headers, max_msg_size=0, autoping=True) as ws:
        await ws.send_str(json.dumps({"setup": setup}))
        first = await _receive(ws)
        if "setupComplete" not in first:
            raise MalformedResponseError(f"expected setupComplete, got {sorted(first)}")
        sent = time.monotonic()
        if audio is None:
            await ws.send_str(json.dumps({"clientContent": {
                "turns": [{"role": "user", "parts": [{"text": text}]}], "turnComplete": True}}))
        else:
            for start in range(0, len(audio), CHUNK_BYTES):
                chunk = base64.b64encode(audio[start:start + CHUNK_BYTES]).decode()
                await ws.send_str(json.dumps({"realtimeInput": {"audio": {
                    "data": chunk, "mimeType": f"audio/pcm;rate={INPUT_RATE}"}}}))
            await ws.send_str(json.dumps({"realtimeInput": {"audioStreamEnd": True}}))
        return await _gather_turn(ws, sent)


async def _gather_turn(ws, sent: float) -> dict:
    texts, heard, spoken, pcm = [], [], [], bytearray()
    answer = {"usageMetadata": None, "first_audio_ms": None, "go_away": False,
              "sample_rate_hz": OUTPUT_RATE}
    while True:
        message = await _receive(ws)
        if "goAway" in message:
            answer["go_away"] = True  # the connection ends soon; the turn may still complete
        if "usageMetadata" in message:
            answer["usageMetadata"] = message["usageMetadata"]
        content = message.get("serverContent") or {}
        if content.get("interrupted"):
            raise VertexApiError(503, "UNAVAILABLE", "the model's turn was interrupted")
        for part in (content.get("modelTurn") or {}).get("parts") or []:
            if isinstance(part.get("text"), str) and not part.get("thought"):
                texts.append(part["text"])
            blob = part.get("inlineData") or {}
            if str(blob.get("mimeType", "")).startswith("audio/") and blob.get("data"):
                if answer["first_audio_ms"] is None:
                    answer["first_audio_ms"] = (time.monotonic() - sent) * 1000.0
                answer["sample_rate_hz"] = rate_of(blob["mimeType"], OUTPUT_RATE)
                pcm += base64.b64decode(blob["data"])
        heard.append((content.get("inputTranscription") or {}).get("text") or "")
        spoken.append((content.get("outputTranscription") or {}).get("text") or "")
        if content.get("turnComplete"):
            answer.update(text="".join(texts) or None, input_transcript="".join(heard) or None,
                          output_transcript="".join(spoken) or None, audio=bytes(pcm))
            return answer


async def _receive(ws) -> dict:
    """The next server message (JSON in a text or binary frame)."""
    message = await ws.receive()
    if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
        try:
            return json.loads(message.data)
        except ValueError:
            raise MalformedResponseError("a Live API message is not valid JSON") from None
    if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                        aiohttp.WSMsgType.CLOSED):
        raise _close_error(ws.close_code, message.extra if isinstance(message.extra, str) else "")
    raise _close_error(ws.close_code, f"the connection failed: {message.data!r}")


def generate_content_usage(usage: dict | None) -> dict | None:
    """The Live API's usageMetadata in generateContent's names (response
    tokens are the candidates'), so that one usage struct fits both."""
    if not usage:
        return usage
    renamed = dict(usage)
    for live_name, name in (("responseTokenCount", "candidatesTokenCount"),
                            ("responseTokensDetails", "candidatesTokensDetails")):
        if live_name in renamed:
            renamed[name] = renamed.pop(live_name)
    return renamed
