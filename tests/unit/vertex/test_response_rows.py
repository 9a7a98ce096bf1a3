import json

from vertex.response_rows import merge_stream_chunks, response_row

RATINGS = [{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE",
            "probabilityScore": 0.01, "severity": "HARM_SEVERITY_NEGLIGIBLE",
            "severityScore": 0.02}]
USAGE = {"promptTokenCount": 4, "candidatesTokenCount": 6, "totalTokenCount": 10}


def answer(*candidates, **extra):
    return {"candidates": list(candidates), "usageMetadata": USAGE,
            "modelVersion": "gemini-3.5-flash", **extra}


def candidate(text=None, finish="STOP", parts=None, **extra):
    parts = parts if parts is not None else [{"text": text}]
    return {"content": {"role": "model", "parts": parts}, "finishReason": finish,
            "safetyRatings": RATINGS, **extra}


def test_plain_answer():
    row = response_row(answer(candidate("Hello world")))
    assert row["status"] == "ok" and row["text"] == "Hello world"
    assert row["finish_reason"] == "STOP" and row["block_reason"] is None
    assert row["usage"]["prompt_token_count"] == 4 and row["usage"]["total_token_count"] == 10
    assert row["usage"]["thoughts_token_count"] is None
    assert row["model_version"] == "gemini-3.5-flash"
    assert row["safety_ratings"] == [{
        "category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE",
        "probability_score": 0.01, "severity": "HARM_SEVERITY_NEGLIGIBLE",
        "severity_score": 0.02, "blocked": False}]


def test_blocked_prompt_has_no_candidates_and_the_feedback_ratings():
    row = response_row({"promptFeedback": {
        "blockReason": "SAFETY", "blockReasonMessage": "blocked",
        "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH",
                           "blocked": True}]},
        "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}})
    assert row["status"] == "blocked" and row["block_reason"] == "SAFETY"
    assert row["text"] is None and row["candidates"] == []
    assert row["prompt_safety_ratings"][0]["blocked"] is True and row["safety_ratings"] == []
    assert row["block_reason_message"] == "blocked"
    assert row["usage"]["candidates_token_count"] is None


def test_answer_stopped_by_the_safety_filter_is_blocked():
    row = response_row(answer(candidate(parts=[], finish="SAFETY")))
    assert row["status"] == "blocked" and row["block_reason"] == "SAFETY"
    assert row["finish_reason"] == "SAFETY" and row["text"] is None


def test_max_tokens_is_a_successful_but_cut_answer():
    row = response_row(answer(candidate("Half an ans", finish="MAX_TOKENS")))
    assert row["status"] == "ok" and row["finish_reason"] == "MAX_TOKENS"


def test_several_candidates_are_all_kept():
    row = response_row(answer(candidate("one"), candidate("two", index=1),
                              candidate("three", finish="MAX_TOKENS", index=2)))
    assert row["text"] == "one"
    assert [(c["index"], c["text"], c["finish_reason"]) for c in row["candidates"]] == [
        (0, "one", "STOP"), (1, "two", "STOP"), (2, "three", "MAX_TOKENS")]


def test_function_calls_are_listed_with_their_arguments_as_json():
    row = response_row(answer(candidate(parts=[
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo", "days": 2}}},
        {"functionCall": {"name": "noop"}}])))
    assert row["text"] is None
    assert row["function_calls"] == [
        {"name": "get_weather", "args_json": json.dumps({"city": "Oslo", "days": 2}, sort_keys=True)},
        {"name": "noop", "args_json": "{}"}]


def test_thought_parts_are_not_the_answer():
    row = response_row(answer(candidate(parts=[{"text": "thinking...", "thought": True},
                                               {"text": "Answer"}])))
    assert row["text"] == "Answer"


def test_stream_chunks_join_into_the_same_row_as_the_whole_answer():
    chunks = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}],
         "modelVersion": "gemini-3.5-flash"},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "lo "}]}}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "world"}]},
                         "finishReason": "STOP", "safetyRatings": RATINGS}],
         "usageMetadata": USAGE},
    ]
    merged = merge_stream_chunks(chunks)
    assert merged["candidates"][0]["content"]["parts"] == [{"text": "Hello world"}]
    assert response_row(merged) == response_row(answer(candidate("Hello world")))


def test_stream_chunks_keep_function_calls_and_a_blocked_prompt():
    call = {"functionCall": {"name": "f", "args": {}}}
    merged = merge_stream_chunks([{"candidates": [{"content": {"parts": [call]},
                                                   "finishReason": "STOP"}]}])
    assert response_row(merged)["function_calls"][0]["name"] == "f"
    blocked = merge_stream_chunks([{"promptFeedback": {"blockReason": "OTHER"}}])
    assert response_row(blocked)["status"] == "blocked"


def test_an_empty_answer_is_not_mistaken_for_success():
    row = response_row({"usageMetadata": USAGE})
    assert row["status"] == "blocked" and row["block_reason"] == "NO_CANDIDATES"
