"""Typed answers: a schema for the answer (BigQuery's column list, or a
Vertex AI responseSchema / responseJsonSchema), what it adds to a request,
and the check of an answer against it.

    schema = OutputSchema.from_columns("sentiment STRING, confidence FLOAT64, tags ARRAY<STRING>")
    schema.generation_config   # responseMimeType application/json, responseSchema, all required
    schema.read(answer_text)   # Verdict: the typed value, or invalid_json / schema_mismatch

A schema is read as Vertex AI reads it (vertex_schema: Google's protos
decide what is refused). A job's schema must also have a typed equivalent
(`typed=True`: every value one Arrow type), so that the answers of all its
records share one `parsed` column; a record's own schema is only checked
(`typed=False`: what has no typed equivalent, e.g. anyOf of two objects, is
checked as far as it can be and otherwise taken as it comes).
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from decimal import Context, Decimal, InvalidOperation

import vertex_schema
from vertex.response_rows import Status, answer_text, response_status

# Kinds of value (the Arrow type of each: transforms/schemas.py parsed_type).
STRING, INTEGER, NUMBER, DECIMAL, BOOLEAN, ARRAY, OBJECT, ANY = (
    "string", "integer", "number", "decimal", "boolean", "array", "object", "any")
INVALID_JSON, SCHEMA_MISMATCH = "invalid_json", "schema_mismatch"
DECIMAL_SCALE = Decimal("1e-9")  # BigQuery NUMERIC: 38 digits, 9 after the point
DECIMAL_CONTEXT = Context(prec=38)  # its precision (Python's default context has 28 digits)
INT64_RANGE = range(-2 ** 63, 2 ** 63)


class _JsonNumber(float):
    """A JSON number with a fraction or exponent, as a float that keeps its
    text: a NUMERIC column takes the digits written, not the float's."""
    text: str

    def __new__(cls, text: str):
        number = super().__new__(cls, text)
        number.text = text
        return number


def _not_json_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")

# BigQuery's type names (and their aliases) for --output_schema.
_BIGQUERY_TYPES = {
    "STRING": STRING, "BOOL": BOOLEAN, "BOOLEAN": BOOLEAN, "FLOAT64": NUMBER,
    "INT64": INTEGER, "INT": INTEGER, "INTEGER": INTEGER, "SMALLINT": INTEGER,
    "BIGINT": INTEGER, "TINYINT": INTEGER, "BYTEINT": INTEGER,
    "NUMERIC": DECIMAL, "DECIMAL": DECIMAL,
}
_VERTEX_TYPES = {STRING: "STRING", INTEGER: "INTEGER", NUMBER: "NUMBER", DECIMAL: "NUMBER",
                 BOOLEAN: "BOOLEAN", ARRAY: "ARRAY", OBJECT: "OBJECT"}
_OPENAPI_TYPES = {"STRING": STRING, "INTEGER": INTEGER, "NUMBER": NUMBER, "BOOLEAN": BOOLEAN,
                  "ARRAY": ARRAY, "OBJECT": OBJECT}
_JSON_TYPES = {"string": STRING, "integer": INTEGER, "number": NUMBER, "boolean": BOOLEAN,
               "array": ARRAY, "object": OBJECT}


class SchemaError(ValueError):
    """A schema Vertex AI would refuse, or one with no typed equivalent: one
    line naming the field."""


@dataclass(frozen=True)
class Node:
    """One value of the schema."""
    kind: str
    nullable: bool = False
    enum: tuple | None = None
    items: "Node | None" = None
    properties: tuple[tuple[str, "Node"], ...] = ()   # in the answer's order
    required: frozenset = frozenset()
    any_of: tuple["Node", ...] = ()                   # checked only (typed=False)


@dataclass(frozen=True)
class Verdict:
    """An answer, read: `value` (for the typed column) and `json` (the
    answer's JSON, compact) when it matches; else `error_code`
    (invalid_json or schema_mismatch) and `message`, naming the field."""
    value: object = None
    json: str | None = None
    error_code: str | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_code is None


class _Mismatch(Exception):
    pass


@dataclass(frozen=True)
class OutputSchema:
    """What the answer must be. generation_config: the request's fields
    (responseMimeType and responseSchema or responseJsonSchema), as Vertex AI
    reads them. root: the value. enum_text: with text/x.enum the answer is
    the bare value, not JSON. wrapped: the root is not an object, so its
    typed value is {"value": ...}."""
    generation_config: dict
    root: Node
    enum_text: bool = False
    wrapped: bool = field(init=False, default=False)

    def __post_init__(self):
        object.__setattr__(self, "wrapped", self.root.kind != OBJECT)

    @classmethod
    def from_columns(cls, text: str) -> "OutputSchema":
        """BigQuery's column list, as AI.GENERATE_TABLE's output_schema:
        'name TYPE, ...' with STRING, INT64, FLOAT64, NUMERIC, BOOL,
        ARRAY<T> and STRUCT<name T, ...>. Every field is required."""
        root = _ColumnList(text).read()
        config = {"responseMimeType": "application/json", "responseSchema": _vertex_schema(root)}
        return cls(config, root)

    @classmethod
    def from_response_schema(cls, schema: dict, typed: bool = True) -> "OutputSchema":
        """A Vertex AI responseSchema (OpenAPI subset), or
        {"responseSchema": ...} or {"responseJsonSchema": ...}."""
        if not isinstance(schema, dict) or not schema:
            raise SchemaError("a response schema is a JSON object")
        config = {key: schema[key] for key in ("responseSchema", "responseJsonSchema")
                  if key in schema}
        mime = schema.get("responseMimeType", "application/json")
        if not config:
            config = {"responseSchema": schema}  # a bare schema
        elif len(config) + ("responseMimeType" in schema) != len(schema):
            others = sorted(set(schema) - set(config) - {"responseMimeType"})
            raise SchemaError("give responseSchema or responseJsonSchema alone, not beside "
                              f"{', '.join(others)} (responseMimeType may go with it)")
        if mime not in ("application/json", "text/x.enum"):
            raise SchemaError(f"responseMimeType {mime!r}: a typed answer is application/json, "
                              "or text/x.enum for a single label")
        config["responseMimeType"] = mime
        return cls.from_generation_config(_as_vertex_reads_it(config), typed)

    @classmethod
    def from_generation_config(cls, config: dict, typed: bool = False) -> "OutputSchema | None":
        """The schema a request's (read) generationConfig asks for, or None."""
        mime = config.get("responseMimeType")
        if mime not in ("application/json", "text/x.enum"):
            return None  # no schema asked for (Vertex AI refuses one without these)
        kept = {k: config[k] for k in ("responseMimeType", "responseSchema",
                                       "responseJsonSchema") if k in config}
        try:
            if "responseJsonSchema" in config:
                kept["responseJsonSchema"] = _inlined(config["responseJsonSchema"], "$ref", "$defs")
                root = _from_json_schema(kept["responseJsonSchema"], typed, "")
            elif "responseSchema" in config:
                kept["responseSchema"] = _inlined(config["responseSchema"], "ref", "defs")
                root = _from_openapi(kept["responseSchema"], typed, "")
            else:
                return None
        except SchemaError:
            if typed:
                raise
            root = Node(ANY, True)  # a record's schema we cannot read: its answer is taken as JSON
            kept = {k: config[k] for k in kept}
        return cls(kept, root, enum_text=mime == "text/x.enum")

    def read(self, text: str | None) -> Verdict:
        """The answer's text, checked against the schema."""
        text = text or ""
        if self.enum_text:
            answer = text.strip()
        else:
            try:
                answer = json.loads(text, parse_float=_JsonNumber,
                                    parse_constant=_not_json_constant)
            except ValueError as error:
                return Verdict(error_code=INVALID_JSON, message=(
                    f"the answer is not valid JSON ({error}); " + _excerpt(text)))
        try:
            value = _check(self.root, answer, "")
        except _Mismatch as error:
            return Verdict(error_code=SCHEMA_MISMATCH, message=str(error))
        return Verdict(value={"value": value} if self.wrapped else value,
                       json=json.dumps(answer, separators=(",", ":"), ensure_ascii=False))


def _excerpt(text: str) -> str:
    return f"it begins {text[:80]!r}" if text.strip() else "it is empty"


def _as_vertex_reads_it(config: dict) -> dict:
    """The generationConfig as Vertex AI reads it (names, enum spellings),
    or its refusal, in one line."""
    body = {"contents": [{"role": "user", "parts": [{"text": "-"}]}], "generationConfig": config}
    try:
        body = vertex_schema.read_generate_content(body, legacy=False)
        vertex_schema.judge_generate_content(body)
    except vertex_schema.InvalidRequest as error:
        raise SchemaError("Vertex AI would refuse it: " + "; ".join(error.messages)) from None
    return body["generationConfig"]


# -- reading schemas -----------------------------------------------------------------------

def _where(path: str) -> str:
    return f"field {path}" if path else "the answer's top level"


def _untyped(typed: bool, path: str, what: str, **node) -> Node:
    """A part of a schema with no typed column equivalent: refused in a
    job's schema (naming the field), taken as it comes in a record's own."""
    if typed:
        raise _no_equivalent(path, what)
    return Node(ANY, True, **node)


def _no_equivalent(path: str, what: str) -> SchemaError:
    return SchemaError(f"{_where(path)}: {what} has no typed column equivalent")


def _inlined(schema, ref_key: str, defs_key: str):
    """A schema whose references are inlined (sent so, as the SDK sends it)."""
    if not isinstance(schema, dict) or not (
            defs_key in schema or ref_key in schema or "definitions" in schema):
        return schema
    defs = {**(schema.get("definitions") or {}), **(schema.get(defs_key) or {})}
    return _inline_refs({k: v for k, v in schema.items() if k != "definitions"},
                        defs, ref_key, defs_key, "")


def _inline_refs(schema, defs: dict, ref_key: str, defs_key: str, path: str,
                 seen: tuple = ()):
    """The schema with each reference to its definitions replaced by the
    definition, as the SDK does for a schema without cycles; a cyclic one
    has no typed equivalent (SchemaError naming the field)."""
    if isinstance(schema, list):
        return [_inline_refs(s, defs, ref_key, defs_key, path, seen) for s in schema]
    if not isinstance(schema, dict):
        return schema
    defs = {**defs, **(schema.get(defs_key) or {})}
    ref = schema.get(ref_key)
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name not in defs:
            raise SchemaError(f"{_where(path)}: $ref {ref!r} names no definition")
        if name in seen:
            raise _no_equivalent(path, f"a cyclic $ref ({' -> '.join((*seen, name))})")
        siblings = {k: v for k, v in schema.items() if k not in (ref_key, defs_key)}
        return _inline_refs({**defs[name], **siblings}, defs, ref_key, defs_key, path,
                            (*seen, name))
    result = {}
    for key, value in schema.items():
        if key == defs_key:
            continue
        if key == "properties" and isinstance(value, dict):
            result[key] = {name: _inline_refs(v, defs, ref_key, defs_key,
                                              f"{path}.{name}" if path else name, seen)
                           for name, v in value.items()}
        else:
            result[key] = _inline_refs(value, defs, ref_key, defs_key, path, seen)
    return result


def _alternatives(nodes: tuple, typed: bool, path: str, what: str) -> Node:
    """anyOf: objects alone are one struct of all their fields (each nullable,
    none required; an answer still has to match one of them); anything else
    has no typed equivalent."""
    if all(node.kind == OBJECT for node in nodes):
        fields: dict[str, Node] = {}
        for node in nodes:
            for name, child in node.properties:
                child = dataclasses.replace(child, nullable=True)
                if name in fields and fields[name] != child:
                    if typed:
                        raise _no_equivalent(f"{path}.{name}" if path else name,
                                             "a field of two types in anyOf's objects")
                    return Node(ANY, True, any_of=nodes)
                fields[name] = child
        return Node(OBJECT, any(n.nullable for n in nodes), properties=tuple(fields.items()),
                    any_of=nodes)
    return _untyped(typed, path, what, any_of=nodes)


def _from_openapi(schema, typed: bool, path: str) -> Node:
    """A Vertex AI Schema (as read: types upper case, names camelCase)."""
    if not isinstance(schema, dict):
        raise SchemaError(f"{_where(path)}: a schema is a JSON object")
    if schema.get("anyOf"):
        return _alternatives(tuple(_from_openapi(s, typed, path) for s in schema["anyOf"]),
                             typed, path, "anyOf")
    if schema.get("ref") or schema.get("defs"):
        return _untyped(typed, path, "a $ref")
    kind = _OPENAPI_TYPES.get(str(schema.get("type", "")).upper())
    if kind is None:
        return _untyped(typed, path, "a schema without a type")
    ordering = list(schema.get("propertyOrdering") or [])
    order = ordering + [name for name in schema.get("properties") or {} if name not in ordering]
    return _typed(kind, bool(schema.get("nullable")), schema, order, typed, path, _from_openapi)


def _from_json_schema(schema, typed: bool, path: str) -> Node:
    """A JSON Schema (responseJsonSchema), in the part of it that has types."""
    if schema is True or schema == {}:
        return _untyped(typed, path, "a schema that allows anything")
    if not isinstance(schema, dict):
        raise SchemaError(f"{_where(path)}: a schema is a JSON object")
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        non_null = [s for s in alternatives if not (isinstance(s, dict) and s.get("type") == "null")]
        if len(non_null) == 1 and len(alternatives) == 2:  # the nullable spelling
            return dataclasses.replace(_from_json_schema(non_null[0], typed, path), nullable=True)
        nodes = tuple(_from_json_schema(s, typed and isinstance(s, dict) and
                                        s.get("type") == "object", path) for s in non_null)
        node = _alternatives(nodes, typed, path, "anyOf of several types")
        return dataclasses.replace(node, nullable=node.nullable or len(non_null) < len(alternatives))
    if "$ref" in schema:
        return _untyped(typed, path, "a $ref")
    types = schema.get("type")
    types = list(types) if isinstance(types, list) else [types] if types else []
    if not types and schema.get("enum") and all(isinstance(v, str) for v in schema["enum"]):
        types = ["string"]  # {"enum": [...]} of strings: a string
    kinds = [t for t in types if t != "null"]
    if len(kinds) != 1 or kinds[0] not in _JSON_TYPES:
        return _untyped(typed, path, f"type {schema.get('type')!r}")
    return _typed(_JSON_TYPES[kinds[0]], "null" in types, schema,
                  list(schema.get("properties") or {}), typed, path, _from_json_schema)


def _typed(kind: str, nullable: bool, schema: dict, order: list, typed: bool, path: str,
           read) -> Node:
    """A node of a known kind; its items and properties read by `read` (the
    reader of the schema's own dialect)."""
    enum = tuple(schema["enum"]) if schema.get("enum") else None
    if kind == ARRAY:
        items = schema.get("items")
        return Node(ARRAY, nullable, enum, items=(
            _untyped(typed, path, "an array without items") if items is None
            else read(items, typed, f"{path}[]")))
    if kind != OBJECT:
        return Node(kind, nullable, enum)
    properties, required = schema.get("properties") or {}, schema.get("required") or []
    if not properties and typed:  # a record's own may leave them open
        raise _no_equivalent(path, "an object without properties")
    unknown = [name for name in required if name not in properties]
    if unknown:
        raise SchemaError(f"{_where(path)}: required names {unknown[0]!r}, which is not "
                          "among its properties")
    fields = tuple((name, read(properties[name], typed, f"{path}.{name}" if path else name))
                   for name in order if name in properties)
    return Node(OBJECT, nullable, properties=fields, required=frozenset(required))


class _ColumnList:
    """BigQuery's column list: 'name TYPE, name ARRAY<TYPE>, name STRUCT<a TYPE, ...>'."""
    _TOKEN = re.compile(r"\s*(`[^`]+`|[A-Za-z_][A-Za-z0-9_]*|<|>|,|\S)")

    def __init__(self, text: str):
        self.text = text
        self.tokens = self._TOKEN.findall(text or "")
        self.at = 0

    def read(self) -> Node:
        if not self.tokens:
            raise SchemaError("the column list is empty: give 'name TYPE, ...'")
        return self._fields(end=None, path="")

    def _next(self) -> str | None:
        token = self.tokens[self.at] if self.at < len(self.tokens) else None
        self.at += 1
        return token

    def _expect(self, wanted: str, after: str) -> None:
        token = self._next()
        if token != wanted:
            raise SchemaError(f"expected {wanted!r} after {after}, found "
                              f"{token!r}" if token else f"expected {wanted!r} after {after}")

    def _fields(self, end: str | None, path: str) -> Node:
        fields, seen = [], set()
        while True:
            name = self._next()
            if name is None or not re.fullmatch(r"`[^`]+`|[A-Za-z_][A-Za-z0-9_]*", name):
                raise SchemaError(f"expected a field name in {'STRUCT<...>' if end else 'the column list'}"
                                  f"{' at ' + path if path else ''}, found {name!r}")
            name = name.strip("`")
            if name.lower() in seen:
                raise SchemaError(f"field {name!r} appears twice")
            seen.add(name.lower())
            where = f"{path}.{name}" if path else name
            fields.append((name, self._type(where)))
            token = self._next()
            if token == ",":
                continue
            if token == end:
                break
            raise SchemaError(f"expected ',' or {'>' if end else 'the end'} after field "
                              f"{where}, found {token!r}")
        return Node(OBJECT, properties=tuple(fields), required=frozenset(n for n, _ in fields))

    def _type(self, path: str) -> Node:
        token = self._next()
        name = (token or "").upper()
        if name == "ARRAY":
            self._expect("<", f"ARRAY of field {path}")
            items = self._type(f"{path}[]")
            if items.kind == ARRAY:
                raise SchemaError(f"field {path}: BigQuery has no ARRAY of ARRAY; put the "
                                  "inner ARRAY in a STRUCT")
            self._expect(">", f"the ARRAY type of field {path}")
            return Node(ARRAY, items=items)
        if name == "STRUCT":
            self._expect("<", f"STRUCT of field {path}")
            return self._fields(end=">", path=path)
        if name in _BIGQUERY_TYPES:
            return Node(_BIGQUERY_TYPES[name])
        if token is None:
            raise SchemaError(f"field {path} has no type")
        raise SchemaError(f"field {path}: type {token} is not one of STRING, INT64, FLOAT64, "
                          "NUMERIC, BOOL, ARRAY<T>, STRUCT<...>")


def _vertex_schema(node: Node) -> dict:
    """The Vertex AI responseSchema of a column list's node: every field
    required, in the order given."""
    schema: dict = {"type": _VERTEX_TYPES[node.kind]}
    if node.kind == ARRAY:
        schema["items"] = _vertex_schema(node.items)
    elif node.kind == OBJECT:
        schema["properties"] = {name: _vertex_schema(child) for name, child in node.properties}
        schema["propertyOrdering"] = [name for name, _ in node.properties]
        schema["required"] = [name for name, _ in node.properties]
    return schema


# -- checking answers ----------------------------------------------------------------------

def _describe(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _check(node: Node, value, path: str):
    """The value, typed, or _Mismatch naming the field."""
    if value is None:
        if node.nullable or node.kind == ANY:
            return None
        raise _Mismatch(f"{_where(path)}: null, but it is not nullable")
    if node.any_of:
        for alternative in node.any_of:
            try:
                return _check(alternative, value, path)
            except _Mismatch:
                continue
        raise _Mismatch(f"{_where(path)}: {_describe(value)} matches none of anyOf")
    kind = node.kind
    if kind == ANY:
        return value
    if node.enum is not None and value not in node.enum:
        raise _Mismatch(f"{_where(path)}: {_describe(value)} is not one of the enum "
                        f"({', '.join(map(str, node.enum[:10]))}"
                        f"{', ...' if len(node.enum) > 10 else ''})")
    if kind == STRING and isinstance(value, str):
        return value
    if kind == BOOLEAN and isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number(kind, value, path)
    if kind == ARRAY and isinstance(value, list):
        return [_check(node.items, item, f"{path}[{i}]") for i, item in enumerate(value)]
    if kind == OBJECT and isinstance(value, dict):
        for name in sorted(node.required):
            if name not in value:
                raise _Mismatch(f"field {f'{path}.{name}' if path else name}: missing "
                                "(required)")
        return {name: _check(child, value.get(name), f"{path}.{name}" if path else name)
                if name in value else None for name, child in node.properties}
    raise _Mismatch(f"{_where(path)}: {_describe(value)} is not {_A[kind]}")


def _number(kind: str, value, path: str):
    """A JSON number in its column's type, or _Mismatch when it does not fit
    (an INT64 beyond 64 bits, a NUMERIC beyond 38 digits, a FLOAT64 beyond a
    double): such an answer is re-asked like any other that misses."""
    if kind == NUMBER:
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):  # written as a number, read as infinity: too large
            raise _Mismatch(f"{_where(path)}: {_describe_number(value)} does not fit FLOAT64")
        return number
    if kind == INTEGER and (isinstance(value, int) or float(value).is_integer()):
        if int(value) not in INT64_RANGE:
            raise _Mismatch(f"{_where(path)}: {_describe_number(value)} does not fit INT64")
        return int(value)
    if kind == DECIMAL:
        try:
            number = Decimal(getattr(value, "text", None) or str(value))
            return number.quantize(DECIMAL_SCALE, context=DECIMAL_CONTEXT)
        except InvalidOperation:
            raise _Mismatch(f"{_where(path)}: {_describe_number(value)} does not fit NUMERIC "
                            "(38 digits, 9 after the point)") from None
    raise _Mismatch(f"{_where(path)}: {_describe_number(value)} is not {_A[kind]}")


def _describe_number(value) -> str:
    text = getattr(value, "text", None) or str(value)
    return text if len(text) <= 40 else text[:37] + "..."


_A = {STRING: "a string", INTEGER: "an integer", NUMBER: "a number", DECIMAL: "a number",
      BOOLEAN: "a boolean", ARRAY: "an array", OBJECT: "an object"}


class AnswerSchemas:
    """The schema each record's answer must follow: the one its request
    carries (generationConfig's responseSchema or responseJsonSchema, the
    job's or its own), read once per distinct schema. Only answers to the
    job's schema fill the typed `parsed` column (one Arrow type)."""

    KEPT = 256  # distinct record schemas kept read (records may each bring their own)

    def __init__(self, job_schema: OutputSchema | None = None):
        self.job_schema = job_schema
        self._job_key = _schema_key(job_schema.generation_config) if job_schema else None
        self._read: dict[str, OutputSchema] = {}

    def of(self, body: dict) -> OutputSchema | None:
        """The schema a request's answer must follow, or None."""
        config = body.get("generationConfig") or {}
        if "responseSchema" not in config and "responseJsonSchema" not in config:
            return None
        key = _schema_key(config)
        if key == self._job_key:
            return self.job_schema
        schema = self._read.get(key) or OutputSchema.from_generation_config(config)
        if len(self._read) < self.KEPT:
            self._read[key] = schema
        return schema

    def misses(self, body: dict, response: dict) -> bool:
        """Whether the answer is not of the schema its request asked for."""
        verdict = answer_verdict(self.of(body), response)
        return verdict is not None and not verdict.ok


def answer_verdict(schema: OutputSchema | None, response: dict) -> Verdict | None:
    """The answer checked against its schema; None when there is none to
    check (no schema, or the answer was blocked or failed)."""
    if schema is None or response_status(response) != Status.OK:
        return None
    return schema.read(answer_text(response))


def _schema_key(config: dict) -> str:
    return json.dumps([config.get(k) for k in ("responseMimeType", "responseSchema",
                                               "responseJsonSchema")], sort_keys=True)
