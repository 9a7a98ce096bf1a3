"""Odd 200 answers: read as Google's own parsers read them, or each made its
record's error row (malformed_response, the body kept); never a failed job.

Vertex AI's answers are well formed, so the emulator (which answers exactly
as Vertex AI does) never sends these: a small HTTP server here does, the one
thing in this file that stands in for the service."""
import base64
import glob
import json

import pytest

from tests.support.local_http import QuietHandler, serving
from tests.support.pipeline_runs import read_table, run_job, write_jsonl

_STOP_AS_NUMBER = {"candidates": [{"content": {"role": "model", "parts": [{"text": "fine"}]},
                                   "finishReason": 1}],
                   "usageMetadata": {"promptTokenCount": "3", "candidatesTokenCount": 1,
                                     "totalTokenCount": 4}}
_PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awA"
        "AAABJRU5ErkJggg==")
ANSWERS = {  # prompt text: the 200 answer the server sends
    "stop-as-number": _STOP_AS_NUMBER,
    "null-candidate": {"candidates": [None]},
    "feedback-string": {"candidates": [], "promptFeedback": "blocked, sort of"},
    "tokens-past-int32": {**_STOP_AS_NUMBER, "usageMetadata": {"promptTokenCount": 2**40}},
    "bad-inline-base64": {"candidates": [{"content": {"role": "model", "parts": [
        {"inlineData": {"mimeType": "image/png", "data": "not base64!"}}]},
        "finishReason": "STOP"}]},
    "empty-object": {},
    "no-candidates": {"candidates": []},
    "new-field": {**_STOP_AS_NUMBER, "somethingGoogleAddsTomorrow": {"x": 1}},
    "image-bad-base64": {"predictions": [{"mimeType": "image/png",
                                          "bytesBase64Encoded": "@@@not base64@@@"}]},
    "image-good": {"predictions": [{"mimeType": "image/png", "bytesBase64Encoded": _PNG}]},
}


class _OddServer(QuietHandler):
    def do_POST(self):  # noqa: N802 - the http.server API
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        prompt = (body["instances"][0]["prompt"] if "instances" in body
                  else body["contents"][0]["parts"][0]["text"])
        if prompt == "echo-key":  # a server that quotes the key back, disguised
            key = self.headers["x-goog-api-key"]
            message = (f"key {key.upper()} refused; token "
                       f"{base64.b64encode(b'k=' + key.encode()).decode()}")
            self.answer(400, json.dumps({"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                                   "message": message}}).encode())
            return
        answer = ANSWERS[prompt]
        if ":streamGenerateContent" in self.path:
            data = f"data: {json.dumps(answer)}\r\n\r\n".encode()
            content_type = "text/event-stream"
        else:
            data, content_type = json.dumps(answer).encode(), "application/json"
        self.answer(200, data, content_type)


def odd_server():
    return serving(_OddServer)


@pytest.mark.parametrize("stream", [False, True], ids=["generateContent", "stream"])
def test_odd_answers_become_rows_never_a_failed_job(tmp_path, stream):
    text = [k for k in ANSWERS if not k.startswith("image")]
    lines = [{"id": k, "prompt": k} for k in text] + [
        {"id": k, "task": "image", "prompt": k} for k in ANSWERS if k.startswith("image")]
    sample = write_jsonl(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out"
    with odd_server() as url:
        # a priced text model; Imagen, whose predict answers the odd ones imitate
        assert run_job(sample, out, url, "--progress_s", "0", "--max_attempts", "2",
                       "--model", "gemini-3-flash-preview",
                       "--image_model", "imagen-4.0-fast-generate-001", "--allow_discontinued",
                       *(["--stream"] if stream else [])) == 3
    rows = {r["id"]: r for r in read_table(out, "responses")}
    assert set(rows) == set(text)

    # Read as Google's parsers read it: the enum's number is its name, "3" is 3.
    ok = rows["stop-as-number"]
    assert (ok["status"], ok["finish_reason"], ok["text"]) == ("ok", "STOP", "fine")
    assert ok["usage"]["prompt_token_count"] == 3 and ok["cost_usd"] is not None
    assert rows["new-field"]["status"] == "ok"
    assert "somethingGoogleAddsTomorrow" in rows["new-field"]["response_json"]

    # What no reading makes an answer: the record's error row, with the body.
    for record_id, where in (("null-candidate", "candidates[0]"),
                             ("feedback-string", "prompt_feedback"),
                             ("tokens-past-int32", "prompt_token_count"),
                             ("bad-inline-base64", "inline_data.data")):
        row = rows[record_id]
        assert (row["status"], row["error_code"]) == ("error", "malformed_response"), row
        assert where in row["error_message"], row["error_message"]
        assert json.loads(row["response_json"]) == ANSWERS[record_id]
        assert row["attempts"] == 1  # paid once, not again

    # No candidates is no answer, streamed or not.
    for record_id in ("empty-object", "no-candidates"):
        row = rows[record_id]
        assert (row["status"], row["block_reason"]) == ("blocked", "NO_CANDIDATES"), row

    images = {r["id"]: r for r in read_table(out, "images")}
    assert images["image-good"]["status"] == "ok"
    bad = images["image-bad-base64"]
    assert (bad["status"], bad["error_code"]) == ("error", "malformed_response")
    assert "not base64" in bad["error_message"]


def test_a_key_echoed_back_disguised_never_reaches_the_output(tmp_path):
    key = "AQ.Ab8RN6Kfake-express-key_0123456789abcdef"
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": "k", "prompt": "echo-key"}])
    out = tmp_path / "out"
    with odd_server() as url:
        assert run_job(sample, out, url, "--progress_s", "0", "--api_key", key) == 3
    row = read_table(out, "responses")[0]
    assert row["error_code"] == "INVALID_ARGUMENT" and "****" in row["error_message"]
    encoded = base64.b64encode(b"k=" + key.encode()).decode()
    for path in glob.glob(f"{out}/**/*", recursive=True):
        if path.endswith((".parquet", ".json", ".html")):
            data = open(path, "rb").read()
            for form in (key, key.upper(), encoded[4:-4]):
                assert form.encode() not in data, (path, form)
