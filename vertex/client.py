"""Vertex AI's methods as the job calls them (the top layer): generateContent
(streamed or not), countTokens, Imagen predict and a Live API session. Each
builds its request and reads its answer (an exchange), and hands it to the
call policy underneath (vertex/call_policy.py: limits, retries, budget,
Flex by deadline, fatal errors), which runs it over the transports (HTTP,
with Server-Sent Events, in vertex/http.py; WebSockets in vertex/live.py).
"""
from __future__ import annotations

import asyncio
import base64
import functools
import re
import time

import aiohttp

from vertex import live
from vertex.auth import Auth
from vertex.call_policy import CallPolicy, CallResult, CallSettings
from vertex.endpoints import Endpoint
from vertex.http import HttpClient, make_websocket_session, post_for_json, stream_events
from vertex.request_body import estimate_tokens
from vertex.response_rows import joined_stream, read_answer


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
        tokens = estimate_tokens(body)
        url = self.endpoint.url(model, "streamGenerateContent" if stream else "generateContent")
        exchange = functools.partial(_streamed if stream else _posted, self.http, url, body,
                                     self.endpoint.api_version)
        return await self._call(model, exchange, tokens, tier=tier, movable=movable)

    async def generate_images(self, model: str, body: dict, count: int, tier: str = "standard",
                              movable: bool = False) -> CallResult:
        """`count` images from a Gemini image model, which draws one a call:
        `count` generateContent calls at once, as one result whose answer is
        {"answers": [...], "failed": {"calls", "error"}} (the calls that
        failed, when some answered), an error only when none did."""
        results = await asyncio.gather(*(self.generate_content(model, body, tier=tier,
                                                               movable=movable)
                                         for _ in range(count)))
        answered = [r for r in results if r.ok]
        failed = [r for r in results if not r.ok]
        response = {"answers": [r.response for r in answered]} if answered else None
        if response and failed:
            response["failed"] = {"calls": len(failed), "error": failed[0].error}
        return CallResult.together(results, response,
                                   None if answered else results[0].error)

    async def count_tokens(self, model: str, body: dict) -> CallResult:
        """countTokens (free): the prompt's tokens as the model counts them.
        Takes a generateContent body; the fields countTokens has no use for
        (safety settings, tool config, labels, cached content) are left out."""
        keep = ("contents", "systemInstruction", "tools", "generationConfig")
        url, body = self.endpoint.url(model, "countTokens"), {k: v for k, v in body.items()
                                                             if k in keep}
        return await self._call(model, functools.partial(_json_posted, self.http, url, body), 0,
                                tier=None)

    async def predict(self, model: str, body: dict, tier: str = "standard") -> CallResult:
        url = self.endpoint.url(model, "predict")
        return await self._call(model, functools.partial(_json_posted, self.http, url, body), 0,
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


# The exchanges: one attempt's request and answer, over HTTP.

async def _json_posted(http: HttpClient, url: str, body: dict, result: CallResult,
                       headers: dict[str, str]) -> dict:
    """countTokens and predict: the answer as it comes."""
    return await post_for_json(http, url, body, headers)


async def _posted(http: HttpClient, url: str, body: dict, version: str, result: CallResult,
                  headers: dict[str, str]) -> dict:
    """generateContent: the answer, read as Google's protos read it."""
    answer = await post_for_json(http, url, body, headers)
    return read_answer(answer, version)


async def _streamed(http: HttpClient, url: str, body: dict, version: str, result: CallResult,
                    headers: dict[str, str]) -> dict:
    """streamGenerateContent with Server-Sent Events; the chunks joined, the
    time to the first one kept."""
    started, chunks = time.monotonic(), []
    async for chunk in stream_events(http, url, body, headers):
        if result.first_token_ms is None:
            result.first_token_ms = (time.monotonic() - started) * 1000.0
        chunks.append(chunk)
    return joined_stream([read_answer(chunk, version) for chunk in chunks])
