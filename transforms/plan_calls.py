"""PlanCalls: which records this run calls.

Records are grouped by id with what earlier runs under the same output left:
- one record per id is called; the others are rejected as `duplicate_id`;
- with resume "skip_existing", an id that already has a final answer (status
  ok or blocked) in an earlier run's tables is skipped, and one answered by a
  run that died (in its checkpoints) is not paid for again: its rows are
  carried into this run's tables; error rows are called again;
- with resume "errors_only", only ids whose earlier answer was an error are
  called (answers carried over from dead runs still are).
Grouping by id also spreads the records across workers for the calls.
"""
from __future__ import annotations

import json
from typing import NamedTuple, Tuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import ReadAllFromParquet

from transforms import metrics
from transforms.checkpoint import CHECKPOINTS, is_checkpoint_part
from transforms.prompt_records import PromptRecord, SourceLine
from transforms.read_prompt_records import rejected_row

RESUME_MODES = ("none", "skip_existing", "errors_only")
FINAL = frozenset({"ok", "blocked"})
TABLES = ("responses", "images")


class Previous(NamedTuple):
    """One row of an earlier run: from its final table, or from the
    checkpoints of a run that died (then with the whole row)."""
    table: str
    status: str
    row: dict | None = None


def previous_result_files(output: str) -> dict[str, list[str]]:
    """The earlier runs' files under `output`, listed once, before this run writes any."""
    def match(pattern):
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    files = {}
    for table in TABLES:
        files[f"final/{table}"] = match(FileSystems.join(output, f"{table}-*.parquet"))
        files[f"checkpoint/{table}"] = [p for p in match(FileSystems.join(
            output, CHECKPOINTS, "*", f"{table}-part-*.parquet")) if is_checkpoint_part(p)]
    return files


class ReadPreviousResults(beam.PTransform):
    """(id, Previous) for every row of the given earlier files."""

    def __init__(self, files: dict[str, list[str]]):
        super().__init__()
        self.files = files

    def expand(self, pbegin):
        parts = []
        for key, paths in self.files.items():
            if not paths:
                continue
            kind, table = key.split("/")
            columns = ["id", "status"] if kind == "final" else None
            rows = (pbegin | f"List {key}" >> beam.Create(paths)
                    | f"Read {key}" >> ReadAllFromParquet(columns=columns))
            if kind == "final":
                parts.append(rows | f"Key {key}" >> beam.Map(
                    lambda r, t=table: (r["id"], Previous(t, r["status"]))))
            else:
                parts.append(rows | f"Key {key}" >> beam.Map(
                    lambda r, t=table: (r["id"], Previous(t, r["status"], r))))
        if not parts:
            return pbegin | "None" >> beam.Create([])
        return parts | "All" >> beam.Flatten()


def _carried_rows(saved: list[Previous]) -> list[Previous]:
    """The rows of the latest dead run that answered an id, each once
    (checkpoints are saved at least once, so a row can be there twice)."""
    latest = max(p.row["run_id"] for p in saved)
    rows = {}
    for p in saved:
        if p.row["run_id"] == latest:
            rows[(p.table, p.row.get("image_index"))] = p
    return list(rows.values())


class _PlanCallsFn(beam.DoFn):
    REJECTED, CARRIED_RESPONSES, CARRIED_IMAGES = "rejected", "carried_responses", "carried_images"

    def __init__(self, resume: str, run_id: str):
        if resume not in RESUME_MODES:
            raise ValueError(f"resume must be one of {RESUME_MODES}")
        self.resume, self.run_id = resume, run_id
        self.skipped = metrics.counter(metrics.SKIPPED_EXISTING)
        self.carried = metrics.counter(metrics.CARRIED_OVER)

    def process(self, item):
        record_id, groups = item
        records = sorted(groups["records"], key=lambda r: (r.source, r.line_number))
        if records:  # (an id that only earlier runs know needs nothing)
            yield from self._duplicates(record_id, records)
            yield from self._plan(records[0], list(groups["previous"]))

    def _duplicates(self, record_id: str, records: list[PromptRecord]):
        first = records[0]
        for duplicate in records[1:]:
            line = SourceLine(duplicate.source, duplicate.line_number,
                              json.dumps({"id": duplicate.id, "model": duplicate.model,
                                          "body": duplicate.body}))
            yield beam.pvalue.TaggedOutput(self.REJECTED, rejected_row(
                line, f"duplicate_id: id {record_id!r} was first seen at "
                      f"{first.source}:{first.line_number}", self.run_id))

    def _plan(self, first: PromptRecord, previous: list[Previous]):
        if self.resume == "none":
            yield first
        elif any(p.row is None and p.status in FINAL for p in previous):
            self.skipped.inc()
        elif saved := [p for p in previous if p.row is not None and p.status in FINAL]:
            self.carried.inc()
            for p in _carried_rows(saved):
                tag = self.CARRIED_IMAGES if p.table == "images" else self.CARRIED_RESPONSES
                yield beam.pvalue.TaggedOutput(tag, p.row)
        elif self.resume == "errors_only" and not any(p.status == "error" for p in previous):
            self.skipped.inc()
        else:
            yield first


class PlanCalls(beam.PTransform):
    """records: PromptRecords; previous: (id, Previous). Returns a tagged
    result: `.calls` (PromptRecords to call), `.rejected` (duplicate ids),
    `.carried_responses` and `.carried_images` (rows of dead runs)."""

    def __init__(self, resume: str, run_id: str, previous=None):
        super().__init__()
        self.fn, self.previous = _PlanCallsFn(resume, run_id), previous

    def expand(self, records):
        keyed = records | "ById" >> beam.Map(lambda r: (r.id, r)).with_output_types(
            Tuple[str, PromptRecord])
        return ({"records": keyed, "previous": self.previous}
                | "Group" >> beam.CoGroupByKey()
                | "Plan" >> beam.ParDo(self.fn).with_outputs(
                    _PlanCallsFn.REJECTED, _PlanCallsFn.CARRIED_RESPONSES,
                    _PlanCallsFn.CARRIED_IMAGES, main="calls"))
