"""The job at an earlier commit and now, side by side against one emulator:
wall time, records/s, CPU seconds per 1,000 records and peak memory, each
run alternating so that a noisy machine hurts both alike.

    python -m bench.before_after REV [--records 5000] [--latency_ms 50] [--rounds 2]

REV is checked out into a temporary git worktree (the repository's own
history; nothing is fetched) and run with this checkout's virtualenv.
"""
from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from bench.common import ROOT, Emulator, report
from bench.jobs import run_pipeline, write_text_records


def run(revision: str, records: int = 5000, latency_ms: float = 50, rounds: int = 2) -> list[dict]:
    rows = []
    # --serve_discontinued: the earlier commit's default model may be one Vertex AI has retired since
    with tempfile.TemporaryDirectory() as tmp, Emulator("--latency_ms", str(latency_ms),
                                                         "--serve_discontinued") as emulator:
        before = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), revision], cwd=ROOT,
                       check=True, capture_output=True)
        try:
            source = write_text_records(Path(tmp) / "in.jsonl", records)
            for round_ in range(rounds):
                for label, checkout in ((f"before ({revision})", before), ("now", ROOT)):
                    job = run_pipeline(source, Path(tmp) / f"out-{label[:6]}-{round_}",
                                       emulator.url, "--rpm", "1e9", "--concurrency", "64",
                                       checkout=checkout)
                    rows.append({"case": label, "records": records,
                                 "records_per_s": records / job["wall_s"],
                                 "cpu_s_per_1000": job["cpu_s"] / records * 1000,
                                 "peak_mib": job["peak_mib"]})
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT,
                           check=False, capture_output=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("revision")
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--latency_ms", type=float, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    report("before_after", run(args.revision, args.records, args.latency_ms, args.rounds),
           {"revision": args.revision})


if __name__ == "__main__":
    main()
