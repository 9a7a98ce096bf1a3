from vertex.request_body import estimate_tokens, merge_defaults, prompt_text, user_content
from vertex_schema import read_generate_content as to_camel_case


def test_snake_case_fields_become_camel_case_but_user_data_keys_do_not():
    body = to_camel_case({
        "generation_config": {"max_output_tokens": 5, "response_mime_type": "application/json",
                              "response_schema": {"type": "OBJECT", "properties": {
                                  "first_name": {"type": "STRING", "max_length": 3}},
                                  "required": ["first_name"]}},
        "labels": {"cost_center": "a_b"},
        "contents": [{"role": "model", "parts": [
            {"function_call": {"name": "get_it", "args": {"some_arg": 1}}}]}],
        "tools": [{"function_declarations": [{"name": "f", "parameters": {
            "type": "OBJECT", "properties": {"city_name": {"type": "STRING"}}}}]}],
    })
    config = body["generationConfig"]
    assert config["maxOutputTokens"] == 5
    assert config["responseSchema"]["properties"] == {"first_name": {"type": "STRING", "maxLength": 3}}
    assert config["responseSchema"]["required"] == ["first_name"]
    assert body["labels"] == {"cost_center": "a_b"}
    assert body["contents"][0]["parts"][0]["functionCall"]["args"] == {"some_arg": 1}
    assert "city_name" in body["tools"][0]["functionDeclarations"][0]["parameters"]["properties"]


def test_camel_case_bodies_are_unchanged():
    body = {"contents": [user_content("hi")], "generationConfig": {"topK": 3}}
    assert to_camel_case(body) == body


def test_record_settings_win_over_job_defaults_field_by_field():
    defaults = {"generationConfig": {"temperature": 0.1, "maxOutputTokens": 100},
                "safetySettings": [{"category": "A", "threshold": "BLOCK_NONE"},
                                   {"category": "B", "threshold": "BLOCK_NONE"}],
                "systemInstruction": {"parts": [{"text": "job"}]}}
    body = {"contents": [user_content("x")], "generationConfig": {"temperature": 0.9},
            "safetySettings": [{"category": "B", "threshold": "BLOCK_ONLY_HIGH"}],
            "systemInstruction": {"parts": [{"text": "record"}]}}
    merged = merge_defaults(body, defaults)
    assert merged["generationConfig"] == {"temperature": 0.9, "maxOutputTokens": 100}
    assert {s["category"]: s["threshold"] for s in merged["safetySettings"]} == {
        "A": "BLOCK_NONE", "B": "BLOCK_ONLY_HIGH"}
    assert merged["systemInstruction"]["parts"][0]["text"] == "record"
    assert defaults["generationConfig"]["temperature"] == 0.1  # defaults are not mutated


def test_token_estimate_counts_system_instruction_and_contents():
    body = {"systemInstruction": {"parts": [{"text": "a" * 40}]},
            "contents": [user_content("b" * 80)]}
    assert prompt_text(body) == "a" * 40 + "\n" + "b" * 80
    assert estimate_tokens(body) == 31
