"""GenerateImages: image PromptRecords to images rows through Imagen predict.

Each image is decoded and written straight to `{output}/images/` (one
response's images in memory at a time), and gets one row; a record that got
no image gets one row that says why.
"""
from __future__ import annotations

import asyncio
import base64
import json

import apache_beam as beam

from transforms import metrics
from transforms.concurrent_calls import ConcurrentCallsDoFn
from transforms.progress import ProgressSettings
from transforms.image_files import ImageFiles, describe
from transforms.prompt_records import PromptRecord
from transforms.vertex_connection import VertexConnection, shared_client
from vertex.client import CallResult
from vertex.errors import describe_error
from vertex.imagen import Prediction, read_predictions

_NO_IMAGE = {"image_index": None, "uri": None, "mime_type": None, "width": None, "height": None,
             "byte_size": None, "sha256": None, "enhanced_prompt": None, "safety_attributes": []}


def _record_columns(record: PromptRecord, result: CallResult, run_id: str) -> dict:
    parameters = record.body.get("parameters") or {}
    return {
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
        self._files = ImageFiles(self.output)
        self._counters = {name: metrics.counter(name) for name in (
            "image_records_ok", "image_records_blocked", "image_records_error", "images_written",
            "image_bytes")}

    def _store(self, record_id: str, prediction: Prediction) -> dict:
        """Decodes and writes one image (runs in a thread: file I/O blocks)."""
        if prediction.data_base64 is None:  # Imagen wrote it to storageUri itself
            return {"uri": prediction.gcs_uri, "width": None, "height": None,
                    "byte_size": None, "sha256": None}
        data = base64.b64decode(prediction.data_base64)
        path = self._files.path(record_id, prediction.index, prediction.mime_type)
        self._files.write(path, data)
        return {"uri": path, **describe(data)}

    async def call(self, record: PromptRecord):
        result = await self._client.predict(record.model, record.body)
        common = _record_columns(record, result, self.run_id)
        if not result.ok:
            code, http_status, message = describe_error(result.error)
            return [{**common, **_NO_IMAGE, "status": "error", "images_returned": 0,
                     "rai_filtered_reason": None, "error_code": code, "http_status": http_status,
                     "error_message": self._client.redact(message)}]
        predictions, rai_reason = read_predictions(result.response)
        errors = {"error_code": None, "error_message": None}
        if not predictions:
            return [{**common, **_NO_IMAGE, **errors, "status": "blocked", "images_returned": 0,
                     "rai_filtered_reason": rai_reason or "no images returned"}]
        rows = []
        for prediction in predictions:
            stored = await asyncio.to_thread(self._store, record.id, prediction)
            prediction.data_base64 = None  # the bytes are on storage now; free them
            rows.append({**common, **_NO_IMAGE, **errors, **stored, "status": "ok",
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
