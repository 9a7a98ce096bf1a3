"""Quota use: the pipeline against an emulator quota, with the quota given to
the client and with it unknown (adaptive), side by side in one run.

    python -m bench.quota [--records 3000] [--rpm 3000] [--latency_ms 300] [--jitter_ms 100]

Quota use = requests answered 200 per second over the active window (first
request to last answer, seen by the emulator) divided by the quota.
Targets: known quota >= 0.97 with <= 1% 429s; adaptive >= 0.90 with <= 10%.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from bench.common import ROOT, Emulator, report


def write_records(path: Path, count: int) -> None:
    with open(path, "w") as f:
        for i in range(count):
            f.write(json.dumps({"id": f"q{i}", "prompt": f"Label item {i}: blue mug, good."}) + "\n")


def run_pipeline(input_path: Path, output: Path, url: str, *flags: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline", "--input", str(input_path),
                    "--output", str(output), "--endpoint", url, "--progress_s", "0",
                    "--max_attempts", "20", *flags], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(name: str, records: int, rpm: float, emulator_flags: list[str],
            pipeline_flags: list[str], workdir: Path) -> dict:
    input_path = workdir / "in.jsonl"
    output = workdir / name
    with Emulator("--rpm", str(rpm), *emulator_flags) as emulator:
        wall = run_pipeline(input_path, output, emulator.url, *pipeline_flags)
        stats = emulator.stats()
    ok = stats["by_status"].get("200", 0)
    window = stats["last_answer_at"] - stats["first_request_at"]
    rows = sum(pq.read_metadata(f).num_rows for f in output.glob("responses-*.parquet"))
    answered = sum(1 for f in output.glob("responses-*.parquet")
                   for s in pq.read_table(f, columns=["status"]).column("status").to_pylist()
                   if s == "ok")
    return {"case": name, "records": records, "requests": stats["requests"],
            "http_429": stats["by_status"].get("429", 0),
            "share_429": stats["by_status"].get("429", 0) / max(stats["requests"], 1),
            "ok_per_s": ok / window, "quota_per_s": rpm / 60.0,
            "quota_use": ok / window / (rpm / 60.0),
            "records_lost": records - rows, "records_not_ok": rows - answered,
            "job_wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--rpm", type=float, default=3000)
    parser.add_argument("--latency_ms", type=float, default=300)
    parser.add_argument("--jitter_ms", type=float, default=100)
    parser.add_argument("--cases", default="known,adaptive")
    args = parser.parse_args()
    emulator_flags = ["--latency_ms", str(args.latency_ms), "--jitter_ms", str(args.jitter_ms)]
    concurrency = str(max(64, int(args.rpm / 60 * (args.latency_ms + 4 * args.jitter_ms) / 1000 * 2)))
    cases = {
        "known": ["--rpm", str(args.rpm), "--concurrency", concurrency],
        "adaptive": ["--adaptive_rate", "--rpm", str(args.rpm / 5), "--concurrency", concurrency],
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        write_records(workdir / "in.jsonl", args.records)
        rows = [measure(name, args.records, args.rpm, emulator_flags, cases[name], workdir)
                for name in args.cases.split(",")]
    report("quota", rows, {"args": vars(args),
                           "targets": {"known": {"quota_use": 0.97, "share_429": 0.01},
                                       "adaptive": {"quota_use": 0.90, "share_429": 0.10}}})


if __name__ == "__main__":
    main()
