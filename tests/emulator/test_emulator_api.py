"""The emulator's REST surface, over HTTP, as any client sees it."""
import base64
import io
import json
import time

import httpx
import pytest
from PIL import Image

from emulator.text_generation import count_tokens

MODEL_PATH = "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-3.5-flash"
IMAGEN_PATH = "/v1/projects/p/locations/us-central1/publishers/google/models/imagen-4.0-generate-001"


def post(emulator, path, body, **kwargs):
    return httpx.post(emulator.url + path, json=body, timeout=30, **kwargs)


def generate(emulator, text="Hello", path=MODEL_PATH, headers=None, params=None, **body):
    return post(emulator, path + ":generateContent",
                {"contents": [{"role": "user", "parts": [{"text": text}]}], **body},
                headers=headers, params=params)


def text_of(response, index=0):
    return response.json()["candidates"][index]["content"]["parts"][0]["text"]


def test_answer_has_the_reference_shape_and_consistent_usage(emulator):
    response = generate(emulator, "Why is the sky blue?")
    assert response.status_code == 200
    answer = response.json()
    candidate = answer["candidates"][0]
    assert candidate["finishReason"] == "STOP" and candidate["content"]["role"] == "model"
    assert {r["category"] for r in candidate["safetyRatings"]} == {
        "HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_DANGEROUS_CONTENT",
        "HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_SEXUALLY_EXPLICIT"}
    for rating in candidate["safetyRatings"]:
        assert set(rating) >= {"probability", "probabilityScore", "severity", "severityScore"}
    usage = answer["usageMetadata"]
    assert usage["promptTokenCount"] == count_tokens("Why is the sky blue?")
    assert usage["candidatesTokenCount"] == count_tokens(text_of(response))
    # a Gemini 3 model always thinks, and signs its thinking on the answer's last part
    assert usage["thoughtsTokenCount"] > 0
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"] \
        + usage["thoughtsTokenCount"]
    assert base64.b64decode(candidate["content"]["parts"][-1]["thoughtSignature"])
    assert not any(part.get("thought") for part in candidate["content"]["parts"])  # not asked
    assert answer["modelVersion"] == "gemini-3.5-flash"


def test_thinking_follows_the_level_and_media_resolution_sets_a_parts_tokens(emulator):
    def thoughts(level):
        response = generate(emulator, "Plan a trip",
                            generationConfig={"thinkingConfig": {"thinkingLevel": level}})
        return response.json()["usageMetadata"]["thoughtsTokenCount"]
    assert thoughts("MINIMAL") < thoughts("LOW") < thoughts("HIGH")
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(32)).decode()

    def image_tokens(resolution):
        part = {"inlineData": {"mimeType": "image/png", "data": png}}
        if resolution:
            part["mediaResolution"] = {"level": resolution}
        response = post(emulator, MODEL_PATH + ":countTokens",
                        {"contents": [{"role": "user", "parts": [part, {"text": "What?"}]}]})
        return response.json()["totalTokens"] - image_tokens_of_text
    image_tokens_of_text = post(emulator, MODEL_PATH + ":countTokens", {"contents": [
        {"role": "user", "parts": [{"text": "What?"}]}]}).json()["totalTokens"]
    assert image_tokens("MEDIA_RESOLUTION_LOW") == 280
    assert image_tokens("MEDIA_RESOLUTION_HIGH") == 1120
    assert image_tokens(None) == 258


def test_the_same_request_gets_the_same_answer(emulator):
    assert text_of(generate(emulator, "a")) == text_of(generate(emulator, "a"))
    assert text_of(generate(emulator, "a")) != text_of(generate(emulator, "b"))
    with_system = generate(emulator, "a", systemInstruction={"parts": [{"text": "Be terse"}]})
    assert text_of(with_system) != text_of(generate(emulator, "a"))


def test_snake_case_requests_get_the_camel_case_answer(emulator):
    camel = generate(emulator, "q", generationConfig={"maxOutputTokens": 4})
    snake = generate(emulator, "q", generation_config={"max_output_tokens": 4})
    assert text_of(camel) == text_of(snake)


def test_candidate_count(emulator):
    response = generate(emulator, "x", generationConfig={"candidateCount": 3})
    candidates = response.json()["candidates"]
    assert len(candidates) == 3 and [c.get("index", 0) for c in candidates] == [0, 1, 2]
    assert len({text_of(response, i) for i in range(3)}) == 3


def test_max_output_tokens_cuts_the_same_answer_short(emulator):
    full = text_of(generate(emulator, "long story"))
    cut = generate(emulator, "long story", generationConfig={"maxOutputTokens": 3})
    assert cut.json()["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert count_tokens(text_of(cut)) == 3 and full.startswith(text_of(cut))


def test_stop_sequences(emulator):
    full = text_of(generate(emulator, "story"))
    stop = full.split()[3]
    cut = text_of(generate(emulator, "story", generationConfig={"stopSequences": [stop]}))
    assert cut == full[:full.index(stop)]


def test_json_output_follows_the_response_schema(emulator):
    schema = {"type": "OBJECT", "properties": {
        "label": {"type": "STRING", "enum": ["pos", "neg"]},
        "score": {"type": "NUMBER", "minimum": 0, "maximum": 1},
        "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": 1, "maxItems": 3},
        "ok": {"type": "BOOLEAN"}, "count": {"type": "INTEGER", "minimum": 5, "maximum": 9}}}
    value = json.loads(text_of(generate(emulator, "x", generationConfig={
        "responseMimeType": "application/json", "responseSchema": schema})))
    assert value["label"] in ("pos", "neg") and 0 <= value["score"] <= 1
    assert 1 <= len(value["tags"]) <= 3 and all(isinstance(t, str) for t in value["tags"])
    assert isinstance(value["ok"], bool) and 5 <= value["count"] <= 9


def test_bad_json_and_off_schema_markers_spoil_json_answers_for_the_attempts_asked(emulator):
    schema = {"type": "OBJECT", "properties": {"label": {"type": "STRING"}, "n": {
        "type": "INTEGER"}}, "required": ["label"]}
    config = {"responseMimeType": "application/json", "responseSchema": schema}
    broken = text_of(generate(emulator, "bad [[emulator: bad_json x1]]", generationConfig=config))
    with pytest.raises(ValueError):
        json.loads(broken)
    # the same request again: the second attempt is answered well
    fixed = json.loads(text_of(generate(emulator, "bad [[emulator: bad_json x1]]",
                                        generationConfig=config)))
    assert set(fixed) == {"label", "n"}
    off = json.loads(text_of(generate(emulator, "off [[emulator: off_schema]]",
                                      generationConfig=config)))
    assert "label" not in off and "n" in off


def test_enum_output(emulator):
    assert text_of(generate(emulator, "x", generationConfig={
        "responseMimeType": "text/x.enum",
        "responseSchema": {"type": "STRING", "enum": ["red", "green"]}})) in ("red", "green")


def test_function_call_when_the_prompt_asks_for_one(emulator):
    tools = [{"functionDeclarations": [{"name": "get_weather", "parameters": {
        "type": "OBJECT", "properties": {"city": {"type": "STRING"}}}}]}]
    response = generate(emulator, "Call get_weather for Oslo", tools=tools)
    part = response.json()["candidates"][0]["content"]["parts"][0]
    assert part["functionCall"]["name"] == "get_weather"
    assert isinstance(part["functionCall"]["args"]["city"], str)
    assert "functionCall" not in generate(emulator, "Just talk", tools=tools).json()[
        "candidates"][0]["content"]["parts"][0]


def test_blocked_prompt_and_unsafe_answer_markers(emulator):
    blocked = generate(emulator, "x [[emulator: block]]").json()
    assert "candidates" not in blocked and blocked["promptFeedback"]["blockReason"] == "SAFETY"
    unsafe = generate(emulator, "x [[emulator: unsafe=HARM_CATEGORY_HATE_SPEECH]]").json()
    candidate = unsafe["candidates"][0]
    assert candidate["finishReason"] == "SAFETY" and candidate["content"]["parts"] == []
    rating = next(r for r in candidate["safetyRatings"] if r["category"] == "HARM_CATEGORY_HATE_SPEECH")
    assert rating["probability"] == "HIGH" and rating["blocked"] is True
    allowed = generate(emulator, "x [[emulator: unsafe=HARM_CATEGORY_HATE_SPEECH]]", safetySettings=[
        {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}]).json()
    assert allowed["candidates"][0]["finishReason"] == "STOP"


@pytest.mark.parametrize("body, message", [
    ({"contents": []}, "empty contents"),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "foo": 1}, 'Unknown name "foo"'),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]}],
      "generationConfig": {"temperature": 3}}, "temperature value of 3"),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]}],
      "generationConfig": {"topk": 3}}, 'Unknown name "topk"'),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]}],
      "safetySettings": [{"category": "HARM_CATEGORY_NOPE", "threshold": "BLOCK_NONE"}]},
     "HARM_CATEGORY_NOPE"),
    ({"contents": [{"role": "user", "parts": []}]}, "at least one parts"),
    ({"contents": [{"role": "user", "parts": [{"text": "x"}]}],
      "generationConfig": {"responseSchema": {"type": "STRING"}}}, "response_mime_type"),
])
def test_malformed_requests_get_400_invalid_argument(emulator, body, message):
    response = post(emulator, MODEL_PATH + ":generateContent", body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and error["code"] == 400
    assert message in error["message"]


def test_unknown_model_is_404(emulator):
    response = generate(emulator, path=MODEL_PATH.replace("gemini-3.5-flash", "gemini-9"))
    assert response.status_code == 404 and response.json()["error"]["status"] == "NOT_FOUND"


@pytest.mark.parametrize("path", [
    "/v1beta1/projects/p/locations/us-central1/publishers/google/models/gemini-3.5-flash",
    "/v1/projects/p/locations/global/publishers/google/models/gemini-3.5-flash",
    "/v1/publishers/google/models/gemini-3.5-flash",
])
def test_versions_global_location_and_express_paths(emulator, path):
    assert generate(emulator, path=path).status_code == 200


def test_api_key_is_required_when_configured(start_emulator):
    emulator = start_emulator("--require_api_key", "k1")
    express = "/v1/publishers/google/models/gemini-3.5-flash"
    assert generate(emulator, path=express).status_code == 401
    assert generate(emulator, path=express, headers={"x-goog-api-key": "nope"}).status_code == 403
    assert generate(emulator, path=express, headers={"x-goog-api-key": "k1"}).status_code == 200
    assert generate(emulator, path=express, params={"key": "k1"}).status_code == 200
    regional = MODEL_PATH  # project paths also take an OAuth token, which cannot be checked
    assert generate(emulator, path=regional).status_code == 401
    assert generate(emulator, path=regional,
                    headers={"authorization": "Bearer t"}).status_code == 200


def test_requests_per_minute_quota_answers_429_with_retry_info(start_emulator):
    emulator = start_emulator("--rpm", "60")
    codes = [generate(emulator).status_code for _ in range(3)]
    assert codes[0] == 200 and 429 in codes
    response = generate(emulator)
    error = response.json()["error"]
    assert response.status_code == 429 and error["status"] == "RESOURCE_EXHAUSTED"
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.RetryInfo"
    assert float(error["details"][0]["retryDelay"].rstrip("s")) > 0
    assert int(response.headers["Retry-After"]) >= 1


def test_tokens_per_minute_quota(start_emulator):
    emulator = start_emulator("--tpm", "600")  # 10 tokens a second
    statuses = [generate(emulator, "word " * 30).status_code for _ in range(3)]
    assert statuses[0] == 200 and 429 in statuses


def test_error_rate(start_emulator):
    emulator = start_emulator("--error_rate", "1")
    assert generate(emulator).status_code in (500, 503)


def test_quotas_are_per_model(start_emulator):
    emulator = start_emulator("--rpm", "60")
    assert generate(emulator).status_code == 200
    other = MODEL_PATH.replace("gemini-3.5-flash", "gemini-3.5-flash-lite")
    assert generate(emulator, path=other).status_code == 200


def test_stream_as_json_array_and_as_server_sent_events(emulator):
    body = {"contents": [{"role": "user", "parts": [{"text": "A long tale"}]}]}
    whole = text_of(generate(emulator, "A long tale"))
    chunks = post(emulator, MODEL_PATH + ":streamGenerateContent", body).json()
    assert len(chunks) > 1 and chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == whole
    sse = post(emulator, MODEL_PATH + ":streamGenerateContent", body, params={"alt": "sse"})
    assert sse.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[len("data: "):]) for line in sse.text.split("\r\n\r\n") if line]
    assert [e["candidates"] for e in events] == [c["candidates"] for c in chunks]
    assert "usageMetadata" in events[-1]


def test_count_tokens(emulator):
    response = post(emulator, MODEL_PATH + ":countTokens",
                    {"contents": [{"role": "user", "parts": [{"text": "one two three"}]}]})
    assert response.json()["totalTokens"] == 3


def test_stats_and_reset(emulator):
    generate(emulator)
    generate(emulator, path=MODEL_PATH.replace("gemini-3.5-flash", "nope"))
    stats = emulator.stats()
    assert stats["requests"] == 2 and stats["by_status"] == {"200": 1, "404": 1}
    assert stats["by_method"] == {"generateContent": 2}
    assert stats["peak_in_flight"] >= 1 and stats["in_flight"] == 0
    emulator.reset()
    assert emulator.stats()["requests"] == 0


# -- Imagen ------------------------------------------------------------------

def predict(emulator, prompt="a red boat", **parameters):
    return post(emulator, IMAGEN_PATH + ":predict",
                {"instances": [{"prompt": prompt}], "parameters": parameters})


def decode(prediction):
    return Image.open(io.BytesIO(base64.b64decode(prediction["bytesBase64Encoded"])))


@pytest.mark.parametrize("ratio", ["1:1", "3:4", "4:3", "9:16", "16:9"])
def test_images_decode_and_follow_the_aspect_ratio(emulator, ratio):
    predictions = predict(emulator, sampleCount=2, aspectRatio=ratio).json()["predictions"]
    assert len(predictions) == 2
    image = decode(predictions[0])
    assert image.format == "PNG" and predictions[0]["mimeType"] == "image/png"
    w, h = (int(x) for x in ratio.split(":"))
    assert abs(image.width / image.height - w / h) < 0.1


@pytest.mark.parametrize("mime, fmt", [("image/jpeg", "JPEG"), ("image/webp", "WEBP")])
def test_output_mime_type(emulator, mime, fmt):
    prediction = predict(emulator, outputOptions={"mimeType": mime, "compressionQuality": 50}
                         ).json()["predictions"][0]
    assert prediction["mimeType"] == mime and decode(prediction).format == fmt


def test_a_seed_gives_identical_bytes(emulator):
    a = predict(emulator, seed=42, addWatermark=False).json()["predictions"][0]
    b = predict(emulator, seed=42, addWatermark=False).json()["predictions"][0]
    c = predict(emulator, seed=43, addWatermark=False).json()["predictions"][0]
    assert a["bytesBase64Encoded"] == b["bytesBase64Encoded"] != c["bytesBase64Encoded"]
    unseeded = [predict(emulator).json()["predictions"][0]["bytesBase64Encoded"] for _ in range(2)]
    assert unseeded[0] != unseeded[1]  # as Imagen: without a seed, every call draws anew


def test_enhanced_prompt_safety_attributes_and_rai_filtering(emulator):
    prediction = predict(emulator, enhancePrompt=True, includeSafetyAttributes=True
                         ).json()["predictions"][0]
    assert prediction["prompt"].startswith("a red boat")
    assert len(prediction["safetyAttributes"]["categories"]) == len(
        prediction["safetyAttributes"]["scores"])
    filtered = predict(emulator, "x [[emulator: filter=1]]", sampleCount=3).json()["predictions"]
    assert sum("bytesBase64Encoded" in p for p in filtered) == 2
    assert "filtered out 1" in filtered[-1]["raiFilteredReason"]
    blocked = predict(emulator, "x [[emulator: block]]", includeRaiReason=True).json()
    assert list(blocked["predictions"][0]) == ["raiFilteredReason"]


@pytest.mark.parametrize("parameters, message", [
    ({"sampleCount": 5}, "sampleCount"),
    ({"aspectRatio": "2:1"}, "aspect ratio"),
    ({"seed": 5}, "watermark"),
    ({"seed": 0, "addWatermark": False}, "seed"),
    ({"personGeneration": "everyone"}, "personGeneration"),
    ({"safetySetting": "lax"}, "safetySetting"),
    ({"outputOptions": {"mimeType": "image/svg"}}, "mimeType"),
    ({"outputOptions": {"mimeType": "image/jpeg", "compressionQuality": 101}}, "compressionQuality"),
    ({"storageUri": "s3://x"}, "storageUri"),
    ({"colour": "red"}, 'Unknown name "colour"'),
])
def test_bad_imagen_parameters_get_400(emulator, parameters, message):
    response = predict(emulator, **parameters)
    assert response.status_code == 400 and message in response.json()["error"]["message"]


def test_storage_uri_writes_the_images_to_the_bucket(start_emulator, gcs):
    emulator = start_emulator()  # started after STORAGE_EMULATOR_HOST is set
    predictions = predict(emulator, sampleCount=2,
                          storageUri="gs://test-bucket/imagen-out/").json()["predictions"]
    assert len(predictions) == 2
    for prediction in predictions:
        assert prediction["gcsUri"].startswith("gs://test-bucket/imagen-out/")
        blob = gcs.blob(prediction["gcsUri"][len("gs://test-bucket/"):])
        assert Image.open(io.BytesIO(blob.download_as_bytes())).format == "PNG"


def test_streaming_spreads_chunks_over_time(start_emulator):
    emulator = start_emulator("--token_latency_ms", "20")
    body = {"contents": [{"role": "user", "parts": [{"text": "A long tale"}]}]}
    arrivals = []
    with httpx.stream("POST", emulator.url + MODEL_PATH + ":streamGenerateContent",
                      params={"alt": "sse"}, json=body, timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append((time.monotonic(), json.loads(line[6:])))
    later_tokens = sum(count_tokens(c["candidates"][0]["content"]["parts"][0]["text"])
                       for _, c in arrivals[1:])
    assert len(arrivals) > 2
    # Only a lower bound: the chunks after the first are held back 20 ms per token.
    assert arrivals[-1][0] - arrivals[0][0] >= 0.5 * later_tokens * 0.020


def test_a_repeated_prompt_prefix_may_come_back_cached_implicitly(start_emulator):
    emulator = start_emulator("--implicit_cache_hit_rate", "1")
    long = " ".join(["guideline"] * 5000)  # over 3.5 Flash's minimum of 4,096

    def usage(instruction, prompt="Label: fine"):
        answer = generate(emulator, prompt, systemInstruction={"parts": [{"text": instruction}]})
        assert answer.status_code == 200, answer.text
        return answer.json()["usageMetadata"]
    assert "cachedContentTokenCount" not in usage(long)  # first seen: nothing cached yet
    again = usage(long, "Label: another")                # same prefix, another last turn
    assert again["cachedContentTokenCount"] == count_tokens(long)
    assert again["cacheTokensDetails"] == [{"modality": "TEXT",
                                            "tokenCount": again["cachedContentTokenCount"]}]
    assert again["promptTokenCount"] > again["cachedContentTokenCount"]
    short = " ".join(["guideline"] * 100)                # under the minimum: never cached
    usage(short)
    assert "cachedContentTokenCount" not in usage(short)


def test_implicit_caching_can_be_turned_off(start_emulator):
    emulator = start_emulator("--implicit_cache_hit_rate", "0")
    long = {"parts": [{"text": " ".join(["guideline"] * 5000)}]}
    for _ in range(3):
        answer = generate(emulator, systemInstruction=long).json()
        assert "cachedContentTokenCount" not in answer["usageMetadata"]
