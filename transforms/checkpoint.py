"""Checkpoints: answered rows saved as they come, so a job that dies does not
pay twice for what it already got.

The final tables are written by Beam only when the whole job succeeds. Beside
them, CheckpointRows saves every few hundred rows (or every few seconds) to
`{output}/_checkpoints/{run_id}/{table}-part-*.parquet`, each part a complete
file. A rerun with --skip_existing reads them, skips those records and copies
their rows into its own final tables; the run that succeeds deletes the
checkpoints it consumed.
"""
from __future__ import annotations

import os
import time
import uuid

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from transforms.write_parquet import write_parquet_file

CHECKPOINTS = "_checkpoints"


def checkpoint_dir(output: str, run_id: str) -> str:
    return FileSystems.join(output, CHECKPOINTS, run_id)


def remove_checkpoints(output: str, run_id: str, previous: dict[str, list[str]]) -> None:
    """After a successful run its final tables hold everything: its own
    checkpoints, and those of dead runs it carried over, are not needed.
    previous: the earlier files the run read (plan_calls.previous_result_files)."""
    own = FileSystems.match([FileSystems.join(checkpoint_dir(output, run_id), "*")])
    paths = [m.path for m in own[0].metadata_list]
    paths += [p for key, files in previous.items() if key.startswith("checkpoint/") for p in files]
    if paths:
        FileSystems.delete(paths)
    if not output.startswith("gs://"):  # local folders outlive their files; GCS has none
        root = FileSystems.join(output, CHECKPOINTS)
        for folder in sorted({os.path.dirname(p) for p in paths}
                             | {checkpoint_dir(output, run_id)}) + [root]:
            if os.path.isdir(folder) and not os.listdir(folder):
                os.rmdir(folder)


class _CheckpointRowsFn(beam.DoFn):
    def __init__(self, directory: str, table: str, schema: pa.Schema, every_rows: int,
                 every_s: float):
        self.directory, self.table, self.schema = directory, table, schema
        self.every_rows, self.every_s = every_rows, every_s

    def start_bundle(self):
        self._rows: list[dict] = []
        self._flushed_at = time.monotonic()

    def process(self, row: dict):
        self._rows.append(row)
        if len(self._rows) >= self.every_rows or time.monotonic() - self._flushed_at >= self.every_s:
            self._flush()
        yield row

    def finish_bundle(self):
        self._flush()

    def _flush(self) -> None:
        if self._rows:
            path = FileSystems.join(self.directory, f"{self.table}-part-{uuid.uuid4().hex}.parquet")
            write_parquet_file(path, self._rows, self.schema)
        self._rows, self._flushed_at = [], time.monotonic()


class CheckpointRows(beam.PTransform):
    """Passes rows through unchanged, saving them as it goes."""

    def __init__(self, output: str, run_id: str, table: str, schema: pa.Schema,
                 every_rows: int = 200, every_s: float = 5.0):
        super().__init__()
        self.fn = _CheckpointRowsFn(checkpoint_dir(output, run_id), table, schema,
                                    every_rows, every_s)

    def expand(self, rows):
        return rows | beam.ParDo(self.fn)
