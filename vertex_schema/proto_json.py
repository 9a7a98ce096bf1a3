"""Request JSON read as Vertex AI reads it: Google's own protos decide.

`read_message` walks a JSON value with a message's descriptor and applies
the leniencies the API itself has before the strict parse:

- field names in lowerCamelCase (the JSON name) or snake_case (the proto name);
- a single object or value where the schema has a list (legacy reference
  bodies and real batch-prediction files send `contents`, `parts` and
  `safety_settings` so);
- numbers given as strings (proto3 JSON), enums given by number;
- lowercase (OpenAPI style) schema types, durations as {seconds, nanos}
  objects.

The legacy v1 dialect's spellings (roles USER/ASSISTANT, legacy threshold
names) are Vertex AI's only for the legacy models (gemini-pro,
gemini-pro-vision): `translate_legacy_spellings` turns them into today's
before the walk, for the callers that accept them.

Everything else the protos do not allow is refused, with the API's wording
and the field path in proto names, e.g.
    Invalid JSON payload received. Unknown name "bogus" at 'generation_config': Cannot find field.
Then `json_format.ParseDict` parses the result strictly, so nothing the
walk let through can disagree with Google's own parser.
"""
from __future__ import annotations

import base64
import json
import math
import re

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

# Fields whose JSON is free-form data (function args, JSON schemas, ...).
_OPAQUE = frozenset({"google.protobuf.Struct", "google.protobuf.Value",
                     "google.protobuf.ListValue"})
_INTEGER_TYPES = {
    FieldDescriptor.TYPE_INT32: ("TYPE_INT32", -2**31, 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: ("TYPE_SINT32", -2**31, 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: ("TYPE_SFIXED32", -2**31, 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: ("TYPE_UINT32", 0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: ("TYPE_FIXED32", 0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: ("TYPE_INT64", -2**63, 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: ("TYPE_SINT64", -2**63, 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: ("TYPE_SFIXED64", -2**63, 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: ("TYPE_UINT64", 0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: ("TYPE_FIXED64", 0, 2**64 - 1),
}
_FLOAT_TYPES = {FieldDescriptor.TYPE_FLOAT: "TYPE_FLOAT", FieldDescriptor.TYPE_DOUBLE: "TYPE_DOUBLE"}

# The legacy v1 dialect's spellings, as the legacy reference writes them.
LEGACY_ROLES = {"USER": "user", "ASSISTANT": "model", "MODEL": "model"}
LEGACY_THRESHOLDS = {"BLOCK_MED_AND_ABOVE": "BLOCK_MEDIUM_AND_ABOVE",
                     "BLOCK_HIGH_AND_ABOVE": "BLOCK_ONLY_HIGH"}
_DURATION = re.compile(r"^-?\d+(\.\d{1,9})?s$")


def translate_legacy_spellings(body):
    """A request body with the legacy v1 dialect's roles and thresholds in
    today's spelling, wherever a request carries them (contents and the
    system instruction, in camelCase or snake_case, one object or a list;
    safety settings). Anything else is left for the walk to judge."""
    if not isinstance(body, dict):
        return body
    body = dict(body)
    for key in ("contents", "systemInstruction", "system_instruction"):
        if key in body:
            body[key] = _each(body[key], lambda c: _respelled(c, "role", LEGACY_ROLES))
    for key in ("safetySettings", "safety_settings"):
        if key in body:
            body[key] = _each(body[key], lambda s: _respelled(s, "threshold", LEGACY_THRESHOLDS))
    return body


def _each(value, change):
    return [change(item) for item in value] if isinstance(value, list) else change(value)


def _respelled(item, key: str, spellings: dict[str, str]):
    if isinstance(item, dict) and isinstance(item.get(key), str) and item[key] in spellings:
        return {**item, key: spellings[item[key]]}
    return item


class InvalidRequest(ValueError):
    """What the API answers 400 INVALID_ARGUMENT to: one message per problem,
    one per line, as the API lists them."""

    def __init__(self, messages: list[str]):
        super().__init__("\n".join(messages))
        self.messages = messages


def read_message(descriptor: Descriptor, value, path: str, errors: list[str],
                 keep_unknown: bool = False) -> dict:
    """The message's JSON with the leniencies applied, names in camelCase;
    problems are appended to errors (the walk goes on, to report them all).
    keep_unknown: a field the protos do not know is kept as it is, not an
    error (answers: Google adds fields to them before the protos know them)."""
    if not isinstance(value, dict):
        errors.append(f"Invalid value at '{path}' (type.googleapis.com/{descriptor.full_name}), "
                      f"{_show(value)}")
        return {}
    result: dict = {}
    oneofs: dict[str, str] = {}
    fields = _FIELDS.get(descriptor)
    if fields is None:
        fields = _FIELDS[descriptor] = {key: _Field(descriptor, f) for f in descriptor.fields
                                        for key in (f.name, f.json_name)}
    for key, item in value.items():
        field = fields.get(key)
        if field is None:
            if keep_unknown:
                result[key] = item
                continue
            at = f" at '{path}'" if path else ""
            errors.append(f'Invalid JSON payload received. Unknown name "{key}"{at}: '
                          "Cannot find field.")
            continue
        if item is None:
            continue  # JSON null means "not set" in proto3 JSON
        if field.oneof is not None:
            if field.oneof in oneofs:
                at = f" at '{path}'" if path else ""
                errors.append(f'Invalid JSON payload received. Unknown name "{key}"{at}: '
                              f"Oneof field '{field.oneof}' is already set. "
                              f"Cannot set '{field.proto_name}'")
                continue
            oneofs[field.oneof] = field.proto_name
        field_path = f"{path}.{field.proto_name}" if path else field.proto_name
        result[field.json_name] = _read_field(field, item, field_path, errors, keep_unknown)
    return result


class _Field:
    """What the walk needs of one field, read from its descriptor once: the
    descriptor's attributes are built anew at each access, and reading every
    answer of a job asked for them millions of times."""
    __slots__ = ("descriptor", "owner", "json_name", "proto_name", "oneof", "shape", "kind",
                 "message", "entry_value")

    def __init__(self, owner: Descriptor, field: FieldDescriptor):
        self.descriptor, self.owner = field, owner
        self.json_name, self.proto_name = field.json_name, proto_name(field)
        self.oneof = field.containing_oneof.name if field.containing_oneof is not None else None
        self.message = field.message_type if field.type == FieldDescriptor.TYPE_MESSAGE else None
        self.entry_value = None
        if self.message is not None and self.message.GetOptions().map_entry:
            self.shape = "map"
            self.entry_value = _Field(owner, self.message.fields_by_name["value"])
        elif field.label == FieldDescriptor.LABEL_REPEATED:
            self.shape = "list"
        elif self.message is not None and self.message.full_name in _OPAQUE:
            self.shape = "any"  # free-form JSON: a list is a value like any other
        else:
            self.shape = "single"
        if self.message is None:
            self.kind = "enum" if field.type == FieldDescriptor.TYPE_ENUM else "scalar"
        elif self.message.full_name in _OPAQUE:
            self.kind = "opaque"
        elif self.message.full_name == "google.protobuf.Duration":
            self.kind = "duration"
        elif self.message.full_name.startswith("google.protobuf."):
            self.kind = "opaque"  # Timestamp, wrappers, FieldMask: json_format judges them
        else:
            self.kind = "message"


# A message's fields by JSON name and proto name.
_FIELDS: dict[Descriptor, dict[str, _Field]] = {}


def _read_field(field: _Field, value, path: str, errors: list[str], keep_unknown: bool = False):
    shape = field.shape
    if shape == "map":
        if not isinstance(value, dict):
            errors.append(f"Invalid value at '{path}' (map), {_show(value)}")
            return {}
        return {str(k): _read_single(field.entry_value, v, f"{path}[{k!r}]", errors, keep_unknown)
                for k, v in value.items()}
    if shape == "list":
        items = value if isinstance(value, list) else [value]  # a single value for a list
        return [_read_single(field, item, f"{path}[{i}]", errors, keep_unknown)
                for i, item in enumerate(items)]
    if shape == "single" and isinstance(value, list):
        errors.append(f"Invalid JSON payload received. Unknown name \"{field.json_name}\" at "
                      f"'{path.rpartition('.')[0]}': Proto field is not repeating, cannot start list.")
        return None
    return _read_single(field, value, path, errors, keep_unknown)


def _read_single(field: _Field, value, path: str, errors: list[str], keep_unknown: bool = False):
    kind = field.kind
    if kind == "message":
        return read_message(field.message, value, path, errors, keep_unknown)
    if kind == "scalar":
        return _scalar(field.descriptor, value, path, errors)
    if kind == "enum":
        if keep_unknown and isinstance(value, str):
            return value  # a value named after the protos were built is still a value
        return _enum(field.owner, field.descriptor, value, path, errors)
    if kind == "duration":
        return _duration(value, path, errors)
    return value


def _enum(owner: Descriptor, field: FieldDescriptor, value, path: str, errors: list[str]):
    enum = field.enum_type
    if isinstance(value, str):
        if owner.name == "Schema" and field.json_name == "type":
            value = value.upper()  # legacy and OpenAPI style: "object", "string"
        if value in enum.values_by_name:
            return value
    elif isinstance(value, int) and not isinstance(value, bool) and value in enum.values_by_number:
        return enum.values_by_number[value].name
    errors.append(f"Invalid value at '{path}' (type.googleapis.com/{enum.full_name}), "
                  f"{_show(value)}")
    return None


def _scalar(field: FieldDescriptor, value, path: str, errors: list[str]):
    kind = field.type
    if kind in _INTEGER_TYPES:
        type_name, low, high = _INTEGER_TYPES[kind]
        number = _integer(value)
        if number is None or not low <= number <= high:
            errors.append(f"Invalid value at '{path}' ({type_name}), {_show(value)}")
        return number
    if kind in _FLOAT_TYPES:
        number = _float(value)
        if number is None:
            errors.append(f"Invalid value at '{path}' ({_FLOAT_TYPES[kind]}), {_show(value)}")
        return value if isinstance(value, (int, float)) else number  # 40 stays 40
    if kind == FieldDescriptor.TYPE_BOOL:
        if not isinstance(value, bool):
            errors.append(f"Invalid value at '{path}' (TYPE_BOOL), {_show(value)}")
        return value
    if kind == FieldDescriptor.TYPE_BYTES:
        if not isinstance(value, str) or not _is_base64(value):
            errors.append(f"Invalid value at '{path}' (TYPE_BYTES), Base64 decoding failed for "
                          f"{_show(value)}")
        return value
    if not isinstance(value, str):
        errors.append(f"Invalid value at '{path}' (TYPE_STRING), {_show(value)}")
    return value


def _integer(value) -> int | None:
    """proto3 JSON integers: a number without a fraction, or such a number in a string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text != value or not text:
            return None
        try:
            return int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _float(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.strip() == value and value:
        special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
        if value in special:
            return special[value]
        try:
            return float(value)
        except ValueError:
            return None
    return None


def decode_base64(text) -> bytes:
    """Base64 as protobuf reads it: the standard or URL-safe alphabet,
    padding optional. ValueError for anything else."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    cleaned = text.replace("-", "+").replace("_", "/").rstrip("=")
    if len(cleaned) % 4 == 1:
        raise ValueError("a base64 text cannot be one character past a whole group")
    return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)


def _is_base64(text) -> bool:
    try:
        decode_base64(text)
    except ValueError:  # binascii.Error is one
        return False
    return True


def _duration(value, path: str, errors: list[str]):
    """"1.5s", or the legacy {"seconds": 60, "nanos": 0} object."""
    if isinstance(value, dict) and set(value) <= {"seconds", "nanos"}:
        seconds, nanos = _integer(value.get("seconds", 0)), _integer(value.get("nanos", 0))
        if seconds is not None and nanos is not None and 0 <= nanos < 10**9:
            return f"{seconds}.{nanos:09d}s" if nanos else f"{seconds}s"
    elif isinstance(value, str) and _DURATION.match(value):
        return value
    errors.append(f"Invalid value at '{path}' (type.googleapis.com/google.protobuf.Duration), "
                  f"{_show(value)}")
    return None


def parse_strictly(message_class, body: dict) -> None:
    """Google's own parser over the leniency-applied body: unknown fields refused."""
    key = _verdict_key(message_class, body)
    if key is not None and key in _PARSED:
        return
    try:
        json_format.ParseDict(body, message_class(), ignore_unknown_fields=False)
    except json_format.ParseError as error:
        raise InvalidRequest([f"Invalid JSON payload received. {error}"]) from None
    if key is not None:
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED.add(key)


# Bodies Google's parser accepted, with their parts' texts emptied. The parser
# judges a text by its type alone (a string of valid UTF-8), so bodies that
# differ only in their texts, as a file of prompts does, are parsed once: the
# parser is pure Python and was most of the cost of reading a record.
_PARSED: set[str] = set()
_PARSED_MAX = 4096
_KEY_MAX_CHARS = 20_000  # bodies with large inline data are parsed each time


def _verdict_key(message_class, body: dict) -> str | None:
    def without_texts(content):
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            return content
        parts = []
        for part in content["parts"]:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                part["text"].encode()  # an unpaired surrogate is refused: no verdict to share
                part = {**part, "text": ""}
            parts.append(part)
        return {**content, "parts": parts}
    try:
        shape = dict(body)
        if isinstance(body.get("contents"), list):
            shape["contents"] = [without_texts(c) for c in body["contents"]]
        if "systemInstruction" in body:
            shape["systemInstruction"] = without_texts(body["systemInstruction"])
        key = json.dumps([message_class.DESCRIPTOR.full_name, shape], sort_keys=True)
    except (TypeError, ValueError, UnicodeError):
        return None
    return key if len(key) <= _KEY_MAX_CHARS else None


def proto_name(field: FieldDescriptor) -> str:
    """The field's name in the .proto (proto-plus appends `_` to names such as
    `type` that are Python keywords or builtins)."""
    return field.name[:-1] if field.name.endswith("_") else field.name


def _show(value) -> str:
    """A value as the API quotes it in a message: strings in quotes, short."""
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return f'"{text}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "{...}" if isinstance(value, dict) else "[...]"
    return repr(value) if value is not None else "null"
