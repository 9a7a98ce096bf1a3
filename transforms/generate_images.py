"""GenerateImages: image PromptRecords to images rows through Imagen predict.

Each image is decoded and written straight to `{output}/images/` (one
response's images in memory at a time), and gets one row; a record that got
no image gets one row that says why.
"""
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
from vertex.imagen import read_predictions
from vertex.response_rows import error_columns


def _record_columns(record: PromptRecord, result: CallResult, run_id: str) -> dict:
    """The columns every row of a record shares (the others start empty)."""
    parameters = record.body.get("parameters") or {}
    return {
        **schemas.blank_row(schemas.IMAGES),
        "run_id": run_id, "id": record.id, "model": record.model,
        "prompt": record.body["instances"][0]["prompt"],
        "parameters_json": json.dumps(parameters, sort_keys=True),
        "images_requested": parameters.get("sampleCount", 1),
        "attempts": result.attempts, "throttled_attempts": result.throttled,
        "latency_ms": round(result.latency_ms, 3), "http_status": result.http_status,
        "metadata": record.metadata, "source": record.source, "line_number": record.line_number,
    }


class _GenerateImagesFn(ConcurrentCallsDoFn):
    def __init__(self, connection: VertexConnection, output: str, run_id: str,
                 progress: ProgressSettings = ProgressSettings()):
        super().__init__(connection.settings.max_in_flight, progress)
        self.connection, self.output, self.run_id = connection, output, run_id

    def setup(self):
        super().setup()
        self._client = shared_client(self.connection)
        self._files = ImageFiles(self.output, self.run_id)
        self._counters = {name: metrics.counter(name) for name in (
            "image_records_ok", "image_records_blocked", "image_records_error", "images_written",
            "image_bytes")}

    async def call(self, record: PromptRecord):
        result = await self._client.predict(record.model, record.body)
        common = _record_columns(record, result, self.run_id)
        if not result.ok:
            return [{**common, **error_columns(result.error, self._client.redact),
                     "status": "error", "images_returned": 0}]
        predictions, rai_reason = read_predictions(result.response)
        if not predictions:
            return [{**common, "status": "blocked", "images_returned": 0,
                     "rai_filtered_reason": rai_reason or "no images returned"}]
        rows = []
        for prediction in predictions:
            if prediction.data_base64 is None:  # Imagen wrote it to storageUri itself
                stored = {"uri": prediction.gcs_uri}
            else:
                stored = await asyncio.to_thread(self._files.save, record.id, prediction.index,
                                                 prediction.mime_type, prediction.data_base64)
                prediction.data_base64 = None  # the bytes are on storage now; free them
            rows.append({**common, **stored, "status": "ok",
                         "image_index": prediction.index, "mime_type": prediction.mime_type,
                         "enhanced_prompt": prediction.enhanced_prompt,
                         "safety_attributes": prediction.safety_attributes,
                         "images_returned": len(predictions),
                         "rai_filtered_reason": rai_reason})
        return rows

    def count(self, row: dict) -> None:
        c = self._counters
        if row["image_index"] is not None:
            c["images_written"].inc()
            c["image_bytes"].inc(row["byte_size"] or 0)
        if row["image_index"] in (None, 0):  # the record's first row counts the record
            c[f"image_records_{row['status']}"].inc()
            self.count_call(row)


class GenerateImages(beam.PTransform):
    def __init__(self, connection: VertexConnection, output: str, run_id: str,
                 progress: ProgressSettings = ProgressSettings()):
        super().__init__()
        self.connection, self.output, self.run_id, self.progress = \
            connection, output, run_id, progress

    def expand(self, records):
        return records | beam.ParDo(_GenerateImagesFn(
            self.connection, self.output, self.run_id, self.progress))
