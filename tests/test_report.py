"""report.html: written by every run, self-contained, rendered in real
headless Chromium with the network cut, rebuilt for any run or the union."""
import asyncio
import re

import pytest

from pipeline.report import main as report_main
from tests.browser import chromium, render
from tests.pipeline_runs import run_job, write_jsonl

needs_chromium = pytest.mark.skipif(chromium() is None, reason="./run_local.sh test installs "
                                    "Debian's chromium; this run has none")


def mixed_records(n):
    records = [{"id": f"t{i}", "prompt": f"Label review {i}"} for i in range(n)]
    records += [{"id": "throttled", "prompt": "x [[emulator: fail=429x2, retry_after=0.05]]"},
                {"id": "down", "prompt": "x [[emulator: fail=503]]"},
                {"id": "img", "task": "image", "prompt": "a red boat",
                 "parameters": {"sampleCount": 2}},
                {"id": "img-filtered", "task": "image", "prompt": "x [[emulator: filter=1]]"},
                {"id": "say", "task": "live", "prompt": "Good morning"},
                "not json"]
    return records


@needs_chromium
def test_every_run_writes_a_report_that_renders_offline(start_emulator, tmp_path):
    emulator = start_emulator("--latency_ms", "20", "--rpm", "6000")
    sample = write_jsonl(tmp_path / "in.jsonl", mixed_records(30))
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--rpm", "3000", "--max_attempts", "3",
                   "--initial_backoff_s", "0.05") == 0
    report = out / "report.html"
    assert report.exists() and list(out.glob("report-*.html"))
    text = report.read_text()
    assert not re.search(r"""(src|href)=['"]https?://""", text)  # nothing from the network
    shown = asyncio.run(render(report))
    assert shown["errors"] == [] and shown["network_requests"] == []
    assert len(shown["charts"]) >= 4
    assert all(width > 200 and height > 100 for width, height in shown["charts"])
    assert shown["images"] and all(done and width > 0 for done, width in shown["images"])
    assert shown["audio"] == 1
    for title in ("Records by status and task", "Throughput over time and quota use",
                  "Latency by model", "Tokens and cost by model and tier",
                  "What failed, and why", "Images", "Audio"):
        assert title in shown["sections"]
    assert "UNAVAILABLE" in text and "down" in text            # the error, with an example id
    assert "not valid JSON" in text                             # the rejected reason
    assert "429s: 2" in text and "rate limit (3000/min)" in text
    assert "blocked" in text                                    # the filtered image, with why


def test_the_report_is_rebuilt_for_a_run_or_the_union(emulator, tmp_path, capsys):
    sample = write_jsonl(tmp_path / "in.jsonl", mixed_records(5))
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--run_id", "first") == 0
    assert run_job(sample, out, emulator.url, "--run_id", "second") == 0
    assert report_main([str(out), "--run_id", "first"]) == 0
    assert "records called</span>" in (out / "report-first.html").read_text()
    assert report_main([str(out)]) == 0
    union = (out / "report-union.html").read_text()
    assert "the union of 2 run(s)" in union
    assert report_main([str(out), "--run_id", "nothing-here"]) == 2
    assert "no tables of run nothing-here" in capsys.readouterr().err


def test_the_report_does_not_grow_with_the_records(emulator, tmp_path):
    sizes = {}
    for n in (100, 1000):  # the images past the contact sheet's 48 both times
        records = [{"id": f"t{i}", "prompt": f"q {i}"} for i in range(n)] + [
            {"id": f"i{i}", "task": "image", "prompt": f"p {i}"} for i in range(50)]
        out = tmp_path / str(n)
        assert run_job(write_jsonl(tmp_path / f"{n}.jsonl", records), out, emulator.url) == 0
        sizes[n] = (out / "report.html").stat().st_size
    assert sizes[1000] < 1.2 * sizes[100]
