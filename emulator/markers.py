"""Per-request behaviour chosen by markers in the prompt text.

A marker is `[[emulator: directive, directive ...]]` anywhere in a text part.
Directives (N = how many attempts of this same request are affected; omitted
means every attempt):

    block[=REASON]          the prompt is blocked (promptFeedback.blockReason, default SAFETY)
    unsafe=CATEGORY         the answer is rated HIGH in CATEGORY (e.g. HARM_CATEGORY_HATE_SPEECH)
                            and stopped with finishReason SAFETY unless that category's
                            threshold is BLOCK_NONE or OFF
    fail=CODE[xN]           answer CODE (429, 500, 503, ...) to the first N attempts
    retry_after=SECONDS     with fail=429: the RetryInfo delay (and Retry-After header)
    latency=MS[xN]          add MS milliseconds before answering
    drop[xN]                close the connection without answering
    truncate[xN]            answer 200 with the body cut in half
    stream_error[xN]        streaming: send one chunk, then an error event (503)
    filter=K                Imagen: K of the images are filtered by Responsible AI
    cite                    the answer cites two sources (citationMetadata)
    go_away[xN]             Live API: goAway, then the connection ends before the turn completes
    bad_json[xN]            the answer's text is not valid JSON (a JSON answer cut short, as
                            when an answer to a responseSchema breaks off)
    off_schema[xN]          a JSON answer leaves out the schema's first required field (or, with
                            none, is of the wrong type)
    finish=REASON           the answer ends with this finishReason (e.g. MALFORMED_FUNCTION_CALL,
                            OTHER, RECITATION; anything but STOP and MAX_TOKENS comes with
                            no content and a finishMessage)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_MARKER = re.compile(r"\[\[emulator:([^\]]*)\]\]")
_DIRECTIVE = re.compile(r"^\s*([a-z_]+)\s*(?:=\s*([^x\s]+))?\s*(?:x\s*(\d+))?\s*$")


@dataclass
class Markers:
    block: str | None = None
    unsafe: list[str] = field(default_factory=list)
    fail_code: int | None = None
    fail_times: int | None = None
    retry_after_s: float | None = None
    latency_ms: float = 0.0
    latency_times: int | None = None
    drop_times: int | None = None
    drop: bool = False
    truncate: bool = False
    truncate_times: int | None = None
    stream_error: bool = False
    stream_error_times: int | None = None
    filter_images: int = 0
    cite: bool = False
    go_away: bool = False
    go_away_times: int | None = None
    finish: str | None = None
    bad_json: bool = False
    bad_json_times: int | None = None
    off_schema: bool = False
    off_schema_times: int | None = None

    @property
    def counted(self) -> bool:
        """Whether the behaviour depends on how many attempts were made."""
        return bool(self.fail_code or self.drop or self.truncate or self.stream_error
                    or self.latency_times or self.go_away or self.bad_json or self.off_schema)

    def active(self, directive: str, attempt: int) -> bool:
        """Whether a directive (fail, drop, truncate, stream_error, latency, ...)
        applies to this attempt of the request, given its xN limit."""
        value = getattr(self, {"fail": "fail_code", "latency": "latency_ms"}.get(directive, directive))
        times = getattr(self, f"{directive}_times")
        return bool(value) and (times is None or attempt <= times)


def strip_markers(text: str) -> str:
    return _MARKER.sub("", text).strip()


def parse_markers(text: str) -> Markers:
    markers = Markers()
    for match in _MARKER.finditer(text):
        for directive in match.group(1).split(","):
            if not directive.strip():
                continue
            parsed = _DIRECTIVE.match(directive)
            if not parsed:
                raise ValueError(f"bad emulator marker directive: {directive.strip()!r}")
            name, value, times = parsed.group(1), parsed.group(2), parsed.group(3)
            times = int(times) if times else None
            if name == "block":
                markers.block = value or "SAFETY"
            elif name == "unsafe":
                markers.unsafe.append(value or "HARM_CATEGORY_DANGEROUS_CONTENT")
            elif name == "fail":
                markers.fail_code, markers.fail_times = int(value or 503), times
            elif name == "retry_after":
                markers.retry_after_s = float(value or 1)
            elif name == "latency":
                markers.latency_ms, markers.latency_times = float(value or 0), times
            elif name in ("drop", "truncate", "stream_error", "go_away", "bad_json", "off_schema"):
                setattr(markers, name, True)
                setattr(markers, f"{name}_times", times)
            elif name == "cite":
                markers.cite = True
            elif name == "finish":
                if not value or not re.fullmatch(r"[A-Z_]+", value):
                    raise ValueError(f"finish needs a finish reason, e.g. finish=OTHER: {value!r}")
                markers.finish = value
            elif name == "filter":
                markers.filter_images = int(value or 1)
            else:
                raise ValueError(f"unknown emulator marker directive: {name!r}")
    return markers
