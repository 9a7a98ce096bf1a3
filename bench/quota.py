"""Quota use: the pipeline against an emulator quota, side by side in one run:
the quota given to the client (--rpm); the quota unknown to it, by default
(no --rpm: the job adapts), in one worker process and in two sharing it; and
--adaptive_rate from a low guess.

    python -m bench.quota [--records 3000] [--rpm 3000] [--latency_ms 300] [--jitter_ms 100]

Quota use = requests answered 200 per second over the active window (first
request to last answer, seen by the emulator) divided by the quota.
Targets: known quota >= 0.97 with <= 1% 429s; adaptive >= 0.90 with <= 10%.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.common import Emulator, report
from bench.jobs import run_pipeline, table_rows, window_rate, write_text_records


def measure(case: str, records: int, rpm: float, emulator_flags: list[str],
            pipeline_flags: list[str], workdir: Path, target: tuple[float, float]) -> dict:
    source = write_text_records(workdir / "in.jsonl", records)
    with Emulator("--rpm", str(rpm), *emulator_flags) as emulator:
        job = run_pipeline(source, workdir / case, emulator.url, "--max_attempts", "20",
                           *pipeline_flags)
        stats = emulator.stats()
    rows = table_rows(workdir / case, "responses")
    use = window_rate(stats) / (rpm / 60.0)
    share = stats["by_status"].get("429", 0) / max(stats["requests"], 1)
    return {"section": "quota", "case": case, "records": records,
            "records_per_s": window_rate(stats), "ratio": use, "ratio_of": "quota",
            "share_429": share, "lost": records - len(rows),
            "rows_per_record": len(rows) / records, "peak_mib": job["peak_mib"],
            "target": f">= {target[0]}, 429s <= {target[1]:.0%}",
            "met": use >= target[0] and share <= target[1]}


def run(records: int = 3000, rpm: float = 3000, latency_ms: float = 300,
        jitter_ms: float = 100) -> list[dict]:
    emulator_flags = ["--latency_ms", str(latency_ms), "--jitter_ms", str(jitter_ms)]
    concurrency = str(max(64, int(rpm / 60 * (latency_ms + 4 * jitter_ms) / 1000 * 2)))
    with tempfile.TemporaryDirectory() as tmp:
        return [
            measure("quota known to the client", records, rpm, emulator_flags,
                    ["--rpm", str(rpm), "--concurrency", concurrency], Path(tmp), (0.97, 0.01)),
            measure("quota unknown to the client (default: no --rpm)", records, rpm,
                    emulator_flags, ["--concurrency", concurrency], Path(tmp), (0.90, 0.10)),
            measure("quota unknown, 2 worker processes sharing it", records, rpm,
                    emulator_flags, ["--concurrency", concurrency, "--direct_num_workers", "2",
                                     "--direct_running_mode", "multi_processing"],
                    Path(tmp), (0.90, 0.10)),
            measure("--adaptive_rate from a guess of quota/5", records, rpm, emulator_flags,
                    ["--adaptive_rate", "--rpm", str(rpm / 5), "--concurrency", concurrency],
                    Path(tmp), (0.90, 0.10)),
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--rpm", type=float, default=3000)
    parser.add_argument("--latency_ms", type=float, default=300)
    parser.add_argument("--jitter_ms", type=float, default=100)
    args = parser.parse_args()
    report("quota", run(args.records, args.rpm, args.latency_ms, args.jitter_ms),
           {"args": vars(args)})


if __name__ == "__main__":
    main()
