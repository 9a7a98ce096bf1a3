"""Fixtures that start real servers on loopback: the Vertex AI emulator
(python -m emulator) and the GCS emulator (gcp-storage-emulator).

The tests are grouped by what they test: unit/ (by package), emulator/
(the local Vertex AI server against Google's protos and the official SDK),
jobs/ (whole jobs on a real DirectRunner: marked slow, so that
`pytest -m "not slow"` leaves them out while you work), support/ (helpers)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.servers import EmulatorProcess, free_port

# No test may look for Google credentials on the network: google-auth would
# otherwise probe the GCE metadata server when no ADC is set up.
os.environ["NO_GCE_CHECK"] = "True"
os.environ["GCE_METADATA_HOST"] = "127.0.0.1:9"
os.environ["GCE_METADATA_IP"] = "127.0.0.1:9"
os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
os.environ.pop("GOOGLE_API_KEY", None)

JOBS = Path(__file__).parent / "jobs"


def pytest_collection_modifyitems(items):
    for item in items:
        if JOBS in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def shared_emulator():
    emulator = EmulatorProcess()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(shared_emulator):
    """The session's emulator (no quota, no latency), with fresh counters."""
    shared_emulator.reset()
    return shared_emulator


@pytest.fixture
def start_emulator():
    """Starts emulators with the given flags; stops them after the test."""
    started = []

    def start(*flags: str, serve_discontinued: bool = True) -> EmulatorProcess:
        started.append(EmulatorProcess(*flags, serve_discontinued=serve_discontinued))
        return started[-1]
    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture(scope="session")
def gcs():
    """gcp-storage-emulator on loopback, with bucket 'test-bucket'. Sets
    STORAGE_EMULATOR_HOST, which google-cloud-storage (and so Beam's GCS
    filesystem) honours."""
    port = free_port()
    executable = Path(sys.executable).parent / "gcp-storage-emulator"
    process = subprocess.Popen(
        [str(executable), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory",
         "--default-bucket", "test-bucket", "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{host}/storage/v1/b/test-bucket", timeout=1)
            break
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gcp-storage-emulator did not start")
            time.sleep(0.1)
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = host
    from google.cloud import storage
    yield storage.Client.create_anonymous_client().bucket("test-bucket")
    if previous is None:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)
    else:
        os.environ["STORAGE_EMULATOR_HOST"] = previous
    process.terminate()
    process.wait(10)
