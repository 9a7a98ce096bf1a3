"""Makes the pictures in docs/ from today's sample job, so that they show
what the tool does now (today's models, today's report):

    .venv/bin/python docs/pictures.py        # docs/report.png

It starts the emulator, runs the sample job of run_local.sh with typed
labels (--output_schema), and takes a screenshot of its report.html in
headless Chromium (Debian's `chromium`, as the report's test uses it).
"""
from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.browser import chromium, render  # noqa: E402
from tests.support.servers import EmulatorProcess  # noqa: E402


def main() -> int:
    if chromium() is None:
        print("error: no chromium (./run_local.sh test installs Debian's)", file=sys.stderr)
        return 1
    emulator = EmulatorProcess("--latency_ms", "50", "--jitter_ms", "20", "--rpm", "6000")
    try:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "sample"
            job = subprocess.run(
                [sys.executable, "-m", "pipeline", "--input", str(ROOT / "samples" / "*.jsonl"),
                 "--output", str(out), "--endpoint", emulator.url, "--progress_s", "0",
                 "--prompt_template", "Classify the sentiment of this {category} review as "
                 "positive, negative or mixed. Review: {review}",
                 "--output_schema", "sentiment STRING, confidence FLOAT64",
                 "--model_map", "gemini-pro=gemini-3.5-flash,gemini-pro-vision=gemini-3.5-flash",
                 "--rpm", "3000"], cwd=ROOT, capture_output=True, text=True)
            if job.returncode not in (0, 3):  # the samples are partial on purpose
                print(job.stderr[-2000:], file=sys.stderr)
                return job.returncode
            shown = asyncio.run(render(out / "report.html", ROOT / "docs" / "report.png"))
            print(f"docs/report.png: {len(shown.get('sections', []))} sections")
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
