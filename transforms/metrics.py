"""The Beam metrics the transforms report, by name: the code that counts and
summary.json, which reads them back, share these constants (a typo is an
AttributeError, not a silent zero)."""
from apache_beam.metrics import Metrics

from vertex.response_rows import Status

NAMESPACE = "vertex_batch"  # the default; every transform takes its own

# Reading input
INPUT_LINES = "input_lines"
BLANK_LINES = "blank_lines"
UNREADABLE_FILES = "unreadable_files"      # a counter and a string set (which files)
FILES_GROWN = "input_files_grown"          # a string set: files appended to after the start
REJECTED_ROWS = "rejected_rows"
# Planning
SKIPPED_EXISTING = "skipped_existing"
CARRIED_OVER = "carried_over"
# Calls
REQUESTS = "requests"
RETRIES = "retries"
HTTP_429 = "http_429"
LATENCY_MS = "latency_ms"                  # a distribution
PROMPT_TOKENS = "prompt_tokens"
CANDIDATES_TOKENS = "candidates_tokens"
TOTAL_TOKENS = "total_tokens"
CACHED_TOKENS = "cached_tokens"
THINKING_TOKENS = "thinking_tokens"
TOOL_USE_TOKENS = "tool_use_tokens"


def cost_part(part: str) -> str:
    """Micro-dollars of one part of the answers' cost (vertex.prices.COST_PARTS)."""
    return f"cost_micro_usd_{part}"
IMAGES_WRITTEN = "images_written"
IMAGE_BYTES = "image_bytes"
AUDIO_FILES_WRITTEN = "audio_files_written"
STATUSES = tuple(Status)


def records(table: str, status: str) -> str:
    """Records of a table by status: responses_ok, images_error, ..."""
    return f"{table}_{status}"


def counter(name: str, namespace: str = NAMESPACE):
    return Metrics.counter(namespace, name)


def distribution(name: str, namespace: str = NAMESPACE):
    return Metrics.distribution(namespace, name)


def string_set(name: str, namespace: str = NAMESPACE):
    return Metrics.string_set(namespace, name)


def count_tokens(usage: dict, counter) -> None:
    """A row's tokens (its usage struct) into the job's token counters."""
    counter(PROMPT_TOKENS).inc(usage["prompt_token_count"] or 0)
    counter(CANDIDATES_TOKENS).inc(usage["candidates_token_count"] or 0)
    counter(TOTAL_TOKENS).inc(usage["total_token_count"] or 0)
    counter(CACHED_TOKENS).inc(usage.get("cached_content_token_count") or 0)
    counter(THINKING_TOKENS).inc(usage.get("thoughts_token_count") or 0)
    counter(TOOL_USE_TOKENS).inc(usage.get("tool_use_prompt_token_count") or 0)


def count_cost_parts(parts: dict | None, counter) -> None:
    """An answer's cost, split as its tokens are, into the job's counters."""
    for part, dollars in (parts or {}).items():
        counter(cost_part(part)).inc(round(dollars * 1_000_000))
