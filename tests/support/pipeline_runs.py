"""Helpers to run the real job in-process (DirectRunner) and read its output."""
from __future__ import annotations

import glob
import json
from pathlib import Path

import pyarrow.parquet as pq

from pipeline.job import main


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def run_job(input_path, output, endpoint, *extra) -> int:
    return main(["--input", str(input_path), "--output", str(output), "--endpoint", endpoint,
                 *extra])


def read_table(output, table: str) -> list[dict]:
    files = sorted(glob.glob(f"{output}/{table}-*.parquet"))
    assert files, f"no {table} files in {output}"
    rows = []
    for f in files:
        rows += pq.read_table(f).to_pylist()
    return rows


def summary(output) -> dict:
    return json.loads(Path(output, "summary.json").read_text())
