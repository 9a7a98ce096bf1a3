"""How requests are authorised: Application Default Credentials, an API key
(express mode), or nothing (a local endpoint). Every kind hides its secret
from repr(), so it cannot reach a log line by accident."""
from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass
from typing import Protocol

from vertex.errors import FatalApiError, first_line

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
            import google.auth.exceptions
            try:
                credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
            except google.auth.exceptions.DefaultCredentialsError as error:
                raise FatalApiError(f"no Application Default Credentials: {first_line(error)} "
                                    "(run `gcloud auth application-default login`, or use "
                                    "--api_key)") from None
        self._credentials = credentials
        self._quota_project = quota_project or getattr(credentials, "quota_project_id", None)
        self._refresh_lock = threading.Lock()

    def _refresh_if_needed(self) -> str:
        """A refused refresh (revoked or expired credentials) dooms every
        record: FatalApiError. A transport error reaching the token endpoint
        is raised as is, and retried like any other transport error."""
        import google.auth.exceptions
        import google.auth.transport.requests
        with self._refresh_lock:
            if not self._credentials.valid:
                try:
                    self._credentials.refresh(google.auth.transport.requests.Request())
                except google.auth.exceptions.TransportError:
                    raise
                except google.auth.exceptions.RefreshError as error:
                    raise FatalApiError(
                        "the Google credentials were refused when refreshing the access "
                        f"token: {first_line(error)} (run `gcloud auth application-default "
                        "login` again, or check the service account)") from None
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
class ApiKeySource:
    """Where a worker reads the express-mode API key: an environment variable
    (local runs) or a Secret Manager secret version (Dataflow). Only this
    pointer travels in the job graph, never the key."""
    env_var: str | None = None
    secret_version: str | None = None   # projects/P/secrets/S/versions/V

    def read(self) -> str:
        if self.secret_version:
            from google.cloud import secretmanager
            try:
                client = secretmanager.SecretManagerServiceClient()
                key = client.access_secret_version(
                    request={"name": self.secret_version}).payload.data.decode().strip()
            except Exception as error:  # noqa: BLE001 - any failure means no key for anyone
                raise FatalApiError(f"cannot read the API key from Secret Manager "
                                    f"({self.secret_version}): {first_line(error)}") from None
        else:
            key = os.environ.get(self.env_var or "", "")
        if not key:
            raise FatalApiError(f"the API key is empty or missing ({self})")
        return key

    def __str__(self):
        return f"secret {self.secret_version}" if self.secret_version else f"${self.env_var}"
