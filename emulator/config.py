"""The emulator's settings, one field per command-line flag."""
from __future__ import annotations

import datetime
from dataclasses import dataclass

import vertex_catalog

@dataclass
class EmulatorConfig:
    rpm: float | None = None           # per model requests per minute; None = unlimited
    tpm: float | None = None           # per model tokens per minute (prompt + output)
    image_rpm: float | None = None     # Imagen models' own requests per minute (default: rpm)
    latency_ms: float = 0.0            # added to every answer
    jitter_ms: float = 0.0             # mean of an exponential (long-tailed) extra delay
    token_latency_ms: float = 0.0      # per output token
    error_rate: float = 0.0            # share of requests answered 500/503 at random
    throttle_rate: float = 0.0         # share answered 429 at random (a shared-quota storm)
    retry_info: bool = True            # 429s carry a google.rpc.RetryInfo delay
    require_api_key: str | None = None
    extra_models: tuple[str, ...] = ()  # served as text models, beside the catalog's
    serve_discontinued: bool = False   # serve models past their discontinuation date
    image_scale: float = 0.25          # images are the real sizes times this
    seed: int = 0                      # for the random faults and jitter
    provisioned_rpm: float | None = None  # Provisioned Throughput per model; None = none bought
    flex_latency_ms: float = 0.0       # extra latency of Flex PayGo answers
    flex_rpm: float | None = None      # Flex capacity per model, requests a minute; None = no limit
    flex_as_standard: float = 0.0      # share of Flex requests served (and billed) as Standard
    live_sessions: int | None = None   # Live API sessions open at once; None = no limit
    implicit_cache_hit_rate: float = 0.5  # how often a repeated prompt prefix is cached implicitly

    def __post_init__(self):
        for name in ("rpm", "tpm", "image_rpm", "provisioned_rpm", "flex_rpm"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"--{name} must be positive")
        for name in ("error_rate", "throttle_rate", "flex_as_standard", "implicit_cache_hit_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"--{name} must be between 0 and 1")
        if min(self.latency_ms, self.jitter_ms, self.token_latency_ms, self.flex_latency_ms) < 0:
            raise ValueError("latencies must not be negative")
        if not 0.01 <= self.image_scale <= 1.0:
            raise ValueError("--image_scale must be between 0.01 and 1")

    def model(self, name: str, api: str, location: str,
              today: datetime.date | None = None) -> vertex_catalog.Model | None:
        """The catalog's model if Vertex AI serves it for this API at this
        location today (None: it answers 404): which models exist where is the
        catalog's to say, never the emulator's."""
        if name in self.extra_models:
            return vertex_catalog.Model(
                id=name, api=api, inputs=("TEXT",), outputs=("TEXT",), stage="GA",
                locations=("global", "us", "eu", "regions"), retires=None, withdrawn=False,
                replacement=None, thinking=None, tiers=("standard", "flex", "priority"),
                legacy_spellings=False, image=None, limits=None, prices=None, entry={})
        model = vertex_catalog.get(name)
        if model is None or model.api != api or not model.served_at(location):
            return None
        if model.retired_on(today) and not self.serve_discontinued:
            return None
        return model
