"""From one parsed JSON line to a PromptRecord: the request to send and
everything that travels with it to the output. A line that cannot be used
raises RejectedLine with the reason."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import apache_beam as beam

import vertex_schema
from vertex import live, service_tiers
from vertex.endpoints import check_model_name
from vertex.request_body import as_content, merge_defaults, user_content
from vertex_schema.imagen import check_predict

TASKS = ("text", "image", "live")
# Request fields that a prompt or template record may carry beside its prompt
# (in the API's camelCase or snake_case).
_RECORD_SETTINGS = {"systemInstruction", "generationConfig", "safetySettings", "tools",
                    "toolConfig", "labels", "cachedContent", "modelArmorConfig",
                    "system_instruction", "generation_config", "safety_settings",
                    "tool_config", "cached_content", "model_armor_config"}


class SourceLine(NamedTuple):
    source: str
    line_number: int
    text: str | None
    error: str | None = None  # why the line could not be read (then it is rejected)


class PromptRecord(NamedTuple):
    id: str
    task: str
    model: str
    body: dict              # the request body, as sent
    metadata: str | None    # the record's `metadata`, as JSON
    source: str | None      # where it came from (None for a dict made in a pipeline)
    line_number: int | None
    raw_line: str | None = None  # the line as read (for a duplicate id's rejected row)
    service_tier: str = "standard"  # the PayGo tier asked for: standard, flex, priority


class RejectedLine(ValueError):
    """The reason a line cannot become a record."""


@dataclass(frozen=True)
class RecordDefaults:
    """Job-level settings; a record's own values win over them."""
    model: str = "gemini-2.5-flash"
    image_model: str = "imagen-4.0-fast-generate-001"
    live_model: str = "gemini-live-2.5-flash"
    task: str = "text"
    prompt_template: str | None = None
    system_instruction: Any = None          # a string or a Content object
    generation_config: dict | None = None
    safety_settings: list | None = None
    model_map: tuple[tuple[str, str], ...] = ()  # (named, called): run old files on new models
    service_tier: str = "standard"          # a record's own "service_tier" wins
    location: str | None = None             # where calls go (Flex: global only); None: global
    api_version: str = "v1"                 # whose protos judge the requests
    stream: bool = False                    # streamGenerateContent has rules of its own
    defaults_body: dict = field(init=False, default_factory=dict)

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {self.task!r}")
        body: dict = {}
        if self.system_instruction is not None:
            body["systemInstruction"] = as_content(self.system_instruction)
        if self.generation_config is not None:
            if not isinstance(self.generation_config, dict):
                raise ValueError("generation_config must be a JSON object")
            body["generationConfig"] = self.generation_config
        if self.safety_settings is not None:
            if not isinstance(self.safety_settings, (list, dict)):
                raise ValueError("safety_settings must be a JSON list")
            body["safetySettings"] = self.safety_settings
        try:
            body = vertex_schema.read_generate_content(body, self.api_version)
        except vertex_schema.InvalidRequest as error:
            raise ValueError(f"invalid job defaults: {'; '.join(error.messages)}") from None
        object.__setattr__(self, "defaults_body", body)

    def called_model(self, model: str) -> str:
        return dict(self.model_map).get(model, model)


MAX_NESTING = 100  # the API's own limit (protobuf's JSON parser refuses deeper)


def nesting_depth(value) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        level = [child for item in level if isinstance(item, (dict, list))
                 for child in (item.values() if isinstance(item, dict) else item)]
    return depth - 1


def parse_json_line(line: SourceLine) -> dict:
    try:
        value = vertex_schema.loads(line.text)  # with the API's own leniencies
    except RecursionError:
        raise RejectedLine(f"JSON nested more than {MAX_NESTING} levels deep") from None
    except ValueError as error:
        raise RejectedLine(f"not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise RejectedLine(f"not a JSON object but {type(value).__name__}")
    return value


def _prompt(obj: dict, defaults: RecordDefaults) -> str | None:
    prompt = obj.get("prompt")
    if prompt is not None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise RejectedLine("prompt must be a non-empty string")
        return prompt
    if defaults.prompt_template:
        try:
            return defaults.prompt_template.format_map(obj)
        except KeyError as error:
            raise RejectedLine(f"prompt_template needs field {error.args[0]!r}, "
                               "which this record lacks") from None
        except (IndexError, ValueError, AttributeError) as error:
            raise RejectedLine(f"prompt_template cannot be filled: {error}") from None
    return None


def _text_body(obj: dict, defaults: RecordDefaults) -> dict:
    """The request to send: the record's own (or its prompt with its
    settings) over the job's defaults, judged as Vertex AI would judge it."""
    if "request" in obj:
        request = obj["request"]
        if not isinstance(request, dict):
            raise RejectedLine("request must be a JSON object (a GenerateContentRequest)")
    else:
        prompt = _prompt(obj, defaults)
        if prompt is None:
            raise RejectedLine("no usable prompt: the record has no prompt or request"
                               + ("" if defaults.prompt_template else
                                  ", and no --prompt_template was given"))
        request = {k: v for k, v in obj.items() if k in _RECORD_SETTINGS}
        request["contents"] = [user_content(prompt)]
        for key in ("systemInstruction", "system_instruction"):
            if key in request:
                try:
                    request[key] = as_content(request[key])
                except ValueError as error:
                    raise RejectedLine(str(error)) from None
    try:
        body = vertex_schema.read_generate_content(request, defaults.api_version)
        # The defaults were read once, at start-up: judge the merge, not read it again.
        return vertex_schema.judge_generate_content(
            merge_defaults(body, defaults.defaults_body), defaults.api_version, defaults.stream)
    except vertex_schema.InvalidRequest as error:
        raise RejectedLine(f"invalid request: {'; '.join(error.messages)}") from None


def _image_body(obj: dict, defaults: RecordDefaults) -> dict:
    prompt = _prompt(obj, defaults)
    if prompt is None:
        raise RejectedLine("an image record needs a prompt (or --prompt_template)")
    parameters = obj.get("parameters") or {}
    try:  # refused here, before any money is spent
        _, parameters = check_predict({"instances": [{"prompt": prompt}],
                                       "parameters": parameters})
    except vertex_schema.InvalidRequest as error:
        raise RejectedLine(f"invalid Imagen request: {'; '.join(error.messages)}") from None
    return {"instances": [{"prompt": prompt}], "parameters": parameters}


def _live_body(obj: dict, defaults: RecordDefaults) -> dict:
    """{"setup": the setup's fields but the model, "input": {"text"} or
    {"audio_uri"}}: the audio is read when the record is called."""
    config = obj.get("config") or {}
    if not isinstance(config, dict):
        raise RejectedLine("config must be a JSON object (a LiveConnectConfig)")
    audio_uri = obj.get("audio_uri")
    if audio_uri is not None:
        if not isinstance(audio_uri, str) or not audio_uri.strip():
            raise RejectedLine("audio_uri must be a path or gs:// URI")
        turn = {"audio_uri": audio_uri}
    else:
        prompt = _prompt(obj, defaults)
        if prompt is None:
            raise RejectedLine("a live record needs a prompt (or --prompt_template) or an "
                               "audio_uri")
        turn = {"text": prompt}
    try:
        setup = vertex_schema.check_live_setup(live.setup_from_config(config),
                                               defaults.api_version)
    except (ValueError, vertex_schema.InvalidRequest) as error:
        messages = getattr(error, "messages", [str(error)])
        raise RejectedLine(f"invalid Live API config: {'; '.join(messages)}") from None
    return {"setup": setup, "input": turn}


def derived_id(task: str, model: str, body: dict) -> str:
    """Stable across runs: the same content, model and settings give the same id."""
    canonical = json.dumps([task, model, body], sort_keys=True, separators=(",", ":"))
    return "h-" + hashlib.sha256(canonical.encode()).hexdigest()[:20]


def build_record(line: SourceLine, defaults: RecordDefaults) -> PromptRecord:
    record = record_from_object(parse_json_line(line), defaults, line.source, line.line_number)
    return record._replace(raw_line=line.text)


def record_from_object(obj: dict, defaults: RecordDefaults, source: str | None = None,
                       line_number: int | None = None) -> PromptRecord:
    """A record from one input object (a parsed line, or a dict made in a
    pipeline): the same shapes, the same checks."""
    if not isinstance(obj, dict):
        raise RejectedLine(f"not a JSON object but {type(obj).__name__}")
    if nesting_depth(obj) > MAX_NESTING:
        raise RejectedLine(f"JSON nested more than {MAX_NESTING} levels deep")
    task = obj.get("task", defaults.task)
    if task not in TASKS:
        raise RejectedLine(f"unknown task {task!r}; one of {', '.join(TASKS)}")
    default_model = {"image": defaults.image_model, "live": defaults.live_model}.get(
        task, defaults.model)
    model = defaults.called_model(obj.get("model") or default_model)
    try:
        check_model_name(model)
    except ValueError as error:
        raise RejectedLine(str(error)) from None
    body = {"image": _image_body, "live": _live_body, "text": _text_body}[task](obj, defaults)
    record_id = obj.get("id")
    if record_id is None or record_id == "":
        record_id = derived_id(task, model, body)
    elif not isinstance(record_id, (str, int)) or isinstance(record_id, bool):
        raise RejectedLine("id must be a string or an integer")
    metadata = obj.get("metadata")
    tier = obj.get("service_tier", defaults.service_tier)
    try:
        service_tiers.check(tier, location=defaults.location)
    except ValueError as error:
        raise RejectedLine(f"service_tier: {error}") from None
    return PromptRecord(
        id=str(record_id), task=task, model=model, body=body,
        metadata=None if metadata is None else json.dumps(metadata, sort_keys=True),
        source=source, line_number=line_number, service_tier=tier)


class PromptRecordCoder(beam.coders.Coder):
    """A deterministic coder for PromptRecords crossing a shuffle: their
    bodies are JSON, so JSON with sorted keys (never the pickle fallback)."""

    def encode(self, record: PromptRecord) -> bytes:
        return json.dumps(list(record), sort_keys=True, separators=(",", ":")).encode()

    def decode(self, encoded: bytes) -> PromptRecord:
        return PromptRecord(*json.loads(encoded))

    def is_deterministic(self) -> bool:
        return True


beam.coders.registry.register_coder(PromptRecord, PromptRecordCoder)
