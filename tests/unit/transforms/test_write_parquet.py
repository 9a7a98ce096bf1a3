"""WriteParquetTables on the in-process runner, with real files: several
streams with one set-up and one finalize step, each to its own files."""
import os

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.transforms.window import FixedWindows, TimestampedValue

from transforms.write_parquet import TableFiles, WriteParquetTable, WriteParquetTables

SCHEMA = pa.schema([("id", pa.string()), ("n", pa.int64())])


def _rows(n: int, prefix: str = "r") -> list[dict]:
    return [{"id": f"{prefix}{i}", "n": i} for i in range(n)]


def _read(tmp_path, prefix: str) -> list[dict]:
    files = sorted(f for f in os.listdir(tmp_path) if f.startswith(prefix + "-0"))
    return [row for f in files for row in pq.read_table(tmp_path / f).to_pylist()]


def test_each_stream_gets_its_own_files_and_only_parts_without_rows_are_skipped(tmp_path):
    files = {
        "rows": TableFiles("rows", SCHEMA),                         # dicts
        "tables": TableFiles("tables", SCHEMA, tables=True),        # Arrow tables
        "empty": TableFiles("empty", SCHEMA),                       # a table: one empty file
        "empty part": TableFiles("empty", SCHEMA, part="grouped"),  # a part: no file
        "part": TableFiles("rows", SCHEMA, part="duplicates"),
    }
    with beam.Pipeline() as p:
        streams = {
            "rows": p | "Rows" >> beam.Create(_rows(2500)),
            "tables": p | "Tables" >> beam.Create(
                [pa.Table.from_pylist(_rows(3, "t"), schema=SCHEMA),
                 pa.Table.from_pylist(_rows(2, "u"), schema=SCHEMA)]),
            "empty": p | "Empty" >> beam.Create([]).with_output_types(dict),
            "empty part": p | "EmptyPart" >> beam.Create([]).with_output_types(dict),
            "part": p | "Part" >> beam.Create(_rows(1, "d")),
        }
        streams | WriteParquetTables(str(tmp_path), "run1", files)

    names = sorted(os.listdir(tmp_path))
    assert not [n for n in names if not n.endswith(".parquet")], names  # no temporary folders
    assert sorted(r["n"] for r in _read(tmp_path, "rows-run1")) == list(range(2500))
    assert sorted(r["id"] for r in _read(tmp_path, "tables-run1")) == ["t0", "t1", "t2", "u0", "u1"]
    assert [n for n in names if n.startswith("empty-run1-0")] == \
        ["empty-run1-00000-of-00001.parquet"]
    assert pq.read_table(tmp_path / "empty-run1-00000-of-00001.parquet").schema == SCHEMA
    assert not [n for n in names if n.startswith("empty-run1-grouped")]
    assert _read(tmp_path, "rows-run1-duplicates") == [{"id": "d0", "n": 0}]


def test_one_table_alone(tmp_path):
    with beam.Pipeline() as p:
        p | beam.Create(_rows(3)) | WriteParquetTable(str(tmp_path), "rows", "run2", SCHEMA)
    assert sorted(r["id"] for r in _read(tmp_path, "rows-run2")) == ["r0", "r1", "r2"]


def test_rows_in_windows_of_their_own_are_all_written(tmp_path):
    with beam.Pipeline() as p:
        (p
         | beam.Create(_rows(30))
         | beam.Map(lambda row: TimestampedValue(row, row["n"]))
         | beam.WindowInto(FixedWindows(10))
         | WriteParquetTable(str(tmp_path), "rows", "run4", SCHEMA))
    assert sorted(r["n"] for r in _read(tmp_path, "rows-run4")) == list(range(30))


def test_streams_and_files_must_match(tmp_path):
    with pytest.raises(ValueError, match="do not match"):
        with beam.Pipeline() as p:
            {"a": p | beam.Create(_rows(1))} | WriteParquetTables(
                str(tmp_path), "run3", {"b": TableFiles("b", SCHEMA)})
