"""WriteParquetTable: rows to `{output}/{table}-{run_id}-SSSSS-of-NNNNN.parquet`.

Beam writes to a temporary location and renames when the job succeeds, so a
job that dies leaves no file a reader could take for a complete result; the
run id in the name keeps every run's files apart.
"""
from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems


class WriteParquetTable(beam.PTransform):
    def __init__(self, output: str, table: str, run_id: str, schema: pa.Schema):
        super().__init__()
        self.prefix = FileSystems.join(output, f"{table}-{run_id}")
        self.schema = schema

    def expand(self, rows):
        return rows | beam.io.WriteToParquet(
            self.prefix, self.schema, codec="snappy", file_name_suffix=".parquet",
            use_compliant_nested_type=True)
