"""Per-model quotas: requests per minute and tokens per minute.

Each is a token bucket that refills continuously at the per-minute rate and
holds one second of quota, so a client that spaces its calls evenly at the
quota never sees a 429, and one that bursts does, as with the real service.
"""
from __future__ import annotations

import time


class Bucket:
    def __init__(self, per_minute: float, burst_s: float = 1.0, clock=time.monotonic):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self._clock = clock
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self.level = min(self.capacity, self.level + (now - self._updated) * self.rate)
        self._updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` could be taken (0 if now). A request larger
        than the bucket is admitted when the bucket is full."""
        self._refill()
        needed = min(amount, self.capacity)
        return 0.0 if self.level >= needed else (needed - self.level) / self.rate

    def take(self, amount: float) -> None:
        self._refill()
        self.level -= amount  # may go below zero: later requests wait for it


class ModelQuota:
    def __init__(self, rpm: float | None, tpm: float | None):
        self.requests = Bucket(rpm) if rpm else None
        self.tokens = Bucket(tpm) if tpm else None

    def admit(self, prompt_tokens: int) -> float | None:
        """Takes the quota for one request, or returns the seconds to wait."""
        waits = [b.wait_for(n) for b, n in ((self.requests, 1), (self.tokens, prompt_tokens)) if b]
        if any(waits):
            return max(waits)
        if self.requests:
            self.requests.take(1)
        if self.tokens:
            self.tokens.take(prompt_tokens)
        return None

    def charge_output(self, tokens: int) -> None:
        if self.tokens:
            self.tokens.take(tokens)
