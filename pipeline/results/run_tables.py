"""Reading a run's tables back, for the summary and the report: which files
are a run's (or every run's), their rows a batch at a time in Arrow, and the
tally the report draws, gathered in one pass. Nothing here renders."""
from __future__ import annotations

import json
import random
from collections import Counter, defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms import run_files
from transforms.output_files import first_rows, parquet_batches, traffic_tier
from transforms.run_files import RunFiles
from transforms.schemas import schema
from transforms.tasks import TASKS, Task
from vertex.errors import first_line
from vertex.response_rows import Status

THUMBNAILS = 48        # images shown at most, sampled evenly
AUDIO_CLIPS = 12       # players shown at most
# The parts of the tokens the report shows, from the usage struct: cached is a part of
# prompt as the API counts it; total = prompt + thinking + answer.
TOKEN_PARTS = {"prompt": "prompt_token_count", "cached": "cached_content_token_count",
               "thinking": "thoughts_token_count", "answer": "candidates_token_count",
               "total": "total_token_count"}
# The columns of every table of answers the report reads (each task adds its own).
ANSWER_COLUMNS = ["id", "model", "status", "error_code", "error_message", "latency_ms",
                  "started_at", "finished_at", "attempts", "throttled_attempts", "attempt_log",
                  "cost_usd"]
REJECTED_COLUMNS = ["source", "line_number", "reason"]


def table_files(output: str, table: str, run_id: str | None) -> list[str]:
    """A run's files of a table (exactly its own), or every run's."""
    if run_id:
        return RunFiles(output, run_id).table_files(table)
    return run_files.table_files(output, table)


def summaries(output: str, run_id: str | None) -> list[dict]:
    """The summaries of a run, or of every run (a run that died has none)."""
    paths = [RunFiles(output, run_id).run_file("summary", "json")] if run_id else \
        run_files.summaries(output)
    found = []
    for path in paths:
        try:
            with FileSystems.open(path) as f:
                found.append(json.loads(f.read()))
        except Exception:  # noqa: BLE001 - a run without a summary (died) still has rows
            continue
    return found


class Sample:
    """Up to `size` rows spread over a stream of unknown length (reservoir
    sampling, seeded: the same rows give the same report), in stream order.
    Rows arrive as Arrow batches; only those taken become Python dicts."""

    def __init__(self, size: int):
        self.size, self.seen, self.items = size, 0, []
        self._random = random.Random(0)

    def add(self, batch: pa.RecordBatch) -> None:
        for i in range(batch.num_rows):
            self.seen += 1
            if len(self.items) < self.size:
                self.items.append(None)
                slot = len(self.items) - 1
            elif (slot := self._random.randrange(self.seen)) >= self.size:
                continue
            self.items[slot] = (self.seen, batch.slice(i, 1).to_pylist()[0])

    def __iter__(self):
        return (item for _, item in sorted(self.items, key=lambda pair: pair[0]))


class Labels:
    """The distribution of each field of the typed answers (`parsed`): its
    string, enum and boolean values counted, its numbers kept for a
    histogram. Fields are named by path (`address.city`, `tags[]` for the
    items of a list). A field with very many distinct values (free text)
    keeps only its most frequent ones, so memory stays bounded."""

    KEPT_VALUES = 10_000      # distinct values kept per field when pruned
    PRUNE_AT = 50_000

    def __init__(self):
        self.values: dict[str, Counter] = defaultdict(Counter)
        self.numbers: dict[str, list] = defaultdict(list)
        self.pruned: set[str] = set()

    def add(self, array: pa.Array, path: str = "") -> None:
        kind = array.type
        if pa.types.is_struct(kind):
            for i, child in enumerate(kind):
                self.add(pc.struct_field(array, [i]), f"{path}.{child.name}" if path else child.name)
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
            self.add(pc.list_flatten(array), f"{path}[]")
        elif pa.types.is_string(kind) or pa.types.is_boolean(kind):
            counts = self.values[path]
            for item in pc.value_counts(array.drop_null()).to_pylist():
                counts[str(item["values"]).lower() if pa.types.is_boolean(kind)
                       else item["values"]] += item["counts"]
            if len(counts) > self.PRUNE_AT:
                self.values[path] = Counter(dict(counts.most_common(self.KEPT_VALUES)))
                self.pruned.add(path)
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            self.numbers[path].append(array.drop_null().cast(pa.float64()).to_numpy())

    def done(self) -> "Labels":
        self.numbers = {path: np.concatenate(parts) for path, parts in self.numbers.items()}
        return self


class Tally:
    """What the report shows, gathered in one pass over the rows, a batch at
    a time in Arrow (no Python object a row: a million rows take seconds, not
    a minute): counts and sums, arrays of times and latencies, samples of
    images and clips. Memory grows by some 35 bytes a record, never by the
    rows themselves."""

    def __init__(self):
        self.records, self.cost = 0, 0.0
        self.by_status: Counter = Counter()                  # (task, status)
        self.latency: dict[str, list] = defaultdict(list)    # model: arrays of ms
        self.tokens: dict = defaultdict(Counter)             # (model, tier): TOKEN_PARTS
        self.spend: dict = defaultdict(float)                # (model, tier)
        self.errors, self.error_example = Counter(), {}
        self.rejected, self.reasons, self.reason_where = 0, Counter(), {}
        self.images, self.clips = Sample(THUMBNAILS), Sample(AUDIO_CLIPS)
        self.labels = Labels()
        # Epoch seconds, an array a batch (joined by done()): when records
        # started and finished, when each request was sent, and whether that
        # request was answered 429 or was a retry.
        self.started, self.finished, self.sent, self.sent_429, self.sent_retry = (
            [], [], [], [], [])

    def add(self, batch: pa.RecordBatch, task: Task) -> None:
        """A batch of a task's rows. In a table with several rows a record
        (images), each row's cost counts, and a record's first row stands for
        the record."""
        rows = pa.Table.from_batches([batch])
        self.cost += pc.sum(rows["cost_usd"]).as_py() or 0
        self._spend(rows, task)
        if task.row_index:
            rows = rows.filter(first_rows(rows[task.row_index]))
        self.records += rows.num_rows
        for group in rows.group_by("status").aggregate([([], "count_all")]).to_pylist():
            self.by_status[(task.name, group["status"])] += group["count_all"]
        self._times(rows)
        if "parsed" in rows.column_names:
            self.labels.add(rows.filter(pc.equal(rows["status"], Status.OK.value))["parsed"].combine_chunks())
        answered = rows.filter(pc.and_(pc.is_valid(rows["latency_ms"]),
                                       pc.not_equal(rows["status"], Status.ERROR.value)))
        by_model = answered.group_by("model").aggregate([("latency_ms", "list")])
        for model, values in zip(by_model["model"].to_pylist(), by_model["latency_ms_list"]):
            self.latency[model].append(values.values.to_numpy())
        failed = rows.filter(pc.equal(rows["status"], Status.ERROR.value))
        for group in failed.group_by(["error_code", "error_message"], use_threads=False).aggregate(
                [("id", "first"), ([], "count_all")]).to_pylist():  # in the order first met
            key = f"{group['error_code']}: {first_line(group['error_message'], 200)}"
            self.errors[key] += group["count_all"]
            self.error_example.setdefault(key, group["id_first"])

    def _times(self, rows: pa.Table) -> None:
        self.finished.append(_epoch_s(rows["finished_at"].drop_null()))
        started = rows.filter(pc.is_valid(rows["started_at"]))
        base = _epoch_s(started["started_at"])
        self.started.append(base)
        log = started["attempt_log"].combine_chunks()
        tries = pc.fill_null(pc.list_value_length(log), 0).to_numpy()
        attempts = pc.list_flatten(log)
        offset_ms = pc.fill_null(pc.struct_field(attempts, "offset_ms"), 0).to_numpy()
        self.sent.append(np.repeat(base, tries) + offset_ms / 1000)
        self.sent_429.append(pc.fill_null(pc.equal(pc.struct_field(attempts, "http_status"),
                                                   429), False).to_numpy(zero_copy_only=False))
        first_of_record = np.repeat(np.cumsum(tries) - tries, tries)
        self.sent_retry.append(np.arange(len(attempts)) > first_of_record)

    def _spend(self, rows: pa.Table, task: Task) -> None:
        for group in costs(rows, task).group_by(["model", "tier"]).aggregate(
                [("cost", "sum"), *((part, "sum") for part in TOKEN_PARTS)]).to_pylist():
            key = (group["model"], group["tier"])
            for part in TOKEN_PARTS:
                self.tokens[key][part] += group[f"{part}_sum"] or 0
            self.spend[key] += group["cost_sum"] or 0

    def add_rejected(self, batch: pa.RecordBatch) -> None:
        rows = pa.Table.from_batches([batch])
        self.rejected += rows.num_rows
        for group in rows.group_by("reason", use_threads=False).aggregate(
                [("source", "first"), ("line_number", "first"), ([], "count_all")]).to_pylist():
            key = first_line(group["reason"], 200)
            self.reasons[key] += group["count_all"]
            self.reason_where.setdefault(key, f"{group['source_first']}:"
                                              f"{group['line_number_first']}")

    def done(self) -> "Tally":
        for name in ("started", "finished", "sent"):
            setattr(self, name, np.concatenate(getattr(self, name) or [np.empty(0)]))
        for name in ("sent_429", "sent_retry"):
            setattr(self, name, np.concatenate(getattr(self, name) or [np.empty(0, bool)]))
        self.latency = {model: np.concatenate(parts) for model, parts in self.latency.items()}
        self.labels.done()
        return self


def _epoch_s(times: pa.ChunkedArray) -> np.ndarray:
    """Timestamps (the tables' milliseconds, UTC) as epoch seconds."""
    return pc.cast(times, pa.timestamp("ms", "UTC")).cast(pa.int64()).to_numpy() / 1000


def table_rows(path: str) -> int:
    """A table file's rows, from its footer."""
    with FileSystems.open(path) as f:
        return pq.ParquetFile(f).metadata.num_rows


def costs(rows: pa.Table, task: Task) -> pa.Table:
    """What a batch of a task's rows cost: model, tier (the trafficType that
    served each; Task.untiered where a row has none), status, cost_usd as
    `cost`, and the tokens by part (TOKEN_PARTS; null where the table has no
    usage). The one reading of what rows cost: summary.json and the report
    both sum it."""
    columns = {"model": rows["model"], "tier": traffic_tier(rows, task.untiered),
               "status": rows["status"], "cost": rows["cost_usd"]}
    for part, field in TOKEN_PARTS.items():
        columns[part] = (pc.struct_field(rows["usage"], field) if "usage" in rows.column_names
                         else pa.nulls(len(rows), pa.int64()))
    return pa.table(columns)


def table_batches(output: str, table: str, run_id: str | None, columns: list[str]):
    """A run's (or every run's) rows of one table, as Arrow batches of the
    given columns that its schema has; a column a file lacks (written by an
    older version) comes as nulls."""
    types = schema(table)
    columns = [n for n in columns if n in types.names]
    for path in table_files(output, table, run_id):
        for batch in parquet_batches(path, columns):
            yield pa.RecordBatch.from_arrays(
                [batch.column(n) if n in batch.schema.names
                 else pa.nulls(batch.num_rows, types.field(n).type) for n in columns],
                names=columns)


def tally(output: str, run_id: str | None) -> Tally:
    """What the report shows of a run (or of every run), in one pass."""
    tally = Tally()
    for task in TASKS.values():
        for batch in table_batches(output, task.table, run_id,
                                   ANSWER_COLUMNS + list(task.report_columns)):
            if task.media is not None:
                kind, column = task.media
                shown = _nonempty(batch[column])
                if kind == "image":  # a picture, or a card saying why there is none
                    tally.images.add(batch.filter(pc.or_(shown, pc.not_equal(batch["status"],
                                                                             Status.OK.value))))
                else:
                    tally.clips.add(batch.filter(shown))
            tally.add(batch, task)
    for batch in table_batches(output, "rejected", run_id, REJECTED_COLUMNS):
        tally.add_rejected(batch)
    return tally.done()


def _nonempty(strings) -> pa.Array:
    return pc.fill_null(pc.not_equal(strings, ""), False)


