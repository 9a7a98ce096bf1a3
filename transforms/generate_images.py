"""Imagen predict as a CallVertexAI handler: one images row per image, or one
row saying why a record got none. The images leave as files for SaveFiles
(one answer's images in memory at a time)."""
from __future__ import annotations

import json

import vertex_schema

from transforms import metrics, schemas
from transforms.call_vertex import CallHandler, record_row
from transforms.progress import ProgressSettings
from transforms.record_defaults import RecordDefaults
from transforms.prompt_records import PromptRecord, RejectedLine, record_prompt
from transforms.save_files import FILES, CallAndSaveFiles
from transforms.vertex_connection import VertexConnection
from vertex.client import CallResult, VertexClient
from vertex.imagen import read_predictions
from vertex.prices import Estimate, PriceTable
from vertex.response_rows import error_columns
from vertex_schema.imagen import check_predict


def image_body(obj: dict, defaults: RecordDefaults) -> dict:
    prompt = record_prompt(obj, defaults)
    if prompt is None:
        raise RejectedLine("an image record needs a prompt (or --prompt_template)")
    parameters = obj.get("parameters") or {}
    try:  # refused here, before any money is spent
        _, parameters = check_predict({"instances": [{"prompt": prompt}],
                                       "parameters": parameters})
    except vertex_schema.InvalidRequest as error:
        raise RejectedLine(f"invalid Imagen request: {'; '.join(error.messages)}") from None
    return {"instances": [{"prompt": prompt}], "parameters": parameters}



def _record_columns(record: PromptRecord, result: CallResult, run_id: str | None) -> dict:
    """The columns every row of a record shares (the others start empty)."""
    parameters = record.body.get("parameters") or {}
    return {**record_row(schemas.IMAGES, record, result, run_id),
            "prompt": record.body["instances"][0]["prompt"],
            "parameters_json": json.dumps(parameters, sort_keys=True),
            "images_requested": _requested(record)}


class ImagenHandler(CallHandler):
    table = "images"
    estimate_method = "sampleCount images a record"

    def __init__(self, run_id: str | None = None, prices: PriceTable | None = None):
        self.run_id = run_id
        self.prices = prices or PriceTable.load()

    async def call(self, client: VertexClient, record: PromptRecord) -> CallResult:
        return await client.predict(record.model, record.body)

    def estimate(self, record: PromptRecord) -> Estimate:
        return Estimate(images=_requested(record))

    def place_file(self, row: dict, mime_type: str, stored: dict) -> None:
        row.update(stored)  # a row an image, described in its columns

    def cost(self, record: PromptRecord, result: CallResult) -> float | None:
        """Imagen bills each image it returns (filtered ones are free)."""
        if not result.ok:
            return 0.0
        per_image = self.prices.image_cost(record.model)
        return None if per_image is None else per_image * len(read_predictions(result.response)[0])

    def rows(self, record: PromptRecord, result: CallResult, redact) -> list[dict]:
        common = _record_columns(record, result, self.run_id)
        if not result.ok:
            return [{**common, **error_columns(result.error, redact),
                     "status": "error", "images_returned": 0, "cost_usd": 0.0}]
        predictions, rai_reason = read_predictions(result.response)
        if not predictions:
            return [{**common, "status": "blocked", "images_returned": 0, "cost_usd": 0.0,
                     "rai_filtered_reason": rai_reason or "no images returned"}]
        per_image = self.prices.image_cost(record.model)
        rows = []
        for prediction in predictions:
            row = {**common, "status": "ok", "image_index": prediction.index,
                   "mime_type": prediction.mime_type,
                   "enhanced_prompt": prediction.enhanced_prompt,
                   "safety_attributes": prediction.safety_attributes,
                   "images_returned": len(predictions), "rai_filtered_reason": rai_reason,
                   "cost_usd": per_image}
            if prediction.data_base64 is None:  # Imagen wrote it to storageUri itself
                row["uri"] = prediction.gcs_uri
            else:
                row[FILES] = [{"index": prediction.index, "mime_type": prediction.mime_type,
                               "data_base64": prediction.data_base64}]
            rows.append(row)
        return rows


def _requested(record: PromptRecord) -> int:
    return (record.body.get("parameters") or {}).get("sampleCount", 1)


class GenerateImages(CallAndSaveFiles):
    """Image PromptRecords to images rows, the images saved under `output`.
    A shorthand for CallVertexAI(ImagenHandler(...)) then SaveFiles."""

    def __init__(self, connection: VertexConnection, output: str, run_id: str | None = None,
                 progress: ProgressSettings = ProgressSettings(),
                 metrics_namespace: str = metrics.NAMESPACE, prices: PriceTable | None = None):
        super().__init__(ImagenHandler(run_id, prices), connection, output, run_id, progress,
                         metrics_namespace)
