"""When and how long to wait before trying a call again (tenacity)."""
from __future__ import annotations

import asyncio

import httpx
import tenacity

from vertex.errors import MalformedResponseError, VertexApiError


def is_retryable(error: BaseException) -> bool:
    """429 and 5xx answers, broken or cut-off answers, transport errors and
    timeouts of one attempt, and failures to reach the token endpoint."""
    import google.auth.exceptions
    if isinstance(error, VertexApiError):
        return error.retryable
    return isinstance(error, (MalformedResponseError, httpx.TransportError,
                              asyncio.TimeoutError, ConnectionError,
                              google.auth.exceptions.TransportError))


class wait_for_server_hint(tenacity.wait.wait_base):
    """The fallback (exponential backoff with jitter), but never less than the
    server's own hint (Retry-After, google.rpc.RetryInfo).

    The hint is a minimum, not the wait: a 429's hint says when capacity for
    one request frees up, and every client that got it would come back at
    that same instant and collide again."""

    def __init__(self, fallback: tenacity.wait.wait_base, max_hint_s: float = 600.0):
        self.fallback = fallback
        self.max_hint_s = max_hint_s

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        hint = getattr(error, "retry_after_s", None) or 0.0
        return max(min(hint, self.max_hint_s), self.fallback(retry_state))


def retry_policy(max_attempts: int, initial_backoff_s: float = 1.0,
                 max_backoff_s: float = 60.0, deadline_s: float | None = None) -> dict:
    """Keyword arguments for tenacity.AsyncRetrying. With a deadline, no wait
    is started that would end past it."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    stop = tenacity.stop_after_attempt(max_attempts)
    if deadline_s:
        stop = stop | tenacity.stop_before_delay(deadline_s)
    return dict(
        retry=tenacity.retry_if_exception(is_retryable),
        stop=stop,
        wait=wait_for_server_hint(
            tenacity.wait_exponential_jitter(initial=initial_backoff_s, max=max_backoff_s)),
        reraise=True,
    )
