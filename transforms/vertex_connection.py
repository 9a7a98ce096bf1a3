"""How workers reach Vertex AI, and what one worker process shares.

A VertexConnection is small, picklable and hashable: Beam ships it to the
workers inside the transforms. Each worker process keeps one WorkerState,
held through Beam's `shared.Shared` (as RunInference holds its model): one
event loop in a daemon thread, and one VertexClient per connection on it,
shared by every thread and every DoFn of the process (so --concurrency and
--rpm hold per process, not per thread). Each connection made by a job is a
new one (its `instance`), so a second job in the same process starts with
fresh clients, limiters and progress counters.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as futures
import functools
import threading
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any, Coroutine

from apache_beam.utils import shared

from transforms.progress import Progress, ProgressSettings
from vertex.auth import ApiKeyAuth, ApiKeySource, GoogleCredentialsAuth, NoAuth
from vertex.call_policy import CallSettings
from vertex.client import VertexClient
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
    instance: str = field(default_factory=lambda: uuid.uuid4().hex, repr=False)

    def endpoint(self) -> Endpoint:
        return Endpoint(project=self.project, location=self.location, base_url=self.endpoint_url)

    def auth(self):
        if self.api_key is not None:
            return ApiKeyAuth(self.api_key.read())
        if self.endpoint_url:
            return NoAuth()  # a local endpoint takes no credentials
        return GoogleCredentialsAuth()

    async def create_client(self) -> VertexClient:
        # Each attempt is bounded by its own timeout (longer for Flex); the pool's is the longest.
        timeout_s = max(self.settings.attempt_timeout_s, self.settings.flex_attempt_timeout_s)
        http = make_http_client(self.settings.max_in_flight, timeout_s, self.transport)
        return VertexClient(self.endpoint(), self.auth(), http, self.settings)


class WorkerState:
    """A worker process's event loop and what lives on it."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="vertex-calls", daemon=True).start()
        self._lock = threading.Lock()
        # See hand_over. A lock of their own: client() holds _lock while it
        # waits for the loop, which must never wait for that lock in turn.
        self._arrivals_lock = threading.Lock()
        self._arrivals: list[tuple[Coroutine, futures.Future]] = []
        self._woken = False
        self._clients: dict[VertexConnection, VertexClient] = {}
        self._progress: dict[ProgressSettings, Progress] = {}
        # Closes the connection pools and stops the loop once nothing holds this.
        weakref.finalize(self, _shut_down, self.loop, self._clients)

    def submit(self, coroutine: Coroutine) -> futures.Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def hand_over(self, coroutine: Coroutine) -> futures.Future:
        """submit(), for many coroutines from a busy thread: they queue here,
        and the loop is woken once for all that arrive before it gets to
        them. (Waking it for each one costs both threads a trip through the
        GIL, and a thread that gives up the GIL waits to get it back.)"""
        future: futures.Future = futures.Future()
        with self._arrivals_lock:
            self._arrivals.append((coroutine, future))
            if self._woken:
                return future
            self._woken = True
        self.loop.call_soon_threadsafe(self._start_arrivals)
        return future

    def _start_arrivals(self) -> None:
        with self._arrivals_lock:
            arrivals, self._arrivals, self._woken = self._arrivals, [], False
        for coroutine, future in arrivals:
            if future.cancelled():  # before it started
                coroutine.close()
                continue
            task = self.loop.create_task(coroutine)
            task.add_done_callback(functools.partial(_settle, future))
            future.add_done_callback(functools.partial(_cancel_on, self.loop, task))

    def client(self, connection: VertexConnection) -> VertexClient:
        with self._lock:
            if connection not in self._clients:
                self._clients[connection] = self.submit(connection.create_client()).result()
            return self._clients[connection]

    def progress(self, settings: ProgressSettings) -> Progress:
        with self._lock:
            return self._progress.setdefault(settings, Progress(settings))


def _settle(future: futures.Future, task: asyncio.Task) -> None:
    # As run_coroutine_threadsafe's future: pending (so cancellable) until settled.
    if task.cancelled():
        future.cancel()
    elif not future.set_running_or_notify_cancel():  # cancelled meanwhile
        return
    elif task.exception() is not None:
        future.set_exception(task.exception())
    else:
        future.set_result(task.result())


def _cancel_on(loop: asyncio.AbstractEventLoop, task: asyncio.Task,
               future: futures.Future) -> None:
    if future.cancelled():  # the bundle gave up on it: stop the work too
        loop.call_soon_threadsafe(task.cancel)


def _shut_down(loop: asyncio.AbstractEventLoop, clients: dict[Any, VertexClient]) -> None:
    async def close():
        for client in clients.values():
            await client.aclose()
    try:
        asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=5)
    except Exception:  # noqa: BLE001 - best effort, at exit
        pass
    loop.call_soon_threadsafe(loop.stop)


_WORKER = shared.Shared()  # one handle for every DoFn: they all share one WorkerState


def worker_state() -> WorkerState:
    return _WORKER.acquire(WorkerState)
