"""Nothing lost 3: typed labels that do not fit their column, schemas as
Google's docs write them, an images folder that cannot be written, labels
with `$` in the report, gs:// option files without credentials."""
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.local_http import QuietHandler, serving
from tests.support.pipeline_runs import read_table, run_job, summary, write_jsonl

pytestmark = pytest.mark.slow  # whole jobs on the DirectRunner
ROOT = Path(__file__).parents[2]


class EchoHandler(QuietHandler):
    """Answers generateContent with the prompt's text as the model's answer:
    the test writes the answer it needs (Vertex AI's emulator never sends a
    number beyond 64 bits or a NaN)."""

    def do_POST(self):  # noqa: N802 - the http.server API
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        text = body["contents"][-1]["parts"][0]["text"]
        model = self.path.split("/models/")[1].split(":")[0]
        answer = {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                  "finishReason": "STOP"}],
                  "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 5,
                                    "totalTokenCount": 10}, "modelVersion": model}
        self.answer(200, json.dumps(answer).encode())


def test_typed_answers_that_do_not_fit_their_column_are_mismatches_never_a_crash(tmp_path):
    answers = {
        "too-big": '{"n": 99999999999999999999, "d": 1, "f": 1}',
        "nan": '{"n": 1, "d": NaN, "f": 1}',
        "numeric-too-big": '{"n": 1, "d": 1e30, "f": 1}',
        "float-too-big": '{"n": 1, "d": 1, "f": 1e999}',
        "big-numeric": '{"n": 9223372036854775807, "d": 12345678901234567890.123456789, "f": 2.5}',
    }
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": k, "prompt": v} for k, v in answers.items()])
    out = tmp_path / "out"
    with serving(EchoHandler) as url:
        code = run_job(sample, out, url, "--output_schema", "n INT64, d NUMERIC, f FLOAT64",
                       "--schema_reasks", "0", "--progress_s", "0")
        assert code == 3  # partial: four answers miss their columns; no crash
        rows = {r["id"]: r for r in read_table(out, "responses")}
        assert rows["too-big"]["error_code"] == "schema_mismatch"
        assert "does not fit INT64" in rows["too-big"]["error_message"]
        assert rows["nan"]["error_code"] == "invalid_json"
        assert "does not fit NUMERIC" in rows["numeric-too-big"]["error_message"]
        assert "does not fit FLOAT64" in rows["float-too-big"]["error_message"]
        good = rows["big-numeric"]
        assert good["status"] == "ok" and good["parsed"]["n"] == 2 ** 63 - 1
        # NUMERIC holds 38 digits, 9 after the point: above 1e19 too, to the digit
        assert good["parsed"]["d"] == Decimal("12345678901234567890.123456789")
        # a rerun of the errors pays again but never crashes either
        assert run_job(sample, out, url, "--output_schema", "n INT64, d NUMERIC, f FLOAT64",
                       "--schema_reasks", "0", "--progress_s", "0", "--retry_errors_only") == 3


def test_a_text_x_enum_label_is_a_typed_string_column(emulator, tmp_path):
    schema = json.dumps({"responseMimeType": "text/x.enum", "responseSchema": {
        "type": "STRING", "enum": ["positive", "negative", "mixed"]}})
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{i}", "prompt": f"review {i}"}
                                                 for i in range(4)])
    assert run_job(sample, tmp_path / "out", emulator.url, "--response_schema", schema) == 0
    rows = read_table(tmp_path / "out", "responses")
    assert {r["parsed"]["value"] for r in rows} <= {"positive", "negative", "mixed"}
    import pyarrow.parquet as pq
    [path] = summary(tmp_path / "out")["files"]["responses"]
    assert str(pq.read_schema(path).field("parsed").type) == "struct<value: string>"


def test_schemas_with_refs_and_anyof_objects_are_typed(emulator, tmp_path):
    schema = json.dumps({"responseJsonSchema": {
        "$defs": {"Tag": {"type": "object", "properties": {"name": {"type": "string"}},
                          "required": ["name"]}},
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}},
                       "pet": {"anyOf": [
                           {"type": "object", "properties": {"cat": {"type": "string"}},
                            "required": ["cat"]},
                           {"type": "object", "properties": {"dog": {"type": "integer"}},
                            "required": ["dog"]}]}},
        "required": ["tags", "pet"]}})
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{i}", "prompt": f"q {i}"}
                                                 for i in range(3)])
    assert run_job(sample, tmp_path / "out", emulator.url, "--response_schema", schema) == 0
    rows = read_table(tmp_path / "out", "responses")
    assert all(r["status"] == "ok" and isinstance(r["parsed"]["tags"], list) for r in rows)
    assert all(set(r["parsed"]["pet"]) == {"cat", "dog"} for r in rows)


def test_an_images_folder_that_cannot_be_written_is_refused_before_any_call(emulator, tmp_path,
                                                                           capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "images").write_text("a file where the images folder would be")
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": "i", "task": "image", "prompt": "a boat"}])
    assert run_job(sample, out, emulator.url) == 1
    err = capsys.readouterr().err
    assert "cannot write to the folder" in err and "images" in err and "Traceback" not in err
    assert emulator.stats()["requests"] == 0
    assert (out / "images").read_text().startswith("a file")  # left as it was


def test_dollar_signs_in_labels_are_text_in_the_report(tmp_path):
    answers = [r'{"label": "$\\boxed{42}$"}', '{"label": "$5 and $6"}', r'{"label": "$\\frac{1"}']
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{i}", "prompt": a}
                                                 for i, a in enumerate(answers)])
    out = tmp_path / "out"
    with serving(EchoHandler) as url:
        assert run_job(sample, out, url, "--output_schema", "label STRING",
                       "--progress_s", "0") == 0
    page = (out / "report.html").read_text()
    assert "$5 and $6" in page and "boxed{42}" in page


@pytest.mark.parametrize("option", ["--prices", "--response_schema"])
def test_a_gs_option_file_without_credentials_is_refused_in_seconds(tmp_path, option):
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "prompt": "x"}])
    env = {k: v for k, v in os.environ.items() if k != "STORAGE_EMULATOR_HOST"}
    env["GOOGLE_APPLICATION_CREDENTIALS"] = str(tmp_path / "no-such-key.json")
    started = time.monotonic()
    job = subprocess.run([sys.executable, "-m", "pipeline", "--input", str(sample),
                          "--output", str(tmp_path / "out"), "--endpoint", "http://127.0.0.1:9",
                          option, "gs://some-bucket/file.json"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert time.monotonic() - started < 30
    assert job.returncode == 1
    lines = [line for line in job.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and "credentials" in lines[-1]
    assert "Traceback" not in job.stderr


# Images: a record is whole, or an error row that a rerun asks again.

def test_an_image_record_whose_calls_partly_failed_is_an_error_row_a_rerun_completes(
        emulator, tmp_path):
    # Gemini image models draw one image a call: 4 images are 4 calls, the first 3 of
    # which are refused (400 is not retried); the image that came is kept.
    sample = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "four", "task": "image", "prompt": "a boat [[emulator: fail=400x3]]",
         "parameters": {"sampleCount": 4}},
        {"id": "fine", "task": "image", "prompt": "a lighthouse"}])
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url) == 3
    rows = [r for r in read_table(out, "images") if r["id"] == "four"]
    assert len(rows) == 1 and rows[0]["status"] == "error" and rows[0]["uri"]
    assert rows[0]["images_requested"] == 4 and rows[0]["images_returned"] == 1
    assert rows[0]["error_message"].startswith("1 of 4 images came; 3 call(s) failed")
    assert Path(rows[0]["uri"]).exists()  # the paid image is kept
    assert summary(out)["image_records"]["error"] == 1
    emulator.reset()  # (its counts of each request's attempts too: the 3 calls fail again)
    assert run_job(sample, out, emulator.url, "--skip_existing") == 3
    assert emulator.stats()["requests"] == 4  # the record asked again, whole; "fine" not


def test_a_dead_runs_image_record_saved_part_way_is_called_again_whole():
    from transforms.plan_calls import Previous, Resume, _PlanCallsFn
    from transforms.prompt_records import PromptRecord
    record = PromptRecord(id="img", task="image", model="gemini-3.1-flash-image",
                          body={"instances": [{"prompt": "x"}], "parameters": {"sampleCount": 4}},
                          metadata=None, source="in.jsonl", line_number=1)
    plan = _PlanCallsFn(Resume.SKIP_EXISTING, "rerun")
    plan.setup()

    def saved(index):
        return Previous("images", "ok", {"id": "img", "run_id": "dead", "status": "ok",
                                         "image_index": index, "images_returned": 4,
                                         "finished_at": None})
    part_way = list(plan._plan(record, [saved(0)]))
    assert part_way == [record]  # called again, whole
    whole = list(plan._plan(record, [saved(i) for i in range(4)]))
    assert len(whole) == 4 and all(o.tag == "carried_images" for o in whole)


def test_a_rerun_with_another_schema_over_a_dead_runs_answers_is_refused_before_any_call(
        emulator, tmp_path, capsys):
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": f"r{i}", "prompt": f"q{i}"}
                                                 for i in range(3)])
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--output_schema", "label STRING",
                   "--run_id", "dead") == 0
    # As a run that died leaves it: its answers only in its checkpoints.
    dead = out / "_checkpoints" / "dead"
    dead.mkdir(parents=True)
    for path in out.glob("responses-dead-*.parquet"):
        path.rename(dead / f"responses-part-{'0123abcd' * 4}.parquet")
    for path in out.glob("*dead*"):
        path.unlink() if path.is_file() else None
    emulator.reset()
    assert run_job(sample, out, emulator.url, "--skip_existing",
                   "--output_schema", "score INT64") == 2
    err = capsys.readouterr().err
    assert "run dead" in err and "label" in err and "score" in err
    assert emulator.stats()["requests"] == 0
    # with the same schema it carries them over and pays nothing
    assert run_job(sample, out, emulator.url, "--skip_existing",
                   "--output_schema", "label STRING") == 0
    assert emulator.stats()["requests"] == 0


# Interruptions: after the signal no call starts, and the answers in flight are kept.

def test_sigterm_starts_no_call_and_keeps_the_answers_in_flight(start_emulator, tmp_path):
    import signal
    emulator = start_emulator("--latency_ms", "1500")
    total, in_flight = 300, 32
    records = [{"id": f"t{i}", "prompt": f"item {i}"} for i in range(total - 4)] + [
        {"id": f"img{i}", "task": "image", "prompt": f"a boat {i}",
         "parameters": {"sampleCount": 4}} for i in range(4)]
    sample = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "pipeline", "--input", str(sample), "--output", str(out),
               "--endpoint", emulator.url, "--concurrency", str(in_flight), "--progress_s", "0",
               "--rpm", "100000"]
    job = subprocess.Popen(command + ["--run_id", "stopped"], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while emulator.stats()["requests"] < in_flight + 8:
        assert job.poll() is None and time.monotonic() < deadline, "the job ended too soon"
        time.sleep(0.01)
    # Signal while the calls in flight wait for their answers (1.5 s), none on its way.
    at_signal = -1
    while emulator.stats()["requests"] != at_signal:
        assert job.poll() is None and time.monotonic() < deadline, "the job ended too soon"
        at_signal = emulator.stats()["requests"]
        time.sleep(0.3)
    job.send_signal(signal.SIGTERM)
    _, stderr = job.communicate(timeout=60)
    assert job.returncode == 130, stderr
    assert "no call was started after the signal" in stderr and "Traceback" not in stderr
    paid_first = emulator.stats()["requests"]
    # no call started after the signal (before, 10-12 did in the 0.3 s after it)
    assert paid_first == at_signal, (at_signal, paid_first)

    emulator.reset()
    rerun = subprocess.run(command + ["--run_id", "rerun", "--skip_existing"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    carried = summary(out)["carried_over"]
    # every call of the first run was answered in the grace period and kept: the rerun
    # paid none of them again (an image record's 4 calls are 4 requests, 1 record)
    assert paid_first + emulator.stats()["requests"] == total - 4 + 16
    assert carried > 0
