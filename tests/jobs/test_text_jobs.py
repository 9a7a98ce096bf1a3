"""The whole job on the DirectRunner against the emulator."""
import gzip
import json
import subprocess
import sys

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from pipeline.job import help_text, main
from tests.support.servers import ROOT
from tests.support.pipeline_runs import read_table, run_job, summary, write_jsonl
from transforms import schemas

RECORDS = [
    {"id": "p1", "prompt": "Label: great blender", "metadata": {"stars": 5}},
    {"id": "p2", "request": {"contents": [{"role": "user", "parts": [{"text": "camel"}]}],
                             "generationConfig": {"maxOutputTokens": 3}}},
    {"id": "p3", "request": {"contents": [{"role": "user", "parts": [{"text": "camel"}]}],
                             "generation_config": {"max_output_tokens": 3}}},
    "{broken json",
    {"id": "p4", "prompt": "blocked [[emulator: block]]"},
    {"id": "p5", "prompt": "flaky [[emulator: fail=503x1]]"},
    [1, 2, 3],
    {"prompt": "no id here"},
    {"id": "p6", "category": "toys", "review": "fun"},
]


@pytest.fixture
def sample(tmp_path):
    return write_jsonl(tmp_path / "in.jsonl", RECORDS)


def test_every_line_ends_up_in_exactly_one_table(emulator, sample, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--prompt_template", "Label {category}: {review}",
                   "--max_attempts", "3") == 3
    responses, rejected = read_table(out, "responses"), read_table(out, "rejected")
    assert len(responses) + len(rejected) == len(RECORDS)
    by_id = {r["id"]: r for r in responses}
    assert set(by_id) >= {"p1", "p2", "p3", "p4", "p5", "p6"} and len(by_id) == 7
    assert by_id["p1"]["status"] == "ok" and by_id["p1"]["text"]
    assert json.loads(by_id["p1"]["metadata"]) == {"stars": 5}
    assert by_id["p2"]["finish_reason"] == by_id["p3"]["finish_reason"] == "MAX_TOKENS"
    assert by_id["p2"]["text"] == by_id["p3"]["text"]
    assert by_id["p4"]["status"] == "blocked" and by_id["p4"]["block_reason"] == "SAFETY"
    assert by_id["p5"]["status"] == "ok" and by_id["p5"]["attempts"] == 2
    assert by_id["p1"]["usage"]["total_token_count"] > 0
    assert len(by_id["p1"]["safety_ratings"]) == 4
    assert json.loads(by_id["p1"]["response_json"])["candidates"]
    assert sorted((r["line_number"], r["reason"][:14]) for r in rejected) == [
        (4, "not valid JSON"), (7, "not a JSON obj")]
    assert all(r["source"].endswith("in.jsonl") and r["raw_line"] for r in rejected)
    assert len({r["run_id"] for r in responses + rejected}) == 1

    s = summary(out)
    assert s["all_lines_accounted_for"] is True
    assert s["responses"] == {"ok": 6, "blocked": 1, "error": 0, "total": 7}
    assert s["rejected"] == 2 and s["input_lines"] == len(RECORDS)
    assert s["requests"] == 8 and s["retries"] == 1
    assert s["tokens"]["total"] == sum(r["usage"]["total_token_count"] or 0 for r in responses)
    assert emulator.stats()["requests"] == s["requests"]
    shown = capsys.readouterr()  # a short summary for a person; the last stderr line says why
    assert shown.out.splitlines()[0].startswith(f"run {s['run_id']}: partial (exit 3)")
    assert "rejected  2 line(s)" in shown.out and f"summary   {out}/summary" in shown.out
    assert shown.err.strip().splitlines()[-1].startswith("partial: 2 rejected lines;")


def test_output_has_one_schema_and_opens_in_duckdb_and_pandas(emulator, sample, tmp_path):
    out = tmp_path / "out"
    run_job(sample, out, emulator.url)
    for table, schema in (("responses", schemas.RESPONSES), ("rejected", schemas.REJECTED)):
        for f in out.glob(f"{table}-*.parquet"):
            assert pq.read_schema(f).remove_metadata().equals(schema)
    counts = dict(duckdb.sql(
        f"SELECT status, count(*) FROM read_parquet('{out}/responses-*.parquet') GROUP BY status"
    ).fetchall())
    assert counts == {"ok": 5, "blocked": 1}
    categories = duckdb.sql(
        f"SELECT DISTINCT unnest(safety_ratings).category FROM "
        f"read_parquet('{out}/responses-*.parquet')").fetchall()
    assert len(categories) == 4
    frame = pd.read_parquet(next(out.glob("responses-*.parquet")))
    assert len(frame) == 6 and set(frame["status"]) == {"ok", "blocked"}


def test_failed_calls_become_error_rows(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "down", "prompt": "x [[emulator: fail=503]]"},
        {"id": "bad", "prompt": "x [[emulator: fail=400]]"},
        {"id": "fine", "prompt": "y"}])
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--max_attempts", "2") == 3
    rows = {r["id"]: r for r in read_table(out, "responses")}
    assert rows["down"]["status"] == "error" and rows["down"]["error_code"] == "UNAVAILABLE"
    assert rows["down"]["http_status"] == 503 and rows["down"]["attempts"] == 2
    assert rows["bad"]["status"] == "error" and rows["bad"]["error_code"] == "INVALID_ARGUMENT"
    assert rows["bad"]["http_status"] == 400 and rows["bad"]["attempts"] == 1
    assert rows["fine"]["status"] == "ok"
    assert summary(out)["responses"]["error"] == 2


def test_streaming_gives_the_same_answers_and_times_the_first_token(emulator, sample, tmp_path):
    run_job(sample, tmp_path / "plain", emulator.url)
    run_job(sample, tmp_path / "stream", emulator.url, "--stream")
    plain = {r["id"]: r for r in read_table(tmp_path / "plain", "responses")}
    stream = {r["id"]: r for r in read_table(tmp_path / "stream", "responses")}
    assert {i: r["text"] for i, r in plain.items()} == {i: r["text"] for i, r in stream.items()}
    ok = [r for r in stream.values() if r["status"] == "ok"]
    assert ok and all(r["first_token_ms"] is not None for r in ok)
    assert all(r["first_token_ms"] is None for r in plain.values())
    assert emulator.stats()["by_method"]["streamGenerateContent"] >= len(ok)


def test_job_level_settings_apply_unless_a_record_overrides_them(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "job", "prompt": "a long answer please"},
        {"id": "own", "request": {"contents": [{"role": "user", "parts": [{"text": "a long answer please"}]}],
                                  "generationConfig": {"maxOutputTokens": 1000}}}])
    out = tmp_path / "out"
    run_job(sample, out, emulator.url, "--generation_config", '{"max_output_tokens": 2}',
            "--system_instruction", "Answer briefly",
            "--safety_settings", '[{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFF"}]')
    rows = {r["id"]: r for r in read_table(out, "responses")}
    assert rows["job"]["finish_reason"] == "MAX_TOKENS" and rows["job"]["usage"]["candidates_token_count"] == 2
    assert rows["own"]["finish_reason"] == "STOP"


def test_several_files_globs_and_compressed_input(emulator, tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "prompt": "x"}])
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as f:
        f.write(json.dumps({"id": "b", "prompt": "y"}) + "\n\n" + "nope\n")
    out = tmp_path / "out"
    run_job(tmp_path / "*.jsonl*", out, emulator.url)
    assert {r["id"] for r in read_table(out, "responses")} == {"a", "b"}
    rejected = read_table(out, "rejected")
    assert [(r["line_number"], r["source"].endswith("b.jsonl.gz")) for r in rejected] == [(3, True)]
    assert summary(out)["blank_lines_skipped"] == 1


def test_unknown_model_stops_the_job_early_with_one_message(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", [{"prompt": f"p{i}"} for i in range(300)])
    job = subprocess.run(  # the real command line, with its own logging set-up
        [sys.executable, "-m", "pipeline", "--input", str(sample), "--output",
         str(tmp_path / "out"), "--endpoint", emulator.url, "--model", "gemini-0-nonexistent",
         "--concurrency", "4"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert job.returncode == 2  # refused: Vertex AI does not know the model, nothing was paid
    err = job.stderr
    assert "404 NOT_FOUND for model 'gemini-0-nonexistent'" in err
    assert "Traceback" not in err
    assert emulator.stats()["requests"] < 50
    assert not list((tmp_path / "out").glob("responses-*.parquet"))
    assert not list((tmp_path / "out").glob("beam-temp-*"))  # nothing left behind


def test_api_keys_reach_no_output_log_or_error(start_emulator, tmp_path, capsys, caplog):
    key = "AQ.test-secret-key-0123456789"
    emulator = start_emulator("--require_api_key", key)
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "prompt": "x"},
                                                 {"id": "b", "prompt": "x [[emulator: fail=503]]"}])
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--api_key", key, "--max_attempts", "2") == 3
    wrong = key.replace("0123", "9999")
    assert run_job(sample, tmp_path / "out2", emulator.url, f"--api_key={wrong}") == 1
    captured = capsys.readouterr()
    texts = [captured.out, captured.err, caplog.text]
    texts += [f.read_bytes().decode("latin-1") for f in out.rglob("*") if f.is_file()]
    assert "403 PERMISSION_DENIED" in captured.err
    for text in texts:
        assert key not in text and wrong not in text


@pytest.mark.parametrize("args, message", [
    (["--output", "o", "--endpoint", "http://x"], "--input is required"),
    (["--input", "i", "--endpoint", "http://x"], "--output is required"),
    (["--input", "i", "--output", "o"], "--project"),
    (["--input", "i", "--output", "o", "--endpoint", "http://x", "--rpm", "-5"], "--rpm must be a positive finite number"),
    (["--input", "i", "--output", "o", "--endpoint", "http://x", "--rpm", "nan"], "--rpm must be a positive finite number"),
    (["--input", "i", "--output", "o", "--endpoint", "http://x", "--tpm", "inf"], "--tpm must be a positive finite number"),
    (["--input", "i", "--output", "o", "--endpoint", "http://x", "--run_id", ".."], "--run_id is a name"),
    (["--input", "i", "--output", "o", "--endpoint", "http://x", "--run_id", "a/b"], "--run_id is a name"),
    (["--input", "i", "--output", "o", "--endpoint", "http://x", "--run_id", ""], "--run_id is a name"),
    (["--input", "i", "--output", "o", "--endpoint", "http://x", "--model", "../../emulator/stats"],
     "--model: invalid model name"),
    (["--input", "i", "--output", "o", "--project", "p", "--api_key", "k"], "exclude each other"),
    (["--input", "i", "--output", "o", "--api_key", "k", "--runner", "DataflowRunner"],
     "--api_key_secret"),
    (["--input", "i", "--output", "o", "--api_key_secret", "my-secret"], "projects/P/secrets/S"),
    (["--input", "i", "--output", "o", "--endpoint", "http://x", "--concurrency", "0"], "--concurrency"),
    (["--input", "i", "--output", "o", "--endpoint", "http://x", "--max_attempts", "0"], "--max_attempts"),
    (["--input", "i", "--output", "o", "--endpoint", "ftp://x"], "--endpoint must be"),
    (["--input", "i", "--output", "o", "--endpoint", "http://x", "--generation_config", "{nope"],
     "--generation_config is not valid JSON"),
    (["--input", "i", "--output", "o", "--endpoint", "http://x", "--safety_settings", "{}"],
     "--safety_settings must be a JSON list"),
    (["--input", "/nonexistent/*.jsonl", "--output", "o", "--endpoint", "http://x"], "matches no files"),
    (["--input", "i", "--output", "o", "--endpoint", "http://x", "--skip_existing",
      "--retry_errors_only"], "exclude each other"),
    (["--input", "i", "--output", "o", "--endpoint", "http://x", "--template_location",
      "gs://b/t"], "Flex Template"),
    (["--input", "i", "--output", "o", "--endpoint", "http://x", "--progress_s", "-1"],
     "--progress_s"),
])
def test_invalid_options_are_refused_before_the_job_starts(args, message, capsys):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_help_documents_every_flag():
    text = help_text()
    for flag in ("--input", "--output", "--model", "--image_model", "--project",
                 "--vertex_location", "--api_key", "--endpoint", "--rpm", "--tpm",
                 "--adaptive_rate", "--worker_processes", "--progress_s", "--task",
                 "--initial_backoff_s", "--max_backoff_s", "--deadline_s", "--request_timeout_s",
                 "--concurrency", "--max_attempts", "--stream", "--prompt_template",
                 "--system_instruction", "--generation_config", "--safety_settings",
                 "--runner", "--direct_num_workers", "--setup_file", "--run_id"):
        assert flag in text, flag


def test_a_plain_run_prints_progress_and_a_short_summary_without_beams_noise(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": f"q{i}", "prompt": f"q {i}"}
                                                 for i in range(5)])
    job = subprocess.run([sys.executable, "-m", "pipeline", "--input", str(sample),
                          "--output", str(tmp_path / "out"), "--endpoint", emulator.url],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert job.returncode == 0, job.stderr
    assert "type hint" not in job.stderr and "WARNING" not in job.stderr, job.stderr
    lines = job.stdout.splitlines()
    assert lines[0].startswith("run ") and lines[0].split(": ")[1].startswith("complete (exit 0)")
    assert len(lines) <= 10 and any(line.strip().startswith("report") for line in lines)
    assert job.stderr.strip().splitlines()[-1] == "complete: every record answered; exit 0"
