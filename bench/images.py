"""Images: an Imagen job against the emulator's image quota: quota use, memory,
every image written."""
from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import Emulator
from bench.jobs import run_pipeline, table_rows, window_rate, write_image_records


def run(prompts: int = 500, sample_count: int = 2, image_rpm: float = 1200) -> list[dict]:
    # Imagen (discontinued on Vertex AI in 2026) stays the bench's image quota
    # case: its predict calls are what --image_rpm limits.
    with Emulator("--image_rpm", str(image_rpm), "--latency_ms", "300", "--jitter_ms", "100",
                  "--serve_discontinued") as emulator, tempfile.TemporaryDirectory() as tmp:
        source = write_image_records(Path(tmp) / "in.jsonl", prompts, sample_count)
        job = run_pipeline(source, Path(tmp) / "out", emulator.url, "--rpm", str(image_rpm),
                           "--concurrency", "64", "--max_attempts", "20",
                           "--image_model", "imagen-4.0-fast-generate-001", "--allow_discontinued")
        stats = emulator.stats()
        rows = table_rows(Path(tmp) / "out", "images", ["id", "status", "image_index"])
        images = sum(1 for r in rows if r["image_index"] is not None)
        use = window_rate(stats) / (image_rpm / 60)
        share = stats["by_status"].get("429", 0) / stats["requests"]
        return [{"section": "images", "case": f"Imagen, {prompts} prompts x {sample_count}",
                 "records": prompts, "records_per_s": window_rate(stats), "ratio": use,
                 "ratio_of": "quota", "share_429": share,
                 "lost": prompts - len({r["id"] for r in rows}),
                 "rows_per_record": images / prompts, "peak_mib": job["peak_mib"],
                 "target": ">= 0.97, 429s <= 1%", "met": use >= 0.97 and share <= 0.01}]


if __name__ == "__main__":
    from bench.common import report
    report("images", run())
