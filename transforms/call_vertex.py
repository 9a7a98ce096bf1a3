"""CallVertexAI: the call step, one PTransform for every Vertex AI API, shaped
like Beam's RunInference: a handler says how to call one API for a record and
which rows its answer makes; the transform brings what every API shares
(requests in flight without head-of-line blocking, the rate limit, retries and
deadline of the client, metrics, progress lines, throttling signals for
Dataflow's autoscaler, windows kept, failures as a tagged output).

    rows = records | CallVertexAI(GeminiHandler(), connection)
    rows, failures = records | CallVertexAI(ImagenHandler(), connection).with_failures()

Every record gives at least one row (an error row when the call failed); with
`with_failures()` the error rows are also in a PCollection of their own.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any, Callable, Dict

import apache_beam as beam
from apache_beam.io.components.adaptive_throttler import ThrottlingSignaler
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.display import DisplayDataItem

from transforms import metrics, schemas
from transforms.concurrent_calls import ConcurrentDoFn
from transforms.progress import ProgressSettings
from transforms.prompt_records import PromptRecord
from transforms.vertex_connection import VertexConnection
from vertex import stopping
from vertex.call_policy import CallResult, call_times
from vertex.client import VertexClient
from vertex.errors import UnreadableAnswerError
from vertex.prices import Estimate
from vertex.response_rows import Status

FAILURES = "failures"


def record_row(schema, record: PromptRecord, result: CallResult, run_id: str | None) -> dict:
    """A row of a table of answers, every column empty but those every such
    table shares: who the record is, where it came from, how its call went."""
    return {
        **schemas.blank_row(schema),
        "run_id": run_id, "id": record.id, "model": record.model,
        "attempts": result.attempts, "throttled_attempts": result.throttled,
        "rate_limit_wait_ms": round(result.rate_limit_wait_ms, 3),
        "latency_ms": round(result.latency_ms, 3), "http_status": result.http_status,
        "cost_usd": result.cost_usd, **call_times(result),
        "metadata": record.metadata, "source": record.source, "line_number": record.line_number,
    }


class CallHandler:
    """One Vertex AI API: how to call it for a record, and the rows of the
    answer. Handlers are small and picklable; they run on the workers."""

    table: str = ""  # the output table its rows belong to (transforms/schemas.py)
    estimate_method: str = ""  # how `estimate` guesses, in words (for --dry_run's estimate)

    async def call(self, client: VertexClient, record: PromptRecord) -> CallResult:
        raise NotImplementedError

    def rows(self, record: PromptRecord, result: CallResult,
             redact: Callable[[str], str]) -> list[dict]:
        """The record's rows, the first one standing for the record (its
        status, attempts and latency)."""
        raise NotImplementedError

    def count(self, row: dict, counter: Callable[[str], Any]) -> None:
        """Metrics of one row beyond the call's own (tokens, images, ...)."""

    def estimate(self, record: PromptRecord) -> Estimate | None:
        """What the call will likely use, before it starts: the one estimate
        behind --max_cost_usd and --dry_run (None: no estimate)."""
        return None

    def estimated_cost(self, record: PromptRecord) -> float | None:
        """Dollars the call will likely cost, before it starts."""
        usage, prices = self.estimate(record), getattr(self, "prices", None)
        if usage is None or prices is None:
            return None
        return prices.estimate(record.model, usage, record.service_tier)

    async def count_tokens(self, client: VertexClient, record: PromptRecord) -> int | None:
        """The record's input tokens as the API counts them (free), or None
        where the API has no countTokens (then --dry_run's estimate stands)."""
        return None

    def place_file(self, row: dict, mime_type: str, stored: dict) -> None:
        """Points a row at one of its files, once SaveFiles stored it
        (`stored`: its uri, byte_size, width, height, sha256). By default the
        row lists it in image_uris or audio_uris (Gemini answers)."""
        key = "audio_uris" if mime_type.startswith("audio/") else "image_uris"
        row[key] = [*row[key], stored["uri"]]

    def cost(self, record: PromptRecord, result: CallResult) -> float | None:
        """Dollars the call cost, from its answer (None: no price known)."""
        return None


class _CallFn(ConcurrentDoFn):
    def __init__(self, handler: CallHandler, connection: VertexConnection, namespace: str,
                 progress: ProgressSettings):
        super().__init__(connection.settings.max_in_flight)
        self.handler, self.connection = handler, connection
        self.namespace, self.progress = namespace, progress

    def setup(self):
        super().setup()
        self._client = self.worker.client(self.connection)
        self._progress = self.worker.progress(self.progress)
        self._counters: dict[str, Any] = {}
        self._latency = metrics.distribution(metrics.LATENCY_MS, self.namespace)
        self._throttling = ThrottlingSignaler(self.namespace)
        self._throttled_s = 0.0  # waits on the rate limiter not yet signalled (under 1 s)

    def counter(self, name: str):
        if name not in self._counters:
            self._counters[name] = metrics.counter(name, self.namespace)
        return self._counters[name]

    async def outputs(self, record: PromptRecord):
        result = await self._call_within_budget(record)
        if isinstance(result.error, stopping.NotStartedError):
            await stopping.never()  # interrupted before any answer: no row; a rerun calls it
        try:
            rows = self.handler.rows(record, result, self._client.redact)
        except Exception as error:  # noqa: BLE001 - one odd answer must not stop the job
            rows = self.handler.rows(record, _unreadable(result, error), self._client.redact)
        return rows + [TaggedOutput(FAILURES, rows[0])] if rows[0]["status"] == Status.ERROR else rows

    async def _call_within_budget(self, record: PromptRecord) -> CallResult:
        """The call, unless this process's share of --max_cost_usd is spent
        (counting the calls in flight at their estimates); priced either way."""
        budget = self._client.budget
        estimate = (self.handler.estimated_cost(record) or 0.0) if budget.limited else 0.0
        if not await budget.reserve(estimate):
            return CallResult(error=budget.refusal(), started_at=time.time(), cost_usd=0.0)
        result = await self.handler.call(self._client, record)
        try:
            result.cost_usd = self.handler.cost(record, result)
        except Exception as error:  # noqa: BLE001 - an answer its handler cannot read
            result = _unreadable(result, error)  # unpriced: cost_usd stays None
        await budget.settle(estimate, result.cost_usd)
        if result.cost_usd:
            self._progress.add_cost(result.cost_usd)
        return result

    def count(self, outputs: list) -> None:
        rows = [o for o in outputs if not isinstance(o, TaggedOutput)]
        first = rows[0]
        self.counter(metrics.records(self.handler.table, first["status"])).inc()
        self.counter(metrics.REQUESTS).inc(first["attempts"])
        self.counter(metrics.RETRIES).inc(max(0, first["attempts"] - 1))
        self.counter(metrics.HTTP_429).inc(first["throttled_attempts"])
        self._latency.update(int(first["latency_ms"]))
        self._progress.record(first["attempts"], first["throttled_attempts"])
        # Time spent waiting on our own rate limit is throttling: reported as
        # Beam's IO connectors do, so Dataflow does not add workers that would
        # only wait too.
        self._throttled_s += (first["rate_limit_wait_ms"] or 0) / 1000.0
        if self._throttled_s >= 1.0:
            self._throttling.signal_throttled(int(self._throttled_s))
            self._throttled_s -= int(self._throttled_s)
        for row in rows:
            self.handler.count(row, self.counter)


def _unreadable(result: CallResult, error: Exception) -> CallResult:
    """The call's result, as an error that keeps the answer its handler could
    not read: the record's error row (malformed_response) says why, and the
    job goes on."""
    if result.error is not None:
        raise error  # a failure row that cannot be built is a bug of ours, not an answer
    body = result.response
    return dataclasses.replace(result, response=None, error=UnreadableAnswerError(
        f"the answer could not be read: {type(error).__name__}: {error}", body))


class CallVertexAI(beam.PTransform):
    """PromptRecords in, rows of `handler.table` out.

    Args:
      handler: the API (GeminiHandler, ImagenHandler, or your own CallHandler).
      connection: where and how to call, with the limits (VertexConnection).
      metrics_namespace: the Beam metrics namespace of its counters, so that
        two instances in one pipeline count apart.
      progress: progress lines (local runs).
    """

    def __init__(self, handler: CallHandler, connection: VertexConnection, *,
                 metrics_namespace: str = metrics.NAMESPACE,
                 progress: ProgressSettings = ProgressSettings()):
        super().__init__()
        self.handler, self.connection = handler, connection
        self.metrics_namespace, self.progress = metrics_namespace, progress
        self._with_failures = False

    def with_failures(self) -> "CallVertexAI":
        """The same transform, returning (rows, failures): the error rows also
        in a PCollection of their own."""
        other = copy.copy(self)
        other._with_failures = True
        return other

    def expand(self, records):
        result = records | beam.ParDo(_CallFn(
            self.handler, self.connection, self.metrics_namespace, self.progress)
        ).with_input_types(PromptRecord).with_output_types(Dict[str, Any]).with_outputs(
            FAILURES, main="rows")
        return (result.rows, result[FAILURES]) if self._with_failures else result.rows

    def display_data(self):
        settings = self.connection.settings
        return {
            "handler": DisplayDataItem(type(self.handler).__name__, label="Vertex AI API"),
            "endpoint": DisplayDataItem(self.connection.endpoint().host, label="Endpoint"),
            "concurrency": DisplayDataItem(settings.max_in_flight, label="Requests in flight"),
            "rpm": DisplayDataItem(settings.rpm or 0, label="Requests per minute (0: adapt)"),
            "max_attempts": DisplayDataItem(settings.max_attempts, label="Attempts per record"),
            "metrics_namespace": DisplayDataItem(self.metrics_namespace, label="Metrics"),
        }
