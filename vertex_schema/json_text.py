"""JSON text as the API reads it: trailing commas before `}` or `]` are
accepted (the legacy v1 reference's own sample bodies carry them)."""
from __future__ import annotations

import json
import re

# A string literal (kept as is), or a comma followed only by space and a closer.
_TRAILING_COMMA = re.compile(r'("(?:[^"\\]|\\.)*")|,(\s*[}\]])')


def loads(text: str | bytes):
    """json.loads, but a trailing comma is not an error. Other errors are
    json.JSONDecodeError (a ValueError), as from json.loads itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise error from None
        fixed = _TRAILING_COMMA.sub(lambda m: m.group(1) or m.group(2), text)
        if fixed == text:
            raise
        try:
            return json.loads(fixed)
        except json.JSONDecodeError:
            raise error from None
