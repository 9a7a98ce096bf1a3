"""Reruns into the same output: dedupe, --skip_existing, --retry_errors_only,
and a job killed halfway that a rerun completes without paying twice."""
import glob
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import duckdb
import pytest

from tests.support.servers import ROOT
from tests.support.pipeline_runs import read_table, run_job, summary, write_jsonl


def test_records_sharing_an_id_are_called_once(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "a", "prompt": "first"}, {"id": "b", "prompt": "x"},
        {"id": "a", "prompt": "second"}, {"prompt": "same content"}, {"prompt": "same content"}])
    out = tmp_path / "out"
    run_job(sample, out, emulator.url)
    responses = read_table(out, "responses")
    assert len(responses) == 3 and Counter(r["id"] for r in responses)["a"] == 1
    assert next(r for r in responses if r["id"] == "a")["line_number"] == 1
    rejected = sorted(read_table(out, "rejected"), key=lambda r: r["line_number"])
    assert [r["line_number"] for r in rejected] == [3, 5]
    assert all(r["reason"].startswith("duplicate_id") for r in rejected)
    assert "in.jsonl:1" in rejected[0]["reason"]
    assert emulator.stats()["requests"] == 3
    assert summary(out)["all_lines_accounted_for"]


def test_skip_existing_calls_only_what_has_no_final_answer(emulator, tmp_path):
    records = [{"id": f"ok{i}", "prompt": f"q{i}"} for i in range(5)] + [
        {"id": "blocked", "prompt": "x [[emulator: block]]"},
        {"id": "flaky", "prompt": "x [[emulator: fail=503x1]]"}]
    sample = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out"
    run_job(sample, out, emulator.url, "--max_attempts", "1", "--run_id", "run1")
    first = {r["id"]: r["status"] for r in read_table(out, "responses")}
    assert first["flaky"] == "error" and first["blocked"] == "blocked"

    write_jsonl(sample, records + [{"id": "new", "prompt": "added since"}])
    before = emulator.stats()["requests"]  # (no reset: it would also forget fail=503x1's count)
    run_job(sample, out, emulator.url, "--skip_existing", "--run_id", "run2")
    second = [r for r in read_table(out, "responses") if r["run_id"] == "run2"]
    assert sorted(r["id"] for r in second) == ["flaky", "new"]
    assert all(r["status"] == "ok" for r in second)
    assert emulator.stats()["requests"] - before == 2
    s = summary(out)
    assert s["run_id"] == "run2" and s["skipped_existing"] == 6 and s["all_lines_accounted_for"]
    assert os.path.exists(out / "summary-run1.json") and os.path.exists(out / "summary-run2.json")
    latest = dict(duckdb.sql(  # the README's query for the union of runs
        f"SELECT id, status FROM read_parquet('{out}/responses-*.parquet') "
        "QUALIFY row_number() OVER (PARTITION BY id ORDER BY run_id DESC) = 1").fetchall())
    assert len(latest) == 8 and set(latest.values()) == {"ok", "blocked"}


def test_retry_errors_only(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "good", "prompt": "x"}, {"id": "bad", "prompt": "x [[emulator: fail=500x1]]"}])
    out = tmp_path / "out"
    run_job(sample, out, emulator.url, "--max_attempts", "1", "--run_id", "r1")
    write_jsonl(sample, [{"id": "good", "prompt": "x"},
                         {"id": "bad", "prompt": "x [[emulator: fail=500x1]]"},
                         {"id": "unseen", "prompt": "not in the earlier output"}])
    before = emulator.stats()["requests"]
    run_job(sample, out, emulator.url, "--retry_errors_only", "--run_id", "r2")
    rerun = [r for r in read_table(out, "responses") if r["run_id"] == "r2"]
    assert [(r["id"], r["status"]) for r in rerun] == [("bad", "ok")]
    assert emulator.stats()["requests"] - before == 1


def test_images_are_not_generated_twice(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "pic", "task": "image", "prompt": "a boat", "parameters": {"sampleCount": 2}}])
    out = tmp_path / "out"
    run_job(sample, out, emulator.url, "--run_id", "i1")
    emulator.reset()
    run_job(sample, out, emulator.url, "--skip_existing", "--run_id", "i2")
    assert emulator.stats()["requests"] == 0
    assert summary(out)["skipped_existing"] == 1


@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGTERM])
def test_a_job_killed_halfway_is_completed_by_a_rerun_without_paying_twice(
        start_emulator, tmp_path, kill):
    emulator = start_emulator("--latency_ms", "20")
    total, in_flight = 2000, 8
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": f"k{i}", "prompt": f"item {i}"}
                                                 for i in range(total)])
    out = tmp_path / "out"
    command = [sys.executable, "-m", "pipeline", "--input", str(sample), "--output", str(out),
               "--endpoint", emulator.url, "--concurrency", str(in_flight), "--progress_s", "0"]
    job = subprocess.Popen(command + ["--run_id", "killed"], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while emulator.stats()["requests"] < 20:
        assert job.poll() is None and time.monotonic() < deadline, "the job ended too soon"
        time.sleep(0.01)
    calling_since, paid_then = time.monotonic(), emulator.stats()["requests"]
    while emulator.stats()["requests"] < total // 2:
        assert job.poll() is None and time.monotonic() < deadline, "the job ended too soon"
        time.sleep(0.05)
    answers_per_s = (emulator.stats()["requests"] - paid_then) / (time.monotonic() - calling_since)
    job.send_signal(kill)
    job.wait()
    paid_first = emulator.stats()["requests"]
    assert paid_first < total

    # Nothing a reader could take for a complete result: no final tables, no summary.
    assert not glob.glob(f"{out}/responses-*.parquet") and not (out / "summary.json").exists()
    assert glob.glob(f"{out}/_checkpoints/killed/responses-part-*.parquet")

    emulator.reset()
    rerun = subprocess.run(command + ["--run_id", "rerun", "--skip_existing"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    rows = read_table(out, "responses")
    assert Counter(r["id"] for r in rows) == Counter(f"k{i}" for i in range(total))
    assert all(r["status"] == "ok" for r in rows)
    s = summary(out)
    carried = s["carried_over"]
    assert s["all_lines_accounted_for"]
    # Records already answered were not requested again...
    assert emulator.stats()["requests"] == total - carried
    # ...and what the kill made the rerun pay again is the calls in flight plus
    # about a second of answers at most (SIGTERM saves even those; the answers
    # that arrived while it was being handled are in flight too).
    repaid = paid_first - carried
    print(f"\n{signal.Signals(kill).name} at {paid_first} paid calls "
          f"({answers_per_s:.0f} answers/s): the rerun paid {repaid} again")
    allowed = in_flight + answers_per_s * (2.0 if kill == signal.SIGKILL else 0.1)
    assert 0 <= repaid <= allowed
    assert {r["run_id"] for r in rows} == {"killed", "rerun"}
    assert not (out / "_checkpoints").exists()  # consumed, then removed


def test_plan_calls_alone_rejects_duplicates_with_the_line_as_read():
    """PlanCalls used on its own (no earlier results): the duplicate's
    rejected row keeps its raw line exactly as read."""
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from transforms.prompt_records import SourceLine
    from transforms.record_defaults import RecordDefaults
    from transforms.tasks import build_record
    from transforms.plan_calls import PlanCalls
    lines = [SourceLine("in.jsonl", 1, '{"id": "a", "prompt": "first"}'),
             SourceLine("in.jsonl", 2, '{"prompt":"second",   "id":"a"}'),
             SourceLine("in.jsonl", 3, '{"id": "b", "prompt": "alone"}')]
    with beam.Pipeline() as p:
        records = p | beam.Create([build_record(line, RecordDefaults()) for line in lines])
        planned = records | PlanCalls()
        # Only the records sharing an id were grouped; the lone one went straight on.
        assert_that(planned.calls | beam.Map(lambda r: r.line_number), equal_to([3]))
        assert_that(planned.grouped_calls | beam.Map(lambda r: r.line_number), equal_to([1]),
                    label="grouped")
        assert_that(planned.rejected | beam.Map(lambda r: r["raw_line"]),
                    equal_to(['{"prompt":"second",   "id":"a"}']), label="raw line")


def test_the_answer_carried_over_is_the_one_that_arrived_last():
    from datetime import datetime, timezone

    from transforms.plan_calls import Previous, _carried_rows

    def saved(run_id, minute):
        return Previous("responses", "ok", {"run_id": run_id, "text": run_id,
                                            "finished_at": datetime(2026, 1, 1, 0, minute,
                                                                    tzinfo=timezone.utc)})
    # "zz-manual" sorts after the timestamped id as text, but answered earlier.
    rows = _carried_rows([saved("zz-manual", 1), saved("20260101T0005Z-ab12", 5)])
    assert [p.row["text"] for p in rows] == ["20260101T0005Z-ab12"]


def _records(lines):
    from transforms.prompt_records import SourceLine
    from transforms.record_defaults import RecordDefaults
    from transforms.tasks import build_record
    return [build_record(SourceLine("in.jsonl", n, text), RecordDefaults())
            for n, text in enumerate(lines, start=1)]


def test_ids_sharing_a_fingerprint_are_still_told_apart(monkeypatch):
    """The index compares 64-bit fingerprints; were every id to share one,
    every record would be grouped, and still only true duplicates rejected."""
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    import transforms.id_index as id_index
    from transforms.plan_calls import PlanCalls
    monkeypatch.setattr(id_index, "fingerprint", lambda record_id: 7)
    records = _records(['{"id": "a", "prompt": "x"}', '{"id": "b", "prompt": "y"}',
                        '{"id": "a", "prompt": "z"}'])
    with beam.Pipeline() as p:
        planned = p | beam.Create(records) | PlanCalls()
        assert_that(planned.calls, equal_to([]))
        assert_that(planned.grouped_calls | beam.Map(lambda r: r.line_number), equal_to([1, 2]),
                    label="grouped")
        assert_that(planned.rejected | beam.Map(lambda r: r["line_number"]), equal_to([3]),
                    label="rejected")


def test_spread_calls_are_the_same_calls():
    """spread=True (remote runners, several processes) reshuffles the calls;
    which records are called does not change."""
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from transforms.plan_calls import PlanCalls
    records = _records([f'{{"id": "r{i}", "prompt": "x"}}' for i in range(20)]
                       + ['{"id": "r3", "prompt": "y"}'])
    with beam.Pipeline() as p:
        planned = p | beam.Create(records) | PlanCalls(spread=True)
        assert_that(planned.calls | beam.Map(lambda r: r.id),
                    equal_to([f"r{i}" for i in range(20) if i != 3]))
        assert_that(planned.grouped_calls | beam.Map(lambda r: r.line_number), equal_to([4]),
                    label="grouped")


@pytest.mark.parametrize("shared_fingerprint", [False, True])
@pytest.mark.parametrize("resume", ["skip_existing", "errors_only"])
def test_earlier_verdicts_decide_without_grouping_what_they_can(monkeypatch, resume,
                                                                shared_fingerprint):
    """What earlier runs said of an id (answered, failed, or saved by a run
    that died) is an index; only records sharing an id with another record,
    or with rows to carry over, are grouped. Ids are told apart exactly, even
    when every id shares one fingerprint."""
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    import transforms.id_index as id_index
    from transforms.plan_calls import PlanCalls, Previous, Resume
    if shared_fingerprint:
        monkeypatch.setattr(id_index, "fingerprint", lambda record_id: 7)
    records = _records([f'{{"id": "{i}", "prompt": "x"}}' for i in
                        ("answered", "failed", "saved", "new", "twice", "twice", "answered2")])
    dead = {"id": "saved", "run_id": "dead", "status": "ok", "finished_at": None}
    with beam.Pipeline() as p:
        final = p | "Final" >> beam.Create([
            ("answered", Previous("responses", "ok")), ("answered", Previous("responses", "error")),
            ("failed", Previous("responses", "error")), ("twice", Previous("responses", "error")),
            ("answered2", Previous("images", "blocked")), ("gone", Previous("responses", "ok"))])
        checkpoints = p | "Checkpoints" >> beam.Create([
            ("saved", Previous("responses", "ok", dead)),
            ("failed", Previous("responses", "error", {**dead, "status": "error"}))])
        planned = p | beam.Create(records) | PlanCalls(Resume(resume), "now",
                                                       (final, checkpoints))
        line = {"failed": 2, "new": 4, "twice": 5}  # twice: its earlier answer failed
        called = {"skip_existing": ["failed", "new", "twice"],
                  "errors_only": ["failed", "twice"]}[resume]
        assert_that((planned.calls, planned.grouped_calls) | beam.Flatten()
                    | beam.Map(lambda r: (r.id, r.line_number)),
                    equal_to([(i, line[i]) for i in called]))
        if not shared_fingerprint:  # (else the index names every record: all are grouped)
            assert_that(planned.grouped_calls | beam.Map(lambda r: r.id), equal_to(["twice"]),
                        label="grouped")
        assert_that(planned.rejected | beam.Map(lambda r: r["line_number"]), equal_to([6]),
                    label="rejected")
        assert_that(planned.carried_responses | beam.Map(lambda row: row["id"]),
                    equal_to(["saved"]), label="carried")
