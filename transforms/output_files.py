"""Paths under an output, through Beam's filesystems: listing by pattern,
telling local folders from object stores, removing folders left empty
(object stores have none), writing one file under several names, and
reading a table's rows back a batch at a time, in Arrow."""
from __future__ import annotations

import os
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io.filesystems import FileSystems


def matching_paths(pattern: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def is_local_path(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


def remove_empty_folders(folders: Iterable[str]) -> None:
    """Removes the given local folders that are empty, deepest first."""
    for folder in sorted(set(folders), key=len, reverse=True):
        if is_local_path(folder) and os.path.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)


def write_copies(paths: list[str], data: bytes, mime_type: str) -> str:
    """The same bytes to each path (a run's summary, and the latest run's);
    returns the last path."""
    for path in paths:
        with FileSystems.create(path, mime_type=mime_type) as f:
            f.write(data)
    return paths[-1]


def parquet_batches(path: str, columns: Iterable[str] | None, batch_rows: int = 10_000,
                    required: Iterable[str] = ()):
    """A Parquet file as Arrow record batches of the given columns it has
    (None: all): what reads a run's tables back (summary, report, a rerun)
    holds one batch, however many rows the run wrote. ValueError for a file
    without the `required` columns (not a table of this job's)."""
    import pyarrow.parquet as pq
    with FileSystems.open(path) as f:
        parquet = pq.ParquetFile(f)
        names = parquet.schema_arrow.names
        missing = [c for c in required if c not in names]
        if missing:
            raise ValueError(f"it has no {' or '.join(missing)} column: not a table of this job's")
        present = None if columns is None else [c for c in columns if c in names]
        yield from parquet.iter_batches(batch_size=batch_rows, columns=present)


def first_rows(row_index):
    """Which rows are a record's first, in a table with several rows a record
    (Task.row_index): index 0, or the one row saying why there are none. A
    boolean Arrow array."""
    return pc.fill_null(pc.equal(row_index, 0), True)


def traffic_tier(rows, default: str):
    """The tier that served each row (its `traffic_type`), `default` where a
    row has none (or its table no such column): a string Arrow array."""
    if "traffic_type" not in rows.column_names:
        return pa.repeat(default, rows.num_rows)
    tier = rows["traffic_type"]
    return pc.if_else(pc.fill_null(pc.not_equal(tier, ""), False), tier, default)
