"""Where a model's methods live: regional, global, express mode, or a local server."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from urllib.parse import quote

GLOBAL_HOST = "https://aiplatform.googleapis.com"
# The multi-region endpoints: capacity pooled inside the jurisdiction, apart from global.
MULTI_REGION_HOST = "https://aiplatform.{}.rep.googleapis.com"
MULTI_REGIONS = ("us", "eu")
_SEGMENT = re.compile(r"[A-Za-z0-9._@-]+")
# Accepted forms: a model id, publishers/P/models/M, and full resource names
# of a publisher model or of an endpoint (a tuned model).
_MODEL_FORMS = (
    ("model",),
    ("publishers", "*", "models", "model"),
    ("projects", "*", "locations", "*", "publishers", "*", "models", "model"),
    ("projects", "*", "locations", "*", "endpoints", "model"),
)


def check_model_name(model) -> str:
    """Raises ValueError unless `model` is a model id (letters, digits and
    `._@-`) or one of the resource-name forms; returns it unchanged."""
    if not isinstance(model, str) or not model:
        raise ValueError("a model name must be a non-empty string")
    segments = model.split("/")
    for form in _MODEL_FORMS:
        if len(form) == len(segments) and all(
                expected == segment if expected not in ("*", "model") else
                bool(_SEGMENT.fullmatch(segment)) and segment not in (".", "..")
                for expected, segment in zip(form, segments)):
            return model
    raise ValueError(f"invalid model name {model[:100]!r}: use a model id such as "
                     "gemini-3.5-flash (letters, digits, '.', '_', '@', '-') or "
                     "publishers/P/models/M or projects/P/locations/L/publishers/P/models/M")


@dataclass(frozen=True)
class Endpoint:
    """Forms method URLs for one way of reaching Vertex AI.

    - project and a region: https://{region}-aiplatform.googleapis.com/v1/projects/..
    - project and location "global": https://aiplatform.googleapis.com/v1/projects/..
    - project and a multi-region (us, eu): https://aiplatform.{us,eu}.rep.googleapis.com/v1/projects/..
    - express mode (API key, no project): https://aiplatform.googleapis.com/v1/publishers/..
    - base_url (e.g. the emulator): the same paths under that server.
    """
    project: str | None = None
    location: str = "us-central1"
    base_url: str | None = None
    api_version: str = "v1"

    def __post_init__(self):
        if self.project and "/" in self.project:
            raise ValueError(f"project must be a project id, not a path: {self.project!r}")
        if not self.location or "/" in self.location:
            raise ValueError(f"invalid location: {self.location!r}")

    @property
    def host(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        if self.location == "global" or not self.project:
            return GLOBAL_HOST
        if self.location in MULTI_REGIONS:
            return MULTI_REGION_HOST.format(self.location)
        return f"https://{self.location}-aiplatform.googleapis.com"

    def model_path(self, model: str) -> str:
        """The resource path of a model, from a short id or a full name
        (checked by check_model_name); every segment is escaped."""
        check_model_name(model)
        if not model.startswith("projects/"):  # a full name, e.g. a tuned model's endpoint
            if not model.startswith("publishers/"):
                model = f"publishers/google/models/{model}"
            if self.project:  # express mode has no project in the path
                model = f"projects/{self.project}/locations/{self.location}/{model}"
        return "/".join(quote(segment, safe="@") for segment in model.split("/"))

    def url(self, model: str, method: str) -> str:
        return _url(self, model, method)

    def live_url(self) -> str:
        """The Live API's WebSocket (wss:// for https://, ws:// for a local http:// endpoint)."""
        host = re.sub(r"^http", "ws", self.host)
        return (f"{host}/ws/google.cloud.aiplatform.{self.api_version}."
                "LlmBidiService/BidiGenerateContent")


@functools.lru_cache(maxsize=1024)
def _url(endpoint: Endpoint, model: str, method: str) -> str:
    """Formed once per model and method, not for every call (checking and
    escaping the name was a tenth of the event loop's own work)."""
    return f"{endpoint.host}/{endpoint.api_version}/{endpoint.model_path(model)}:{method}"
