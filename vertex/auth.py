"""How requests are authorised: Application Default Credentials, an API key
(express mode), or nothing (a local endpoint). Every kind hides its secret
from repr(), so it cannot reach a log line by accident."""
from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Protocol

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class Auth(Protocol):
    async def headers(self) -> dict[str, str]: ...

    def secrets(self) -> list[str]: ...


class NoAuth:
    async def headers(self) -> dict[str, str]:
        return {}

    def secrets(self) -> list[str]:
        return []

    def __repr__(self):
        return "NoAuth()"


class ApiKeyAuth:
    """Express mode: the key goes in the `x-goog-api-key` header, never in the URL."""

    def __init__(self, api_key: str):
        if not api_key:
            raise ValueError("empty API key")
        self._api_key = api_key

    async def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._api_key}

    def secrets(self) -> list[str]:
        return [self._api_key]

    def __repr__(self):
        return "ApiKeyAuth(****)"


class GoogleCredentialsAuth:
    """OAuth2 access tokens from google-auth credentials (ADC by default),
    refreshed before they expire. The refresh is blocking I/O, so it runs in
    a thread and only once for all the coroutines that need it."""

    def __init__(self, credentials=None, quota_project: str | None = None):
        if credentials is None:
            import google.auth
            credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
        self._credentials = credentials
        self._quota_project = quota_project or getattr(credentials, "quota_project_id", None)
        self._refresh_lock = threading.Lock()

    def _refresh_if_needed(self) -> str:
        with self._refresh_lock:
            if not self._credentials.valid:
                import google.auth.transport.requests
                self._credentials.refresh(google.auth.transport.requests.Request())
            return self._credentials.token

    async def headers(self) -> dict[str, str]:
        token = self._credentials.token
        if not self._credentials.valid:
            token = await asyncio.to_thread(self._refresh_if_needed)
        headers = {"authorization": f"Bearer {token}"}
        if self._quota_project:
            headers["x-goog-user-project"] = self._quota_project
        return headers

    def secrets(self) -> list[str]:
        token = getattr(self._credentials, "token", None)
        return [token] if token else []

    def __repr__(self):
        return "GoogleCredentialsAuth(****)"


@dataclass(frozen=True)
class Secret:
    """A value that must never be printed: repr() and str() hide it. It pickles
    (Beam ships it to workers inside the transform) but never shows in logs."""
    value: str = field(repr=False)

    def __str__(self):
        return "****"
