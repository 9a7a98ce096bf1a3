import json

import pytest

from transforms.prompt_records import RejectedLine, SourceLine, derived_id
from transforms.record_defaults import RecordDefaults
from transforms.read_prompt_records import BuildPromptRecords
from transforms.tasks import build_record


def build(obj, **defaults):
    text = obj if isinstance(obj, str) else json.dumps(obj)
    return build_record(SourceLine("in.jsonl", 7, text), RecordDefaults(**defaults))


def test_prompt_record_becomes_a_user_turn_with_job_defaults():
    record = build({"id": "a1", "prompt": "Hello", "metadata": {"k": [1, 2]}},
                   system_instruction="Be brief", generation_config={"max_output_tokens": 9})
    assert record.id == "a1" and record.task == "text" and record.model == "gemini-3.5-flash"
    assert record.body == {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
                           "systemInstruction": {"parts": [{"text": "Be brief"}]},
                           "generationConfig": {"maxOutputTokens": 9}}
    assert json.loads(record.metadata) == {"k": [1, 2]}
    assert (record.source, record.line_number) == ("in.jsonl", 7)


def test_batch_prediction_requests_in_camel_and_snake_case_are_the_same_request():
    camel = build({"id": "x", "request": {
        "contents": [{"role": "user", "parts": [{"text": "q"}]}],
        "generationConfig": {"maxOutputTokens": 5},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]}})
    snake = build({"id": "x", "request": {
        "contents": [{"role": "user", "parts": [{"text": "q"}]}],
        "generation_config": {"max_output_tokens": 5},
        "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]}})
    assert camel.body == snake.body


def test_multimodal_parts_tools_and_labels_pass_through():
    request = {"contents": [{"role": "user", "parts": [
        {"text": "describe"}, {"fileData": {"mimeType": "image/png", "fileUri": "gs://b/x.png"}},
        {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}],
        "tools": [{"functionDeclarations": [{"name": "f"}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "cachedContent": "projects/p/locations/l/cachedContents/c", "labels": {"a_b": "c"}}
    assert build({"request": request}).body == request


def test_record_model_overrides_the_job_model():
    assert build({"prompt": "x", "model": "gemini-3.1-pro-preview"}).model == "gemini-3.1-pro-preview"


def test_prompt_template_fills_fields_and_rejects_records_that_lack_one():
    template = "Label the {category} review: {review}"
    record = build({"id": 3, "category": "toys", "review": "fun"}, prompt_template=template)
    assert record.id == "3"
    assert record.body["contents"][0]["parts"][0]["text"] == "Label the toys review: fun"
    with pytest.raises(RejectedLine, match="field 'review' is missing"):
        build({"category": "toys"}, prompt_template=template)


@pytest.mark.parametrize("line, reason", [
    ("not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object but list"),
    ('{"id": "a"}', "no usable prompt"),
    ('{"prompt": ""}', "non-empty string"),
    ('{"prompt": 5}', "non-empty string"),
    ('{"request": "text"}', "request must be a JSON object"),
    ('{"request": {"contents": []}}', "empty contents field"),
    ('{"prompt": "x", "task": "video"}', "unknown task"),
    ('{"prompt": "x", "id": {"a": 1}}', "id must be"),
])
def test_unusable_lines_are_rejected_with_the_reason(line, reason):
    with pytest.raises(RejectedLine, match=reason):
        build(line)


def test_derived_ids_are_stable_and_follow_content_model_and_settings():
    a = build({"prompt": "same"})
    assert a.id == build({"prompt": "same"}).id == derived_id("text", a.model, a.body)
    assert a.id != build({"prompt": "same", "model": "gemini-3.1-pro-preview"}).id
    assert a.id != build({"prompt": "same"}, generation_config={"temperature": 0}).id
    assert a.id != build({"prompt": "other"}).id


def test_image_records_carry_imagen_instances_and_parameters():
    record = build({"id": "i", "task": "image", "prompt": "a boat",
                    "parameters": {"sample_count": 2}})
    assert record.model == "gemini-3.1-flash-image"  # the default: a current image model
    assert record.body == {"instances": [{"prompt": "a boat"}], "parameters": {"sampleCount": 2}}


def test_job_defaults_are_checked():
    with pytest.raises(ValueError):
        RecordDefaults(generation_config=[1])
    with pytest.raises(ValueError, match="task must be one of"):
        BuildPromptRecords(RecordDefaults(task="audio")).expand(None)
