"""Checks a request body the way the real API does, answering 400
INVALID_ARGUMENT with a message in the API's own words. Field names are
accepted in lowerCamelCase and snake_case; the body is returned in camelCase.
"""
from __future__ import annotations

import re

_SNAKE = re.compile(r"_([a-z0-9])")

REQUEST_FIELDS = {
    "contents", "systemInstruction", "tools", "toolConfig", "safetySettings",
    "generationConfig", "labels", "cachedContent", "modelArmorConfig",
}
CONTENT_FIELDS = {"role", "parts"}
PART_DATA_FIELDS = {
    "text", "inlineData", "fileData", "functionCall", "functionResponse",
    "executableCode", "codeExecutionResult",
}
PART_FIELDS = PART_DATA_FIELDS | {"videoMetadata", "thought", "thoughtSignature", "mediaResolution"}
GENERATION_CONFIG_FIELDS = {
    "temperature", "topP", "topK", "candidateCount", "maxOutputTokens",
    "presencePenalty", "frequencyPenalty", "stopSequences", "responseMimeType",
    "responseSchema", "responseJsonSchema", "seed", "responseLogprobs", "logprobs",
    "audioTimestamp", "responseModalities", "mediaResolution", "speechConfig",
    "thinkingConfig", "routingConfig", "imageConfig", "enableAffectiveDialog",
}
HARM_CATEGORIES = {
    "HARM_CATEGORY_UNSPECIFIED", "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_DANGEROUS_CONTENT", "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT", "HARM_CATEGORY_CIVIC_INTEGRITY",
}
HARM_BLOCK_THRESHOLDS = {
    "HARM_BLOCK_THRESHOLD_UNSPECIFIED", "BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE",
    "BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF",
}
HARM_BLOCK_METHODS = {"HARM_BLOCK_METHOD_UNSPECIFIED", "SEVERITY", "PROBABILITY"}
RESPONSE_MIME_TYPES = {"text/plain", "application/json", "text/x.enum"}
ROLES = {"user", "model", "function", "USER", "MODEL"}


class InvalidArgument(Exception):
    """Answered as 400 INVALID_ARGUMENT."""


def camel(name: str) -> str:
    return _SNAKE.sub(lambda m: m.group(1).upper(), name)


def _fields(obj, allowed: set[str], where: str) -> dict:
    """Renames snake_case keys to camelCase and refuses unknown ones."""
    if not isinstance(obj, dict):
        raise InvalidArgument(f"Invalid value at '{where}': expected an object")
    result = {}
    for key, value in obj.items():
        name = camel(key)
        if name not in allowed:
            raise InvalidArgument(
                f'Invalid JSON payload received. Unknown name "{key}" at \'{where}\': '
                "Cannot find field.")
        result[name] = value
    return result


def _content(obj, where: str) -> dict:
    content = _fields(obj, CONTENT_FIELDS, where)
    if "role" in content and content["role"] not in ROLES:
        raise InvalidArgument(f"Please use a valid role: user, model. ({where}.role)")
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise InvalidArgument(
            "Unable to submit request because it must include at least one parts field, "
            "which describes the prompt input.")
    content["parts"] = []
    for i, part in enumerate(parts):
        part = _fields(part, PART_FIELDS, f"{where}.parts[{i}]")
        data = [name for name in PART_DATA_FIELDS if name in part]
        if len(data) != 1:
            raise InvalidArgument(
                f"{where}.parts[{i}] must contain exactly one of text, inlineData, fileData, "
                "functionCall, functionResponse")
        for blob in ("inlineData", "fileData"):
            if blob in part:
                part[blob] = {camel(k): v for k, v in part[blob].items()}
                if not part[blob].get("mimeType"):
                    raise InvalidArgument(f"{where}.parts[{i}].{blob}.mimeType is required")
        content["parts"].append(part)
    return content


def _number(config: dict, name: str, low: float, high: float, high_open=False):
    if name not in config:
        return
    value = config[name]
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise InvalidArgument(f"Invalid value at 'generation_config.{name}': not a number")
    if value < low or value > high or (high_open and value == high):
        raise InvalidArgument(
            f"Unable to submit request because it has a {name} value of {value} but the "
            f"supported range is from {low} (inclusive) to {high} "
            f"({'exclusive' if high_open else 'inclusive'}). "
            "Update the value and try again.")


def generation_config(obj) -> dict:
    config = _fields(obj, GENERATION_CONFIG_FIELDS, "generation_config")
    _number(config, "temperature", 0, 2)
    _number(config, "topP", 0, 1)
    _number(config, "topK", 1, 1_000_000)
    _number(config, "candidateCount", 1, 8)
    _number(config, "maxOutputTokens", 1, 1_000_000)
    _number(config, "presencePenalty", -2, 2, high_open=True)
    _number(config, "frequencyPenalty", -2, 2, high_open=True)
    _number(config, "logprobs", 0, 20)
    stops = config.get("stopSequences")
    if stops is not None and (not isinstance(stops, list) or len(stops) > 5
                              or not all(isinstance(s, str) for s in stops)):
        raise InvalidArgument("stop_sequences must be a list of at most 5 strings")
    mime = config.get("responseMimeType")
    if mime is not None and mime not in RESPONSE_MIME_TYPES:
        raise InvalidArgument(
            f"Unable to submit request because it has a response_mime_type of {mime}, which "
            "is not supported. Supported values: " + ", ".join(sorted(RESPONSE_MIME_TYPES)))
    if ("responseSchema" in config or "responseJsonSchema" in config) \
            and mime in (None, "text/plain"):
        raise InvalidArgument(
            "Unable to submit request because response_schema is only supported with "
            "response_mime_type application/json or text/x.enum.")
    if mime == "text/x.enum" and not (config.get("responseSchema") or {}).get("enum"):
        raise InvalidArgument("text/x.enum needs a response_schema with enum values")
    return config


def generate_content_request(body, streaming: bool = False) -> dict:
    """Validates a GenerateContentRequest; returns it in camelCase (top levels)."""
    request = _fields(body, REQUEST_FIELDS, "")
    contents = request.get("contents")
    if not isinstance(contents, list) or not contents:
        raise InvalidArgument(
            "Unable to submit request because it has an empty contents field. "
            "Add content and try again.")
    request["contents"] = [_content(c, f"contents[{i}]") for i, c in enumerate(contents)]
    if "systemInstruction" in request:
        request["systemInstruction"] = _content(request["systemInstruction"], "system_instruction")
    request["generationConfig"] = generation_config(request.get("generationConfig") or {})
    if streaming and request["generationConfig"].get("candidateCount", 1) > 1:
        raise InvalidArgument("candidate_count greater than 1 is not supported for streaming")
    settings = request.get("safetySettings") or []
    if not isinstance(settings, list):
        raise InvalidArgument("safety_settings must be a list")
    request["safetySettings"] = []
    for i, setting in enumerate(settings):
        setting = _fields(setting, {"category", "threshold", "method"}, f"safety_settings[{i}]")
        for name, allowed in (("category", HARM_CATEGORIES), ("threshold", HARM_BLOCK_THRESHOLDS),
                              ("method", HARM_BLOCK_METHODS)):
            if name in setting and setting[name] not in allowed:
                raise InvalidArgument(
                    f"Invalid value at 'safety_settings[{i}].{name}', \"{setting[name]}\"")
        request["safetySettings"].append(setting)
    tools = request.get("tools") or []
    if not isinstance(tools, list):
        raise InvalidArgument("tools must be a list")
    request["tools"] = [{camel(k): v for k, v in t.items()} for t in tools if isinstance(t, dict)]
    for tool in request["tools"]:
        if "functionDeclarations" in tool:
            tool["functionDeclarations"] = [
                {camel(k): v for k, v in d.items()} for d in tool["functionDeclarations"]]
            for d in tool["functionDeclarations"]:
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}", str(d.get("name", ""))):
                    raise InvalidArgument(f"Invalid function name: {d.get('name')!r}")
    if "toolConfig" in request and isinstance(request["toolConfig"], dict):
        request["toolConfig"] = {camel(k): ({camel(a): b for a, b in v.items()}
                                            if isinstance(v, dict) else v)
                                 for k, v in request["toolConfig"].items()}
    return request
