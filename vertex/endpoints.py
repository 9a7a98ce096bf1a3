"""Where a model's methods live: regional, global, express mode, or a local server."""
from __future__ import annotations

from dataclasses import dataclass

GLOBAL_HOST = "https://aiplatform.googleapis.com"


@dataclass(frozen=True)
class Endpoint:
    """Forms method URLs for one way of reaching Vertex AI.

    - project and a region: https://{region}-aiplatform.googleapis.com/v1/projects/..
    - project and location "global": https://aiplatform.googleapis.com/v1/projects/..
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
        return f"https://{self.location}-aiplatform.googleapis.com"

    def model_path(self, model: str) -> str:
        """The resource path of a model, from a short id or a full name."""
        if model.startswith("projects/"):
            return model  # a full resource name, e.g. a tuned model's endpoint
        if not model.startswith("publishers/"):
            model = f"publishers/google/models/{model}"
        if self.project:
            return f"projects/{self.project}/locations/{self.location}/{model}"
        return model  # express mode: no project in the path

    def url(self, model: str, method: str) -> str:
        return f"{self.host}/{self.api_version}/{self.model_path(model)}:{method}"
