"""All the benchmarks in one run, so their ratios are comparable on a noisy
machine: one table (with the machine's facts), also written as
bench/results/all.json.

    python -m bench [--quick] [--large] [--only quota,overhead,scaling,rerun,images,live,emulator,transport,flex_deadline,context_cache]

--large adds a million records to the scaling section (about half an hour).

Each section starts its own emulator with the quota and latency it needs and
runs the pipeline as its own process, as a user would.
"""
from __future__ import annotations

import argparse
import time

from bench import (context_cache, emulator_throughput, flex_deadline, images, live, overhead,
                   quota, rerun, scaling, transport)
from bench.common import report

FULL = {
    "emulator": lambda: emulator_throughput.run(seconds=10),
    "transport": lambda: transport.run(requests=3000),
    "quota": lambda: quota.run(records=3000),
    "overhead": lambda: overhead.run(records=30_000, runinference_records=500),
    "scaling": lambda: scaling.run(sizes=(10_000, 100_000)),
    "rerun": lambda: rerun.run(sizes=(100_000, 1_000_000)),
    "images": lambda: images.run(prompts=500),
    "live": lambda: live.run(records=400),
    "flex_deadline": lambda: flex_deadline.run(records=10_000, finish_by="100s"),
    "context_cache": lambda: context_cache.run(records=1000),
}
QUICK = {
    "emulator": lambda: emulator_throughput.run(seconds=3),
    "transport": lambda: transport.run(requests=1000),
    "quota": lambda: quota.run(records=600),
    "overhead": lambda: overhead.run(records=5000, runinference_records=100),
    "scaling": lambda: scaling.run(sizes=(2_000, 20_000), quota_records=400),
    "rerun": lambda: rerun.run(sizes=(10_000, 100_000)),
    "images": lambda: images.run(prompts=100),
    "live": lambda: live.run(records=100),
    "flex_deadline": lambda: flex_deadline.run(records=2_000, finish_by="30s"),
    "context_cache": lambda: context_cache.run(records=200),
}
COLUMNS = ("section", "case", "records", "records_per_s", "ratio", "ratio_of", "share_429",
           "lost", "rows_per_record", "peak_mib", "cpu_s_per_1000", "seconds", "target", "met",
           "note")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (minutes, not ten)")
    parser.add_argument("--only", help="comma-separated sections: " + ",".join(FULL))
    parser.add_argument("--large", action="store_true",
                        help="scaling also at 1,000,000 records (peak memory within 1.5x 100k's)")
    args = parser.parse_args()
    plan = dict(QUICK if args.quick else FULL)
    if args.large:
        plan["scaling"] = lambda: scaling.run(sizes=(10_000, 100_000, 1_000_000))
    sections = args.only.split(",") if args.only else list(plan)
    rows, started = [], time.monotonic()
    for section in sections:
        print(f"running {section}...", flush=True)
        rows += plan[section]()
    rows = [{column: row.get(column) for column in COLUMNS} for row in rows]
    report("all" if not args.only else "selected", rows,
           {"quick": args.quick, "large": args.large, "seconds": round(time.monotonic() - started, 1)})


if __name__ == "__main__":
    main()
