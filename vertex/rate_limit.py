"""Client-side rate limiting: requests per minute and tokens per minute.

A quota per minute is used best by spacing calls evenly rather than firing a
minute's worth at once and then waiting: the server sees a steady rate just
under its quota, and no request sits idle behind a burst. Each limiter keeps
two virtual clocks (GCRA): when the next request may start, and when the
tokens already sent are paid for. It lives on one event loop, so every
thread of a worker process that submits calls there shares it.
"""
from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable


class RateLimiter:
    def __init__(self, rpm: float | None = None, tpm: float | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        if rpm is not None and rpm <= 0:
            raise ValueError("rpm must be positive")
        if tpm is not None and tpm <= 0:
            raise ValueError("tpm must be positive")
        self.rpm, self.tpm = rpm, tpm
        self._clock, self._sleep = clock, sleep
        self._next_request_at = 0.0
        self._tokens_paid_at = 0.0

    @property
    def unlimited(self) -> bool:
        return not self.rpm and not self.tpm

    def _reserve(self, tokens: int) -> float:
        """Books the next slot for a request of `tokens`; returns its start time."""
        now = self._clock()
        start = max(now, self._next_request_at, self._tokens_paid_at)
        if self.rpm:
            self._next_request_at = start + 60.0 / self.rpm
        if self.tpm:
            self._tokens_paid_at = start + tokens * 60.0 / self.tpm
        return start

    async def acquire(self, tokens: int = 0) -> float:
        """Waits for this request's turn. Returns the seconds waited."""
        if self.unlimited:
            return 0.0
        delay = self._reserve(tokens) - self._clock()
        if delay > 0:
            await self._sleep(delay)
        return max(delay, 0.0)

    def settle(self, estimated_tokens: int, actual_tokens: int) -> None:
        """Corrects the token clock once the real usage of a request is known."""
        if self.tpm and actual_tokens != estimated_tokens:
            self._tokens_paid_at += (actual_tokens - estimated_tokens) * 60.0 / self.tpm
