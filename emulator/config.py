"""The emulator's settings, one field per command-line flag."""
from __future__ import annotations

from dataclasses import dataclass, field

KNOWN_MODELS = (
    "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite",
    "gemini-2.5-flash-image", "gemini-2.0-flash-001", "gemini-2.0-flash-lite-001",
    "gemini-2.0-flash", "gemini-1.5-pro-002", "gemini-1.5-flash-002",
    "gemini-pro", "gemini-pro-vision",  # legacy: answered in the legacy v1 dialect
    "gemini-2.5-flash-preview-tts", "gemini-2.5-pro-preview-tts",  # speak: responseModalities AUDIO
    "gemini-live-2.5-flash", "gemini-live-2.5-flash-preview-native-audio-09-2025",  # Live API
    "imagen-4.0-generate-001", "imagen-4.0-fast-generate-001", "imagen-4.0-ultra-generate-001",
    "imagen-4.0-generate-preview-06-06", "imagen-4.0-fast-generate-preview-06-06",
    "imagen-4.0-ultra-generate-preview-06-06", "imagen-3.0-generate-002",
    "imagen-3.0-fast-generate-001",
)


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
    extra_models: tuple[str, ...] = ()
    image_scale: float = 0.25          # images are the real sizes times this
    seed: int = 0                      # for the random faults and jitter
    provisioned_rpm: float | None = None  # Provisioned Throughput per model; None = none bought
    flex_latency_ms: float = 0.0       # extra latency of Flex PayGo answers
    live_sessions: int | None = None   # Live API sessions open at once; None = no limit
    models: frozenset = field(init=False)

    def __post_init__(self):
        for name in ("rpm", "tpm", "image_rpm", "provisioned_rpm"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"--{name} must be positive")
        for name in ("error_rate", "throttle_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"--{name} must be between 0 and 1")
        if min(self.latency_ms, self.jitter_ms, self.token_latency_ms, self.flex_latency_ms) < 0:
            raise ValueError("latencies must not be negative")
        if not 0.01 <= self.image_scale <= 1.0:
            raise ValueError("--image_scale must be between 0.01 and 1")
        self.models = frozenset(KNOWN_MODELS) | frozenset(self.extra_models)
