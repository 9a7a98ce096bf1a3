"""A periodic progress line for local runs, one per worker process and run
(each worker keeps its Progress objects in its WorkerState):

    progress: 1200 of ~3000 records, 49.8/s, 429s 0.4% of requests, $0.0213, ETA 36s
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressSettings:
    every_s: float = 0.0                 # 0: no progress lines
    expected_records: int | None = None  # for "of ~N" and the ETA
    run_id: str | None = None            # each run counts from zero


class Progress:
    def __init__(self, settings: ProgressSettings = ProgressSettings()):
        self._lock = threading.Lock()
        self.every_s, self.expected = settings.every_s, settings.expected_records
        self.done = self.requests = self.throttled = 0
        self.cost_usd = 0.0
        self.started = self.last_line = time.monotonic()

    def record(self, attempts: int, throttled: int) -> None:
        """One record done; prints a line when the interval has passed."""
        if not self.every_s:
            return
        with self._lock:
            self.done += 1
            self.requests += attempts
            self.throttled += throttled
            now = time.monotonic()
            if now - self.last_line < self.every_s:
                return
            self.last_line = now
            line = self.line(now)
        print(line, file=sys.stderr, flush=True)

    def add_cost(self, dollars: float) -> None:
        with self._lock:
            self.cost_usd += dollars

    def line(self, now: float) -> str:
        rate = self.done / max(now - self.started, 1e-9)
        share = self.throttled / self.requests if self.requests else 0.0
        text = f"progress: {self.done}"
        if self.expected:
            text += f" of ~{self.expected}"
        text += f" records, {rate:.1f}/s, 429s {share:.1%} of requests, ${self.cost_usd:.4f}"
        if self.expected and rate > 0 and self.done < self.expected:
            text += f", ETA {(self.expected - self.done) / rate:.0f}s"
        return text

