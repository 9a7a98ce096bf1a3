"""Bad input and bad luck, as a new user meets them: nothing is lost, nothing
is paid twice, nothing an earlier run or the user left is replaced, and every
mistake a user can make ends in one clear line."""
import base64
import gzip
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.credentials import hand_key_to_workers
from pipeline.options import job_config
from tests.support.servers import ROOT
from tests.support.pipeline_runs import read_table, run_job, summary, write_jsonl
from tests.support.token_server import refusing_token_server, service_account_info


def records(n, prefix="r"):
    return [{"id": f"{prefix}{i}", "prompt": f"question {i}"} for i in range(n)]


def job_command(*args):
    return [sys.executable, "-m", "pipeline", "--progress_s", "0", *map(str, args)]


def one_line_error(stderr: str) -> str:
    """The job's own error lines: exactly one, and never a traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith(("error:", "interrupted:"))]
    assert len(lines) == 1, stderr
    return lines[0]


# Nothing an earlier run or the user left is replaced or deleted.

def test_cleanup_deletes_only_the_checkpoint_files_it_made(emulator, tmp_path):
    out = tmp_path / "out"
    (out / "_checkpoints" / "someone").mkdir(parents=True)
    keep = [out / "notes.txt", out / "_checkpoints" / "someone" / "responses-part-mine.parquet",
            out / "_checkpoints" / "readme.txt"]
    for path in keep:
        path.write_text("the user's")
    sample = write_jsonl(tmp_path / "in.jsonl", records(5))
    assert run_job(sample, out, emulator.url, "--run_id", "one") == 0
    assert run_job(sample, out, emulator.url, "--run_id", "two", "--skip_existing") == 0
    assert all(path.read_text() == "the user's" for path in keep)
    assert (out / "summary-one.json").exists() and (out / "summary-two.json").exists()
    assert len(read_table(out, "responses")) == 5
    assert not (out / "_checkpoints" / "one").exists()  # its own parts, consumed


def test_a_finished_run_id_is_never_written_over(emulator, tmp_path, capsys):
    out = tmp_path / "out"
    sample = write_jsonl(tmp_path / "in.jsonl", records(4))
    assert run_job(sample, out, emulator.url, "--run_id", "nightly") == 0
    before = {p.name: p.read_bytes() for p in out.glob("*-nightly*")}
    for extra in ([], ["--skip_existing"], ["--retry_errors_only"]):
        assert run_job(sample, out, emulator.url, "--run_id", "nightly", *extra) == 2
        assert "--run_id nightly was already used" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.glob("*-nightly*")} == before
    assert len(read_table(out, "responses")) == 4


def test_a_run_id_that_died_is_resumed_only_when_asked(emulator, tmp_path, capsys):
    out = tmp_path / "out"
    sample = write_jsonl(tmp_path / "in.jsonl", records(4))
    assert run_job(sample, out, emulator.url, "--run_id", "first") == 0
    # What a run killed halfway leaves: checkpoint parts and no final tables.
    died = out / "_checkpoints" / "crashed"
    died.mkdir(parents=True)
    part = next(out.glob("responses-first-*.parquet"))
    (died / ("responses-part-" + "0" * 32 + ".parquet")).write_bytes(part.read_bytes())
    assert run_job(sample, out, emulator.url, "--run_id", "crashed") == 2
    assert "--skip_existing" in capsys.readouterr().err


def test_a_truncated_gzip_file_is_named_and_fails_the_job(emulator, tmp_path):
    whole = gzip.compress("".join(json.dumps(r) + "\n" for r in records(2000)).encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "fine.jsonl").write_text(json.dumps({"id": "other", "prompt": "x"}) + "\n")
    out = tmp_path / "out"
    job = subprocess.run(job_command("--input", tmp_path / "*.jsonl*", "--output", out,
                                     "--endpoint", emulator.url),
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert job.returncode == 1
    line = one_line_error(job.stderr)
    assert "cut.jsonl.gz" in line and "could not be read to its end" in line
    s = summary(out)
    assert not s["all_lines_accounted_for"] and len(s["unreadable_files"]) == 1
    unreadable = [r for r in read_table(out, "rejected") if r["reason"].startswith("unreadable")]
    assert len(unreadable) == 1 and unreadable[0]["source"].endswith("cut.jsonl.gz")
    last_read = unreadable[0]["line_number"] - 1
    assert 0 < last_read < 2000 and f"past line {last_read}" in unreadable[0]["reason"]
    # Every line read before the cut was answered, the other file too; nothing else.
    answered = {r["id"] for r in read_table(out, "responses")}
    assert answered == {f"r{i}" for i in range(last_read)} | {"other"}


def test_a_gz_file_that_is_not_gzip_is_named(emulator, tmp_path):
    (tmp_path / "in.jsonl.gz").write_text(json.dumps({"prompt": "plain text"}) + "\n")
    out = tmp_path / "out"
    assert run_job(tmp_path / "in.jsonl.gz", out, emulator.url) == 1
    rejected = read_table(out, "rejected")
    assert len(rejected) == 1 and "BadGzipFile" in rejected[0]["reason"]


def test_bytes_that_are_not_utf8_are_rejected_and_a_byte_order_mark_is_ignored(emulator, tmp_path):
    sample = tmp_path / "in.jsonl"
    sample.write_bytes(b'\xef\xbb\xbf{"id": "first", "prompt": "after a BOM"}\n'
                       b'{"id": "latin1", "prompt": "caf\xe9"}\n'
                       b'{"id": "fine", "prompt": "caf\xc3\xa9"}\n')
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url) == 3
    assert sorted(r["id"] for r in read_table(out, "responses")) == ["fine", "first"]
    [rejected] = read_table(out, "rejected")
    assert rejected["line_number"] == 2
    assert rejected["reason"] == "not valid UTF-8: byte 0xe9 at byte offset 31 of the line"
    assert "\\xe9" in rejected["raw_line"]  # shown, never replaced and sent
    assert emulator.stats()["requests"] == 2 and summary(out)["all_lines_accounted_for"]


def test_a_line_nested_a_thousand_deep_is_rejected_and_the_job_goes_on(emulator, tmp_path):
    deep = '{"id": "deep", "request": ' + '{"a": ' * 1000 + "1" + "}" * 1000 + "}"
    sample = write_jsonl(tmp_path / "in.jsonl", [deep, {"id": "fine", "prompt": "x"}])
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url) == 3
    assert [r["reason"] for r in read_table(out, "rejected")] == [
        "JSON nested more than 100 levels deep"]
    assert [r["id"] for r in read_table(out, "responses")] == ["fine"]


def test_model_names_are_checked_and_never_reach_the_path_unescaped(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "evil", "model": "../../../emulator/stats", "prompt": "x"},
        {"id": "query", "model": "gemini-3.5-flash?alt=sse", "prompt": "x"},
        {"id": "fine", "model": "publishers/google/models/gemini-3.5-flash", "prompt": "x"}])
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url) == 3
    assert [r["id"] for r in read_table(out, "responses")] == ["fine"]
    reasons = [r["reason"] for r in read_table(out, "rejected")]
    assert len(reasons) == 2 and all(r.startswith("invalid model name") for r in reasons)


# Paid for nothing: the job stops before the first call, or as soon as it cannot succeed.

def test_an_output_that_cannot_be_written_stops_the_job_before_any_call(emulator, tmp_path, gcs):
    sample = write_jsonl(tmp_path / "in.jsonl", records(3))
    job = subprocess.run(job_command("--input", sample, "--output", "gs://no-such-bucket/x",
                                     "--endpoint", emulator.url),
                         cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "STORAGE_EMULATOR_HOST": os.environ[
                             "STORAGE_EMULATOR_HOST"]})
    assert job.returncode == 1
    assert one_line_error(job.stderr).startswith("error: cannot write to --output gs://no-such-bucket/x")
    assert emulator.stats()["requests"] == 0


def test_an_output_that_is_a_file_or_an_input_that_is_a_folder_is_refused(emulator, tmp_path, capsys):
    sample = write_jsonl(tmp_path / "in.jsonl", records(1))
    (tmp_path / "taken").write_text("user's file")
    assert run_job(sample, tmp_path / "taken", emulator.url) == 2
    assert "is a file" in capsys.readouterr().err
    assert run_job(tmp_path, tmp_path / "out", emulator.url) == 2
    assert "is a folder" in capsys.readouterr().err
    assert (tmp_path / "taken").read_text() == "user's file"


def test_an_endpoint_nobody_answers_stops_the_job_as_unreachable(tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", records(50))
    out = tmp_path / "out"
    job = subprocess.run(job_command("--input", sample, "--output", out, "--endpoint",
                                     "http://127.0.0.1:9", "--unreachable_after_s", "2",
                                     "--initial_backoff_s", "0.2"),
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert job.returncode == 1
    line = one_line_error(job.stderr)
    assert "cannot reach http://127.0.0.1:9" in line and "DEADLINE" not in line
    assert not list(out.glob("responses-*")) and not list(out.glob("beam-temp-*"))


def test_an_endpoint_that_goes_down_mid_run_stops_the_job(start_emulator, tmp_path):
    emulator = start_emulator("--latency_ms", "50")
    sample = write_jsonl(tmp_path / "in.jsonl", records(3000))
    out = tmp_path / "out"
    job = subprocess.Popen(job_command("--input", sample, "--output", out, "--endpoint",
                                       emulator.url, "--unreachable_after_s", "3",
                                       "--concurrency", "8", "--run_id", "down"),
                           cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while emulator.stats()["requests"] < 100:
        assert time.monotonic() < deadline and job.poll() is None
        time.sleep(0.05)
    emulator.stop()
    stopped_at = time.monotonic()
    _, stderr = job.communicate(timeout=120)
    assert job.returncode == 1 and time.monotonic() - stopped_at < 60
    assert "cannot reach" in one_line_error(stderr)
    assert list((out / "_checkpoints" / "down").glob("responses-part-*.parquet"))  # kept


def test_the_deadline_bounds_a_record_whatever_the_server_does(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", [
        {"id": f"slow{i}", "prompt": f"x{i} [[emulator: latency=4000]]"} for i in range(3)])
    out = tmp_path / "out"
    started = time.monotonic()
    assert run_job(sample, out, emulator.url, "--deadline_s", "1") == 3
    assert time.monotonic() - started < 15
    for row in read_table(out, "responses"):
        assert row["status"] == "error" and row["error_code"] == "DEADLINE_EXCEEDED"
        assert 900 < row["latency_ms"] < 2000 and "deadline of 1s" in row["error_message"]


def test_credentials_that_are_refused_stop_the_job_before_any_call(tmp_path, monkeypatch):
    sample = write_jsonl(tmp_path / "in.jsonl", records(2))
    with refusing_token_server() as token_uri:
        key_file = tmp_path / "key.json"
        key_file.write_text(json.dumps(service_account_info(token_uri)))
        job = subprocess.run(job_command("--input", sample, "--output", tmp_path / "out",
                                         "--project", "test-project"),
                             cwd=ROOT, capture_output=True, text=True, timeout=120,
                             env={**os.environ, "GOOGLE_APPLICATION_CREDENTIALS": str(key_file)})
    assert job.returncode == 1
    assert "credentials were refused" in one_line_error(job.stderr)


# Options: typos stop the job, secrets are never echoed, credentials never mix.

@pytest.mark.parametrize("typo, known", [("--rmp", "--rpm"), ("--skip_exsting", "--skip_existing"),
                                         ("--api_ke", "--api_key")])
def test_an_unknown_option_stops_the_job_naming_the_nearest_and_never_its_value(
        emulator, tmp_path, capsys, typo, known):
    sample = write_jsonl(tmp_path / "in.jsonl", records(1))
    assert run_job(sample, tmp_path / "out", emulator.url, typo, "SECRET-VALUE-123") == 2
    err = capsys.readouterr().err
    assert f"unknown option {typo} (did you mean {known}?)" in err
    assert "SECRET-VALUE-123" not in err and emulator.stats()["requests"] == 0
    assert run_job(sample, tmp_path / "out", emulator.url, f"{typo}=SECRET-VALUE-123") == 2
    assert "SECRET-VALUE-123" not in capsys.readouterr().err


def config(*args, environ=None):
    return job_config(PipelineOptions(["--input", "i", "--output", "o", *args]),
                      environ={} if environ is None else environ)


def test_an_endpoint_gets_a_key_only_when_one_is_given_for_it():
    environ = {"GOOGLE_API_KEY": "from-the-environment"}
    assert config("--endpoint", "http://127.0.0.1:1", environ=environ).connection.api_key is None
    assert config("--project", "p", environ=environ).connection.api_key is None
    assert config(environ=environ).connection.api_key.env_var == "GOOGLE_API_KEY"
    given = config("--endpoint", "http://127.0.0.1:1", "--api_key", "k", environ=environ)
    assert given.connection.api_key.env_var not in environ  # reading options changes nothing
    hand_key_to_workers("k", environ)  # the job does it when it starts
    assert environ[given.connection.api_key.env_var] == "k"  # where local workers read it


def test_without_rpm_the_job_adapts_and_with_rpm_alone_it_holds_it():
    assert config("--endpoint", "http://x").connection.settings.adaptive
    fixed = config("--endpoint", "http://x", "--rpm", "600").connection.settings
    assert not fixed.adaptive and fixed.rpm == 600
    assert config("--endpoint", "http://x", "--rpm", "600", "--adaptive_rate"
                  ).connection.settings.adaptive


def test_the_api_key_never_travels_in_the_job_graph(emulator, tmp_path):
    """The transforms and options as Beam pickles and stages them."""
    import apache_beam as beam
    from apache_beam.internal import pickler

    from pipeline import graph
    from pipeline.credentials import without_secrets
    from transforms.progress import ProgressSettings
    key = "AQ.graph-secret-0123456789"
    argv = ["--input", str(write_jsonl(tmp_path / "in.jsonl", records(1))), "--output",
            str(tmp_path / "out"), "--endpoint", emulator.url, "--api_key", key]
    pipeline = beam.Pipeline(options=PipelineOptions(without_secrets(argv)))
    graph.build(pipeline, job_config(PipelineOptions(argv), environ={}), ProgressSettings())
    staged = pipeline.to_runner_api().SerializeToString()
    assert key.encode() not in staged
    transforms = []

    class Visitor(beam.pipeline.PipelineVisitor):
        def visit_transform(self, applied):
            transforms.append(applied.transform)
    pipeline.visit(Visitor())
    assert transforms
    for transform in transforms:  # as Beam pickles them, base64 decoded, not compressed
        assert key.encode() not in base64.b64decode(pickler.dumps(transform, use_zlib=False))


def test_ctrl_c_ends_the_job_with_one_line_and_keeps_what_was_answered(start_emulator, tmp_path):
    emulator = start_emulator("--latency_ms", "20")
    sample = write_jsonl(tmp_path / "in.jsonl", records(3000))
    out = tmp_path / "out"
    job = subprocess.Popen(job_command("--input", sample, "--output", out, "--endpoint",
                                       emulator.url, "--concurrency", "8", "--run_id", "cc"),
                           cwd=ROOT, stderr=subprocess.PIPE, text=True)
    while emulator.stats()["requests"] < 200:
        assert job.poll() is None
        time.sleep(0.05)
    job.send_signal(signal.SIGINT)
    _, stderr = job.communicate(timeout=60)
    assert job.returncode == 130
    assert "--skip_existing" in one_line_error(stderr)
    assert not list(out.glob("beam-temp-*")) and not list(out.glob("responses-*"))
