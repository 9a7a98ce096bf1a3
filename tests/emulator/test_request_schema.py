"""One schema authority: Google's protos plus the documented rules judge every
request the same way in vertex_schema, in the emulator (over HTTP) and in the
pipeline's pre-flight (a real DirectRunner job), and invalid ones cost no call."""
import subprocess
import sys

import httpx
import pytest
from google.cloud import aiplatform_v1
from google.protobuf import json_format

import vertex_schema
from tests.support.pipeline_runs import read_table, run_job, summary, write_jsonl
from tests.support.request_corpus import CASES, INVALID, VALID
from tests.support.servers import ROOT

PATH = "/{version}/projects/p/locations/us-central1/publishers/google/models/{model}:{method}"


def model_for(case) -> str:
    """Image output needs an image-capable model, speech a TTS model, as on Vertex AI."""
    config = case.body.get("generationConfig")
    modalities = config.get("responseModalities") or [] if isinstance(config, dict) else []
    if "IMAGE" in modalities:
        return "gemini-2.5-flash-image"
    return "gemini-2.5-flash-tts" if "AUDIO" in modalities else "gemini-3.5-flash"


def test_the_corpus_is_broad():
    assert len(CASES) >= 40 and len(INVALID) >= 20 and len(VALID) >= 20
    parts = {key for c in CASES for content in c.body.get("contents") or []
             if isinstance(content, dict) and isinstance(content.get("parts"), list)
             for part in content["parts"] for key in part}
    assert {"text", "inlineData", "fileData", "functionCall", "functionResponse",
            "executableCode", "codeExecutionResult", "thought", "thoughtSignature",
            "videoMetadata"} <= parts
    tools = {key for c in CASES for tool in c.body.get("tools") or [] for key in tool}
    assert {"functionDeclarations", "googleSearch", "codeExecution", "urlContext",
            "retrieval"} <= tools


@pytest.mark.parametrize("case", [c for c in CASES if c.proto_valid is not None],
                         ids=lambda c: c.name)
def test_googles_own_parser_agrees_with_the_corpus(case):
    """The corpus's proto verdicts are Google's: strict ParseDict on the raw body."""
    try:
        json_format.ParseDict(case.body, aiplatform_v1.GenerateContentRequest.pb()(),
                              ignore_unknown_fields=False)
        parsed = True
    except json_format.ParseError:
        parsed = False
    assert parsed == case.proto_valid


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_verdict_and_message(case, version):
    try:
        request = vertex_schema.check_generate_content(case.body, version)
    except vertex_schema.InvalidRequest as error:
        assert not case.valid, f"refused: {error}"
        assert case.names in str(error)
        return
    assert case.valid, "accepted, but Vertex AI refuses it"
    # What is sent is the normalised body, and Google's parser takes it as it is.
    json_format.ParseDict(request, vertex_schema.proto_module(version)
                          .GenerateContentRequest.pb()(), ignore_unknown_fields=False)
    assert vertex_schema.check_generate_content(request, version) == request  # idempotent


def test_normalised_bodies_are_camel_case_and_keep_user_data():
    request = vertex_schema.check_generate_content({
        "contents": {"role": "USER", "parts": {"text": "x"}},
        "generation_config": {"max_output_tokens": "5", "response_mime_type": "application/json",
                              "response_schema": {"type": "object", "properties": {
                                  "first_name": {"type": "string", "max_length": 3}}}},
        "labels": {"cost_center": "a_b"},
        "tools": [{"function_declarations": [{"name": "f", "parameters_json_schema": {
            "type": "object", "properties": {"snake_key": {"type": "string"}}}}]}]})
    assert request["contents"] == [{"role": "user", "parts": [{"text": "x"}]}]
    config = request["generationConfig"]
    assert config["maxOutputTokens"] == 5
    assert config["responseSchema"] == {"type": "OBJECT", "properties": {
        "first_name": {"type": "STRING", "maxLength": 3}}}
    assert request["labels"] == {"cost_center": "a_b"}
    assert request["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"][
        "properties"] == {"snake_key": {"type": "string"}}


def test_every_problem_is_reported_one_per_line():
    with pytest.raises(vertex_schema.InvalidRequest) as caught:
        vertex_schema.check_generate_content({"contents": [{"parts": [{"text": "x"}]}],
                                              "a": 1, "generationConfig": {"b": 2}})
    assert caught.value.messages == [
        'Invalid JSON payload received. Unknown name "a": Cannot find field.',
        "Invalid JSON payload received. Unknown name \"b\" at 'generation_config': "
        "Cannot find field."]


def test_streaming_has_rules_of_its_own():
    body = {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"candidateCount": 2}}
    vertex_schema.check_generate_content(body)
    with pytest.raises(vertex_schema.InvalidRequest, match="candidate_count"):
        vertex_schema.check_generate_content(body, streaming=True)


def test_trailing_commas_are_read_as_the_api_reads_them():
    assert vertex_schema.loads('{"a": [1, 2,], "b": {"c": "x,}",},}') == {
        "a": [1, 2], "b": {"c": "x,}"}}
    with pytest.raises(ValueError):
        vertex_schema.loads('{"a": 1,, }')


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_the_emulator_answers_exactly_as_the_schema_judges(emulator, version):
    # CountTokensRequest has no safetySettings, toolConfig or labels.
    count_fields = {"contents", "systemInstruction", "system_instruction", "tools",
                    "generationConfig", "generation_config"}
    for case in CASES:
        methods = ["generateContent"] + (["countTokens"] if set(case.body) <= count_fields
                                         else [])
        for method in methods:
            url = emulator.url + PATH.format(version=version, model=model_for(case),
                                             method=method)
            response = httpx.post(url, json=case.body, timeout=30)
            if case.legacy_only:  # the legacy dialect: a current model refuses it ...
                assert response.status_code == 400, (case.name, method)
                assert case.legacy_only in response.json()["error"]["message"], case.name
                legacy = url.replace(model_for(case), "gemini-pro")  # ... a legacy one reads it
                response = httpx.post(legacy, json=case.body, timeout=30)
            if case.valid:
                assert response.status_code == 200, (case.name, method, response.text)
            else:
                assert response.status_code == 400, (case.name, method)
                error = response.json()["error"]
                assert error["status"] == "INVALID_ARGUMENT" and case.names in error["message"]


def test_the_emulator_judges_streaming_requests_too(emulator):
    url = emulator.url + PATH.format(version="v1", model="gemini-3.5-flash",
                                     method="streamGenerateContent")
    for case in CASES:
        if model_for(case) != "gemini-3.5-flash":
            continue
        response = httpx.post(url, json=case.body, params={"alt": "sse"}, timeout=30)
        config = case.body.get("generationConfig")
        too_many = isinstance(config, dict) and config.get("candidateCount", 1) > 1
        expected = 200 if case.valid and not too_many and not case.legacy_only else 400
        assert response.status_code == expected, case.name


def test_the_pipeline_refuses_before_paying_what_vertex_ai_would_refuse(emulator, tmp_path):
    records = [{"id": case.name, "model": model_for(case), "request": case.body}
               for case in CASES]
    sample = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url) == 3  # partial: the invalid lines are rejected
    answered = {r["id"]: r for r in read_table(out, "responses")}
    assert set(answered) == {c.name for c in VALID}
    assert all(r["status"] == "ok" for r in answered.values())
    rejected = {r["line_number"]: r["reason"] for r in read_table(out, "rejected")}
    for line_number, case in enumerate(CASES, 1):
        if not case.valid:
            assert case.names in rejected[line_number], case.name
    stats = emulator.stats()
    assert stats["requests"] == len(VALID) and "400" not in stats["by_status"]
    assert summary(out)["all_lines_accounted_for"]


def test_the_schema_loads_only_the_messages_it_needs_and_leaves_the_packages_whole():
    """In a fresh interpreter: the request messages load without the
    packages' __init__ (service clients, 120 type modules); anyone who then
    asks for more gets the whole package, with the same classes."""
    script = """
import sys, vertex_schema
for version in ("v1", "v1beta1"):
    types = vertex_schema.proto_module(version)
    assert types.GenerateContentRequest and types.Tool and types.GenerationConfig
package = "google.cloud.aiplatform_v1"
print(len([m for m in sys.modules if m.startswith(package + ".types.")]))
print(package + ".services" in "".join(sys.modules))
from google.cloud.aiplatform_v1.types import Endpoint
from google.cloud.aiplatform_v1 import PredictionServiceClient
from google.cloud import aiplatform_v1
print(aiplatform_v1.types.GenerateContentRequest is vertex_schema.proto_module("v1").GenerateContentRequest)
print(len([m for m in sys.modules if m.startswith(package + ".types.")]))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.split()
    needed, services, same, all_types = int(out[0]), out[1], out[2], int(out[3])
    assert needed < 30 and services == "False" and same == "True" and all_types > 100
