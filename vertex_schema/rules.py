"""The API's documented rules that a proto cannot express, checked on a body
that already passed the strict parse (so types are right; names camelCase).

Each rule cites the reference it comes from (../shared/reference/ in the
repository this was built in: the Vertex AI generateContent reference) and
answers in the API's wording, with the field path in proto names.
"""
from __future__ import annotations

import re

ROLES = ("user", "model")
RESPONSE_MIME_TYPES = ("text/plain", "application/json", "text/x.enum")
MAX_STOP_SEQUENCES = 5
_PART_DATA = ("text", "inlineData", "fileData", "functionCall", "functionResponse",
              "executableCode", "codeExecutionResult")
# "Must start with a letter or an underscore. Must be a-z, A-Z, 0-9, or contain
# underscores, dots, colons and dashes, with a maximum length of 64."
_FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")
# (field, low, high, high included): ranges from the generationConfig reference.
_RANGES = (
    ("temperature", "temperature", 0.0, 2.0, True),
    ("topP", "top_p", 0.0, 1.0, True),
    ("topK", "top_k", 1, None, True),
    ("candidateCount", "candidate_count", 1, 8, True),
    ("maxOutputTokens", "max_output_tokens", 1, None, True),
    ("presencePenalty", "presence_penalty", -2.0, 2.0, False),
    ("frequencyPenalty", "frequency_penalty", -2.0, 2.0, False),
    ("logprobs", "logprobs", 1, 5, True),
)


def generate_content_rules(body: dict, streaming: bool = False) -> list[str]:
    """Every rule the body breaks, in the API's words (empty when none)."""
    problems: list[str] = []
    contents = body.get("contents") or []
    if not contents:
        problems.append("Unable to submit request because it has an empty contents field. "
                        "Add content and try again.")
    for i, content in enumerate(contents):
        problems += _content_rules(content, f"contents[{i}]", check_role=True)
    if "systemInstruction" in body:
        problems += _content_rules(body["systemInstruction"], "system_instruction",
                                   check_role=False)  # "The role field ... is ignored"
    problems += _generation_config_rules(body.get("generationConfig") or {}, streaming)
    for i, tool in enumerate(body.get("tools") or []):
        for j, declaration in enumerate(tool.get("functionDeclarations") or []):
            name = declaration.get("name", "")
            if not _FUNCTION_NAME.fullmatch(name):
                problems.append(
                    f"Invalid value at 'tools[{i}].function_declarations[{j}].name', "
                    f"\"{name}\": Invalid function name. Must start with a letter or an "
                    "underscore. Must be a-z, A-Z, 0-9, or contain underscores, dots, colons "
                    "and dashes, with a maximum length of 64.")
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if calling.get("allowedFunctionNames") and calling.get("mode") != "ANY":
        problems.append("Invalid value at 'tool_config.function_calling_config."
                        "allowed_function_names': allowed_function_names may be set only when "
                        "mode is ANY.")
    return problems


def _content_rules(content: dict, path: str, check_role: bool) -> list[str]:
    problems = []
    role = content.get("role", "")
    if check_role and role and role not in ROLES:
        problems.append(f"Invalid value at '{path}.role', \"{role}\": Please use a valid role: "
                        f"{', '.join(ROLES)}.")
    parts = content.get("parts") or []
    if not parts:
        problems.append(f"Unable to submit request because it must include at least one parts "
                        f"field, which describes the prompt input. ('{path}.parts')")
    for i, part in enumerate(parts):
        where = f"{path}.parts[{i}]"
        if not any(name in part for name in _PART_DATA):
            problems.append(f"Invalid value at '{where}': a part must hold one of text, "
                            "inline_data, file_data, function_call, function_response, "
                            "executable_code, code_execution_result.")
        elif part.get("text") == "" and not part.get("thought"):
            problems.append(f"Unable to submit request because it has an empty text parameter. "
                            f"Add a value to the parameter and try again. ('{where}.text')")
        for blob, snake, needed in (("inlineData", "inline_data", ("mimeType", "data")),
                                    ("fileData", "file_data", ("mimeType", "fileUri"))):
            for name in needed:
                if blob in part and not part[blob].get(name):
                    field = re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), name)
                    problems.append(f"Unable to submit request because it has an empty "
                                    f"{snake}.{field}. ('{where}.{snake}.{field}')")
    return problems


def _generation_config_rules(config: dict, streaming: bool) -> list[str]:
    problems = []
    for name, snake, low, high, high_included in _RANGES:
        value = config.get(name)
        if value is None:
            continue
        too_high = high is not None and (value > high or (value == high and not high_included))
        if value < low or too_high:
            upper = "" if high is None else (f" to {high:g} ({'inclusive' if high_included else 'exclusive'})")
            problems.append(
                f"Unable to submit request because it has a {snake} value of {value:g} but the "
                f"supported range is from {low:g} (inclusive){upper}. Update the value and try "
                f"again. ('generation_config.{snake}')")
    if "logprobs" in config and not config.get("responseLogprobs"):
        problems.append("Unable to submit request because logprobs is set but response_logprobs "
                        "is not enabled. ('generation_config.logprobs')")
    stops = config.get("stopSequences") or []
    if len(stops) > MAX_STOP_SEQUENCES:
        problems.append(f"Unable to submit request because it has more than "
                        f"{MAX_STOP_SEQUENCES} stop sequences. "
                        "('generation_config.stop_sequences')")
    mime = config.get("responseMimeType")
    if mime is not None and mime not in RESPONSE_MIME_TYPES:
        problems.append(f"Unable to submit request because it has a response_mime_type of "
                        f"{mime}, which is not supported. Supported values: "
                        f"{', '.join(RESPONSE_MIME_TYPES)}. ('generation_config.response_mime_type')")
    schema = config.get("responseSchema")
    if schema is not None and config.get("responseJsonSchema") is not None:
        problems.append("Unable to submit request because only one of response_schema and "
                        "response_json_schema may be set. ('generation_config')")
    if (schema is not None or config.get("responseJsonSchema") is not None) \
            and mime not in ("application/json", "text/x.enum"):
        problems.append("Unable to submit request because response_schema is only supported "
                        "with response_mime_type application/json or text/x.enum. "
                        "('generation_config.response_schema')")
    if mime == "text/x.enum" and not (schema or {}).get("enum"):
        problems.append("Unable to submit request because response_mime_type text/x.enum needs "
                        "a response_schema with enum values. ('generation_config.response_schema')")
    if streaming and config.get("candidateCount", 1) > 1:
        problems.append("Unable to submit request because candidate_count greater than 1 is not "
                        "supported for streamGenerateContent. ('generation_config.candidate_count')")
    return problems
