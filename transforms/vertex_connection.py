"""How workers reach Vertex AI, and the one client per worker process.

A VertexConnection is small, picklable and hashable: Beam ships it to the
workers inside the transforms, and each worker process builds one
VertexClient per connection on its own event loop, shared by every thread
(so --concurrency and --rpm hold per process, not per thread).
"""
from __future__ import annotations

import asyncio
import atexit
import threading
from dataclasses import dataclass

from vertex.auth import ApiKeyAuth, ApiKeySource, GoogleCredentialsAuth, NoAuth
from vertex.client import CallSettings, VertexClient
from vertex.endpoints import Endpoint
from vertex.http import make_http_client


@dataclass(frozen=True)
class VertexConnection:
    project: str | None = None
    location: str = "us-central1"
    endpoint_url: str | None = None     # a local server such as the emulator
    api_key: ApiKeySource | None = None  # express mode: where workers read the key
    transport: str = "aiohttp"
    settings: CallSettings = CallSettings()

    def endpoint(self) -> Endpoint:
        return Endpoint(project=self.project, location=self.location, base_url=self.endpoint_url)

    def auth(self):
        if self.api_key is not None:
            return ApiKeyAuth(self.api_key.read())
        if self.endpoint_url:
            return NoAuth()  # a local endpoint takes no credentials
        return GoogleCredentialsAuth()

    async def create_client(self) -> VertexClient:
        http = make_http_client(self.settings.max_in_flight, self.settings.attempt_timeout_s,
                                self.transport)
        return VertexClient(self.endpoint(), self.auth(), http, self.settings)


_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_clients: dict[VertexConnection, VertexClient] = {}


def event_loop() -> asyncio.AbstractEventLoop:
    """The worker process's event loop, running in a daemon thread."""
    global _loop
    with _lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="vertex-calls", daemon=True).start()
        return _loop


def shared_client(connection: VertexConnection) -> VertexClient:
    loop = event_loop()
    with _lock:
        if connection not in _clients:
            _clients[connection] = asyncio.run_coroutine_threadsafe(
                connection.create_client(), loop).result()
        return _clients[connection]


@atexit.register
def _close_clients() -> None:
    """Closes the process's connection pools on their own loop before exit."""
    if _loop is None:
        return
    for client in list(_clients.values()):
        try:
            asyncio.run_coroutine_threadsafe(client.aclose(), _loop).result(timeout=5)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
    _clients.clear()
