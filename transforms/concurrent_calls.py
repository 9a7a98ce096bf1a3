"""A DoFn that keeps many calls in flight without head-of-line blocking.

process() hands each element to the worker's event loop and returns at once,
emitting whatever calls have finished by then; it only waits when this bundle
already has `max_pending` calls under way, and then only for the first one to
finish. finish_bundle() waits for the rest. A slow call therefore holds back
nothing but itself, and the event loop's own limits (concurrency, rate) are
shared by every thread of the process.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as futures
from typing import Any, Iterable

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from transforms import metrics
from transforms.progress import ProgressSettings, progress
from transforms.vertex_connection import event_loop


class ConcurrentCallsDoFn(beam.DoFn):
    def __init__(self, max_pending: int, progress: ProgressSettings = ProgressSettings()):
        self.max_pending, self.progress = max_pending, progress

    async def call(self, element) -> Iterable[Any]:
        """The outputs for one element. Runs on the event loop."""
        raise NotImplementedError

    def count(self, output) -> None:
        """Updates metrics for an output; runs on the bundle's thread, where
        Beam's metrics live."""

    def setup(self):
        self._loop = event_loop()
        progress.configure(self.progress)
        self._call_counters = {name: metrics.counter(name)
                               for name in ("requests", "retries", "http_429")}
        self._latency = metrics.distribution("latency_ms")

    def count_call(self, row: dict) -> None:
        """Counts one record's call (attempts, retries, 429s, latency) from its
        row; subclasses call it once per record, from count()."""
        self._call_counters["requests"].inc(row["attempts"])
        self._call_counters["retries"].inc(max(0, row["attempts"] - 1))
        self._call_counters["http_429"].inc(row["throttled_attempts"])
        self._latency.update(int(row["latency_ms"]))
        progress.record(row["attempts"], row["throttled_attempts"])

    def start_bundle(self):
        self._pending: set[futures.Future] = set()

    def process(self, element):
        if len(self._pending) >= self.max_pending:
            done, self._pending = futures.wait(self._pending, return_when=futures.FIRST_COMPLETED)
            yield from self._outputs(done)
        self._pending.add(asyncio.run_coroutine_threadsafe(self.call(element), self._loop))
        done = {f for f in self._pending if f.done()}
        if done:
            self._pending -= done
            yield from self._outputs(done)

    def finish_bundle(self):
        for future in futures.as_completed(list(self._pending)):  # each as soon as it is done
            self._pending.discard(future)
            for output in self._outputs({future}):
                yield GlobalWindows.windowed_value(output)

    def teardown(self):
        for future in getattr(self, "_pending", ()):
            future.cancel()

    def _outputs(self, done: set[futures.Future]):
        for future in done:
            try:
                outputs = future.result()
            except BaseException:
                # A job-level failure: stop the calls still under way, then fail the bundle.
                for pending in self._pending:
                    pending.cancel()
                raise
            for output in outputs:
                self.count(output)
                yield output
