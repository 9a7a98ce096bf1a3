"""Checkpoints: answered rows saved as they come, so a job that dies does not
pay twice for what it already got.

The final tables are written by Beam only when the whole job succeeds. Beside
them, CheckpointRows saves the rows that arrived in the last half second
to `{output}/_checkpoints/{run_id}/{table}-part-{32 hex}.parquet`, each part a
complete file, so a killed job loses at most the calls in flight and about a
second of answers. A rerun with --skip_existing reads them, skips those records and copies
their rows into its own final tables; the run that succeeds deletes the
checkpoints it consumed.
"""
from __future__ import annotations

import os
import re
import time
import uuid
import weakref

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from transforms.write_parquet import write_parquet_file

CHECKPOINTS = "_checkpoints"


def checkpoint_dir(output: str, run_id: str) -> str:
    return FileSystems.join(output, CHECKPOINTS, run_id)


PART_NAME = re.compile(r"(responses|images)-part-[0-9a-f]{32}\.parquet")


def is_checkpoint_part(path: str) -> bool:
    """Only files with exactly the name CheckpointRows gives are ever read as
    checkpoints, or deleted."""
    return bool(PART_NAME.fullmatch(path.rstrip("/").rsplit("/", 1)[-1]))


def remove_checkpoints(output: str, run_id: str, consumed: list[str]) -> None:
    """After a successful run its final tables hold everything: its own
    checkpoint parts, and those of dead runs it carried over (`consumed`), are
    not needed. Only files named as checkpoint parts are deleted, and only
    folders left empty are removed."""
    own = FileSystems.match([FileSystems.join(checkpoint_dir(output, run_id), "*")])
    paths = [m.path for m in own[0].metadata_list] + list(consumed)
    paths = sorted({p for p in paths if is_checkpoint_part(p)})
    if paths:
        FileSystems.delete(paths)
    if FileSystems.get_scheme(output) in (None, "file"):  # GCS has no folders to remove
        root = FileSystems.join(output, CHECKPOINTS)
        for folder in sorted({os.path.dirname(p) for p in paths}
                             | {checkpoint_dir(output, run_id)}) + [root]:
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)


_buffering: weakref.WeakSet = weakref.WeakSet()  # this process's DoFns with rows in hand


def flush_checkpoints() -> None:
    """Saves the rows still buffered in this process; for a job stopped by
    Ctrl-C or SIGTERM, so that it keeps every answer it received."""
    for fn in list(_buffering):
        fn.flush()


class _CheckpointRowsFn(beam.DoFn):
    def __init__(self, directory: str, table: str, schema: pa.Schema, every_rows: int,
                 every_s: float):
        self.directory, self.table, self.schema = directory, table, schema
        self.every_rows, self.every_s = every_rows, every_s

    def start_bundle(self):
        self._rows: list[dict] = []
        self._flushed_at = time.monotonic()
        _buffering.add(self)

    def process(self, row: dict):
        self._rows.append(row)
        if len(self._rows) >= self.every_rows or time.monotonic() - self._flushed_at >= self.every_s:
            self.flush()
        yield row

    def finish_bundle(self):
        self.flush()
        _buffering.discard(self)

    def flush(self) -> None:
        if self._rows:
            path = FileSystems.join(self.directory, f"{self.table}-part-{uuid.uuid4().hex}.parquet")
            write_parquet_file(path, self._rows, self.schema)
        self._rows, self._flushed_at = [], time.monotonic()


class CheckpointRows(beam.PTransform):
    """Passes rows through unchanged, saving them as it goes."""

    def __init__(self, output: str, run_id: str, table: str, schema: pa.Schema,
                 every_rows: int = 5000, every_s: float = 0.5):
        super().__init__()
        self.fn = _CheckpointRowsFn(checkpoint_dir(output, run_id), table, schema,
                                    every_rows, every_s)

    def expand(self, rows):
        return rows | beam.ParDo(self.fn)
