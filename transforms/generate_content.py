"""Gemini generateContent (or streamGenerateContent with stream=True) as a
CallVertexAI handler: one responses row per record."""
from __future__ import annotations

import base64
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
from vertex import audio
from vertex.call_policy import CallResult
from vertex.client import VertexClient
from vertex.context_cache import USED, JobCache, cache_gone, name_of, remake
from vertex.prices import Estimate, PriceTable
from vertex.request_body import (as_content, estimate_tokens, expected_output_tokens,
                                 expected_thinking_tokens, merge_defaults, user_content)
from vertex.output_schema import AnswerSchemas, OutputSchema, answer_verdict
from vertex.response_rows import Status, error_columns, response_row, usage_row

DEFAULT_SCHEMA_REASKS = 2  # answers asked for again when not of the schema (each one paid)
THINKING_SAMPLES = 3  # answers of a model after which its measured thinking is the estimate


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
                        redact, schema=schemas.RESPONSES, answers: "AnswerSchemas | None" = None
                        ) -> dict:
    """The row for one record: the parsed answer (typed, with a schema), or
    why there is none."""
    row = record_row(schema, record, result, run_id)
    row["schema_reasks"] = len(result.set_aside)
    row["service_tier"], row["sent_tier"] = record.service_tier, result.sent_tier
    if result.first_token_ms is not None:
        row["first_token_ms"] = round(result.first_token_ms, 3)
    if result.ok:
        row.update(response_row(result.response),
                   response_json=json.dumps(result.response, separators=(",", ":")))
        schema = answers.of(record.body) if answers else None
        verdict = answer_verdict(schema, result.response)
        if verdict is not None and verdict.ok:
            row["parsed_json"] = verdict.json
            if schema is answers.job_schema:  # one Arrow type: the job's schema only
                row["parsed"] = verdict.value
        elif verdict is not None:
            row.update(status=Status.ERROR, error_code=verdict.error_code,
                       error_message=verdict.message)
    else:
        row.update(error_columns(result.error, redact), status=Status.ERROR, usage=usage_row(None))
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


def _cache_discount(cache: JobCache | None, prices: PriceTable) -> float:
    """The input tokens, as priced, that reading the job's cached instruction
    takes off each record that reads it: the same for all, worked out once."""
    model_prices = prices.model(cache.model) if cache is not None else None
    if model_prices is None:
        return 0.0
    share = (model_prices.get("cached_input") or model_prices["input"]).get("TEXT", 0.0) \
        / (model_prices["input"].get("TEXT") or 1.0)
    return estimate_tokens({"systemInstruction": cache.system_instruction}) * (1.0 - share)


class GeminiHandler(CallHandler):
    """Gemini generateContent (streamGenerateContent with stream=True): one
    responses row per record. With take_files, the images and speech of an
    answer leave its response_json as files for SaveFiles; without, they stay
    inline.

    output_schema: the job's schema (its records' requests carry it, see
    RecordDefaults): answers to it fill `parsed`. Any answer to a request with
    a schema that is not valid JSON, or does not match, is asked for again up
    to schema_reasks times, then becomes an error row (invalid_json or
    schema_mismatch) keeping its text.
    """

    table = "responses"
    estimate_method = ("about 4 characters a token; output: maxOutputTokens or an assumed "
                       "length, plus the model's likely thinking")

    def __init__(self, run_id: str | None = None, stream: bool = False,
                 take_files: bool = False, prices: PriceTable | None = None,
                 output_schema: OutputSchema | None = None,
                 schema_reasks: int = DEFAULT_SCHEMA_REASKS,
                 context_cache: JobCache | None = None):
        self.run_id, self.stream, self.take_files = run_id, stream, take_files
        self.prices = prices or PriceTable.load()
        self.context_cache = context_cache
        self._cache_discount = _cache_discount(context_cache, self.prices)
        self.answers, self.schema_reasks = AnswerSchemas(output_schema), schema_reasks
        self.schema = schemas.schema(self.table, output_schema)
        self._thinking_seen: dict[str, list[int]] = {}  # model: [answers, thinking tokens]

    async def call(self, client: VertexClient, record: PromptRecord) -> CallResult:
        result = await self._ask(client, record)
        set_aside: list[dict] = []
        while (len(set_aside) < self.schema_reasks and result.ok
               and self.answers.misses(record.body, result.response)):
            estimate = (self.estimated_cost(record) or 0.0) if client.budget.limited else 0.0
            if not await client.budget.reserve(estimate, wait=False):
                break  # the budget is spent: the answer that missed stays the record's
            set_aside.append(result.response)
            try:
                again = await self._ask(client, record)
                result = result.then(again, set_aside)
            finally:  # the re-ask's real cost is settled with the record's
                await client.budget.settle(estimate, 0.0)
        return result

    async def _ask(self, client: VertexClient, record: PromptRecord) -> CallResult:
        cache = self.context_cache
        if cache is None or cache.without_reason(record.model, record.body):
            return await self._send(client, record, record.body)
        name = name_of(cache)
        result = await self._send(client, record, cache.request(record.body, name))
        if cache_gone(result.error):  # expired or deleted: made again once, never dropped
            name = await remake(client, cache, name)
            if name is not None:
                again = await self._send(client, record, cache.request(record.body, name))
                result = result.then(again)
        return result

    async def _send(self, client: VertexClient, record: PromptRecord, body: dict) -> CallResult:
        return await client.generate_content(record.model, body, self.stream,
                                             record.service_tier, movable=not record.own_tier)

    def estimate(self, record: PromptRecord) -> Estimate:
        """Prompt tokens at about 4 characters a token; output tokens:
        maxOutputTokens (or an assumed length) plus the thinking the model
        will likely do, as measured on this run's answers once a few came,
        else from the request's or the model's thinking setting."""
        measured = self._thinking_seen.get(record.model)
        if measured and measured[0] >= THINKING_SAMPLES and \
                not (record.body.get("generationConfig") or {}).get("maxOutputTokens"):
            thinking = measured[1] / measured[0]
        else:
            model = vertex_catalog.get(record.model)
            thinking = expected_thinking_tokens(record.body, model.thinking if model else None)
        return Estimate(self._input_tokens(record),
                        expected_output_tokens(record.body) + thinking)

    def _input_tokens(self, record: PromptRecord) -> float:
        """The prompt's tokens as priced at the input price: an instruction
        read from the job's cache counts at the cached price's share."""
        tokens = estimate_tokens(record.body)
        cache = self.context_cache
        if cache is None or cache.without_reason(record.model, record.body):
            return tokens
        return max(1.0, tokens - self._cache_discount)

    async def count_tokens(self, client: VertexClient, record: PromptRecord) -> int | None:
        result = await client.count_tokens(record.model, record.body)
        if not result.ok:
            raise result.error
        return int(result.response.get("totalTokens") or 0)

    def cost(self, record: PromptRecord, result: CallResult) -> float | None:
        """From the usage the answer reports, at the tier that served it
        (trafficType; the tier it was sent at when the answer does not say).
        A call that got no answer is not billed; each answer set aside was."""
        answers = result.set_aside + ([result.response] if result.ok else [])
        for answer in answers:  # the thinking measured, for the next estimates
            seen = self._thinking_seen.setdefault(record.model, [0, 0])
            seen[0] += 1
            seen[1] += int((answer.get("usageMetadata") or {}).get("thoughtsTokenCount") or 0)
        costs = [self.prices.call_cost(record.model, answer.get("usageMetadata"),
                                       result.sent_tier or record.service_tier)
                 for answer in answers]
        return None if None in costs else sum(costs)

    def rows(self, record: PromptRecord, result: CallResult, redact) -> list[dict]:
        files, seconds = (take_inline_files(result.response) if result.ok and self.take_files
                          else ([], 0.0))
        row = responses_table_row(record, result, self.run_id, redact, self.schema, self.answers)
        if self.context_cache is not None:
            row["context_cache"] = self.context_cache.without_reason(record.model,
                                                                     record.body) or USED
        if seconds:
            row["audio_seconds"] = round(seconds, 3)
        return [{**row, FILES: files} if files else row]

    def count(self, row: dict, counter) -> None:
        metrics.count_tokens(row["usage"], counter)
        metrics.count_cost_parts(
            self.prices.cost_parts(row["model"], row["usage"], row.get("traffic_type")), counter)


class GenerateContent(CallAndSaveFiles):
    """PromptRecords to responses rows through Gemini, with the images of
    answers saved under `output` (without it, rows keep them inline in
    response_json). A shorthand for CallVertexAI(GeminiHandler(...)) then
    SaveFiles."""

    def __init__(self, connection: VertexConnection, run_id: str | None = None,
                 stream: bool = False, output: str | None = None,
                 progress: ProgressSettings = ProgressSettings(),
                 metrics_namespace: str = metrics.NAMESPACE, prices: PriceTable | None = None,
                 output_schema: OutputSchema | None = None,
                 schema_reasks: int = DEFAULT_SCHEMA_REASKS):
        super().__init__(GeminiHandler(run_id, stream, take_files=output is not None,
                                       prices=prices, output_schema=output_schema,
                                       schema_reasks=schema_reasks),
                         connection, output, run_id, progress, metrics_namespace)
