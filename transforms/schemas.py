"""The output tables' Parquet schemas, defined once (DESIGN.md lists the columns)."""
import pyarrow as pa


def blank_row(schema: pa.Schema) -> dict:
    """Every column of a table, empty: lists empty, everything else null.
    Rows start from this, so a column added to a schema is never missing."""
    return {f.name: [] if pa.types.is_list(f.type) else None for f in schema}

TIMESTAMP = pa.timestamp("ms", tz="UTC")
SAFETY_RATING = pa.struct([
    ("category", pa.string()), ("probability", pa.string()),
    ("probability_score", pa.float64()), ("severity", pa.string()),
    ("severity_score", pa.float64()), ("blocked", pa.bool_()),
])
USAGE = pa.struct([
    ("prompt_token_count", pa.int64()), ("candidates_token_count", pa.int64()),
    ("total_token_count", pa.int64()), ("cached_content_token_count", pa.int64()),
    ("thoughts_token_count", pa.int64()), ("tool_use_prompt_token_count", pa.int64()),
])
FUNCTION_CALL = pa.struct([("name", pa.string()), ("args_json", pa.string())])
CANDIDATE = pa.struct([("index", pa.int64()), ("text", pa.string()),
                       ("finish_reason", pa.string())])

RESPONSES = pa.schema([
    ("run_id", pa.string()),
    ("id", pa.string()),
    ("model", pa.string()),
    ("status", pa.string()),              # ok | blocked | error
    ("text", pa.string()),
    ("finish_reason", pa.string()),
    ("safety_ratings", pa.list_(SAFETY_RATING)),
    ("block_reason", pa.string()),
    ("block_reason_message", pa.string()),
    ("usage", USAGE),
    ("model_version", pa.string()),
    ("response_id", pa.string()),
    ("function_calls", pa.list_(FUNCTION_CALL)),
    ("candidates", pa.list_(CANDIDATE)),
    ("image_uris", pa.list_(pa.string())),  # images in the answer, stored under images/
    ("error_code", pa.string()),          # canonical status, e.g. RESOURCE_EXHAUSTED
    ("http_status", pa.int32()),
    ("error_message", pa.string()),
    ("attempts", pa.int32()),
    ("throttled_attempts", pa.int32()),   # attempts answered 429
    ("rate_limit_wait_ms", pa.float64()),  # waited on the client's own rate limit
    ("latency_ms", pa.float64()),
    ("started_at", TIMESTAMP),            # the record's first attempt began
    ("finished_at", TIMESTAMP),           # its answer (or last failure) arrived
    ("first_token_ms", pa.float64()),     # --stream only
    ("metadata", pa.string()),            # the record's metadata, as JSON
    ("source", pa.string()),
    ("line_number", pa.int64()),
    ("response_json", pa.string()),
])

REJECTED = pa.schema([
    ("run_id", pa.string()),
    ("source", pa.string()),
    ("line_number", pa.int64()),
    ("raw_line", pa.string()),
    ("reason", pa.string()),
])

SAFETY_ATTRIBUTE = pa.struct([("category", pa.string()), ("score", pa.float64())])

IMAGES = pa.schema([
    ("run_id", pa.string()),
    ("id", pa.string()),
    ("model", pa.string()),
    ("status", pa.string()),              # ok | blocked | error
    ("prompt", pa.string()),
    ("enhanced_prompt", pa.string()),
    ("image_index", pa.int32()),          # null on a row that says why there is no image
    ("uri", pa.string()),                 # the file under OUTPUT/images/, or Imagen's gcsUri
    ("mime_type", pa.string()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("byte_size", pa.int64()),
    ("sha256", pa.string()),
    ("rai_filtered_reason", pa.string()),
    ("safety_attributes", pa.list_(SAFETY_ATTRIBUTE)),
    ("images_requested", pa.int32()),
    ("images_returned", pa.int32()),
    ("parameters_json", pa.string()),
    ("error_code", pa.string()),
    ("http_status", pa.int32()),
    ("error_message", pa.string()),
    ("attempts", pa.int32()),
    ("throttled_attempts", pa.int32()),
    ("rate_limit_wait_ms", pa.float64()),
    ("latency_ms", pa.float64()),
    ("started_at", TIMESTAMP),
    ("finished_at", TIMESTAMP),
    ("metadata", pa.string()),
    ("source", pa.string()),
    ("line_number", pa.int64()),
])
