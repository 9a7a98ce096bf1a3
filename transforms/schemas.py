"""The output contract, in one place: each table's name, its columns, their
Arrow types and what they mean. The Parquet schemas, the empty row every row
is built from, and the README's column tables (`python -m transforms.schemas`
prints them; a test checks the README shows them) all come from here.
"""
from __future__ import annotations

import pyarrow as pa

from vertex.output_schema import (ARRAY, BOOLEAN, DECIMAL, INTEGER, NUMBER, OBJECT, STRING,
                                  OutputSchema)

TIMESTAMP = pa.timestamp("ms", tz="UTC")
SAFETY_RATING = pa.struct([
    ("category", pa.string()), ("probability", pa.string()),
    ("probability_score", pa.float64()), ("severity", pa.string()),
    ("severity_score", pa.float64()), ("blocked", pa.bool_()),
])
MODALITY_COUNTS = pa.list_(pa.struct([("modality", pa.string()), ("token_count", pa.int64())]))
USAGE = pa.struct([
    ("prompt_token_count", pa.int64()), ("candidates_token_count", pa.int64()),
    ("total_token_count", pa.int64()), ("cached_content_token_count", pa.int64()),
    ("thoughts_token_count", pa.int64()), ("tool_use_prompt_token_count", pa.int64()),
    ("prompt_tokens_details", MODALITY_COUNTS), ("candidates_tokens_details", MODALITY_COUNTS),
    ("cache_tokens_details", MODALITY_COUNTS), ("tool_use_prompt_tokens_details", MODALITY_COUNTS),
])
FUNCTION_CALL = pa.struct([("name", pa.string()), ("args_json", pa.string())])
CANDIDATE = pa.struct([("index", pa.int64()), ("text", pa.string()),
                       ("finish_reason", pa.string()), ("finish_message", pa.string()),
                       ("avg_logprobs", pa.float64()),
                       ("safety_ratings", pa.list_(SAFETY_RATING))])
CITATION = pa.struct([("start_index", pa.int64()), ("end_index", pa.int64()),
                      ("uri", pa.string()), ("title", pa.string()), ("license", pa.string()),
                      ("publication_date", pa.string())])
TOKEN_LOGPROB = pa.struct([("token", pa.string()), ("log_probability", pa.float64())])
SOURCE = pa.struct([("uri", pa.string()), ("title", pa.string())])
# Placeholder of the responses' typed answer: its type is the job's schema
# (schema(..., output_schema)); null for a job without one.
PARSED = pa.null()
ATTEMPT = pa.struct([("offset_ms", pa.float64()), ("http_status", pa.int32())])
SAFETY_ATTRIBUTE = pa.struct([("category", pa.string()), ("score", pa.float64())])

# Columns every table of answers shares: who, and how the call went.
_RECORD = [
    ("run_id", pa.string(), "the run that wrote the row"),
    ("id", pa.string(), "the record's id (given, or derived from its content)"),
    ("model", pa.string(), "the model called"),
    ("status", pa.string(), "`ok`, `blocked` (refused or stopped by a filter) or `error`"),
]
_CALL = [
    ("error_code", pa.string(), "why a record failed: the canonical status, e.g. "
                                "`RESOURCE_EXHAUSTED`, `INVALID_ARGUMENT`, `DEADLINE_EXCEEDED`, "
                                "`UNAVAILABLE`; `model_not_found` for a model the record named "
                                "that does not exist; the finish reason of an answer the "
                                "model failed (e.g. `MALFORMED_FUNCTION_CALL`); or "
                                "`invalid_json` / `schema_mismatch` for an answer not of the "
                                "schema it was asked for"),
    ("http_status", pa.int32(), "the HTTP status of the last answer, if there was one"),
    ("cost_usd", pa.float64(), "what the call cost in USD: the usage (or images) at the list "
                               "price of the tier that served it (`traffic_type`); 0 for a call "
                               "that got no answer or was served by Provisioned Throughput; "
                               "null for a model with no known price"),
    ("error_message", pa.string(), "the error's message (secrets removed)"),
    ("attempts", pa.int32(), "attempts made, the first included"),
    ("throttled_attempts", pa.int32(), "attempts answered 429"),
    ("rate_limit_wait_ms", pa.float64(), "time waited on the client's own rate limit"),
    ("latency_ms", pa.float64(), "first attempt to final answer, waits included"),
    ("started_at", TIMESTAMP, "when the record's first attempt began (UTC)"),
    ("finished_at", TIMESTAMP, "when its answer, or its last failure, arrived (UTC)"),
    ("attempt_log", pa.list_(ATTEMPT), "each attempt: `offset_ms` (when it was sent, after "
                                       "`started_at`) and the `http_status` it got (null: no "
                                       "answer)"),
]
_ORIGIN = [
    ("metadata", pa.string(), "the record's `metadata`, as JSON"),
    ("source", pa.string(), "the input file"),
    ("line_number", pa.int64(), "the line in it"),
]

COLUMNS: dict[str, list[tuple[str, pa.DataType, str]]] = {
    "responses": _RECORD + [
        ("text", pa.string(), "the first candidate's answer (thought parts excluded); kept as "
                              "it came when it did not match the schema"),
        ("parsed", PARSED, "with `--output_schema` or `--response_schema`: the answer as typed "
                           "columns, a struct that follows the schema (STRING and enums: "
                           "string, INT64/INTEGER: int64, FLOAT64/NUMBER: double, NUMERIC: "
                           "decimal(38, 9), BOOL: bool, ARRAY: list, STRUCT/OBJECT: struct; a "
                           "schema whose top level is not an object: struct<value>); filled on "
                           "every ok row of a record asking with the job's schema, null "
                           "otherwise (read `parsed.sentiment`)"),
        ("parsed_json", pa.string(), "the answer's JSON, checked against the schema the request "
                                     "carried (the job's, or the record's own "
                                     "`responseSchema`/`responseJsonSchema`)"),
        ("schema_reasks", pa.int32(), "times the answer was asked for again because it was not "
                                      "valid JSON or did not match the schema (each paid, in "
                                      "`cost_usd`; `usage` is the last answer's)"),
        ("thoughts", pa.string(), "its thought summary (parts with `thought: true`, with "
                                  "`thinkingConfig.includeThoughts`)"),
        ("finish_reason", pa.string(), "the first candidate's finish reason, as the API gave "
                                       "it (legacy `FINISH_REASON_*` names included)"),
        ("finish_message", pa.string(), "`finishMessage`: why it stopped, when the API says"),
        ("safety_ratings", pa.list_(SAFETY_RATING),
         "the answer's ratings: `category`, `probability`, `probability_score`, `severity`, "
         "`severity_score`, `blocked`"),
        ("prompt_safety_ratings", pa.list_(SAFETY_RATING), "the prompt's ratings "
                                                           "(`promptFeedback.safetyRatings`)"),
        ("block_reason", pa.string(), "`promptFeedback.blockReason`, or the filtering finish "
                                      "reason"),
        ("block_reason_message", pa.string(), "`promptFeedback.blockReasonMessage`"),
        ("usage", USAGE, "`prompt_token_count`, `candidates_token_count`, "
                         "`total_token_count`, `cached_content_token_count`, "
                         "`thoughts_token_count`, `tool_use_prompt_token_count` (v1 gives it "
                         "by modality only: their sum), and by modality (`modality`, "
                         "`token_count`): `prompt_tokens_details`, `candidates_tokens_details`, "
                         "`cache_tokens_details`, `tool_use_prompt_tokens_details`"),
        ("traffic_type", pa.string(), "`usageMetadata.trafficType`: `ON_DEMAND`, "
                                      "`ON_DEMAND_FLEX`, `ON_DEMAND_PRIORITY`, "
                                      "`PROVISIONED_THROUGHPUT`: the capacity that served it, "
                                      "which the cost follows"),
        ("service_tier", pa.string(), "the PayGo tier the record asked for (its own "
                                      "`service_tier`, or the job's `--service_tier`)"),
        ("sent_tier", pa.string(), "the tier its last attempt was sent at: `standard` where "
                                   "Flex by deadline (`--finish_by`) moved a Flex record"),
        ("context_cache", pa.string(), "with the job's context cache (`--context_cache`): "
                                       "`used` (its system instruction read from the cache), "
                                       "or why it went without: `own_system_instruction`, "
                                       "`own_tools`, `own_cached_content`, `other_model`; null "
                                       "when the job had no cache"),
        ("model_version", pa.string(), "`modelVersion` of the answer"),
        ("response_id", pa.string(), "`responseId` of the answer"),
        ("create_time", TIMESTAMP, "`createTime` of the answer (UTC)"),
        ("avg_logprobs", pa.float64(), "the first candidate's `avgLogprobs`"),
        ("logprobs", pa.list_(TOKEN_LOGPROB), "each chosen token and its `log_probability` "
                                              "(with `responseLogprobs`)"),
        ("citations", pa.list_(CITATION), "`start_index`, `end_index`, `uri`, `title`, "
                                          "`license`, `publication_date` (YYYY[-MM[-DD]])"),
        ("grounding_queries", pa.list_(pa.string()), "the web search (and retrieval) queries "
                                                     "behind a grounded answer"),
        ("grounding_sources", pa.list_(SOURCE), "the `uri` and `title` of each grounding source"),
        ("function_calls", pa.list_(FUNCTION_CALL), "`name`, `args_json` of each function call"),
        ("candidates", pa.list_(CANDIDATE), "every candidate's `index`, `text`, `finish_reason`, "
                                            "`finish_message`, `avg_logprobs`, `safety_ratings` "
                                            "(with `candidateCount` > 1)"),
        ("image_uris", pa.list_(pa.string()), "images in the answer, stored under `images/`"),
        ("audio_uris", pa.list_(pa.string()), "speech in the answer (TTS models), stored as "
                                              "24 kHz WAV under `audio/`"),
        ("audio_seconds", pa.float64(), "seconds of that speech"),
    ] + _CALL + [
        ("first_token_ms", pa.float64(), "time to the first chunk, with `--stream`"),
    ] + _ORIGIN + [
        ("response_json", pa.string(), "the whole answer (joined chunks with `--stream`; "
                                       "image bytes in files, not here)"),
    ],
    "images": _RECORD + [
        ("prompt", pa.string(), "the prompt sent"),
        ("enhanced_prompt", pa.string(), "the prompt Imagen used, with `enhancePrompt`"),
        ("image_index", pa.int32(), "the image's index; null on a row saying why there is none"),
        ("uri", pa.string(), "the file under `images/RUNID/`, or the `gcsUri` when the record "
                             "set `storageUri` (then size and hash are not known)"),
        ("mime_type", pa.string(), "the image's type"),
        ("width", pa.int32(), "pixels"),
        ("height", pa.int32(), "pixels"),
        ("byte_size", pa.int64(), "bytes of the file"),
        ("sha256", pa.string(), "of the file's bytes"),
        ("rai_filtered_reason", pa.string(), "why the Responsible AI filter withheld images"),
        ("safety_attributes", pa.list_(SAFETY_ATTRIBUTE), "`category`, `score`"),
        ("images_requested", pa.int32(), "`sampleCount`"),
        ("images_returned", pa.int32(), "images the answer held (fewer than asked shows on "
                                        "every row of the record)"),
        ("parameters_json", pa.string(), "the Imagen parameters sent, as JSON"),
        ("usage", USAGE, "Gemini image models: the tokens of the call that drew the image "
                         "(its image tokens under `candidates_tokens_details`); null for Imagen, "
                         "which bills per image"),
    ] + _CALL + _ORIGIN,
    "live": _RECORD + [
        ("text", pa.string(), "the model's text (with `responseModalities: [\"TEXT\"]`)"),
        ("input_transcript", pa.string(), "what the audio input said "
                                          "(`inputAudioTranscription`)"),
        ("output_transcript", pa.string(), "what the answer said aloud "
                                           "(`outputAudioTranscription`)"),
        ("audio_uri", pa.string(), "the spoken answer: a WAV file (mono, 16-bit) under "
                                   "`audio/RUNID/`"),
        ("audio_seconds", pa.float64(), "its length"),
        ("sample_rate_hz", pa.int32(), "its sample rate (24000)"),
        ("usage", USAGE, "as in responses (the Live API's response tokens as "
                         "`candidates_token_count`)"),
        ("input_audio_seconds", pa.float64(), "the length of the audio sent, at 16 kHz"),
        ("go_away", pa.bool_(), "the server announced the end of the connection (`goAway`)"),
    ] + _CALL + [
        ("first_audio_ms", pa.float64(), "from the turn sent to the first audio chunk"),
    ] + _ORIGIN,
    "rejected": [
        ("run_id", pa.string(), "the run that read the line"),
        ("source", pa.string(), "the input file"),
        ("line_number", pa.int64(), "the line in it (for an unreadable file: the first line "
                                    "not read)"),
        ("raw_line", pa.string(), "the line as read (bytes that are not UTF-8 shown escaped)"),
        ("reason", pa.string(), "why it could not be used"),
    ],
}


def answer_columns(own: list[tuple[str, pa.DataType, str]]) -> list:
    """A table of answers: the columns every such table has (who, how the
    call went, where the record came from) around a task's own."""
    return _RECORD + list(own) + _CALL + _ORIGIN


def schema(table: str, output_schema: OutputSchema | None = None) -> pa.Schema:
    """A table's Arrow schema; the responses' `parsed` column typed by the
    job's output schema."""
    typed = parsed_type(output_schema)
    return pa.schema([(name, typed if name == "parsed" else kind)
                      for name, kind, _ in COLUMNS[table]])


def parsed_type(output_schema: OutputSchema | None) -> pa.DataType:
    """The Arrow type of answers to an output schema (its value wrapped as
    struct<value> when its top level is not an object)."""
    if output_schema is None:
        return PARSED
    root = _arrow_type(output_schema.root)
    return pa.struct([("value", root)]) if output_schema.wrapped else root


def _arrow_type(node) -> pa.DataType:
    if node.kind == ARRAY:
        return pa.list_(_arrow_type(node.items))
    if node.kind == OBJECT:
        return pa.struct([(name, _arrow_type(child)) for name, child in node.properties])
    return _SCALAR_TYPES[node.kind]


_SCALAR_TYPES = {STRING: pa.string(), INTEGER: pa.int64(),
                 NUMBER: pa.float64(), BOOLEAN: pa.bool_(),
                 DECIMAL: pa.decimal128(38, 9)}


RESPONSES, IMAGES, LIVE, REJECTED = (schema("responses"), schema("images"), schema("live"),
                                     schema("rejected"))


def blank_row(schema: pa.Schema) -> dict:
    """Every column of a table, empty: lists empty, everything else null.
    Rows start from this, so a column added to a schema is never missing."""
    blank = _BLANK.get(id(schema))
    if blank is None or blank[0] is not schema:
        blank = _BLANK[id(schema)] = (schema, dict.fromkeys(schema.names), tuple(
            f.name for f in schema if pa.types.is_list(f.type)))
    _, nulls, lists = blank
    row = dict(nulls)
    for name in lists:
        row[name] = []  # a new list for each row
    return row


# Each schema's empty row, read from the schema once, not for every row (by
# identity: hashing an Arrow schema costs more than building the row).
_BLANK: dict[int, tuple[pa.Schema, dict, tuple[str, ...]]] = {}


def markdown_table(table: str) -> str:
    """The README's table of a table's columns."""
    lines = ["| column | type | |", "| --- | --- | --- |"]
    for name, kind, doc in COLUMNS[table]:
        lines.append(f"| `{name}` | {_type_name(kind)} | {doc} |")
    return "\n".join(lines)


def _type_name(kind: pa.DataType) -> str:
    if pa.types.is_list(kind):
        return f"list of {_type_name(kind.value_type)}"
    if pa.types.is_struct(kind):
        return "struct"
    if pa.types.is_null(kind):
        return "struct (the schema's)"
    return str(kind).replace("timestamp[ms, tz=UTC]", "timestamp (UTC)")


if __name__ == "__main__":
    for name in COLUMNS:
        print(f"### {name}\n\n{markdown_table(name)}\n")
