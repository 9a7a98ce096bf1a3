"""Paths under an output, through Beam's filesystems: listing by pattern,
telling local folders from object stores, removing folders left empty
(object stores have none), writing a run's file beside the latest one, and
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


def write_run_file(output: str, stem: str, run_id: str | None, data: bytes,
                   mime_type: str, extension: str) -> str:
    """`{stem}-{run_id}.{ext}` for one run and `{stem}.{ext}` for the latest
    one (summary, estimate, report); returns the latest's path."""
    names = [f"{stem}-{run_id}.{extension}", f"{stem}.{extension}"] if run_id else [
        f"{stem}.{extension}"]
    for name in names:
        path = FileSystems.join(output, name)
        with FileSystems.create(path, mime_type=mime_type) as f:
            f.write(data)
    return path


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


def first_rows(image_index):
    """Which rows of the images table are a record's first (image 0, or the
    one row saying why there is none): a boolean Arrow array."""
    return pc.fill_null(pc.equal(image_index, 0), True)


def traffic_tier(rows, default: str):
    """The tier that served each row (its `traffic_type`), `default` where a
    row has none (or its table no such column): a string Arrow array."""
    if "traffic_type" not in rows.column_names:
        return pa.repeat(default, rows.num_rows)
    tier = rows["traffic_type"]
    return pc.if_else(pc.fill_null(pc.not_equal(tier, ""), False), tier, default)
