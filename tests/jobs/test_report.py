"""report.html: written by every run, self-contained, rendered in real
headless Chromium with the network cut, rebuilt for any run or the union."""
import asyncio
import re
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.results.report import main as report_main, tally
from transforms.schemas import blank_row, schema
from tests.support.browser import chromium, render
from tests.support.pipeline_runs import run_job, write_jsonl

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
                   "--initial_backoff_s", "0.05") == 3
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
    assert run_job(sample, out, emulator.url, "--run_id", "first") == 3
    assert run_job(sample, out, emulator.url, "--run_id", "second") == 3
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


def _at(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc)


def _write_rows(folder, table, name, rows):
    full = [{**blank_row(schema(table)), **row} for row in rows]
    pq.write_table(pa.Table.from_pylist(full, schema=schema(table)),
                   folder / f"{table}-{name}-00000-of-00001.parquet")


def test_the_tally_counts_every_row_as_written(tmp_path):
    """The report reads its tables in Arrow, a batch at a time: the same
    answers a row-by-row reading gives, worked out here by hand."""
    def text(id, status, started=None, attempts=(), **more):
        return {"id": id, "model": "m1", "status": status, "started_at": started and _at(started),
                "finished_at": started and _at(started + 1),
                "attempt_log": [{"offset_ms": at, "http_status": code} for at, code in attempts],
                **more}
    _write_rows(tmp_path, "responses", "r1", [
        text("a", "ok", 1000.0, [(0, 429), (100, 200)], latency_ms=500.0, cost_usd=0.5,
             traffic_type="ON_DEMAND", usage={"total_token_count": 10}),
        text("b", "error", 1000.2, [(0, 503)], latency_ms=800.0, error_code="UNAVAILABLE",
             error_message="down\nand more"),
        text("c", "error", error_code="budget_exhausted", error_message="budget"),  # never sent
    ])
    _write_rows(tmp_path, "responses", "r2", [
        text("d", "error", 1002.0, [(0, 503), (50, 503), (150, 503)],
             error_code="UNAVAILABLE", error_message="down"),
    ])
    image = {"model": "imagen", "started_at": _at(1003.0), "latency_ms": 300.0}
    _write_rows(tmp_path, "images", "r1", [
        {**image, "id": "i1", "status": "ok", "image_index": 0, "uri": "x.png", "cost_usd": 0.02,
         "attempt_log": [{"offset_ms": 0, "http_status": 200}]},
        {**image, "id": "i1", "status": "ok", "image_index": 1, "uri": "y.png", "cost_usd": 0.02},
        {**image, "id": "i2", "status": "blocked", "rai_filtered_reason": "filtered"},
    ])
    _write_rows(tmp_path, "rejected", "r1", [
        {"source": "in.jsonl", "line_number": n, "reason": "not valid JSON: x\nat 1"}
        for n in (3, 7)])

    t = tally(str(tmp_path), None)

    assert t.records == 6  # the four text records and the two image records
    assert dict(t.by_status) == {("text", "ok"): 1, ("text", "error"): 3,
                                 ("image", "ok"): 1, ("image", "blocked"): 1}
    assert t.cost == pytest.approx(0.54)  # every picture's cost, not only a record's first
    assert sorted(t.started) == [1000.0, 1000.2, 1002.0, 1003.0, 1003.0]
    sent = sorted(zip(t.sent, t.sent_429, t.sent_retry))
    assert [(round(at, 3), bool(was_429), bool(retry)) for at, was_429, retry in sent] == [
        (1000.0, True, False), (1000.1, False, True), (1000.2, False, False),
        (1002.0, False, False), (1002.05, False, True), (1002.15, False, True),
        (1003.0, False, False)]
    assert {model: sorted(ms) for model, ms in t.latency.items()} == {
        "m1": [500.0], "imagen": [300.0, 300.0]}  # b failed: not an answer's latency
    assert {key: parts["total"] for key, parts in t.tokens.items()} == {
        ("m1", "ON_DEMAND"): 10, ("m1", "no answer"): 0, ("imagen", "per image"): 0}
    assert t.spend[("m1", "ON_DEMAND")] == 0.5
    assert t.spend[("imagen", "per image")] == pytest.approx(0.04)
    assert dict(t.errors) == {"UNAVAILABLE: down": 2, "budget_exhausted: budget": 1}
    assert t.error_example == {"UNAVAILABLE: down": "b", "budget_exhausted: budget": "c"}
    assert [(r["id"], r["image_index"]) for r in t.images] == [("i1", 0), ("i1", 1), ("i2", None)]
    assert t.images.seen == 3 and t.clips.seen == 0
    assert (t.rejected, dict(t.reasons)) == (2, {"not valid JSON: x": 2})
    assert t.reason_where == {"not valid JSON: x": "in.jsonl:3"}
