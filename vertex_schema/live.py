"""The Live API's first message, `setup` (BidiGenerateContentSetup), judged
as the service judges it. The installed aiplatform protos carry no Live API
types, so the setup's own fields are the documented ones (live-api.md and the
reference); the messages inside it (generationConfig, systemInstruction,
tools) are read with Google's protos like any request."""
from __future__ import annotations

import re

from vertex_schema.proto_json import InvalidRequest, read_message

# The setup's fields whose value is an object of free shape (documented there).
_OBJECT_FIELDS = ("realtimeInputConfig", "sessionResumption", "contextWindowCompression",
                  "inputAudioTranscription", "outputAudioTranscription", "proactivity")
_MESSAGE_FIELDS = {"generationConfig": "GenerationConfig", "systemInstruction": "Content",
                   "toolConfig": "ToolConfig"}
_SNAKE = re.compile(r"_([a-z])")
MODALITIES = ("TEXT", "AUDIO")


def check_live_setup(setup, version: str = "v1") -> dict:
    """The setup in camelCase with the leniencies applied, or InvalidRequest."""
    from vertex_schema import proto_module
    types = proto_module(version)
    if not isinstance(setup, dict):
        raise InvalidRequest(["Invalid JSON payload received. setup must be an object."])
    errors: list[str] = []
    result: dict = {}
    for key, value in setup.items():
        name = _SNAKE.sub(lambda m: m.group(1).upper(), key)
        snake = re.sub(r"[A-Z]", lambda m: "_" + m.group().lower(), name)
        path = f"setup.{snake}"
        if name == "model":
            if not isinstance(value, str) or not value:
                errors.append(f"Invalid value at '{path}' (TYPE_STRING), {value!r}")
            result[name] = value
        elif name in _MESSAGE_FIELDS:
            message = getattr(types, _MESSAGE_FIELDS[name]).pb().DESCRIPTOR
            result[name] = read_message(message, value, path, errors)
        elif name == "tools":
            tool = types.Tool.pb().DESCRIPTOR
            items = value if isinstance(value, list) else [value]
            result[name] = [read_message(tool, t, f"{path}[{i}]", errors)
                            for i, t in enumerate(items)]
        elif name in _OBJECT_FIELDS:
            if not isinstance(value, dict):
                errors.append(f"Invalid value at '{path}': expected an object")
            result[name] = value
        else:
            errors.append(f'Invalid JSON payload received. Unknown name "{key}" at \'setup\': '
                          "Cannot find field.")
    modalities = (result.get("generationConfig") or {}).get("responseModalities") or []
    if len(modalities) > 1 or any(m not in MODALITIES for m in modalities):
        errors.append("Invalid value at 'setup.generation_config.response_modalities': the Live "
                      "API answers in one modality, TEXT or AUDIO.")
    if errors:
        raise InvalidRequest(errors)
    return result
