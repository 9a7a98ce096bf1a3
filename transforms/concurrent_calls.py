"""A DoFn base that keeps many elements' work in flight without head-of-line
blocking, and keeps every output in its input's window.

process() hands each element to the worker's event loop and returns at once,
emitting whatever has finished by then. At most `max_running` elements' work
runs at once; as many again wait their turn on the loop, so that when one
finishes the next starts there and then, not when the bundle's thread (busy
reading and writing, and sharing the GIL) comes back for it. process() only
waits when both are full, and then only for the first to finish.
finish_bundle() emits the rest as each finishes. A slow element therefore
holds back nothing but itself, and the event loop's own limits (concurrency,
rate) are shared by every thread of the process. Outputs carry the window and
timestamp of the element they came from, whether emitted from process() or
from finish_bundle(), so the DoFn works after any WindowInto.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as futures
import queue
from typing import Any, Iterable

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.windowed_value import WindowedValue

from transforms.vertex_connection import WorkerState, worker_state


class ConcurrentDoFn(beam.DoFn):
    def __init__(self, max_running: int):
        self.max_running = max_running

    async def outputs(self, element) -> Iterable[Any]:
        """The outputs for one element (TaggedOutput for other tags). Runs on
        the worker's event loop, once the element's turn has come (time spent
        waiting for it is not the element's)."""
        raise NotImplementedError

    def count(self, outputs: list) -> None:
        """Updates metrics for one element's outputs; runs on the bundle's
        thread, where Beam's metrics live."""

    def setup(self):
        self.worker: WorkerState = worker_state()
        self._running = asyncio.Semaphore(self.max_running)  # binds to the loop on first use

    def start_bundle(self):
        self._pending: dict[futures.Future, tuple] = {}
        self._done: queue.SimpleQueue[futures.Future] = queue.SimpleQueue()

    def process(self, element, window=beam.DoFn.WindowParam,
                timestamp=beam.DoFn.TimestampParam):
        if len(self._pending) >= 2 * self.max_running:
            yield from self._emit(self._done.get())  # waits for the first to finish
        future = self.worker.hand_over(self._in_turn(element))
        self._pending[future] = (timestamp, window)
        future.add_done_callback(self._done.put)  # finished ones queue up: no polling
        yield from self._emit_finished()

    def finish_bundle(self):
        while self._pending:  # each as soon as it is done
            yield from self._emit(self._done.get())

    async def _in_turn(self, element):
        async with self._running:
            return await self.outputs(element)

    def teardown(self):
        for future in getattr(self, "_pending", ()):
            future.cancel()

    def _emit_finished(self):
        while True:
            try:
                future = self._done.get_nowait()
            except queue.Empty:
                return
            yield from self._emit(future)

    def _emit(self, future: futures.Future):
        timestamp, window = self._pending.pop(future)
        try:
            outputs = future.result()
        except BaseException:
            # A job-level failure: stop the work still under way, then fail the bundle.
            for pending in self._pending:
                pending.cancel()
            raise
        self.count(outputs)
        for output in outputs:
            if isinstance(output, TaggedOutput):
                yield TaggedOutput(output.tag, WindowedValue(output.value, timestamp, (window,)))
            else:
                yield WindowedValue(output, timestamp, (window,))
