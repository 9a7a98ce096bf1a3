"""The Live API: BidiGenerateContent over a WebSocket, as Vertex AI speaks it.

    WS /ws/google.cloud.aiplatform.{v1,v1beta1}.LlmBidiService/BidiGenerateContent

setup -> setupComplete; then a turn (clientContent with turnComplete, or
realtimeInput audio chunks ended by audioStreamEnd) -> serverContent chunks
spread over time (text parts, or 24 kHz PCM audio with outputTranscription),
inputTranscription for audio input, then turnComplete with usageMetadata.
Errors close the socket with Google's codes: 1007 for an invalid setup, 1008
for an unknown model or a refused key, 1011 when the concurrent-session quota
(--live_sessions) is full. Deterministic from the request, like every answer
here; faults come from the same prompt markers (drop, go_away).
"""
from __future__ import annotations

import base64
import hashlib
import json
import random
import re

from aiohttp import WSMsgType, web

import vertex_schema
from emulator import speech, text_generation
from emulator.errors import ApiError
from emulator.markers import parse_markers, strip_markers
from emulator.words import sentence_text

LIVE_ROUTE = re.compile(r"^/ws/google\.cloud\.aiplatform\.(v1|v1beta1)\.LlmBidiService/"
                        r"BidiGenerateContent$")
MODEL_NAME = re.compile(r"^(?:projects/[^/]+/locations/(?P<location>[^/]+)/)?"
                        r"publishers/google/models/(?P<model>[^/]+)$")
CHUNK_S = 0.2               # audio seconds per serverContent message


class _Closed(Exception):
    """The session ends here with this close code and reason."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


class LiveSessions:
    def __init__(self, emulator):
        self.emulator = emulator
        self.open = 0

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        match = LIVE_ROUTE.match(request.path)
        if not match:
            raise web.HTTPNotFound(text=f"The requested URL {request.path} was not found.")
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        stats = self.emulator.stats
        stats.begin("BidiGenerateContent", "live")
        self.open += 1
        status = 200
        try:
            limit = self.emulator.config.live_sessions
            if limit and self.open > limit:
                raise _Closed(1011, f"RESOURCE_EXHAUSTED: at most {limit} concurrent sessions")
            await self._session(request, ws, match.group(1))
        except _Closed as closed:
            status = {1007: 400, 1008: 404, 1011: 429}.get(closed.code, 500)
            # A close reason holds 123 bytes at most.
            await ws.close(code=closed.code, message=closed.reason.encode()[:123])
        except _Dropped:
            status = 0
            request.transport.close()
        finally:
            self.open -= 1
            stats.end(status)
        return ws

    async def _session(self, request: web.Request, ws: web.WebSocketResponse, version: str):
        self._check_key(request)
        setup = await self._setup(ws, version)
        await ws.send_str(json.dumps({"setupComplete": {}}))
        text, audio = await self._turn(ws)
        config = setup.get("generationConfig") or {}
        heard = speech.transcript(audio) if audio is not None else None
        prompt = text if text is not None else heard
        markers = parse_markers(prompt or "")
        attempt = self.emulator.attempt_of(markers, json.dumps(setup).encode()
                                           + (audio or b"") + (text or "").encode())
        rng = random.Random(hashlib.sha256(json.dumps(
            [setup.get("model"), strip_markers(prompt or "")]).encode()).digest())
        answer, _ = text_generation.cut(sentence_text(rng, rng.randint(8, 30)),
                                        config)
        if markers.active("drop", attempt):
            self.emulator.stats.dropped += 1
            raise _Dropped()
        if markers.active("go_away", attempt):
            await ws.send_str(json.dumps({"goAway": {"timeLeft": "0s"}}))
            raise _Closed(1000, "the connection ended (goAway)")
        if heard is not None and "inputAudioTranscription" in setup:
            await ws.send_str(json.dumps({"serverContent": {"inputTranscription": {
                "text": heard}}}))
        audio_out = "AUDIO" in (config.get("responseModalities") or ["AUDIO"])
        out_tokens = await (self._speak(ws, answer, "outputAudioTranscription" in setup)
                            if audio_out else self._write(ws, answer))
        in_tokens = {"TEXT": text_generation.count_tokens(strip_markers(text))} if text is not None \
            else {"AUDIO": speech.tokens(audio, 16_000)}
        usage = {"promptTokenCount": sum(in_tokens.values()),
                 "responseTokenCount": out_tokens,
                 "totalTokenCount": sum(in_tokens.values()) + out_tokens,
                 "promptTokensDetails": [{"modality": m, "tokenCount": n}
                                         for m, n in in_tokens.items()],
                 "responseTokensDetails": [{"modality": "AUDIO" if audio_out else "TEXT",
                                            "tokenCount": out_tokens}]}
        self.emulator.stats.prompt_tokens += usage["promptTokenCount"]
        self.emulator.stats.candidates_tokens += out_tokens
        await ws.send_str(json.dumps({"serverContent": {"generationComplete": True}}))
        await ws.send_str(json.dumps({"serverContent": {"turnComplete": True},
                                      "usageMetadata": usage}))
        async for _ in ws:  # until the client closes
            pass

    def _check_key(self, request: web.Request) -> None:
        """As for every request: an API key when the emulator requires one,
        unless an OAuth token is given."""
        try:
            self.emulator.check_key(request, express=False)
        except ApiError as error:
            raise _Closed(1008, f"{'UNAUTHENTICATED' if error.code == 401 else 'PERMISSION_DENIED'}"
                                f": {error.message}") from None

    async def _setup(self, ws, version: str) -> dict:
        message = await _next(ws)
        if "setup" not in message:
            raise _Closed(1007, "Request contains an invalid argument: the first message "
                                "must be setup.")
        try:
            setup = vertex_schema.check_live_setup(message["setup"], version)
        except vertex_schema.InvalidRequest as error:
            raise _Closed(1007, str(error).splitlines()[0]) from None
        name = MODEL_NAME.match(setup.get("model") or "")
        location = name.group("location") if name and name.group("location") else "global"
        if not name or self.emulator.config.model(name.group("model"), "live", location) is None:
            raise _Closed(1008, f"Publisher Model `{setup.get('model')}` was not found or is "
                                "not supported for bidiGenerateContent.")
        await self.emulator.delay_ms(self.emulator.config.latency_ms)
        return setup

    async def _turn(self, ws) -> tuple[str | None, bytes | None]:
        """The user's turn: (text, None) or (None, 16 kHz PCM audio)."""
        audio = bytearray()
        while True:
            message = await _next(ws)
            content = message.get("clientContent")
            if content is not None:
                texts = [p.get("text", "") for turn in content.get("turns") or []
                         for p in turn.get("parts") or []]
                if content.get("turnComplete"):
                    return "".join(texts), None
                continue
            realtime = message.get("realtimeInput") or {}
            if isinstance(realtime.get("text"), str):
                return realtime["text"], None
            for blob in [realtime.get("audio")] + list(realtime.get("mediaChunks") or []):
                if blob and blob.get("data"):
                    audio += _b64decode(blob["data"])
            if realtime.get("audioStreamEnd"):
                return None, bytes(audio)

    async def _speak(self, ws, text: str, transcribe: bool) -> int:
        """The answer as 24 kHz audio in chunks spread over time; returns its tokens."""
        pcm = speech.synthesize(text)
        chunk = int(speech.OUTPUT_RATE * CHUNK_S) * 2
        words = text.split(" ")
        pieces = max(1, -(-len(pcm) // chunk))
        said_before = False
        for i in range(pieces):
            content: dict = {"modelTurn": {"parts": [{"inlineData": {
                "mimeType": f"audio/pcm;rate={speech.OUTPUT_RATE}",
                "data": base64.b64encode(pcm[i * chunk:(i + 1) * chunk]).decode()}}]}}
            if transcribe:
                said = words[len(words) * i // pieces:len(words) * (i + 1) // pieces]
                if said:
                    content["outputTranscription"] = {
                        "text": (" " if said_before else "") + " ".join(said)}
                    said_before = True
            await ws.send_str(json.dumps({"serverContent": content}))
            await self.emulator.delay_ms(self.emulator.config.token_latency_ms * 5)
        return speech.tokens(pcm)

    async def _write(self, ws, text: str) -> int:
        ends = [m.end() for m in text_generation.TOKEN.finditer(text)]
        cuts = [0] + ends[7::8] + [len(text)]
        for a, b in zip(cuts, cuts[1:]):
            if b > a:
                await ws.send_str(json.dumps({"serverContent": {"modelTurn": {"parts": [
                    {"text": text[a:b]}]}}}))
                await self.emulator.delay_ms(self.emulator.config.token_latency_ms * 8)
        return text_generation.count_tokens(text)


class _Dropped(Exception):
    """The connection is cut without a close frame (a fault)."""


def _b64decode(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not, as proto JSON reads bytes
    (the SDK sends the URL-safe alphabet)."""
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def _camel_keys(value):
    """Client messages in proto JSON take snake_case names too (the SDK sends
    client_content, realtime_input, audio_stream_end)."""
    if isinstance(value, dict):
        return {_camel(k): _camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    return value


async def _next(ws) -> dict:
    message = await ws.receive()
    if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
        try:
            value = json.loads(message.data)
        except ValueError:
            raise _Closed(1007, "Invalid JSON payload received.") from None
        if not isinstance(value, dict):
            raise _Closed(1007, "Invalid JSON payload received.")
        return {_camel(key): _camel_keys(item) if key != "setup" else item
                for key, item in value.items()}
    raise _Closed(1000, "")  # the client went away
