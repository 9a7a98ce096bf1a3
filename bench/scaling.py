"""Scaling: records/s, CPU and peak memory of the job at growing input sizes,
against an emulator with 10 ms latency and no quota (target: the largest
size's peak memory within 1.5x that of the size ten times smaller: 1M against
100k with --large); the same inputs run again with --skip_existing (every
record answered before: what a scheduled rerun does); and the job-wide quota
with two worker processes."""
from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import Emulator
from bench.jobs import run_pipeline, table_rows, window_rate, write_text_records


def run(sizes=(10_000, 100_000), quota_records: int = 1500, rpm: float = 3000) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        with Emulator("--latency_ms", "10") as emulator:
            peaks = []
            for size in sizes:
                source = write_text_records(Path(tmp) / f"in-{size}.jsonl", size)
                job = run_pipeline(source, Path(tmp) / f"out-{size}", emulator.url,
                                   "--rpm", "1e9", "--concurrency", "64")  # no quota to find
                written = len(table_rows(Path(tmp) / f"out-{size}", "responses", ["id"]))
                peaks.append(job["peak_mib"])
                rows.append({"section": "scaling", "case": f"{size} records", "records": size,
                             "records_per_s": size / job["wall_s"], "lost": size - written,
                             "rows_per_record": written / size, "peak_mib": job["peak_mib"],
                             "cpu_s_per_1000": job["cpu_s"] / size * 1000})
            ratio = peaks[-1] / peaks[-2]
            rows.append({"section": "scaling",
                         "case": f"peak memory, {sizes[-1]} / {sizes[-2]} records",
                         "ratio": ratio, "ratio_of": "memory", "target": "<= 1.5",
                         "met": ratio <= 1.5})
            resumed = []  # the same input again, with --skip_existing: every record answered
            for size in sizes:
                job = run_pipeline(Path(tmp) / f"in-{size}.jsonl", Path(tmp) / f"out-{size}",
                                   emulator.url, "--skip_existing")
                written = len(table_rows(Path(tmp) / f"out-{size}", "responses", ["id"]))
                resumed.append(job["peak_mib"])
                rows.append({"section": "scaling", "case": f"{size} records, resumed (all answered)",
                             "records": size, "records_per_s": size / job["wall_s"],
                             "lost": size - written, "rows_per_record": written / size,
                             "peak_mib": job["peak_mib"]})
            rows.append({"section": "scaling",
                         "case": f"peak memory resumed, {sizes[-1]} / {sizes[-2]} records",
                         "ratio": resumed[-1] / resumed[-2], "ratio_of": "memory"})
        with Emulator("--rpm", str(rpm), "--latency_ms", "300", "--jitter_ms", "100") as emulator:
            source = write_text_records(Path(tmp) / "in-quota.jsonl", quota_records)
            job = run_pipeline(source, Path(tmp) / "out-quota", emulator.url, "--rpm", str(rpm),
                               "--concurrency", "64", "--direct_num_workers", "2",
                               "--direct_running_mode", "multi_processing", "--max_attempts", "20")
            stats = emulator.stats()
            written = len(table_rows(Path(tmp) / "out-quota", "responses", ["id"]))
            use, share = window_rate(stats) / (rpm / 60), stats["by_status"].get("429", 0) / stats["requests"]
            rows.append({"section": "scaling", "case": "2 worker processes, job-wide quota",
                         "records": quota_records, "records_per_s": window_rate(stats),
                         "ratio": use, "ratio_of": "quota", "share_429": share,
                         "lost": quota_records - written, "peak_mib": job["peak_mib"],
                         "target": "429s <= 1%, quota held", "met": share <= 0.01 and use <= 1.02})
    return rows


if __name__ == "__main__":
    from bench.common import report
    report("scaling", run())
