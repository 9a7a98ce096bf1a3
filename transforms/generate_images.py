"""Image records as a CallVertexAI handler: Imagen predict, or a Gemini image
model's generateContent asked for IMAGE output (the catalog says which a
model is). One images row per image, or one row saying why a record got
none. The images leave as files for SaveFiles (one answer's images in memory
at a time)."""
from __future__ import annotations

import json

import vertex_catalog
import vertex_schema

from transforms import metrics, schemas
from transforms.call_vertex import CallHandler, record_row
from transforms.progress import ProgressSettings
from transforms.record_defaults import RecordDefaults
from transforms.prompt_records import PromptRecord, RejectedLine, record_prompt
from transforms.save_files import FILES, CallAndSaveFiles
from transforms.vertex_connection import VertexConnection
from vertex.call_policy import CallResult
from vertex.client import VertexClient
from vertex.imagen import gemini_image_body, read_gemini_images, read_predictions
from vertex.prices import Estimate, PriceTable
from vertex.request_body import estimate_tokens
from vertex.response_rows import Status, error_columns, usage_row
from vertex_schema.imagen import camel, check_predict


def image_body(obj: dict, defaults: RecordDefaults, model: str = "") -> dict:
    """An image record's body, in Imagen's shape ({"instances": [{"prompt"}],
    "parameters"}) whichever model draws it; checked, before any money is
    spent, as the model's own API would check what it becomes."""
    prompt = record_prompt(obj, defaults)
    if prompt is None:
        raise RejectedLine("an image record needs a prompt (or --prompt_template)")
    parameters = obj.get("parameters") or {}
    gemini = _gemini_image_model(model)
    if gemini is not None:
        if not isinstance(parameters, dict):
            raise RejectedLine("invalid image request: parameters must be an object")
        parameters = {camel(k): v for k, v in parameters.items()}
        try:
            vertex_schema.read_generate_content(
                gemini_image_body(prompt, parameters, gemini), defaults.api_version)
        except ValueError as error:  # InvalidRequest included
            raise RejectedLine(f"invalid image request for {model}: {error}") from None
        return {"instances": [{"prompt": prompt}], "parameters": parameters}
    try:  # refused here, before any money is spent
        _, parameters = check_predict({"instances": [{"prompt": prompt}],
                                       "parameters": parameters})
    except vertex_schema.InvalidRequest as error:
        raise RejectedLine(f"invalid Imagen request: {'; '.join(error.messages)}") from None
    return {"instances": [{"prompt": prompt}], "parameters": parameters}


def _gemini_image_model(name: str) -> vertex_catalog.Model | None:
    """The catalog's Gemini image model of that name (drawn through
    generateContent), or None for Imagen (predict) and unknown models."""
    model = vertex_catalog.get(name) if name else None
    return model if model and model.api == vertex_catalog.GENERATE_CONTENT \
        and model.makes_images else None


def _record_columns(record: PromptRecord, result: CallResult, run_id: str | None) -> dict:
    """The columns every row of a record shares (the others start empty)."""
    parameters = record.body.get("parameters") or {}
    return {**record_row(schemas.IMAGES, record, result, run_id),
            "prompt": _prompt(record),
            "parameters_json": json.dumps(parameters, sort_keys=True),
            "images_requested": _requested(record)}


class ImagenHandler(CallHandler):
    table = "images"
    estimate_method = "sampleCount images a record"

    def __init__(self, run_id: str | None = None, prices: PriceTable | None = None):
        self.run_id = run_id
        self.prices = prices or PriceTable.load()

    async def call(self, client: VertexClient, record: PromptRecord) -> CallResult:
        gemini = _gemini_image_model(record.model)
        if gemini is None:
            return await client.predict(record.model, record.body, record.service_tier)
        body = gemini_image_body(_prompt(record),
                                 record.body.get("parameters") or {}, gemini)
        return await client.generate_images(record.model, body, _requested(record),
                                            tier=record.service_tier,
                                            movable=not record.own_tier)

    def estimate(self, record: PromptRecord) -> Estimate:
        gemini = _gemini_image_model(record.model)
        if gemini is None:
            return Estimate(images=_requested(record))
        size = (record.body.get("parameters") or {}).get("sampleImageSize") or "1K"
        tokens = (gemini.image or {}).get("tokens_per_image", {})
        per_image = tokens.get(size) or max(tokens.values(), default=0)
        prompt = {"contents": [{"parts": [{"text": _prompt(record)}]}]}
        return Estimate(input_tokens=_requested(record) * estimate_tokens(prompt),
                        image_tokens=_requested(record) * per_image)

    def place_file(self, row: dict, mime_type: str, stored: dict) -> None:
        row.update(stored)  # a row an image, described in its columns

    def count(self, row: dict, counter) -> None:
        if row.get("usage"):  # a Gemini image model's call
            metrics.count_tokens(row["usage"], counter)

    def cost(self, record: PromptRecord, result: CallResult) -> float | None:
        """Imagen bills each image it returns (filtered ones are free); a
        Gemini image model the tokens of each call (its images are output
        tokens at the IMAGE price)."""
        if not result.ok:
            return 0.0
        tier = result.sent_tier or record.service_tier
        if _drawn_by_gemini(result.response):
            costs = [self.prices.call_cost(record.model, a.get("usageMetadata"), tier)
                     for a in result.response["answers"]]
            return None if None in costs else round(sum(costs), 9)
        return self.prices.call_cost(record.model, tier=tier,
                                     images=len(read_predictions(result.response)[0]))

    def rows(self, record: PromptRecord, result: CallResult, redact) -> list[dict]:
        common = _record_columns(record, result, self.run_id)
        if not result.ok:
            return [{**common, **error_columns(result.error, redact),
                     "status": Status.ERROR, "images_returned": 0, "cost_usd": 0.0}]
        gemini = _drawn_by_gemini(result.response)
        predictions, rai_reason = (read_gemini_images(result.response["answers"]) if gemini
                                   else read_predictions(result.response))
        # Calls of the record that failed (past their retries): the images that came are
        # kept, and the record is an error row saying how many came, so that it is counted
        # and a rerun with --skip_existing asks for it again.
        failed = result.response.get("failed") if gemini else None
        missing = {} if failed is None else {
            **error_columns(failed["error"], redact), "status": Status.ERROR}
        if missing:
            missing["error_message"] = (f"{len(predictions)} of {_requested(record)} images came; "
                                        f"{failed['calls']} call(s) failed: "
                                        f"{missing['error_message']}")
        if not predictions:  # Imagen bills no image; a Gemini call still bills its tokens
            return [{**common, "status": Status.BLOCKED, "images_returned": 0,
                     "cost_usd": result.cost_usd if gemini else 0.0,
                     "rai_filtered_reason": rai_reason or "no images returned", **missing}]
        per_image = None if result.cost_usd is None else result.cost_usd / len(predictions)
        # a Gemini image model draws one image a call: each row carries its call's tokens
        usages = ([usage_row(a.get("usageMetadata")) for a in result.response["answers"]]
                  if gemini else [])
        rows = []
        for prediction in predictions:
            row = {**common, "status": Status.OK, "image_index": prediction.index,
                   "mime_type": prediction.mime_type,
                   "enhanced_prompt": prediction.enhanced_prompt,
                   "safety_attributes": prediction.safety_attributes,
                   "images_returned": len(predictions), "rai_filtered_reason": rai_reason,
                   "cost_usd": per_image}
            if len(usages) == len(predictions):
                row["usage"] = usages[prediction.index]
            row.update(missing)
            if prediction.data_base64 is None:  # Imagen wrote it to storageUri itself
                row["uri"] = prediction.gcs_uri
            else:
                row[FILES] = [{"index": prediction.index, "mime_type": prediction.mime_type,
                               "data_base64": prediction.data_base64}]
            rows.append(row)
        return rows


def _drawn_by_gemini(response: dict) -> bool:
    """Whether a record's answer is a Gemini image model's answers
    (VertexClient.generate_images) rather than Imagen's predictions."""
    return "answers" in response


def _prompt(record: PromptRecord) -> str:
    return record.body["instances"][0]["prompt"]


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
