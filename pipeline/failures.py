"""How a run that did not finish is told: one clear line, never a traceback,
for a fatal API error, an interruption or a full disk, however the runner
passed it on (as itself, as a cause, or as text from a remote worker)."""
from __future__ import annotations

import logging

from pipeline.space_reserve import disk_full
from pipeline.results.summary import EXIT_FAILED, EXIT_REFUSED
from vertex.errors import FatalApiError, first_line


def fatal_message(error: BaseException | None) -> str | None:
    """The message of a FatalApiError raised on a worker, however the runner
    passed it on: as itself, as a cause, or as text (remote runners)."""
    while error is not None:
        if isinstance(error, FatalApiError):
            return str(error).split(" [while running")[0]
        text = str(error)
        marker = "FatalApiError: "
        if marker in text:
            return first_line(Exception(text[text.rindex(marker) + len(marker):]))
        error = error.__cause__ or error.__context__
    return None


def was_interrupted(error: BaseException | None) -> bool:
    """Ctrl-C or SIGTERM, however the runner passed it on (Beam re-raises a
    KeyboardInterrupt in a worker as a RuntimeError naming it)."""
    while error is not None:
        if isinstance(error, KeyboardInterrupt) or str(error).startswith("KeyboardInterrupt"):
            return True
        error = error.__cause__ or error.__context__
    return False


def fatal_exit(message: str) -> int:
    """A 404 for the job's model before any answer: nothing was paid, the job
    was refused (2); any other fatal error stopped it early (1)."""
    return EXIT_REFUSED if " answered 404 " in message else EXIT_FAILED


class HideExplainedTracebacks(logging.Filter):
    """In-process runners log a worker's exception before re-raising it; for a
    FatalApiError, an interruption or a full disk the job prints one clear
    line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return fatal_message(error) is None and not was_interrupted(error) \
            and not disk_full(error) and "FatalApiError" not in record.getMessage() \
            and "No space left on device" not in record.getMessage() \
            and not record.getMessage().startswith("KeyboardInterrupt")


def configure_logging() -> None:
    """Warnings and errors, one line each; done before Beam's basicConfig(),
    which then keeps this handler."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(HideExplainedTracebacks())
    # Files of a second stream (e.g. -checked) are only written when it has rows.
    logging.getLogger("apache_beam.io.filebasedsink").addFilter(
        lambda record: not record.getMessage().startswith("No shards found to finalize"))
