"""Rerun memory: a scheduled rerun with --skip_existing over an output whose
earlier run answered every record, at two sizes ten times apart (100,000 and
1,000,000). Target: the larger rerun's peak memory within 1.5x the smaller's,
with every record decided exactly (nothing called, nothing lost).

The earlier run's table is written directly, as a finished run leaves it
(`responses-{run_id}-00000-of-00001.parquet`, every row `ok`): the calls of a
million records are not what is measured, the rerun's planning is. It is
written by a process of its own: a job started from a large process counts
that process's memory in its own peak (Linux carries the maximum resident
size across fork and exec), and the table's rows would be counted so.

    python -m bench.rerun [--sizes 100000,1000000]
"""
from __future__ import annotations

import argparse
import multiprocessing
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import Emulator
from bench.jobs import run_pipeline, write_text_records
from transforms import schemas

EARLIER_RUN = "20261201T000000Z-earlier"


def write_earlier_answers(output: Path, count: int, batch: int = 100_000) -> None:
    """An earlier run's responses table: an `ok` row for ids t0..t{count-1}
    (the ids write_text_records gives)."""
    output.mkdir(parents=True)
    blank = schemas.blank_row(schemas.RESPONSES)
    path = output / f"responses-{EARLIER_RUN}-00000-of-00001.parquet"
    with pq.ParquetWriter(path, schemas.RESPONSES) as writer:
        for start in range(0, count, batch):
            rows = [{**blank, "run_id": EARLIER_RUN, "id": f"t{i}", "status": "ok",
                     "model": "gemini-3.5-flash", "text": "positive"}
                    for i in range(start, min(start + batch, count))]
            writer.write_table(pa.Table.from_pylist(rows, schema=schemas.RESPONSES))


def run(sizes=(100_000, 1_000_000)) -> list[dict]:
    rows, peaks = [], []
    with tempfile.TemporaryDirectory() as tmp, Emulator() as emulator:
        for i, size in enumerate(sizes):
            source = write_text_records(Path(tmp) / f"in-{i}.jsonl", size)
            output = Path(tmp) / f"out-{i}"
            writer = multiprocessing.get_context("spawn").Process(
                target=write_earlier_answers, args=(output, size))
            writer.start()
            writer.join()
            job = run_pipeline(source, output, emulator.url, "--skip_existing")
            called = emulator.stats()["requests"]
            emulator.reset()
            peaks.append(job["peak_mib"])
            rows.append({"section": "rerun", "case": f"{size} records rerun with --skip_existing "
                         "(every record answered before)", "records": size,
                         "records_per_s": size / job["wall_s"], "lost": called,
                         "peak_mib": job["peak_mib"], "seconds": job["wall_s"],
                         "note": f"{called} records called (0 expected)"})
        ratio = peaks[-1] / peaks[-2]
        rows.append({"section": "rerun", "case": f"rerun peak memory, {sizes[-1]:,} / "
                     f"{sizes[-2]:,} records", "ratio": ratio, "ratio_of": "memory",
                     "target": "<= 1.5", "met": ratio <= 1.5})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    args = parser.parse_args()
    from bench.common import report
    report("rerun", run(tuple(int(s) for s in args.sizes.split(","))), {"args": vars(args)})


if __name__ == "__main__":
    main()
