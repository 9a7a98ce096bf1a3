"""Which runs are writing under an output now: each run holds a lease, a small
file beside its checkpoints that it renews while it runs and removes when it
ends. A run whose lease is gone, stale, or held by a process of this machine
that no longer exists is provably dead: only its checkpoints may be carried
over and removed, and only without it may another run start on the output.

    _checkpoints/{run_id}/_lease.json   {"run_id", "host", "pid", "renewed_at"}
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time

from apache_beam.io.filesystems import FileSystems

from pipeline.space_reserve import SpaceReserve
from transforms.output_files import remove_empty_folders
from transforms.run_files import RunFiles, leases

RENEW_EVERY_S = 10.0
# A lease not renewed for this long is dead even on another machine (a
# killed process, a lost VM); renewals come six times as often.
STALE_AFTER_S = 60.0


class RunLease:
    """This run's lease: taken before anything is written, renewed by a
    background thread, released when the run ends (however it ends)."""

    def __init__(self, files: RunFiles):
        self.files, self.path = files, files.lease
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def take(self) -> None:
        self._write()
        self._thread = threading.Thread(target=self._renew, name="run-lease", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            FileSystems.delete([self.path])
        except Exception:  # noqa: BLE001 - gone already: released all the same
            pass
        folder = self.files.checkpoints
        remove_empty_folders([folder, folder.rstrip("/").rsplit("/", 1)[0]])

    def _write(self) -> None:
        lease = {"run_id": self.files.run_id, "host": socket.gethostname(), "pid": os.getpid(),
                 "renewed_at": time.time()}
        with FileSystems.create(self.path, mime_type="application/json") as f:
            f.write(json.dumps(lease).encode())

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_EVERY_S):
            try:
                self._write()
            except Exception:  # noqa: BLE001 - the next renewal tries again
                pass


def live_runs(output: str, but: str | None = None) -> list[dict]:
    """The leases of the runs writing under `output` now (but run `but`)."""
    return [lease for _, lease in _leases(output)
            if lease is not None and lease.get("run_id") != but and _alive(lease)]


def remove_dead_leases(output: str) -> None:
    """What dead runs left beside their checkpoints (a killed process cannot
    clean up after itself): the room it kept on the disk, and its lease once
    no checkpoint part of its is left; then its folder, when empty."""
    for path, lease in _leases(output):
        if lease is not None and _alive(lease):
            continue
        folder = path.rstrip("/").rsplit("/", 1)[0]
        files = RunFiles(output, folder.rsplit("/", 1)[-1])
        SpaceReserve(files).release()
        if not files.checkpoint_parts():
            FileSystems.delete([path])
            remove_empty_folders([folder, folder.rsplit("/", 1)[0]])


def _leases(output: str):
    """(path, lease) of every lease under the output; None for a lease that
    cannot be read (removed meanwhile, or torn: no live run holds it)."""
    for path in leases(output):
        try:
            with FileSystems.open(path) as f:
                lease = json.loads(f.read())
        except Exception:  # noqa: BLE001
            lease = None
        yield path, lease if isinstance(lease, dict) else None


def _alive(lease: dict) -> bool:
    try:
        age_s = time.time() - float(lease["renewed_at"])
        host, pid = lease["host"], int(lease["pid"])
    except (KeyError, TypeError, ValueError):
        return False
    if age_s > STALE_AFTER_S:
        return False
    if host != socket.gethostname():
        return True  # renewed lately by another machine: nothing says it died
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a process of another user holds it
    return True


def describe(lease: dict) -> str:
    age_s = max(0.0, time.time() - float(lease["renewed_at"]))
    return (f"run {lease['run_id']} (process {lease['pid']} on {lease['host']}, "
            f"lease renewed {age_s:.0f}s ago)")
