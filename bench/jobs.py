"""Running the real pipeline from a benchmark: input files, the job as a
subprocess (its own process, as a user runs it), and what it left."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from bench.common import ROOT


def write_text_records(path: Path, count: int) -> Path:
    with open(path, "w") as f:
        for i in range(count):
            f.write(json.dumps({"id": f"t{i}", "prompt": f"Label item {i}: blue mug, good."}) + "\n")
    return path


def write_image_records(path: Path, count: int, sample_count: int) -> Path:
    with open(path, "w") as f:
        for i in range(count):
            f.write(json.dumps({"id": f"i{i}", "task": "image",
                                "prompt": f"Product photo {i}: a ceramic mug on a table",
                                "parameters": {"sampleCount": sample_count}}) + "\n")
    return path


def run_pipeline(input_path: Path, output: Path, url: str, *flags: str,
                 checkout: Path = ROOT) -> dict:
    """Runs `python -m pipeline`; returns wall time, the process's peak memory,
    its CPU seconds (user and system), and when it started and ended (wall
    clock, as the emulator's stats). `checkout`: the code to run (another
    commit's worktree, say)."""
    started, started_at = time.perf_counter(), time.time()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "--input", str(input_path), "--output", str(output),
         "--endpoint", url, "--progress_s", "0", *flags],
        cwd=checkout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    stderr = process.stderr.read().decode(errors="replace")
    if status != 0:
        raise RuntimeError(f"the pipeline failed: {stderr[-2000:]}")
    return {"wall_s": time.perf_counter() - started, "peak_mib": usage.ru_maxrss / 1024,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "started_at": started_at, "ended_at": time.time()}  # wall clock, as the emulator's


def table_rows(output: Path, table: str, columns=("id", "status")) -> list[dict]:
    rows = []
    for f in sorted(output.glob(f"{table}-*.parquet")):
        rows += pq.read_table(f, columns=list(columns)).to_pylist()
    return rows


def window_rate(stats: dict) -> float:
    """Requests answered 200 per second over the server's active window."""
    window = stats["last_answer_at"] - stats["first_request_at"]
    return stats["by_status"].get("200", 0) / window
