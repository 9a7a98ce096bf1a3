"""A process-wide stop, for a job interrupted by Ctrl-C or SIGTERM: once it
is asked, no attempt starts (a new record, a retry, a re-ask, another image:
each fails with NotStartedError), while the attempts already sent go on, so
that their answers, paid for, are kept. `in_flight()` says how many are still
out, for the job to know when nothing more will arrive. A record none of
whose calls was answered waits for good (`never()`): it has no row, and a
rerun calls it."""
from __future__ import annotations

import asyncio
import contextlib
import threading

_stop = threading.Event()
_lock = threading.Lock()
_in_flight = 0


def stop() -> None:
    _stop.set()


def stopping() -> bool:
    return _stop.is_set()


def reset() -> None:
    """A new job in this process (tests run several)."""
    _stop.clear()


def in_flight() -> int:
    """Attempts sent and not yet answered, in this process."""
    return _in_flight


class NotStartedError(Exception):
    """The call was not started: the job was interrupted."""
    error_code = "interrupted"


def refuse_if_stopping() -> None:
    if _stop.is_set():
        raise NotStartedError("not called: the job was interrupted; rerun with --skip_existing")


async def never() -> None:
    """Waits for good (until the task is cancelled, or the process ends)."""
    await asyncio.Event().wait()


@contextlib.asynccontextmanager
async def sending():
    """Counts an attempt as in flight from the moment it is sent (a stop asked
    while it waited for its turn refuses it before it is sent)."""
    global _in_flight
    refuse_if_stopping()
    with _lock:
        _in_flight += 1
    try:
        yield
    finally:
        with _lock:
            _in_flight -= 1
