"""GenerateContent: PromptRecords to responses rows, one per record, through
Gemini generateContent (or streamGenerateContent with stream=True)."""
from __future__ import annotations

import asyncio
import json

import apache_beam as beam

from transforms import metrics, schemas
from transforms.concurrent_calls import ConcurrentCallsDoFn
from transforms.image_files import ImageFiles
from transforms.progress import ProgressSettings
from transforms.prompt_records import PromptRecord
from transforms.vertex_connection import VertexConnection, shared_client
from vertex.client import CallResult
from vertex.response_rows import error_columns, response_row, usage_row


def responses_table_row(record: PromptRecord, result: CallResult, run_id: str, redact,
                        image_uris: list[str] = ()) -> dict:
    """The row for one record: the parsed answer, or why there is none."""
    row = {
        **schemas.blank_row(schemas.RESPONSES),
        "image_uris": list(image_uris),
        "run_id": run_id, "id": record.id, "model": record.model,
        "attempts": result.attempts, "throttled_attempts": result.throttled,
        "latency_ms": round(result.latency_ms, 3),
        "first_token_ms": None if result.first_token_ms is None else round(result.first_token_ms, 3),
        "http_status": result.http_status, "metadata": record.metadata,
        "source": record.source, "line_number": record.line_number,
    }
    if result.ok:
        row.update(response_row(result.response),
                   response_json=json.dumps(result.response, separators=(",", ":")))
    else:
        row.update(error_columns(result.error, redact), status="error", usage=usage_row(None))
    return row


def store_inline_images(files: ImageFiles, record_id: str, response: dict) -> list[str]:
    """Writes the images of an answer (inlineData parts, e.g. from an image
    capable Gemini model) to files and drops their bytes from the answer.
    Blocking I/O: run it in a thread."""
    uris = []
    for candidate in response.get("candidates") or []:
        for part in (candidate.get("content") or {}).get("parts") or []:
            blob = part.get("inlineData") if isinstance(part, dict) else None
            if isinstance(blob, dict) and str(blob.get("mimeType", "")).startswith("image/") \
                    and blob.get("data"):
                stored = files.save(record_id, len(uris), blob["mimeType"], blob.pop("data"))
                uris.append(stored["uri"])
    return uris


class _GenerateContentFn(ConcurrentCallsDoFn):
    def __init__(self, connection: VertexConnection, stream: bool, run_id: str,
                 output: str | None, progress: ProgressSettings = ProgressSettings()):
        super().__init__(connection.settings.max_in_flight, progress)
        self.connection, self.stream, self.run_id, self.output = connection, stream, run_id, output

    def setup(self):
        super().setup()
        self._client = shared_client(self.connection)
        self._files = ImageFiles(self.output, self.run_id) if self.output else None
        self._counters = {name: metrics.counter(name) for name in (
            "responses_ok", "responses_blocked", "responses_error",
            "prompt_tokens", "candidates_tokens", "total_tokens")}

    async def call(self, record: PromptRecord):
        result = await self._client.generate_content(record.model, record.body, self.stream)
        image_uris: list[str] = []
        if result.ok and self._files is not None:
            image_uris = await asyncio.to_thread(
                store_inline_images, self._files, record.id, result.response)
        return [responses_table_row(record, result, self.run_id, self._client.redact, image_uris)]

    def count(self, row: dict) -> None:
        c = self._counters
        c[f"responses_{row['status']}"].inc()
        self.count_call(row)
        usage = row["usage"]
        for name in ("prompt", "candidates", "total"):
            c[f"{name}_tokens"].inc(usage[f"{name}_token_count"] or 0)


class GenerateContent(beam.PTransform):
    """output: where images in answers are written (under images/); without
    it they stay inline in response_json. progress: progress lines, for local runs."""

    def __init__(self, connection: VertexConnection, run_id: str, stream: bool = False,
                 output: str | None = None, progress: ProgressSettings = ProgressSettings()):
        super().__init__()
        self.connection, self.run_id, self.stream = connection, run_id, stream
        self.output, self.progress = output, progress

    def expand(self, records):
        return records | beam.ParDo(_GenerateContentFn(
            self.connection, self.stream, self.run_id, self.output, self.progress))
