"""Calls to Vertex AI with rate limiting, retries and a bound on requests in flight.

A call never raises for a failure that concerns one record: it returns a
CallResult that carries either the response or the error, with the number of
attempts. Only a failure that dooms the whole job (bad credentials, API not
enabled, unknown model) raises FatalApiError.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import aiohttp

import vertex_schema
from vertex.auth import Auth
from vertex.endpoints import Endpoint
from vertex.errors import (DeadlineExceededError, FatalApiError, MalformedResponseError,
                           ModelNotFoundError, UnreadableAnswerError, VertexApiError,
                           cannot_connect, error_code_and_message, error_from_response)
from vertex.rate_limit import AdaptiveRateLimiter, RateLimiter
from vertex.request_body import estimate_tokens
from vertex.response_rows import merge_stream_chunks
from vertex.retry import retry_policy, with_retries
from vertex import live, service_tiers, stopping
from vertex.budget import Budget
from vertex.flex_deadline import FLEX_RECHECK_S, FlexByDeadline
from vertex.http import HttpClient, make_websocket_session


@dataclass
class CallResult:
    response: dict | None = None
    error: BaseException | None = None
    attempts: int = 0
    throttled: int = 0            # attempts answered 429
    rate_limit_wait_ms: float = 0.0  # waited on the client's own rate limit
    latency_ms: float = 0.0       # first attempt to final answer, waits included
    started_at: float = 0.0       # wall clock (time.time()) when the record's call began
    # Each attempt: when it was sent (ms after started_at, after any wait on the
    # rate limit) and the HTTP status it got (None: no answer, e.g. a timeout).
    attempt_log: list[dict] = field(default_factory=list)
    first_token_ms: float | None = None  # streaming: start of the last attempt's request to its first chunk
    http_status: int | None = None
    sent_tier: str | None = None      # the PayGo tier the last attempt was sent at
    cost_usd: float | None = None     # priced by the caller (transforms.call_vertex)
    # Answers set aside before this one (asked again: not valid JSON, or not
    # of the schema); each was paid for.
    set_aside: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def call_times(result: CallResult) -> dict:
    """When a record's call began and ended, as UTC datetimes, and its
    attempts (row columns)."""
    started = datetime.fromtimestamp(result.started_at, timezone.utc)
    return {"started_at": started,
            "finished_at": started + timedelta(milliseconds=result.latency_ms),
            "attempt_log": result.attempt_log}


@dataclass(frozen=True)
class CallSettings:
    max_in_flight: int = 64
    max_attempts: int = 6
    attempt_timeout_s: float = 300.0
    deadline_s: float | None = None       # per record, all attempts and waits included
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    unreachable_after_s: float = 60.0     # no connection for this long: stop the job
    rpm: float | None = None              # per model, for this process
    tpm: float | None = None
    adaptive: bool = False                # rpm is a first guess, tuned by 429s
    adaptive_start_rpm: float = 600.0     # the first guess when there is no rpm
    # The job's own models (--model, --image_model): one of them answering 404
    # before any success stops the job. Another model a record names fails only
    # that model's records. None: every model is the job's own.
    job_models: frozenset[str] | None = None
    provisioned_throughput: str = "auto"  # auto | only | never (service_tiers)
    flex_attempt_timeout_s: float = service_tiers.FLEX_TIMEOUT_S  # Flex is slow by design
    max_cost_usd: float | None = None     # this process's share of --max_cost_usd
    live_sessions: int | None = None      # Live API sessions open at once in this process
    live_timeout_s: float = 600.0         # one session (a connection lasts about 10 minutes)
    finish_by: float | None = None        # --finish_by (epoch s): Flex first, Standard for the rest
    expected_records: int | None = None   # with finish_by: this process's share of the records


class VertexClient:
    """One per worker process and configuration; use it from one event loop."""

    def __init__(self, endpoint: Endpoint, auth: Auth, http: HttpClient,
                 settings: CallSettings = CallSettings()):
        self.endpoint, self.auth, self.http, self.settings = endpoint, auth, http, settings
        self._in_flight = asyncio.Semaphore(settings.max_in_flight)
        self._limiters: dict[str, RateLimiter] = {}
        self._models_answered: set[str] = set()
        self._models_missing: dict[str, ModelNotFoundError] = {}
        self._reached = time.monotonic()  # when the server last answered anything
        self.budget = Budget(settings.max_cost_usd)
        self.flex_deadline = FlexByDeadline(settings.finish_by, settings.max_in_flight,
                                            settings.expected_records) \
            if settings.finish_by else None
        self._sessions = asyncio.Semaphore(settings.live_sessions or settings.max_in_flight)
        self._ws_http: aiohttp.ClientSession | None = None  # the Live API's WebSockets
        self._retry = retry_policy(settings.max_attempts, settings.initial_backoff_s,
                                   settings.max_backoff_s, settings.deadline_s)

    def limiter(self, model: str) -> RateLimiter:
        """Each model has a quota of its own, so each gets its own limiter."""
        if model not in self._limiters:
            if self.settings.adaptive:
                self._limiters[model] = AdaptiveRateLimiter(
                    self.settings.rpm or self.settings.adaptive_start_rpm, tpm=self.settings.tpm)
            else:
                self._limiters[model] = RateLimiter(self.settings.rpm, self.settings.tpm)
        return self._limiters[model]

    async def generate_content(self, model: str, body: dict, stream: bool = False,
                               tier: str = "standard", movable: bool = False) -> CallResult:
        """tier: the PayGo tier asked for (standard, flex, priority); movable:
        the job's default, not the record's own, so that Flex by deadline
        (--finish_by) may send it to Standard."""
        url = self.endpoint.url(model, "streamGenerateContent" if stream else "generateContent")
        flex = self.flex_deadline if tier == "flex" and movable else None
        if flex is not None:
            tier = flex.tier()
        timeout = (self.settings.flex_attempt_timeout_s if tier == "flex"
                   else self.settings.attempt_timeout_s)

        async def exchange(result: CallResult, headers: dict) -> dict:
            if stream:
                return await self._stream(url, body, result, headers)
            return read_answer(await self._post(url, body, headers), self.endpoint.api_version)
        result = await self._call(model, exchange, estimate_tokens(body), timeout,
                                  self._tier_headers(tier), flex=flex if tier == "flex" else None)
        result.sent_tier = result.sent_tier or tier
        if flex is not None and tier == "flex" and result.sent_tier == "flex":
            flex.done()
        return result

    async def count_tokens(self, model: str, body: dict) -> CallResult:
        """countTokens (free): the prompt's tokens as the model counts them.
        Takes a generateContent body; the fields countTokens has no use for
        (safety settings, tool config, labels, cached content) are left out."""
        keep = ("contents", "systemInstruction", "tools", "generationConfig")
        url, body = self.endpoint.url(model, "countTokens"), {k: v for k, v in body.items()
                                                             if k in keep}
        return await self._call(model, lambda _, headers: self._post(url, body, headers), 0,
                                self.settings.attempt_timeout_s)

    async def predict(self, model: str, body: dict, tier: str = "standard") -> CallResult:
        url = self.endpoint.url(model, "predict")
        result = await self._call(model, lambda _, headers: self._post(url, body, headers), 0,
                                  self.settings.attempt_timeout_s, self._tier_headers(tier))
        result.sent_tier = tier
        return result

    def _tier_headers(self, tier: str) -> dict[str, str]:
        return service_tiers.headers(tier, self.settings.provisioned_throughput)

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
        result = await self._call(model, exchange, estimated, self.settings.live_timeout_s,
                                  self._tier_headers(tier), slots=self._sessions)
        result.sent_tier = tier
        return result

    async def aclose(self) -> None:
        await self.http.aclose()
        if self._ws_http is not None:
            await self._ws_http.close()

    def redact(self, text: str) -> str:
        """Removes every secret the client holds from a text meant for output,
        as it is and as a server may echo it back (see redaction)."""
        return redaction(tuple(s for s in self.auth.secrets() if s)).sub("****", text)

    async def _call(self, model: str, exchange, estimated_tokens: int, timeout_s: float,
                    headers: dict[str, str] | None = None,
                    slots: asyncio.Semaphore | None = None,
                    flex: FlexByDeadline | None = None) -> CallResult:
        """All attempts for one record, within its deadline (the deadline also
        bounds each attempt: an attempt gets at most the time left). Flex's
        answers and 429s pace `flex`, and a call Flex keeps refusing may move
        to Standard; Flex has a limiter of its own, so that its 429s do not
        cut the Standard rate."""
        headers = dict(headers or {})  # a call moved off Flex changes its own copy
        result = CallResult(started_at=time.time())
        if model in self._models_missing:  # known not to exist: no call, the same answer
            result.error, result.http_status = self._models_missing[model], 404
            return result
        started = time.monotonic()
        deadline = asyncio.timeout(self.settings.deadline_s)
        try:
            async with deadline:
                response = await with_retries(
                    lambda: self._attempt(model, exchange, estimated_tokens, result, headers,
                                          timeout_s, slots or self._in_flight, flex),
                    self._retry)
            result.response, result.http_status = response, 200
            self._models_answered.add(model)
            usage = response.get("usageMetadata") or {}
            if "totalTokenCount" in usage:
                self._limiter_of(model, headers).settle(estimated_tokens,
                                                        int(usage["totalTokenCount"]))
        except FatalApiError:
            raise
        except Exception as error:  # noqa: BLE001 - every other failure becomes a row
            result.error = error if not deadline.expired() else DeadlineExceededError(
                f"the record's deadline of {self.settings.deadline_s:g}s passed "
                f"during attempt {result.attempts}")
        result.latency_ms = (time.monotonic() - started) * 1000.0
        return result

    def _limiter_of(self, model: str, headers: dict[str, str]) -> RateLimiter:
        """Flex has a limiter of its own: its 429s (its capacity is shared and
        busy by design) must not cut the rate of the other tiers."""
        flex = headers.get(service_tiers.SHARED_REQUEST_TYPE) == "flex"
        return self.limiter(f"{model} (flex)" if flex else model)

    async def _take_turn(self, model: str, estimated_tokens: int, headers: dict[str, str],
                         result: CallResult, flex: FlexByDeadline | None) -> RateLimiter:
        """Waits for the call's turn on its tier's limiter. A Flex call of
        Flex by deadline that Flex can no longer answer in time while it
        waits (Flex has been given more than it can finish) moves to Standard."""
        limiter = self._limiter_of(model, headers)
        if flex is None or service_tiers.SHARED_REQUEST_TYPE not in headers:
            await limiter.acquire(estimated_tokens)
            return limiter
        turn = asyncio.ensure_future(limiter.acquire(estimated_tokens))
        while not (await asyncio.wait({turn}, timeout=FLEX_RECHECK_S))[0]:
            if flex.leave_flex(flex_429s=None):
                turn.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await turn
                if not turn.cancelled():  # granted meanwhile: its slot is booked, it stays
                    flex.stay()
                    return limiter
                del headers[service_tiers.SHARED_REQUEST_TYPE]
                result.sent_tier = "standard"
                limiter = self._limiter_of(model, headers)
                await limiter.acquire(estimated_tokens)
                return limiter
        turn.result()
        return limiter

    async def _attempt(self, model: str, exchange, estimated_tokens: int, result: CallResult,
                       headers: dict[str, str], timeout_s: float, slots: asyncio.Semaphore,
                       flex: FlexByDeadline | None = None) -> dict:
        stopping.refuse_if_stopping()  # interrupted: no attempt of any kind starts
        if self.budget.reached():  # a retry, re-ask or further image: none once spent
            raise self.budget.refusal()
        result.attempts += 1
        result.first_token_ms = None
        try:
            async with slots:
                queued = time.monotonic()  # the wait in line counts, not only the head's sleep
                limiter = await self._take_turn(model, estimated_tokens, headers, result, flex)
                result.rate_limit_wait_ms += (time.monotonic() - queued) * 1000.0
                entry = {"offset_ms": round((time.time() - result.started_at) * 1000.0, 3),
                         "http_status": None}
                result.attempt_log.append(entry)
                async with stopping.sending(), asyncio.timeout(timeout_s):
                    sent = time.monotonic()
                    response = await exchange(result, {**headers, **await self.auth.headers()})
        except VertexApiError as error:
            self._reached = time.monotonic()
            result.http_status = error.code
            if result.attempt_log:
                result.attempt_log[-1]["http_status"] = error.code
            if error.code == 429:
                result.throttled += 1
                limiter.on_throttled()
                if flex is not None and service_tiers.SHARED_REQUEST_TYPE in headers:
                    flex.refused()
                    if flex.leave_flex(result.throttled):  # Flex would finish too late
                        del headers[service_tiers.SHARED_REQUEST_TYPE]
                        result.sent_tier = "standard"
            self._check_fatal(model, error)
            raise
        except Exception as error:
            if cannot_connect(error):
                self._check_reachable(error)
            raise
        self._reached = time.monotonic()
        limiter.on_success(time.monotonic() - sent)
        if flex is not None and service_tiers.SHARED_REQUEST_TYPE in headers:
            flex.answered(time.monotonic() - sent)
        result.attempt_log[-1]["http_status"] = 200
        return response

    def _check_reachable(self, error: BaseException) -> None:
        """A server that refused or timed out every connection for a while is
        down, or the endpoint is wrong: stop the job instead of turning every
        record into an error row."""
        silent_s = time.monotonic() - self._reached
        if silent_s >= self.settings.unreachable_after_s:
            raise FatalApiError(
                f"cannot reach {self.endpoint.host}: {error_code_and_message(error)[2]} "
                f"(no connection succeeded for {silent_s:.0f}s)") from None

    def _check_fatal(self, model: str, error: VertexApiError) -> None:
        """401/403 mean the credentials or the project are wrong for every
        record; 404 before any success means the model does not exist: fatal
        for the job's own models, an error for the records of any other."""
        missing = error.code == 404 and model not in self._models_answered
        job_models = self.settings.job_models
        if missing and job_models is not None and model not in job_models:
            self._models_missing[model] = ModelNotFoundError(model, self.redact(error.message))
            raise self._models_missing[model] from None
        if error.code in (401, 403) or missing:
            hint = {401: "check the credentials (ADC or --api_key)",
                    403: "check that the Vertex AI API is enabled and the caller may use it",
                    404: "check the model name, the project and the location"}[error.code]
            raise FatalApiError(self.redact(
                f"Vertex AI answered {error.code} {error.status} for model {model!r} "
                f"at {self.endpoint.host}: {error.message} ({hint})")) from None

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
