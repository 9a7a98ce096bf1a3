"""How every call to Vertex AI is made, whatever its API (the middle layer,
under vertex/client.py's methods and over the transports): at most
max_in_flight at once, each model's rate limit (Flex's apart), retries
(tenacity's strategies), a time limit per attempt and per record, the budget,
Flex by deadline, and which failures stop the whole job (bad credentials, an
unknown model of the job's, a server that cannot be reached).

The API layer hands CallPolicy.call an exchange: one attempt's request and
answer (`exchange(result, headers) -> dict`). A call never raises for a
failure that concerns one record: it returns a CallResult carrying either
the answer or the error, with its attempts; only a failure that dooms the
whole job raises FatalApiError.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from vertex import service_tiers, stopping
from vertex.budget import Budget
from vertex.errors import (DeadlineExceededError, FatalApiError, ModelNotFoundError,
                           VertexApiError, cannot_connect, error_code_and_message)
from vertex.flex_deadline import FLEX_RECHECK_S, FlexByDeadline
from vertex.rate_limit import AdaptiveRateLimiter, RateLimiter
from vertex.retry import retry_policy, with_retries


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

    @staticmethod
    def together(results: list["CallResult"], response: dict | None,
                 error: BaseException | None) -> "CallResult":
        """Calls made at once for one record as one result: their attempts
        and 429s summed, the longest wait, the time from the first start to
        the last answer, every attempt (timed from the first start)."""
        first = min(results, key=lambda r: r.started_at)
        answered = [r for r in results if r.ok]
        return CallResult(
            response=response, error=error,
            attempts=sum(r.attempts for r in results),
            throttled=sum(r.throttled for r in results),
            rate_limit_wait_ms=max(r.rate_limit_wait_ms for r in results),
            latency_ms=max(r.started_at * 1000 + r.latency_ms for r in results)
            - first.started_at * 1000,
            started_at=first.started_at,
            attempt_log=sorted(({**entry, "offset_ms": round(
                entry["offset_ms"] + (r.started_at - first.started_at) * 1000, 3)}
                for r in results for entry in r.attempt_log),
                key=lambda entry: entry["offset_ms"]),
            http_status=(answered or results)[-1].http_status,
            sent_tier=(answered or results)[-1].sent_tier)

    def then(self, last: "CallResult", set_aside: list[dict] | None = None) -> "CallResult":
        """This call and a later one for the same record (asked again) as one
        result: the last answer, every attempt and wait, the time from the
        first attempt, and the answers set aside (each paid)."""
        shift_ms = (last.started_at - self.started_at) * 1000.0
        return dataclasses.replace(
            last, attempts=self.attempts + last.attempts,
            throttled=self.throttled + last.throttled,
            rate_limit_wait_ms=self.rate_limit_wait_ms + last.rate_limit_wait_ms,
            latency_ms=shift_ms + last.latency_ms, started_at=self.started_at,
            attempt_log=self.attempt_log + [
                {**entry, "offset_ms": round(entry["offset_ms"] + shift_ms, 3)}
                for entry in last.attempt_log],
            set_aside=list(set_aside or []))


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
    # The job's own models (each task's default: --model, --image_model, ...):
    # one of them answering 404 before any success stops the job. Another model
    # a record names fails only that model's records. None: every model is the
    # job's own.
    job_models: frozenset[str] | None = None
    provisioned_throughput: str = "auto"  # auto | only | never (service_tiers)
    flex_attempt_timeout_s: float = service_tiers.FLEX_TIMEOUT_S  # Flex is slow by design
    max_cost_usd: float | None = None     # this process's share of --max_cost_usd
    live_sessions: int | None = None      # Live API sessions open at once in this process
    live_timeout_s: float = 600.0         # one session (a connection lasts about 10 minutes)
    finish_by: float | None = None        # --finish_by (epoch s): Flex first, Standard for the rest
    expected_records: int | None = None   # with finish_by: this process's share of the records


class CallPolicy:
    """One per worker process and configuration (inside its VertexClient);
    used from one event loop. `host` names the server in fatal messages;
    `redact` takes the secrets out of them."""

    def __init__(self, settings: CallSettings, host: str, redact):
        self.settings, self.host, self.redact = settings, host, redact
        self._in_flight = asyncio.Semaphore(settings.max_in_flight)
        self.sessions = asyncio.Semaphore(settings.live_sessions or settings.max_in_flight)
        self._limiters: dict[str, RateLimiter] = {}
        self._models_answered: set[str] = set()
        self._models_missing: dict[str, ModelNotFoundError] = {}
        self._reached = time.monotonic()  # when the server last answered anything
        self.budget = Budget(settings.max_cost_usd)
        self.flex_deadline = FlexByDeadline(settings.finish_by, settings.max_in_flight,
                                            settings.expected_records) \
            if settings.finish_by else None
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

    async def call(self, model: str, exchange, estimated_tokens: int,
                   tier: str | None = "standard", movable: bool = False,
                   timeout_s: float | None = None,
                   slots: asyncio.Semaphore | None = None) -> CallResult:
        """All attempts for one record at the PayGo tier asked for (standard,
        flex, priority; `movable`: the job's default, not the record's own, so
        that Flex by deadline may send it to Standard), each attempt within
        timeout_s (by default the tier's), all within the record's deadline.
        `slots`: the calls of its kind open at once (Live sessions), else the
        calls in flight. tier None: a call of no tier (countTokens, free)."""
        flex = self.flex_deadline if tier == "flex" and movable else None
        if flex is not None:
            tier = flex.tier()
        timeout_s = timeout_s or (self.settings.flex_attempt_timeout_s if tier == "flex"
                                  else self.settings.attempt_timeout_s)
        headers = service_tiers.headers(tier, self.settings.provisioned_throughput) if tier else {}
        result = await self._attempts(model, exchange, estimated_tokens, timeout_s, headers, slots,
                                      flex if tier == "flex" else None)
        result.sent_tier = result.sent_tier or tier
        if flex is not None and tier == "flex" and result.sent_tier == "flex":
            flex.done()
        return result

    async def _attempts(self, model: str, exchange, estimated_tokens: int, timeout_s: float,
                        headers: dict[str, str], slots: asyncio.Semaphore | None,
                        flex: FlexByDeadline | None) -> CallResult:
        """Attempts until one succeeds or the retry policy or the deadline
        (which also bounds each attempt: at most the time left) gives up.
        Flex's answers and 429s pace `flex`, and a call Flex keeps refusing
        may move to Standard; Flex has a limiter of its own, so that its 429s
        do not cut the Standard rate."""
        headers = dict(headers)  # a call moved off Flex changes its own copy
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
                    response = await exchange(result, dict(headers))
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
                f"cannot reach {self.host}: {error_code_and_message(error)[2]} "
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
                f"at {self.host}: {error.message} ({hint})")) from None

