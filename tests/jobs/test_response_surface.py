"""The whole answer surface: the emulator sends what Vertex AI sends (strictly
valid aiplatform_v1 answers), the pipeline turns it into columns, plain and
streamed alike, and every finish reason has its status."""
import datetime
import json

import httpx
import pytest
from google import genai
from google.cloud import aiplatform_v1, aiplatform_v1beta1
from google.genai import types
from google.oauth2.credentials import Credentials

import vertex_schema
from tests.support.pipeline_runs import read_table, run_job, write_jsonl
from tests.support.request_corpus import PNG_1PX
from vertex.response_rows import FINISH_STATUS, finish_status, merge_stream_chunks

PATH = "/v1/projects/p/locations/us-central1/publishers/google/models/{model}:{method}"
# A request that asks for everything the API can return at once.
EVERYTHING = {
    "contents": [{"role": "user", "parts": [
        {"inlineData": {"mimeType": "image/png", "data": PNG_1PX}},
        {"text": "Which river runs through the city? [[emulator: cite]]"}]}],
    "tools": [{"googleSearch": {}}],
    "generationConfig": {"thinkingConfig": {"includeThoughts": True},
                         "responseLogprobs": True, "logprobs": 2},
}
PER_CALL = ("responseId", "createTime")  # differ on every call, by design


def post(emulator, body, model="gemini-3.5-flash", method="generateContent", **kwargs):
    response = httpx.post(emulator.url + PATH.format(model=model, method=method), json=body,
                          timeout=30, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def without_identity(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k not in PER_CALL}


def test_an_answer_carries_the_whole_surface_and_is_strictly_valid(emulator):
    answer = post(emulator, EVERYTHING)
    vertex_schema.check_response(answer)  # strict aiplatform_v1.GenerateContentResponse
    candidate = answer["candidates"][0]
    parts = candidate["content"]["parts"]
    assert parts[0]["thought"] is True and parts[0]["text"]
    assert parts[1]["thoughtSignature"] and parts[1]["text"]
    assert candidate["avgLogprobs"] < 0
    chosen = candidate["logprobsResult"]["chosenCandidates"]
    assert len(chosen) == len(candidate["logprobsResult"]["topCandidates"]) > 0
    assert len(candidate["logprobsResult"]["topCandidates"][0]["candidates"]) == 2
    assert len(candidate["citationMetadata"]["citations"]) == 2
    grounding = candidate["groundingMetadata"]
    assert grounding["webSearchQueries"] and len(grounding["groundingChunks"]) == 2
    usage = answer["usageMetadata"]
    assert {d["modality"] for d in usage["promptTokensDetails"]} == {"TEXT", "IMAGE"}
    assert sum(d["tokenCount"] for d in usage["promptTokensDetails"]) == usage["promptTokenCount"]
    assert usage["thoughtsTokenCount"] > 0 and usage["trafficType"] == "ON_DEMAND"
    assert usage["totalTokenCount"] == (usage["promptTokenCount"] + usage["candidatesTokenCount"]
                                        + usage["thoughtsTokenCount"])
    datetime.datetime.fromisoformat(answer["createTime"].replace("Z", "+00:00"))
    again = post(emulator, EVERYTHING)
    assert again["responseId"] != answer["responseId"]  # unique per call
    assert without_identity(again) == without_identity(answer)  # otherwise deterministic


def test_streamed_chunks_join_into_the_unstreamed_answer(emulator):
    chunks = post(emulator, EVERYTHING, method="streamGenerateContent")
    assert len(chunks) > 3
    for chunk in chunks:
        vertex_schema.check_response(chunk)
    # citations and logprobs arrive in the chunks they belong to, not all in the last
    assert sum("logprobsResult" in c["candidates"][0] for c in chunks) > 1
    assert sum("citationMetadata" in c["candidates"][0] for c in chunks) >= 1
    merged = merge_stream_chunks(chunks)
    assert without_identity(merged) == without_identity(post(emulator, EVERYTHING))


def test_images_only_from_image_models_in_the_aspect_ratio_asked(emulator):
    from PIL import Image
    import base64
    import io
    body = {"contents": [{"parts": [{"text": "a boat"}]}], "generationConfig": {
        "responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": "16:9"}}}
    answer = post(emulator, body, model="gemini-2.5-flash-image")
    vertex_schema.check_response(answer)
    image = next(p["inlineData"] for p in answer["candidates"][0]["content"]["parts"]
                 if "inlineData" in p)
    width, height = Image.open(io.BytesIO(base64.b64decode(image["data"]))).size
    assert abs(width / height - 16 / 9) < 0.05
    assert {d["modality"] for d in answer["usageMetadata"]["candidatesTokensDetails"]} == {
        "TEXT", "IMAGE"}
    response = httpx.post(emulator.url + PATH.format(model="gemini-3.5-flash",
                                                     method="generateContent"),
                          json=body, timeout=30)
    assert response.status_code == 400


@pytest.mark.parametrize("stream", [False, True])
def test_the_surface_becomes_columns(emulator, tmp_path, stream):
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": "all", "request": EVERYTHING}])
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, *(["--stream"] if stream else [])) == 0
    [row] = read_table(out, "responses")
    assert row["status"] == "ok" and row["text"] and row["thoughts"]
    assert row["thoughts"] not in row["text"]
    assert row["avg_logprobs"] < 0 and row["logprobs"][0]["token"]
    assert len(row["citations"]) == 2 and row["citations"][0]["uri"].startswith("https://")
    assert row["citations"][0]["publication_date"].startswith("2024-")
    assert row["grounding_queries"] and len(row["grounding_sources"]) == 2
    usage = row["usage"]
    assert usage["thoughts_token_count"] > 0
    assert {d["modality"] for d in usage["prompt_tokens_details"]} == {"TEXT", "IMAGE"}
    assert row["traffic_type"] == "ON_DEMAND" and row["response_id"]
    assert row["create_time"] is not None and row["model_version"] == "gemini-3.5-flash"
    assert len(row["safety_ratings"]) == 4 and row["candidates"][0]["safety_ratings"]


def test_streamed_and_plain_rows_are_equal_but_for_timings(emulator, tmp_path):
    records = [{"id": "all", "request": EVERYTHING},
               {"id": "plain", "prompt": "Tell me about rivers"},
               {"id": "json", "request": {"contents": [{"parts": [{"text": "label"}]}],
                                          "generationConfig": {
                                              "responseMimeType": "application/json",
                                              "responseSchema": {"type": "OBJECT", "properties": {
                                                  "label": {"type": "STRING"}}}}}},
               {"id": "call", "request": {"contents": [{"parts": [{"text": "weather in Oslo"}]}],
                                          "tools": [{"functionDeclarations": [{
                                              "name": "get_weather"}]}]}}]
    sample = write_jsonl(tmp_path / "in.jsonl", records)
    rows = {}
    for mode in ("plain", "stream"):
        out = tmp_path / mode
        assert run_job(sample, out, emulator.url, *(["--stream"] if mode == "stream" else [])) == 0
        rows[mode] = {r["id"]: r for r in read_table(out, "responses")}
    timings = {"latency_ms", "first_token_ms", "started_at", "finished_at", "attempt_log",
               "rate_limit_wait_ms", "run_id", "source"}
    identity = {"response_id", "create_time"}
    for record_id, plain in rows["plain"].items():
        streamed = rows["stream"][record_id]
        for column in set(plain) - timings - identity - {"response_json"}:
            assert streamed[column] == plain[column], (record_id, column)
        plain_json, streamed_json = (without_identity(json.loads(r["response_json"]))
                                     for r in (plain, streamed))
        assert streamed_json == plain_json, record_id


@pytest.mark.parametrize("module", [aiplatform_v1, aiplatform_v1beta1])
def test_every_finish_reason_of_the_proto_has_a_status(module):
    enum = module.Candidate.pb().DESCRIPTOR.enum_types_by_name["FinishReason"]
    for value in enum.values:
        name = value.name.replace("FINISH_REASON_", "")
        assert name in FINISH_STATUS, value.name


@pytest.mark.parametrize("reason, status", [
    (None, "ok"), ("STOP", "ok"), ("MAX_TOKENS", "ok"), ("FINISH_REASON_UNSPECIFIED", "ok"),
    ("SAFETY", "blocked"), ("RECITATION", "blocked"), ("BLOCKLIST", "blocked"),
    ("PROHIBITED_CONTENT", "blocked"), ("SPII", "blocked"), ("MODEL_ARMOR", "blocked"),
    ("IMAGE_SAFETY", "blocked"), ("IMAGE_PROHIBITED_CONTENT", "blocked"),
    ("IMAGE_RECITATION", "blocked"),
    ("OTHER", "error"), ("MALFORMED_FUNCTION_CALL", "error"), ("IMAGE_OTHER", "error"),
    ("NO_IMAGE", "error"), ("UNEXPECTED_TOOL_CALL", "error"), ("TOO_MANY_TOOL_CALLS", "error"),
    ("LANGUAGE", "error"), ("SOMETHING_NEW", "error"),
    # the legacy v1 names
    ("FINISH_REASON_STOP", "ok"), ("FINISH_REASON_MAX_TOKENS", "ok"),
    ("FINISH_REASON_SAFETY", "blocked"), ("FINISH_REASON_RECITATION", "blocked"),
    ("FINISH_REASON_BLOCKLIST", "blocked"), ("FINISH_REASON_PROHIBITED_CONTENT", "blocked"),
    ("FINISH_REASON_SPII", "blocked"), ("FINISH_REASON_MALFORMED_FUNCTION_CALL", "error"),
    ("FINISH_REASON_OTHER", "error"),
])
def test_finish_reason_status(reason, status):
    assert finish_status(reason) == status


def test_finish_reasons_from_the_emulator_become_statuses(emulator, tmp_path):
    records = [{"id": reason, "prompt": f"x [[emulator: finish={reason}]]"}
               for reason in ("MAX_TOKENS", "RECITATION", "MALFORMED_FUNCTION_CALL", "OTHER")]
    sample = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url) == 3
    rows = {r["id"]: r for r in read_table(out, "responses")}
    assert rows["MAX_TOKENS"]["status"] == "ok"
    assert (rows["RECITATION"]["status"], rows["RECITATION"]["block_reason"]) == (
        "blocked", "RECITATION")
    bad = rows["MALFORMED_FUNCTION_CALL"]
    assert (bad["status"], bad["error_code"]) == ("error", "MALFORMED_FUNCTION_CALL")
    assert bad["finish_message"].startswith("Malformed function call") and bad["attempts"] == 1
    assert rows["OTHER"]["status"] == "error"


def test_a_model_some_records_name_that_does_not_exist_fails_only_them(emulator, tmp_path):
    records = [{"id": f"ok{i}", "prompt": f"q{i}"} for i in range(20)] + [
        {"id": f"gone{i}", "prompt": f"q{i}", "model": "gemini-0-nonexistent"} for i in range(20)]
    sample = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--concurrency", "4") == 3
    rows = {r["id"]: r for r in read_table(out, "responses")}
    assert all(rows[f"ok{i}"]["status"] == "ok" for i in range(20))
    for i in range(20):
        row = rows[f"gone{i}"]
        assert (row["status"], row["error_code"], row["http_status"]) == (
            "error", "model_not_found", 404)
        assert "gemini-0-nonexistent" in row["error_message"]
    # once known to be missing, the model is not asked again
    assert emulator.stats()["by_status"].get("404", 0) <= 4


def test_the_sdk_reads_the_whole_surface(emulator):
    client = genai.Client(vertexai=True, project="p", location="us-central1",
                          credentials=Credentials(token="t"),
                          http_options=types.HttpOptions(base_url=emulator.url))
    response = client.models.generate_content(
        model="gemini-3.5-flash", contents="Which river runs through the city? "
                                            "[[emulator: cite]]",
        config=types.GenerateContentConfig(
            thinking_config=types.ThinkingConfig(include_thoughts=True),
            response_logprobs=True, logprobs=2,
            tools=[types.Tool(google_search=types.GoogleSearch())]))
    candidate = response.candidates[0]
    assert candidate.content.parts[0].thought and response.text
    assert candidate.avg_logprobs < 0 and candidate.logprobs_result.chosen_candidates
    assert candidate.citation_metadata.citations[0].uri
    assert candidate.grounding_metadata.web_search_queries
    assert response.usage_metadata.thoughts_token_count > 0
    assert response.usage_metadata.traffic_type == types.TrafficType.ON_DEMAND
