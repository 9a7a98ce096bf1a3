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
from collections import deque
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
        self._turn = asyncio.Lock()  # waiters are served one at a time, first come first
        self.last_wait_at = float("-inf")  # when a call last had to wait for its turn

    @property
    def unlimited(self) -> bool:
        return not self.rpm and not self.tpm

    async def acquire(self, tokens: int = 0) -> float:
        """Waits for this request's turn. Returns the seconds waited.

        Only the request at the head of the line waits on the clock, and its
        slot is booked when granted, at the rate in force then: a rate that
        changes (AdaptiveRateLimiter) applies to the very next request."""
        if self.unlimited:
            return 0.0
        async with self._turn:
            now = self._clock()
            start = max(now, self._next_request_at, self._tokens_paid_at)
            if start > now:
                self.last_wait_at = now
                await self._sleep(start - now)
            if self.rpm:
                self._next_request_at = start + 60.0 / self.rpm
            if self.tpm:
                self._tokens_paid_at = start + tokens * 60.0 / self.tpm
            return start - now

    def settle(self, estimated_tokens: int, actual_tokens: int) -> None:
        """Corrects the token clock once the real usage of a request is known."""
        if self.tpm and actual_tokens != estimated_tokens:
            self._tokens_paid_at += (actual_tokens - estimated_tokens) * 60.0 / self.tpm

    # Feedback from the calls; a fixed limit ignores it.
    def on_success(self, latency_s: float | None = None) -> None:
        """A call was answered, `latency_s` after it was sent."""

    def on_throttled(self) -> None:
        pass


class AdaptiveRateLimiter(RateLimiter):
    """For a quota nobody told us: finds the rate the server allows.

    It starts from a guess and doubles the rate until the first 429 (slow
    start): once every `rounds` answered latencies, and at least once a
    second. A 429 is heard one latency after the request that drew it, so
    the rate overshoots by at most 2**(1/rounds) (19%) for that long,
    however short the latency: against a fast server with room to spare
    (50 ms, no quota) the rate reaches what the connections allow in about a
    second, not in several.

    On a 429 it drops to `decrease` times the rate the server has actually
    been accepting over the last `window_s`, or since the start if that is
    shorter (a quota with a burst allowance answers its first 429 only once
    the burst is spent, by when the slow start is far past the quota), or
    times its own rate if lower. On success it raises the rate by
    `increase` of itself per second (AIMD), so the job settles just under
    the real quota (a tokens-per-minute limit still holds as given). A burst
    of 429s from requests already under way counts once (`cooldown_s`), and
    the rate only grows while this limiter is what holds calls back, so an
    idle job does not bank a rate it never tried.

    429s that do not follow the rate (a storm on a shared pool, answered at
    random whatever the rate) would cut it again and again towards nothing;
    so a cut never goes below `floor` times the best rate the server has
    accepted (that best rate fading by `fade` a second, so that a quota that
    really shrank is followed down). Retries with backoff carry such storms.
    """

    def __init__(self, initial_rpm: float, tpm: float | None = None, min_rpm: float = 1.0,
                 decrease: float = 0.9, increase: float = 0.01, cooldown_s: float = 1.0,
                 window_s: float = 2.0, floor: float = 0.5, fade: float = 0.002,
                 rounds: float = 4.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        super().__init__(rpm=initial_rpm, tpm=tpm, clock=clock, sleep=sleep)
        self.min_rpm, self.decrease, self.increase = min_rpm, decrease, increase
        self.cooldown_s, self.window_s = cooldown_s, window_s
        self.floor, self.fade, self.rounds = floor, fade, rounds
        self.latency_s: float | None = None  # answered calls' latency, smoothed
        self.best_accepted_rpm, self._best_at = 0.0, clock()
        self.slow_start = True
        self._successes: deque[float] = deque()
        self._started = self._last_growth = clock()
        self._last_cut = float("-inf")

    def accepted_rpm(self, now: float) -> float | None:
        """Successes per minute over the last window (or since the start,
        before a window has passed; None at the very start)."""
        while self._successes and self._successes[0] < now - self.window_s:
            self._successes.popleft()
        span = min(self.window_s, now - self._started)
        return len(self._successes) * 60.0 / span if span > 0.1 else None

    def on_success(self, latency_s: float | None = None) -> None:
        now = self._clock()
        self._successes.append(now)
        if latency_s is not None:
            self.latency_s = latency_s if self.latency_s is None \
                else 0.9 * self.latency_s + 0.1 * latency_s
        elapsed, self._last_growth = now - self._last_growth, now
        if now - self.last_wait_at > 1.0:
            return  # the limit is not what holds calls back: nothing to learn
        if self.slow_start:
            doubling_s = min(1.0, self.rounds * self.latency_s) if self.latency_s else 1.0
            self.rpm *= 2.0 ** (min(elapsed, doubling_s) / doubling_s)
        else:
            self.rpm += self.rpm * self.increase * min(elapsed, 1.0)

    def on_throttled(self) -> None:
        now = self._clock()
        if now - self._last_cut < self.cooldown_s:
            return
        self._last_cut, self.slow_start = now, False
        accepted = self.accepted_rpm(now)
        base = min(self.rpm, accepted) if accepted else self.rpm
        self.rpm = max(self.min_rpm, base * self.decrease, self.floor * self._best(now, accepted))

    def _best(self, now: float, accepted: float | None) -> float:
        """The best accepted rate seen, faded for the time since it was seen."""
        faded = self.best_accepted_rpm * (1.0 - self.fade) ** (now - self._best_at)
        if accepted and accepted >= faded:
            faded = accepted
        self.best_accepted_rpm, self._best_at = faded, now
        return faded
