"""The Beam metrics the transforms report, by name: the code that counts and
summary.json, which reads them back, share these constants (a typo is an
AttributeError, not a silent zero)."""
from apache_beam.metrics import Metrics

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
IMAGES_WRITTEN = "images_written"
IMAGE_BYTES = "image_bytes"
AUDIO_FILES_WRITTEN = "audio_files_written"
STATUSES = ("ok", "blocked", "error")


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
