"""Errors as Vertex AI answers them: `{"error": {"code", "message", "status"}}`,
with a google.rpc.RetryInfo delay (and Retry-After) on a 429."""
from __future__ import annotations

from aiohttp import web

STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
STATUS_MESSAGES = {
    429: "Resource exhausted. Please try again later. Please refer to "
         "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
}


class ApiError(Exception):
    def __init__(self, code: int, message: str | None = None, retry_after_s: float | None = None):
        super().__init__(message)
        self.code = code
        self.message = message or STATUS_MESSAGES.get(code, STATUS_NAMES.get(code, "error"))
        self.retry_after_s = retry_after_s


def error_body(code: int, message: str, retry_after_s: float | None = None) -> dict:
    error = {"code": code, "message": message, "status": STATUS_NAMES.get(code, "UNKNOWN")}
    if retry_after_s is not None:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                             "retryDelay": f"{retry_after_s:.3f}s"}]
    return {"error": error}


def error_response(error: ApiError) -> web.Response:
    headers = {}
    if error.retry_after_s is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after_s)))
    return web.json_response(error_body(error.code, error.message, error.retry_after_s),
                             status=error.code, headers=headers)
