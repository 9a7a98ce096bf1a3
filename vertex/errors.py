"""Errors raised by the Vertex client, shaped after Google's error body."""
from __future__ import annotations

import asyncio
import json
import socket
from typing import Any, Iterator

import aiohttp
import httpx

# HTTP statuses that a later attempt can cure.
RETRYABLE_STATUS_CODES = frozenset({429, 500, 502, 503, 504})


class VertexApiError(Exception):
    """An error answer from the service: `{"error": {"code", "message", "status"}}`."""

    def __init__(self, code: int, status: str, message: str,
                 retry_after_s: float | None = None):
        super().__init__(f"{code} {status}: {message}")
        self.code = code
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE_STATUS_CODES


class ModelNotFoundError(VertexApiError):
    """404 for a model that some records named (not the job's own): those
    records fail with error_code `model_not_found`, the job goes on."""

    def __init__(self, model: str, message: str):
        super().__init__(404, "model_not_found", message)
        self.model = model


class MalformedResponseError(Exception):
    """The service answered 2xx, but the body is not what the API promises
    (cut off, not JSON). Retried, since a new attempt usually succeeds."""


class UnreadableAnswerError(Exception):
    """The service answered 200 with JSON that no reading of Google's response
    protos makes an answer (a null candidate, an enum or a count out of range,
    bad base64, ...). Not retried: the call was paid, and the same request
    would likely get the same answer. The record's error row keeps the body."""
    error_code = "malformed_response"

    def __init__(self, reason: str, body: Any = None):
        super().__init__(reason)
        self.body = body


class FatalApiError(Exception):
    """The job cannot succeed as configured; stop it with one clear message."""


def first_line(message, limit: int = 300) -> str:
    """An error's (or a text's) first line, short enough for a one-line
    report; an error without a message gives its type's name."""
    fallback = type(message).__name__ if isinstance(message, BaseException) else ""
    return (str(message or "").strip().splitlines() or [fallback])[0][:limit]


class DeadlineExceededError(Exception):
    """The record's deadline (--deadline_s) passed; it is not retried."""


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    """An error and the errors it was raised from (httpx's transports wrap
    the socket-level error that says what really happened)."""
    for _ in range(10):
        if error is None:
            return
        yield error
        error = error.__cause__ or error.__context__


def cannot_connect(error: BaseException) -> bool:
    """No connection could be made (refused, unknown host, connect timed
    out), as opposed to a server that answered, or hung up mid-answer.
    (httpx-aiohttp reports a refused connection as httpx.ConnectTimeout, so
    the aiohttp error underneath decides.)"""
    return any(isinstance(e, (httpx.ConnectError, aiohttp.ClientConnectorError,
                              aiohttp.ConnectionTimeoutError, ConnectionRefusedError,
                              socket.gaierror))
               for e in _chain(error))


def error_code_and_message(error: BaseException) -> tuple[str, int | None, str]:
    """Why a call failed: a canonical status name (as Google's), the HTTP
    status if there was an answer, and a message."""
    if isinstance(error, VertexApiError):
        return error.status, error.code, error.message
    if getattr(error, "error_code", None):  # errors of our own that name their code
        return error.error_code, None, str(error)
    if isinstance(error, DeadlineExceededError):
        return "DEADLINE_EXCEEDED", None, str(error)
    if isinstance(error, MalformedResponseError):
        return "DATA_LOSS", None, str(error)
    if cannot_connect(error):
        root = list(_chain(error))[-1]
        return "UNAVAILABLE", None, f"cannot connect: {root}"
    if any(isinstance(e, aiohttp.ServerDisconnectedError) for e in _chain(error)):
        return "UNAVAILABLE", None, "the server closed the connection before answering"
    if isinstance(error, (httpx.TimeoutException, asyncio.TimeoutError)):
        return "DEADLINE_EXCEEDED", None, "the attempt timed out (--request_timeout_s)"
    if isinstance(error, (httpx.TransportError, ConnectionError)):
        return "UNAVAILABLE", None, f"{type(error).__name__}: {error}"
    if type(error).__module__.startswith("google.auth"):  # e.g. the token endpoint unreachable
        return "UNAVAILABLE", None, f"getting an access token failed: {error}"
    return "INTERNAL", None, f"{type(error).__name__}: {error}"


def parse_retry_delay(value: Any) -> float | None:
    """'50s' or '1.5s' (a google.protobuf.Duration in JSON) -> seconds."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            return float(value[:-1])
        except ValueError:
            return None
    if isinstance(value, dict):  # {"seconds": .., "nanos": ..}
        return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
    return None


def error_from_response(status_code: int, body: bytes,
                        headers: dict[str, str] | None = None) -> VertexApiError:
    """Builds a VertexApiError from an HTTP error answer, with the server's
    retry hint (`google.rpc.RetryInfo` or the `Retry-After` header) if any."""
    status, message, retry_after = "", "", None
    try:
        error = json.loads(body)["error"]
        status = str(error.get("status", ""))
        message = str(error.get("message", ""))
        for detail in error.get("details") or []:
            if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
                retry_after = parse_retry_delay(detail.get("retryDelay"))
    except (ValueError, KeyError, TypeError, AttributeError):
        message = body[:500].decode("utf-8", "replace")
    header = (headers or {}).get("retry-after")
    if retry_after is None and header:
        try:
            retry_after = float(header)
        except ValueError:
            pass
    return VertexApiError(status_code, status or _STATUS_NAMES.get(status_code, "UNKNOWN"),
                          message or "no message", retry_after)


_STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
    502: "BAD_GATEWAY", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

