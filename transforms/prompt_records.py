"""What a record is, whatever its task: a line read (SourceLine), the
PromptRecord it becomes (the request to send and everything that travels
with it to the output), and RejectedLine, the reason a line cannot be used.
How each task builds its record's body is the task's own (transforms/tasks.py)."""
from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

import apache_beam as beam

import vertex_schema
from transforms import prompt_template


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
    own_tier: bool = False          # the record's own "service_tier" (never moved by --finish_by)


class RejectedLine(ValueError):
    """The reason a line cannot become a record."""


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


def record_prompt(obj: dict, defaults) -> str | None:
    prompt = obj.get("prompt")
    if prompt is not None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise RejectedLine("prompt must be a non-empty string")
        return prompt
    if defaults.prompt_template:
        try:
            return prompt_template.fill(defaults.prompt_template, obj)
        except prompt_template.TemplateError as error:
            raise RejectedLine(f"prompt_template: {error}") from None
    return None


def derived_id(task: str, model: str, body: dict) -> str:
    """Stable across runs: the same content, model and settings give the same id."""
    canonical = json.dumps([task, model, body], sort_keys=True, separators=(",", ":"))
    return "h-" + hashlib.sha256(canonical.encode()).hexdigest()[:20]


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
