"""Vertex AI's methods as the job calls them (the top layer): generateContent
(streamed or not), countTokens, Imagen predict and a Live API session. Each
builds its request and reads its answer (an exchange), and hands it to the
call policy underneath (vertex/call_policy.py: limits, retries, budget,
Flex by deadline, fatal errors), which runs it over the transports (HTTP
with Server-Sent Events here and in vertex/http.py; WebSockets in
vertex/live.py).
"""
from __future__ import annotations

import base64
import functools
import json
import re
import time

import aiohttp

import vertex_schema
from vertex import live
from vertex.auth import Auth
from vertex.call_policy import CallPolicy, CallResult, CallSettings
from vertex.endpoints import Endpoint
from vertex.errors import MalformedResponseError, UnreadableAnswerError, error_from_response
from vertex.http import HttpClient, make_websocket_session
from vertex.request_body import estimate_tokens
from vertex.response_rows import merge_stream_chunks


class VertexClient:
    """One per worker process and configuration; use it from one event loop."""

    def __init__(self, endpoint: Endpoint, auth: Auth, http: HttpClient,
                 settings: CallSettings = CallSettings()):
        self.endpoint, self.auth, self.http, self.settings = endpoint, auth, http, settings
        self.policy = CallPolicy(settings, endpoint.host, self.redact)
        self.budget = self.policy.budget
        self._ws_http: aiohttp.ClientSession | None = None  # the Live API's WebSockets

    async def _call(self, model: str, exchange, estimated_tokens: int,
                    **policy) -> CallResult:
        """One record's call through the policy, each attempt with the credentials' headers."""
        async def attempt(result: CallResult, headers: dict[str, str]) -> dict:
            return await exchange(result, {**headers, **await self.auth.headers()})
        return await self.policy.call(model, attempt, estimated_tokens, **policy)

    async def generate_content(self, model: str, body: dict, stream: bool = False,
                               tier: str = "standard", movable: bool = False) -> CallResult:
        """tier: the PayGo tier asked for (standard, flex, priority); movable:
        the job's default, not the record's own, so that Flex by deadline
        (--finish_by) may send it to Standard."""
        url = self.endpoint.url(model, "streamGenerateContent" if stream else "generateContent")

        async def exchange(result: CallResult, headers: dict) -> dict:
            if stream:
                return await self._stream(url, body, result, headers)
            return read_answer(await self._post(url, body, headers), self.endpoint.api_version)
        return await self._call(model, exchange, estimate_tokens(body), tier=tier,
                                movable=movable)

    async def count_tokens(self, model: str, body: dict) -> CallResult:
        """countTokens (free): the prompt's tokens as the model counts them.
        Takes a generateContent body; the fields countTokens has no use for
        (safety settings, tool config, labels, cached content) are left out."""
        keep = ("contents", "systemInstruction", "tools", "generationConfig")
        url, body = self.endpoint.url(model, "countTokens"), {k: v for k, v in body.items()
                                                             if k in keep}
        return await self._call(model, lambda _, headers: self._post(url, body, headers), 0,
                                tier=None)

    async def predict(self, model: str, body: dict, tier: str = "standard") -> CallResult:
        url = self.endpoint.url(model, "predict")
        return await self._call(model, lambda _, headers: self._post(url, body, headers), 0,
                                tier=tier)

    async def live(self, model: str, setup: dict, text: str | None = None,
                   audio: bytes | None = None, tier: str = "standard") -> CallResult:
        """One Live API session with one turn (text, or 16 kHz PCM audio).
        At most live_sessions sessions are open at once in this process."""
        url = self.endpoint.live_url()
        setup = {"model": self.endpoint.model_path(model), **setup}

        async def exchange(result: CallResult, headers: dict) -> dict:
            if self._ws_http is None:
                self._ws_http = make_websocket_session()
            return await live.run_turn(self._ws_http, url, headers, setup, text, audio)
        estimated = len(text or "") // 4 + len(audio or b"") // 1000  # ~32 tokens a second
        return await self._call(model, exchange, estimated, tier=tier,
                                timeout_s=self.settings.live_timeout_s,
                                slots=self.policy.sessions)

    async def aclose(self) -> None:
        await self.http.aclose()
        if self._ws_http is not None:
            await self._ws_http.close()

    def redact(self, text: str) -> str:
        """Removes every secret the client holds from a text meant for output,
        as it is and as a server may echo it back (see redaction)."""
        return redaction(tuple(s for s in self.auth.secrets() if s)).sub("****", text)

    async def _post(self, url: str, body: dict, headers: dict[str, str]) -> dict:
        response = await self.http.post_json(url, body, headers)
        if response.status_code >= 400:
            raise error_from_response(response.status_code, response.content, response.headers)
        try:
            data = response.json()
        except ValueError:
            raise MalformedResponseError(
                f"answer is not valid JSON ({len(response.content)} bytes)") from None
        if not isinstance(data, dict):
            raise MalformedResponseError("answer is not a JSON object")
        return data

    async def _stream(self, url: str, body: dict, result: CallResult,
                      headers: dict[str, str]) -> dict:
        """streamGenerateContent with Server-Sent Events; the chunks are joined."""
        chunks: list[dict] = []
        started = time.monotonic()
        async with self.http.stream("POST", url, params={"alt": "sse"}, json=body,
                                    headers=headers) as response:
            if response.status_code >= 400:
                raise error_from_response(response.status_code, await response.aread(),
                                          response.headers)
            async for event in _sse_events(response.aiter_lines()):
                try:
                    chunk = json.loads(event)
                except ValueError:
                    raise MalformedResponseError("a streamed chunk is not valid JSON") from None
                if isinstance(chunk, dict) and isinstance(chunk.get("error"), dict):
                    code = chunk["error"].get("code")  # an error in the middle of the stream
                    raise error_from_response(code if isinstance(code, int) else 500,
                                              event.encode())
                if result.first_token_ms is None:
                    result.first_token_ms = (time.monotonic() - started) * 1000.0
                chunks.append(read_answer(chunk, self.endpoint.api_version))
        merged = merge_stream_chunks(chunks)
        if not chunks or not _stream_complete(merged):
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


@functools.lru_cache(maxsize=8)  # a token is the same for an hour
def redaction(secrets: tuple[str, ...]) -> re.Pattern:
    """What finds the secrets in a text: each in any letter case (a server
    may echo a key upper-cased), and in base64, standard or URL-safe, at any
    of the three alignments it can have inside a longer encoded text (the
    characters that encode only the secret's own bytes)."""
    forms = set()
    for secret in secrets:
        forms.add(re.escape(secret))
        data = secret.encode()
        for offset, skip in ((0, 0), (1, 2), (2, 3)):
            encoded = base64.b64encode(bytes(offset) + data).decode().rstrip("=")
            end = len(encoded) - (1 if (offset + len(data)) % 3 else 0)
            core = encoded[skip:end]
            if len(core) >= 8:
                forms.add(re.escape(core))
                forms.add(re.escape(core.replace("+", "-").replace("/", "_")))
    if not forms:
        return re.compile(r"(?!x)x")  # matches nothing
    return re.compile("|".join(sorted(forms, key=len, reverse=True)), re.IGNORECASE)


async def _sse_events(lines):
    """The data of each Server-Sent Event (data lines joined, blank line ends it)."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    if data:
        yield "\n".join(data)


def _stream_complete(response: dict) -> bool:
    """An answer with no candidates is read as the unstreamed one is (no
    answer: blocked); one whose candidates have not all finished was cut off."""
    candidates = response.get("candidates") or []
    return all(isinstance(c, dict) and c.get("finishReason") for c in candidates)
