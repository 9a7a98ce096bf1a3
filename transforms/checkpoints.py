"""Checkpoints: the answers a run saves while it goes on, so that a run that
dies keeps them (a rerun with --skip_existing carries them over instead of
paying again), and their cleanup once a run has succeeded.

    _checkpoints/{run_id}/{table}-part-{hex}.parquet   (transforms/run_files.py)

A part is written every half second (or 5,000 rows) as a complete Parquet
file. After a successful run, remove_checkpoints deletes the parts it wrote,
and those of dead runs whose every row its final tables supersede, and
nothing else (pipeline/run_lease.py tells dead runs from live ones).
"""
from __future__ import annotations

import os
import time
import weakref
from typing import Any, Dict

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from transforms.output_files import matching_paths, parquet_batches, remove_empty_folders
from transforms.run_files import (RunFiles, checkpoints_folder, is_checkpoint_part,
                                  table_pattern)
from transforms.write_parquet import write_parquet_file
from vertex.response_rows import Status

FINAL = frozenset({Status.OK, Status.BLOCKED})  # statuses that answer a record for good
KEYS = ("id", "status")  # what every table of answers has, and what a rerun decides from


_buffering: weakref.WeakSet = weakref.WeakSet()  # this process's DoFns with rows in hand


def flush_checkpoints() -> None:
    """Saves the rows still buffered in this process; for a job stopped by
    Ctrl-C or SIGTERM, so that it keeps every answer it received."""
    for fn in list(_buffering):
        fn.flush()


class _CheckpointRowsFn(beam.DoFn):
    def __init__(self, files: RunFiles, table: str, schema: pa.Schema, every_rows: int,
                 every_s: float, as_tables: bool):
        self.files, self.table, self.schema = files, table, schema
        self.every_rows, self.every_s, self.as_tables = every_rows, every_s, as_tables

    def start_bundle(self):
        self._rows: list[dict] = []
        self._flushed_at = time.monotonic()
        _buffering.add(self)

    def process(self, row: dict):
        self._rows.append(row)
        saved = None
        if len(self._rows) >= self.every_rows or time.monotonic() - self._flushed_at >= self.every_s:
            saved = self.flush()
        if not self.as_tables:
            yield row
        elif saved is not None:
            yield saved

    def finish_bundle(self):
        saved = self.flush()
        _buffering.discard(self)
        if self.as_tables and saved is not None:
            yield GlobalWindows.windowed_value(saved)

    def flush(self) -> pa.Table | None:
        """Saves the rows in hand as a part; returns them as an Arrow table."""
        saved = None
        if self._rows:
            saved = pa.Table.from_pylist(self._rows, schema=self.schema)
            write_parquet_file(self.files.new_checkpoint_part(self.table), saved, self.schema)  # failing (a full disk), rows stay in hand
        self._rows, self._flushed_at = [], time.monotonic()
        return saved


class CheckpointRows(beam.PTransform):
    """Passes rows through unchanged, saving those of the last half second (at
    most) as a complete Parquet part under `_checkpoints/{run_id}/`: a killed
    job loses at most the calls in flight and about half a second of answers.

    as_tables: emit each saved part as an Arrow table instead of the rows,
    for WriteParquetTable(tables=True): the rows are converted to Arrow once
    (rows in the global window, as the job's are; a table spans many rows)."""

    def __init__(self, files: RunFiles, table: str, schema: pa.Schema,
                 every_rows: int = 5000, every_s: float = 0.5, as_tables: bool = False):
        super().__init__()
        self.fn = _CheckpointRowsFn(files, table, schema, every_rows, every_s, as_tables)

    def expand(self, rows):
        return rows | beam.ParDo(self.fn).with_input_types(Dict[str, Any]) \
            .with_output_types(Any)


# Cleanup, after a successful run

def remove_checkpoints(files: RunFiles, tables, dead_runs_parts: list[str]) -> list[str]:
    """After a successful run its final tables hold everything: the checkpoint
    parts it wrote are not needed. Of the parts of dead runs (as listed
    before it ran), only those whose every row a final table (of `tables`) now supersedes
    are removed (see superseded_parts); the others are kept and returned.
    Only files named as checkpoint parts are deleted, and only folders left
    empty are removed."""
    dead = sorted({p for p in dead_runs_parts if is_checkpoint_part(p)})
    removable = set(superseded_parts(files.output, tables, dead))
    own = {p for p in files.checkpoint_parts() if p not in dead_runs_parts}
    paths = sorted(own | removable)
    if paths:
        FileSystems.delete(paths)
    remove_empty_folders({os.path.dirname(p) for p in paths}
                         | {files.checkpoints, checkpoints_folder(files.output)})
    return [p for p in dead if p not in removable]


def superseded_parts(output: str, tables, parts: list[str]) -> list[str]:
    """The checkpoint parts whose every row a final table under `output`
    supersedes: an ok or blocked row for its id (this run carried it, or an
    earlier run answered it), or, for an error row, any row for its id. A
    part that cannot be read, or with an id no final table has (a record
    of another input), is not superseded: deleting it would lose answers."""
    needs: dict[str, list] = {}  # id: [needs a final answer, is satisfied]
    readable = []
    for path in parts:
        try:
            rows = [row for batch in parquet_batches(path, KEYS, required=KEYS)
                    for row in batch.to_pylist()]
        except Exception:  # noqa: BLE001 - an unreadable part stays where it is
            continue
        readable.append((path, rows))
        for row in rows:
            need = needs.setdefault(row["id"], [False, False])
            need[0] = need[0] or row["status"] in FINAL
    if not needs:
        return []
    wanted = pa.array(list(needs), pa.string())
    for table in tables:
        for path in matching_paths(table_pattern(output, table)):
            try:  # a damaged or foreign file supersedes nothing (past where it breaks)
                for batch in parquet_batches(path, KEYS, required=KEYS):
                    found = batch.filter(pc.is_in(batch.column("id"), value_set=wanted))
                    for record_id, status in zip(found.column("id").to_pylist(),
                                                 found.column("status").to_pylist()):
                        need = needs[record_id]
                        need[1] = need[1] or status in FINAL or not need[0]
            except Exception:  # noqa: BLE001
                continue
    return [path for path, rows in readable if all(needs[r["id"]][1] for r in rows)]
