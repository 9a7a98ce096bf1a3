"""--prompt_template: a record's fields into its prompt.

The rule, all of it: `{field}` (a name of letters, digits and `_`, not
starting with a digit) or `{field.sub.field}` (a path into nested objects) is
replaced by that field's value; `{{` and `}}` are a literal `{` and `}`; every
other brace is left as it is, so JSON in a template (`Answer as {"label": ...}`)
needs no escaping. A string value goes in as it is; a number, boolean, list
or object as JSON. A field that is missing or null rejects the line, naming
the field; so does a prompt that is empty once filled (nothing is paid for it).
"""
from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}")


class TemplateError(ValueError):
    """A record the template cannot be filled from (the message names the field)."""


def fields(template: str) -> list[str]:
    """The field paths a template names, in order."""
    return [m.group(1) for m in _TOKEN.finditer(template) if m.group(1)]


def fill(template: str, record: dict) -> str:
    def replace(match: re.Match) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return _text(_lookup(record, match.group(1)), match.group(1))
    prompt = _TOKEN.sub(replace, template)
    if not prompt.strip():
        raise TemplateError("the prompt is empty once the template is filled")
    return prompt


def _lookup(record: dict, path: str) -> Any:
    if path in record:  # a field whose name has a dot in it
        return record[path]
    value: Any = record
    for name in path.split("."):
        if not isinstance(value, dict) or name not in value:
            raise TemplateError(f"the template's field {path!r} is missing from the record")
        value = value[name]
    return value


def _text(value: Any, path: str) -> str:
    if value is None:
        raise TemplateError(f"the template's field {path!r} is null in the record")
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
