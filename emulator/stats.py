"""Counters served at GET /emulator/stats."""
from __future__ import annotations

import time
from collections import Counter


class Stats:
    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.by_method: Counter = Counter()
        self.by_model: Counter = Counter()
        self.by_status: Counter = Counter()
        self.by_traffic_type: Counter = Counter()
        self.prompt_tokens = 0
        self.candidates_tokens = 0
        self.images = 0
        self.dropped = 0
        self.truncated = 0
        self.flex_429 = 0  # Flex requests refused for its capacity (--flex_rpm)
        self.in_flight = 0
        self.peak_in_flight = 0
        self.first_request_at: float | None = None  # wall clock, for rates over the active window
        self.last_answer_at: float | None = None

    def begin(self, method: str, model: str) -> None:
        if self.first_request_at is None:
            self.first_request_at = time.time()
        self.requests += 1
        self.by_method[method] += 1
        self.by_model[model] += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def end(self, status: int) -> None:
        self.last_answer_at = time.time()
        self.in_flight -= 1
        self.by_status[str(status)] += 1

    def as_json(self) -> dict:
        return {
            "requests": self.requests,
            "by_method": dict(self.by_method),
            "by_model": dict(self.by_model),
            "by_status": dict(self.by_status),
            "by_traffic_type": dict(self.by_traffic_type),
            "prompt_tokens": self.prompt_tokens,
            "candidates_tokens": self.candidates_tokens,
            "images": self.images,
            "dropped_connections": self.dropped,
            "truncated_bodies": self.truncated,
            "flex_429": self.flex_429,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "first_request_at": self.first_request_at,
            "last_answer_at": self.last_answer_at,
        }
