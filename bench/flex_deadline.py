"""Flex-only, Standard-only and Flex by deadline on the same records, side by
side: the cost (from summary.json) and the wall time of each. The emulator
acts as Flex does: slower (300 ms more), and its capacity shared (Google's
3,000 requests a minute per model for Flex: 429 past it).

    python -m bench.flex_deadline [--records 10000] [--finish_by 100s]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench.common import Emulator, report
from bench.jobs import run_pipeline, write_text_records

FLEX = ("--flex_latency_ms", "300", "--flex_rpm", "3000", "--latency_ms", "50")


def run(records: int = 10_000, finish_by: str = "100s", only_deadline: bool = False) -> list[dict]:
    rows, standard_cost = [], None
    cases = [("Standard only", ("--service_tier", "standard")),
             ("Flex only", ("--service_tier", "flex", "--max_attempts", "50",
                            "--max_backoff_s", "5")),
             (f"Flex by deadline ({finish_by})", ("--service_tier", "flex",
                                                   "--finish_by", finish_by,
                                                   "--max_attempts", "50", "--max_backoff_s", "5"))]
    if only_deadline:
        cases = cases[-1:]
    with tempfile.TemporaryDirectory() as tmp:
        source = write_text_records(Path(tmp) / "in.jsonl", records)
        for i, (case, flags) in enumerate(cases):
            with Emulator(*FLEX) as emulator:
                output = Path(tmp) / f"out-{i}"
                job = run_pipeline(source, output, emulator.url, *flags)
                summary = json.loads((output / "summary.json").read_text())
                last_answer_s = emulator.stats()["last_answer_at"] - job["started_at"]
            cost, tiers = summary["cost"]["total_usd"], summary["cost"]["tiers"]
            standard_cost = standard_cost or cost
            rows.append({"section": "flex_deadline", "case": case, "records": records,
                         "records_per_s": round(records / job["wall_s"], 1),
                         "seconds": round(job["wall_s"], 1),
                         "ratio": round(cost / standard_cost, 3), "ratio_of": "Standard's cost",
                         "lost": records - summary["responses"]["ok"],
                         "note": f"${cost:.4f}; last answer {last_answer_s:.1f} s after the "
                                 f"start; served {tiers['served']}; moved to Standard "
                                 f"{tiers['moved_to_standard']}"})
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--finish_by", default="100s")
    args = parser.parse_args()
    report("flex_deadline", run(args.records, args.finish_by), vars(args))
