"""WriteParquetTable: rows to `{output}/{table}-{run_id}-SSSSS-of-NNNNN.parquet`.

Beam writes to a temporary location and renames when the job succeeds, so a
job that dies leaves no file a reader could take for a complete result; the
run id in the name keeps every run's files apart.
"""
from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.display import DisplayDataItem
from apache_beam.transforms.window import GlobalWindows

from transforms.output_files import is_local_path


# Second sets of files of a table and run, named {table}-{run_id}-{part}-*:
# rows carried from dead runs, the calls PlanCalls checked against other
# records, the duplicate ids it rejected.
PARTS = ("carried", "checked", "duplicates")
PART_PATTERN = "(-(?:" + "|".join(PARTS) + "))?"  # in a regular expression of file names


class WriteParquetTable(beam.PTransform):
    """Rows (dicts) to Parquet files; with tables=True, Arrow tables of the
    schema instead (as CheckpointRows(as_tables=True) makes them: rows
    converted once, for the checkpoint and the final files alike).
    part: one of PARTS, for a second set of files of the same table and run."""

    def __init__(self, output: str, table: str, run_id: str, schema: pa.Schema,
                 part: str | None = None, tables: bool = False):
        super().__init__()
        if part is not None and part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, not {part!r}")
        name = f"{table}-{run_id}" + (f"-{part}" if part else "")
        self.prefix = FileSystems.join(output, name)
        self.schema, self.part, self.tables = schema, part, tables

    def display_data(self):
        return {"prefix": DisplayDataItem(self.prefix, label="Files")}

    def expand(self, rows):
        settings = dict(codec="snappy", file_name_suffix=".parquet",
                        use_compliant_nested_type=True)
        if self.tables:
            write = beam.io.WriteToParquetBatched(self.prefix, self.schema, **settings)
            rows = rows | "RowGroups" >> beam.ParDo(_RowGroups(ROW_GROUP_BYTES))
        else:
            # Row groups of 16 MiB: the writer's buffer stays small however
            # large the input (Beam's default of 64 MiB shows in peak memory).
            write = beam.io.WriteToParquet(self.prefix, self.schema,
                                           row_group_buffer_size=ROW_GROUP_BYTES, **settings)
        # A second set of files (part) appears only when it has rows; Beam's
        # sinks know skip_if_empty, which WriteToParquet does not pass on.
        write._sink.skip_if_empty = self.part is not None
        return rows | write


ROW_GROUP_BYTES = 16 * 1024 * 1024


class _RowGroups(beam.DoFn):
    """Small Arrow tables joined into row groups of about `max_bytes` (each
    table written is a row group; a checkpoint's half second is too small)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes

    def start_bundle(self):
        self._tables: list[pa.Table] = []
        self._bytes = 0

    def process(self, table: pa.Table):
        self._tables.append(table)
        self._bytes += table.nbytes
        if self._bytes >= self.max_bytes:
            yield self._joined()

    def finish_bundle(self):
        if self._tables:
            yield GlobalWindows.windowed_value(self._joined())

    def _joined(self) -> pa.Table:
        joined = pa.concat_tables(self._tables).combine_chunks()
        self._tables, self._bytes = [], 0
        return joined


def write_parquet_file(path: str, rows: list[dict] | pa.Table, schema: pa.Schema) -> None:
    """Writes one complete Parquet file (of rows, or of an Arrow table). Local
    files are written under a temporary name and renamed, so a reader never
    sees half a file; an object (gs://, s3://, ...) only appears once its
    upload is complete."""
    import pyarrow.parquet as pq

    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows, schema=schema)
    target = path + ".partial" if is_local_path(path) else path  # objects have no half files
    with FileSystems.create(target, mime_type="application/x-parquet") as f:
        pq.write_table(table, f, compression="snappy")
    if target != path:
        FileSystems.rename([target], [path])
