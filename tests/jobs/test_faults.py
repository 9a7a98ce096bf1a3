"""Faults, against the emulator: whatever happens, every input record ends up
exactly once in responses or rejected, with the right status and attempts."""
from collections import Counter

import pytest

from tests.support.pipeline_runs import read_table, run_job, summary, write_jsonl
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP

from transforms.call_vertex import _CallFn
from transforms.generate_content import GeminiHandler
from transforms.progress import ProgressSettings
from transforms.prompt_records import PromptRecord
from transforms.vertex_connection import VertexConnection
from vertex.call_policy import CallSettings
from vertex.request_body import user_content


def plain(n, prefix="r"):
    return [{"id": f"{prefix}{i}", "prompt": f"question {i}"} for i in range(n)]


def check_exactly_once(out, ids):
    rows = read_table(out, "responses")
    assert Counter(r["id"] for r in rows) == Counter(ids)  # none lost, none twice
    return {r["id"]: r for r in rows}


def check_accounting(out, emulator):
    """What the job counted is what the server saw."""
    s, stats = summary(out), emulator.stats()
    assert s["requests"] == stats["requests"]
    assert s["http_429"] == stats["by_status"].get("429", 0)
    assert s["all_lines_accounted_for"]


@pytest.mark.parametrize("flags, status", [(["--throttle_rate", "0.3"], "429"),
                                           (["--error_rate", "0.05"], None)])
def test_storms_of_429s_and_5xx_lose_nothing(start_emulator, tmp_path, flags, status):
    emulator = start_emulator(*flags, "--seed", "7", "--no_retry_info")
    sample = write_jsonl(tmp_path / "in.jsonl", plain(200))
    out = tmp_path / "out"
    # A fixed rate: the storm is random, so no rate is right (test_rate_limit
    # checks that the default, adaptive rate does not collapse under one).
    assert run_job(sample, out, emulator.url, "--max_attempts", "30", "--rpm", "60000",
                   "--initial_backoff_s", "0.05", "--max_backoff_s", "0.2") == 0
    rows = check_exactly_once(out, [f"r{i}" for i in range(200)])
    assert all(r["status"] == "ok" for r in rows.values())
    stats = emulator.stats()["by_status"]
    failures = sum(n for code, n in stats.items() if code != "200")
    assert failures > 0 and (status is None or stats[status] > 0)
    assert sum(r["attempts"] for r in rows.values()) == 200 + failures
    assert sum(r["throttled_attempts"] for r in rows.values()) == stats.get("429", 0)
    check_accounting(out, emulator)


def test_every_kind_of_fault_in_one_job(emulator, tmp_path):
    records = plain(20) + [
        {"id": "dropped", "prompt": "x [[emulator: drop x2]]"},
        {"id": "slow", "prompt": "x [[emulator: latency=5000x1]]"},
        {"id": "truncated", "prompt": "x [[emulator: truncate x1]]"},
        {"id": "always-truncated", "prompt": "x [[emulator: truncate]]"},
        {"id": "blocked", "prompt": "x [[emulator: block]]"},
        {"id": "filtered", "prompt": "x [[emulator: unsafe=HARM_CATEGORY_HARASSMENT]]"},
        {"id": "throttled", "prompt": "x [[emulator: fail=429x2, retry_after=0.1]]"},
        {"id": "down", "prompt": "x [[emulator: fail=503]]"},
        {"id": "invalid", "request": {"contents": [{"role": "user", "parts": [{"text": "x"}]}],
                                      "generationConfig": {"topP": 7}}},
        "not json at all",
    ]
    sample = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--max_attempts", "4",
                   "--request_timeout_s", "1") == 3
    ids = [r["id"] for r in records if isinstance(r, dict) and r["id"] != "invalid"]
    rows = check_exactly_once(out, ids)
    rejected = read_table(out, "rejected")
    assert len(rejected) == 2  # the line that is not JSON, and the request Vertex AI would refuse
    assert any("'generation_config.top_p'" in r["reason"] for r in rejected)
    expect = {  # id: (status, attempts, error_code)
        "dropped": ("ok", 3, None), "slow": ("ok", 2, None), "truncated": ("ok", 2, None),
        "always-truncated": ("error", 4, "DATA_LOSS"), "blocked": ("blocked", 1, None),
        "filtered": ("blocked", 1, None), "throttled": ("ok", 3, None),
        "down": ("error", 4, "UNAVAILABLE"),
    }
    for record_id, (status, attempts, code) in expect.items():
        row = rows[record_id]
        assert (row["status"], row["attempts"], row["error_code"]) == (status, attempts, code), record_id
    assert rows["throttled"]["throttled_attempts"] == 2
    assert all(rows[f"r{i}"]["status"] == "ok" and rows[f"r{i}"]["attempts"] == 1 for i in range(20))
    check_accounting(out, emulator)


def test_streamed_answers_survive_errors_mid_stream(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", plain(10) + [
        {"id": "cut", "prompt": "x [[emulator: stream_error x1]]"},
        {"id": "dropped", "prompt": "x [[emulator: drop x1]]"}])
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--stream") == 0
    rows = check_exactly_once(out, [f"r{i}" for i in range(10)] + ["cut", "dropped"])
    assert rows["cut"]["status"] == "ok" and rows["cut"]["attempts"] == 2
    assert rows["dropped"]["status"] == "ok" and rows["dropped"]["attempts"] == 2
    check_accounting(out, emulator)


def test_a_bundle_rerun_after_a_worker_failure_gives_each_record_once(emulator):
    """The in-process runner never retries a bundle, so this drives the DoFn
    through the lifecycle a retrying runner (Dataflow) uses: a first worker
    takes the bundle and dies mid-way, its outputs are discarded, and a fresh
    worker processes the whole bundle again."""
    connection = VertexConnection(endpoint_url=emulator.url,
                                  settings=CallSettings(max_in_flight=4))
    records = [PromptRecord(f"b{i}", "text", "gemini-3.5-flash",
                            {"contents": [user_content(f"q{i} [[emulator: latency=50]]")]},
                            None, "in.jsonl", i + 1) for i in range(12)]

    def call_fn():
        return _CallFn(GeminiHandler("r"), connection, "test", ProgressSettings())
    window = dict(window=GlobalWindow(), timestamp=MIN_TIMESTAMP)
    failed = call_fn()
    failed.setup()
    failed.start_bundle()
    for record in records[:7]:
        list(failed.process(record, **window))  # emitted, then thrown away with the bundle
    failed.teardown()                 # the worker goes away: its calls are cancelled

    retry = call_fn()
    retry.setup()
    retry.start_bundle()
    outputs = [wv.value for record in records for wv in retry.process(record, **window)]
    outputs += [wv.value for wv in retry.finish_bundle()]
    assert Counter(row["id"] for row in outputs) == Counter(r.id for r in records)
    assert all(row["status"] == "ok" for row in outputs)
