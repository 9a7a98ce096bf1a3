"""Gemini generateContent (or streamGenerateContent with stream=True) as a
CallVertexAI handler: one responses row per record."""
from __future__ import annotations

import base64
import json

import vertex_schema

from transforms import metrics, schemas
from transforms.call_vertex import CallHandler, record_row
from transforms.progress import ProgressSettings
from transforms.record_defaults import RecordDefaults
from transforms.prompt_records import PromptRecord, RejectedLine, record_prompt
from transforms.save_files import FILES, CallAndSaveFiles
from transforms.vertex_connection import VertexConnection
from vertex import audio
from vertex.client import CallResult, VertexClient
from vertex.prices import TIER_TRAFFIC, Estimate, PriceTable
from vertex.request_body import (as_content, estimate_tokens, expected_output_tokens,
                                 merge_defaults, user_content)
from vertex.response_rows import error_columns, response_row, usage_row


# Request fields that a prompt or template record may carry beside its prompt
# (in the API's camelCase or snake_case).
_RECORD_SETTINGS = {"systemInstruction", "generationConfig", "safetySettings", "tools",
                    "toolConfig", "labels", "cachedContent", "modelArmorConfig",
                    "system_instruction", "generation_config", "safety_settings",
                    "tool_config", "cached_content", "model_armor_config"}


def text_body(obj: dict, defaults: RecordDefaults, model: str = "") -> dict:
    """The request to send: the record's own (or its prompt with its
    settings) over the job's defaults, judged as Vertex AI would judge it."""
    if "request" in obj:
        request = obj["request"]
        if not isinstance(request, dict):
            raise RejectedLine("request must be a JSON object (a GenerateContentRequest)")
    else:
        prompt = record_prompt(obj, defaults)
        if prompt is None:
            raise RejectedLine("no usable prompt: the record has no prompt or request"
                               + ("" if defaults.prompt_template else
                                  ", and no --prompt_template was given"))
        request = {k: v for k, v in obj.items() if k in _RECORD_SETTINGS}
        request["contents"] = [user_content(prompt)]
        for key in ("systemInstruction", "system_instruction"):
            if key in request:
                try:
                    request[key] = as_content(request[key])
                except ValueError as error:
                    raise RejectedLine(str(error)) from None
    try:
        body = vertex_schema.read_generate_content(request, defaults.api_version)
        # The defaults were read once, at start-up: judge the merge, not read it again.
        return vertex_schema.judge_generate_content(
            merge_defaults(body, defaults.defaults_body), defaults.api_version, defaults.stream)
    except vertex_schema.InvalidRequest as error:
        raise RejectedLine(f"invalid request: {'; '.join(error.messages)}") from None



def responses_table_row(record: PromptRecord, result: CallResult, run_id: str | None,
                        redact) -> dict:
    """The row for one record: the parsed answer, or why there is none."""
    row = record_row(schemas.RESPONSES, record, result, run_id)
    if result.first_token_ms is not None:
        row["first_token_ms"] = round(result.first_token_ms, 3)
    if result.ok:
        row.update(response_row(result.response),
                   response_json=json.dumps(result.response, separators=(",", ":")))
    else:
        row.update(error_columns(result.error, redact), status="error", usage=usage_row(None))
        body = getattr(result.error, "body", None)  # an answer that could not be read
        if body is not None:
            row["response_json"] = redact(json.dumps(body, separators=(",", ":"), default=str))
    return row


def take_inline_files(response: dict) -> tuple[list[dict], float]:
    """Takes the images and speech out of an answer (inlineData parts, from
    an image-capable or a TTS model), as files for SaveFiles: images as they
    are, raw PCM speech (audio/L16;codec=pcm;rate=24000) as WAV. The parts keep
    their mimeType, the bytes go to storage only. Returns the files and the
    seconds of speech."""
    files, seconds = [], 0.0
    for candidate in response.get("candidates") or []:
        for part in (candidate.get("content") or {}).get("parts") or []:
            blob = part.get("inlineData") if isinstance(part, dict) else None
            if not isinstance(blob, dict) or not blob.get("data"):
                continue
            mime = str(blob.get("mimeType", ""))
            if mime.startswith("image/"):
                files.append({"index": len(files), "mime_type": mime,
                              "data_base64": blob.pop("data")})
            elif mime.startswith("audio/"):
                pcm, rate = base64.b64decode(blob.pop("data")), audio.rate_of(mime)
                seconds += audio.pcm_seconds(pcm, rate)
                files.append({"index": len(files), "mime_type": "audio/wav",
                              "data_base64": base64.b64encode(audio.wav_bytes(pcm, rate)).decode()})
    return files, seconds


class GeminiHandler(CallHandler):
    """Gemini generateContent (streamGenerateContent with stream=True): one
    responses row per record. With take_files, the images and speech of an
    answer leave its response_json as files for SaveFiles; without, they stay
    inline."""

    table = "responses"
    estimate_method = "about 4 characters a token"

    def __init__(self, run_id: str | None = None, stream: bool = False,
                 take_files: bool = False, prices: PriceTable | None = None):
        self.run_id, self.stream, self.take_files = run_id, stream, take_files
        self.prices = prices or PriceTable.load()

    async def call(self, client: VertexClient, record: PromptRecord) -> CallResult:
        return await client.generate_content(record.model, record.body, self.stream,
                                             record.service_tier)

    def estimate(self, record: PromptRecord) -> Estimate:
        return Estimate(estimate_tokens(record.body), expected_output_tokens(record.body))

    async def count_tokens(self, client: VertexClient, record: PromptRecord) -> int | None:
        result = await client.count_tokens(record.model, record.body)
        if not result.ok:
            raise result.error
        return int(result.response.get("totalTokens") or 0)

    def cost(self, record: PromptRecord, result: CallResult) -> float | None:
        """From the usage the answer reports, at the tier that served it
        (trafficType; the tier asked for when the answer does not say).
        A call that got no answer is not billed."""
        if not result.ok:
            return 0.0
        usage = result.response.get("usageMetadata") or {}
        return self.prices.tokens_cost(
            record.model, usage_row(usage),
            usage.get("trafficType") or TIER_TRAFFIC[record.service_tier])

    def rows(self, record: PromptRecord, result: CallResult, redact) -> list[dict]:
        files, seconds = (take_inline_files(result.response) if result.ok and self.take_files
                          else ([], 0.0))
        row = responses_table_row(record, result, self.run_id, redact)
        if seconds:
            row["audio_seconds"] = round(seconds, 3)
        return [{**row, FILES: files} if files else row]

    def count(self, row: dict, counter) -> None:
        metrics.count_tokens(row["usage"], counter)


class GenerateContent(CallAndSaveFiles):
    """PromptRecords to responses rows through Gemini, with the images of
    answers saved under `output` (without it, rows keep them inline in
    response_json). A shorthand for CallVertexAI(GeminiHandler(...)) then
    SaveFiles."""

    def __init__(self, connection: VertexConnection, run_id: str | None = None,
                 stream: bool = False, output: str | None = None,
                 progress: ProgressSettings = ProgressSettings(),
                 metrics_namespace: str = metrics.NAMESPACE, prices: PriceTable | None = None):
        super().__init__(GeminiHandler(run_id, stream, take_files=output is not None,
                                       prices=prices),
                         connection, output, run_id, progress, metrics_namespace)
