"""Planning a run: what earlier runs under the output said of each id, and
which records this run calls.

A run matches the earlier files at run time (MatchEarlierFiles) and reads
them twice: their ids and statuses for an index of what earlier runs said of
each id (earlier_verdicts, read once a worker process, where PlanCalls
decides), and their rows (ReadEarlierResults), of which only those of ids
PlanCalls groups are kept. PlanCalls decides most records from
the indexes and sends them straight on; it groups the others by id with the
earlier rows (transforms/id_index.py says which) and decides:
- one record per id is called; the others are rejected as `duplicate_id`;
- with Resume.SKIP_EXISTING, an id that already has a final answer (ok or
  blocked) in an earlier run's tables is skipped, and one answered by a run
  that died (in its checkpoints, transforms/checkpoints.py) is not paid for
  again: its rows are carried into this run's tables; error rows are called
  again;
- with Resume.ERRORS_ONLY, only ids whose earlier answer was an error are
  called (answers carried over from dead runs still are).
Carried rows are written to files of their own ({table}-{run_id}-carried-*),
never flattened with the answers (see pipeline/graph.py).
"""
from __future__ import annotations

import enum
import functools
import logging
import threading
from datetime import datetime, timezone
from typing import NamedTuple, Tuple

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata

from transforms import metrics
from transforms.checkpoints import FINAL, KEYS
from transforms.id_index import IdCodes, IdIndex, LargestCodes, RepeatedIds
from transforms.output_files import parquet_batches
from transforms.prompt_records import PromptRecord, SourceLine
from transforms.read_prompt_records import duplicate_reason, rejected_row
from transforms.run_files import (checkpoint_pattern, checkpoint_table, checkpoints_folder,
                                  is_checkpoint_part, table_pattern)
from transforms.tasks import of_table, tables
from vertex.errors import first_line
from vertex.response_rows import Status


class Resume(str, enum.Enum):
    NONE = "none"
    SKIP_EXISTING = "skip_existing"
    ERRORS_ONLY = "errors_only"


class Previous(NamedTuple):
    """One row of an earlier run: from its final table (id and status only),
    or from the checkpoints of a run that died (then with the whole row)."""
    table: str
    status: str
    row: dict | None = None


# Reading what earlier runs left, at run time

def _earlier_paths(output: str, kind: str) -> list[str]:
    pattern = table_pattern if kind == "final" else checkpoint_pattern
    return [pattern(output, table) for table in tables()]


class EarlierFile(NamedTuple):
    """One earlier run's final table or checkpoint part, as matched."""
    path: str
    size: int
    in_checkpoints: bool


def _match_earlier(pbegin, output: str, kinds: tuple[str, ...], label: str):
    """The earlier runs' files of the given kinds under `output` (EarlierFile),
    matched when the pipeline runs."""
    checkpoints = checkpoints_folder(output) + "/"
    return (pbegin
            | f"Patterns {label}" >> beam.Create(
                [path for kind in kinds for path in _earlier_paths(output, kind)])
            | f"Match {label}" >> fileio.MatchAll(fileio.EmptyMatchTreatment.ALLOW)
            | f"Files {label}" >> beam.FlatMap(_usable_file, checkpoints)
            .with_output_types(EarlierFile))


def _usable_file(metadata: FileMetadata, checkpoints: str):
    in_checkpoints = metadata.path.startswith(checkpoints)
    if not in_checkpoints or is_checkpoint_part(metadata.path):
        yield EarlierFile(metadata.path, metadata.size_in_bytes, in_checkpoints)


def _read_earlier(pbegin, output: str, kinds: tuple[str, ...], columns, key, keyed_type,
                  label: str):
    """Rows of earlier runs' files of the given kinds, keyed by
    `key(file, row, in_checkpoints)` (of type `keyed_type`). Read a row group
    at a time as Arrow, and made rows a slice at a time: Beam's row reader
    turns a whole row group (tens of thousands of rows) into Python objects
    at once. A file that is not one of this job's tables is skipped, named
    in a warning (_earlier_rows)."""
    return (_match_earlier(pbegin, output, kinds, label)
            | f"Read {label}" >> beam.FlatMap(_earlier_rows, columns, key)
            .with_output_types(keyed_type))


def _earlier_rows(file: EarlierFile, columns, key):
    """The keyed rows of one earlier file. A damaged file (cut off, torn, not
    Parquet) or a foreign one does not stop the run: what it holds cannot be
    trusted as an earlier answer, so it is skipped, named in one warning line."""
    try:
        for batch in parquet_batches(file.path, columns, required=KEYS):
            for row in batch.to_pylist():
                yield key(file.path, row, file.in_checkpoints)
    except Exception as error:  # noqa: BLE001 - whatever is wrong with the file, one line
        _skipped(file, error)


def _skipped(file: EarlierFile, error: BaseException) -> None:
    logging.getLogger(__name__).warning(
        "skipped %s while reading earlier results: %s", file.path, first_line(error))


class ReadEarlierResults(beam.PTransform):
    """(id, Previous) for every row of the earlier runs' final tables and
    checkpoints under `output`, matched when the pipeline runs: two
    PCollections, the final tables' (ids and statuses) and the checkpoints'
    (whole rows). They are kept apart because the in-process runner holds
    every element of a flatten, and PlanCalls keeps only a few of them."""

    def __init__(self, output: str):
        super().__init__()
        self.output = output

    def expand(self, pbegin):
        return tuple(_read_earlier(pbegin, self.output, (kind,), columns, _keyed,
                                   Tuple[str, Previous], kind)
                     for kind, columns in (("final", ["id", "status"]), ("checkpoint", None)))


class MatchEarlierFiles(beam.PTransform):
    """The earlier runs' final tables and checkpoint parts under `output`
    (EarlierFile), matched when the pipeline runs: PlanCalls reads their ids
    and statuses in each worker process that decides (earlier_verdicts).

    An index of them made in the graph (a combine) would reach the workers as
    a side input, which the in-process runner encodes, buffers and commits,
    holding it several times over: at a million ids that was most of a
    rerun's peak memory (1.9x that of 100,000, where reading the files in
    the worker keeps it within 1.5x)."""

    def __init__(self, output: str):
        super().__init__()
        self.output = output

    def expand(self, pbegin):
        return _match_earlier(pbegin, self.output, ("final", "checkpoint"), "verdicts")


def earlier_verdicts(files) -> IdCodes:
    """What the earlier files say of each id (Verdict codes), read once a
    process for one set of files (final tables and checkpoint parts are
    never rewritten: a path and size name the same rows)."""
    with _VERDICTS_LOCK:
        return _read_verdicts(tuple(sorted(files)))


_VERDICTS_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _read_verdicts(files: tuple[EarlierFile, ...]) -> IdCodes:
    combine = LargestCodes()
    codes = combine.create_accumulator()
    final = pa.array(sorted(FINAL))
    for file in files:
        answered = Verdict.SAVED if file.in_checkpoints else Verdict.ANSWERED
        part = combine.create_accumulator()  # a file counts whole or not at all
        try:
            for batch in parquet_batches(file.path, KEYS, required=KEYS):
                is_final = pc.fill_null(pc.is_in(batch.column("status"), value_set=final),
                                        False).to_pylist()
                for record_id, ok in zip(batch.column("id").to_pylist(), is_final):
                    if record_id is not None:
                        combine.add_input(part, (record_id, answered if ok else Verdict.FAILED))
        except Exception as error:  # noqa: BLE001 - as _earlier_rows
            _skipped(file, error)
            continue
        for into, more in zip(codes, part):
            into += more
    return combine.extract_output(codes)


class _EarlierCodes:
    """The IdCodes of PlanCalls' `earlier` side input: an index made in the
    graph, or the EarlierFiles to read it from (earlier_verdicts)."""

    def __init__(self):
        self._seen, self._codes = None, IdCodes.empty()

    def __call__(self, earlier) -> IdCodes:
        if earlier is not self._seen:  # a bundle's side input is one object
            self._seen = earlier
            self._codes = earlier if isinstance(earlier, IdCodes) else earlier_verdicts(earlier)
        return self._codes


def _keyed(path: str, row: dict, in_checkpoints: bool) -> tuple[str, Previous]:
    """(id, Previous) of a row, its table named by its file ({table}-...)."""
    return row["id"], Previous(checkpoint_table(path), row["status"],
                               row if in_checkpoints else None)


class Verdict(enum.IntEnum):
    """What earlier runs say of an id: the strongest of its rows (the index
    keeps the largest)."""
    FAILED = 1    # error rows only: call it again
    SAVED = 2     # an ok or blocked row only in a dead run's checkpoints: carry it over
    ANSWERED = 3  # an ok or blocked row in a final table: skip it

    @classmethod
    def of(cls, status: str, in_checkpoints: bool) -> "Verdict":
        if status not in FINAL:
            return cls.FAILED
        return cls.SAVED if in_checkpoints else cls.ANSWERED


def _verdict_of_previous(id_and_previous: tuple[str, Previous]) -> tuple[str, int]:
    record_id, previous = id_and_previous
    return record_id, int(Verdict.of(previous.status, previous.row is not None))


# Deciding what this run calls

def _carried_rows(saved: list[Previous]) -> list[Previous]:
    """The rows of the dead run that answered an id last (by when the answer
    arrived), each once (checkpoints are saved at least once, so a row can be
    there twice)."""
    def finished(p: Previous):
        return p.row.get("finished_at") or datetime.min.replace(tzinfo=timezone.utc)
    latest_run = max(saved, key=finished).row["run_id"]
    rows = {}
    for p in saved:
        if p.row["run_id"] == latest_run:
            index = of_table(p.table).row_index
            rows[(p.table, p.row.get(index) if index else None)] = p
    return list(rows.values())


def _whole(carried: list[Previous]) -> bool:
    """Whether a dead run saved every row of the record: a record of several
    rows (an image each) can be saved part way; it is then called again,
    whole (its row says how many images it returned)."""
    for p in carried:
        task = of_table(p.table)
        index, expected = task.row_index, p.row.get(task.row_total) if task.row_total else None
        if index and p.row.get(index) is not None and expected is not None:
            got = sum(1 for q in carried if q.table == p.table and q.row.get(index) is not None)
            if got < expected:
                return False
    return True


def carried_tag(table: str) -> str:
    """PlanCalls' output of the rows a dead run saved for a table."""
    return f"carried_{table}"


class _PlanCallsFn(beam.DoFn):
    REJECTED = "rejected"

    def __init__(self, resume: Resume, run_id: str | None):
        self.resume, self.run_id = Resume(resume), run_id

    def setup(self):
        self.skipped = metrics.counter(metrics.SKIPPED_EXISTING)
        self.carried = metrics.counter(metrics.CARRIED_OVER)

    def process(self, item):
        """item: (id, {"records": ..., "previous": earlier runs' rows, when
        there are earlier runs})."""
        record_id, groups = item
        previous = groups.get("previous", ())
        records = sorted(groups["records"], key=lambda r: (r.source or "", r.line_number or 0))
        if records:  # (an id that only earlier runs know needs nothing)
            yield from self._duplicates(record_id, records)
            yield from self._plan(records[0], list(previous))

    def _duplicates(self, record_id: str, records: list[PromptRecord]):
        first = records[0]
        for duplicate in records[1:]:
            line = SourceLine(duplicate.source, duplicate.line_number, duplicate.raw_line)
            yield beam.pvalue.TaggedOutput(self.REJECTED, rejected_row(
                line, duplicate_reason(record_id, first.source, first.line_number), self.run_id))

    def _plan(self, first: PromptRecord, previous: list[Previous]):
        if self.resume == Resume.NONE:
            yield first
        elif any(p.row is None and p.status in FINAL for p in previous):
            self.skipped.inc()
        elif (saved := [p for p in previous if p.row is not None and p.status in FINAL]) \
                and _whole(carried := _carried_rows(saved)):
            self.carried.inc()
            for p in carried:
                yield beam.pvalue.TaggedOutput(carried_tag(p.table), p.row)
        elif self.resume == Resume.ERRORS_ONLY and not any(p.status == Status.ERROR for p in previous):
            self.skipped.inc()
        else:
            yield first


class PlannedCalls(dict):
    """PlanCalls' outputs, by name or as attributes (`.calls`)."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class _SplitByIdFn(beam.DoFn):
    """Decides what it can from the indexes: a record whose id earlier runs
    answered is skipped, one they failed is called again, one no earlier run
    knows is called (or, retrying errors only, skipped). Records whose id
    another record of this input may share, or whose answer a dead run saved,
    go to the grouping (keyed by id), to be decided with the others."""
    GROUPED = "grouped"

    def __init__(self, resume: Resume):
        self.resume = resume

    def setup(self):
        self.skipped = metrics.counter(metrics.SKIPPED_EXISTING)
        self.earlier_codes = _EarlierCodes()

    def process(self, record: PromptRecord, repeated: IdIndex, earlier):
        said = self.earlier_codes(earlier).get(record.id)
        if record.id in repeated or said == Verdict.SAVED:
            yield beam.pvalue.TaggedOutput(self.GROUPED, (record.id, record))
        elif said == Verdict.ANSWERED or (said != Verdict.FAILED
                                          and self.resume == Resume.ERRORS_ONLY):
            self.skipped.inc()
        else:
            yield record


class _ToGroupFn(beam.DoFn):
    """Only the earlier rows of ids that go to the grouping are grouped."""

    def setup(self):
        self.earlier_codes = _EarlierCodes()

    def process(self, id_and_previous: tuple[str, Previous], repeated: IdIndex, earlier):
        record_id = id_and_previous[0]
        if record_id in repeated or self.earlier_codes(earlier).get(record_id) == Verdict.SAVED:
            yield id_and_previous


class PlanCalls(beam.PTransform):
    """records: PromptRecords; previous: the PCollections of (id, Previous)
    of ReadEarlierResults (or one), or None for a first run. Returns a tagged
    result:
    `.calls` (records decided without a look at any other: most of them),
    `.grouped_calls` (the records to call among those whose id needed a look
    at the others), `.rejected` (duplicate ids), `.carried_responses`,
    `.carried_images` and `.carried_live` (rows of dead runs).

    Both call outputs are to be called. They stay apart because a runner that
    shuffles in memory (Beam's in-process runner) holds every element of a
    flatten; on Dataflow, flattening them costs nothing. Only the records of
    `.grouped_calls` and their earlier rows are grouped by id (see
    transforms/id_index.py): records an earlier run answered or failed are
    decided from an index of its verdicts.

    Args:
      ids: the records' ids, read from the input a second time (ReadRecordIds):
        then the records flow from the read to the calls without being held
        while the index is built. Default: taken from `records`.
      earlier_files: the earlier runs' files (MatchEarlierFiles), whose ids
        and statuses each worker process reads for itself (earlier_verdicts):
        `previous` then flows from its read to the grouping, filtered,
        without being held. Default: the verdicts are taken from `previous`
        (an index made in the graph).
      spread: reshuffle `.calls` across workers (a file is read by one worker;
        on Dataflow or with several local processes, this is what spreads the
        calls). On one in-process worker, a reshuffle would hold every record.
    """

    def __init__(self, resume: Resume = Resume.NONE, run_id: str | None = None, previous=None,
                 ids=None, earlier_files=None, spread: bool = False):
        super().__init__()
        self.fn, self.previous = _PlanCallsFn(resume, run_id), previous
        self.ids, self.earlier_files, self.spread = ids, earlier_files, spread

    def expand(self, records):
        ids = self.ids if self.ids is not None else (
            records | "Ids" >> beam.Map(lambda r: r.id).with_output_types(str))
        repeated = _index(ids, "RepeatedIds", RepeatedIds(), IdIndex.empty())
        previous = ((self.previous,) if isinstance(self.previous, beam.PCollection)
                    else tuple(self.previous or ()))
        if not previous:  # a first run: only repeated ids need a look
            earlier = IdCodes.empty()
        elif self.earlier_files is not None:
            earlier = beam.pvalue.AsList(self.earlier_files)
        else:
            verdicts = (previous | "AllEarlier" >> beam.Flatten()
                        | "Verdicts" >> beam.Map(_verdict_of_previous)
                        .with_output_types(Tuple[str, int]))
            earlier = _index(verdicts, "EarlierVerdicts", LargestCodes(), IdCodes.empty())
        split = records | "SplitById" >> beam.ParDo(
            _SplitByIdFn(self.fn.resume), repeated, earlier
        ).with_output_types(PromptRecord).with_outputs(_SplitByIdFn.GROUPED, main="calls")
        grouped = split[_SplitByIdFn.GROUPED]
        grouped.element_type = beam.typehints.KV[str, PromptRecord]
        calls = split.calls
        if self.spread:
            calls = calls | "Spread" >> beam.Reshuffle()
        groups = {"records": grouped}
        if previous:  # filtered before they meet: a flatten would hold them all
            groups["previous"] = [
                rows | f"ToGroup {i}" >> beam.ParDo(_ToGroupFn(), repeated, earlier)
                for i, rows in enumerate(previous)] | "Kept" >> beam.Flatten()
        planned = (groups
                   | "Group" >> beam.CoGroupByKey()
                   | "Plan" >> beam.ParDo(self.fn).with_output_types(PromptRecord).with_outputs(
                       _PlanCallsFn.REJECTED, *(carried_tag(t) for t in tables()),
                       main="grouped_calls"))
        return PlannedCalls({
            "calls": calls, "grouped_calls": planned.grouped_calls,
            _PlanCallsFn.REJECTED: planned[_PlanCallsFn.REJECTED],
            **{carried_tag(t): planned[carried_tag(t)] for t in tables()}})


def _index(items, label: str, combine, empty) -> beam.pvalue.AsSingleton:
    """The index `combine` makes of `items`, as a side input (`empty` when
    there are none; no default value is computed in the graph: Beam's takes
    five more steps)."""
    return beam.pvalue.AsSingleton(
        items | label >> beam.CombineGlobally(combine).without_defaults(),
        default_value=empty)


