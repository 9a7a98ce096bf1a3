"""Fixtures that start real servers on loopback: the Vertex AI emulator
(python -m emulator) and the GCS emulator (gcp-storage-emulator)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# No test may look for Google credentials on the network: google-auth would
# otherwise probe the GCE metadata server when no ADC is set up.
os.environ["NO_GCE_CHECK"] = "True"
os.environ["GCE_METADATA_HOST"] = "127.0.0.1:9"
os.environ["GCE_METADATA_IP"] = "127.0.0.1:9"
os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
os.environ.pop("GOOGLE_API_KEY", None)


class EmulatorProcess:
    def __init__(self, *flags: str):
        self.port_file = tempfile.mktemp(prefix="emulator-port-")
        self.log = tempfile.NamedTemporaryFile(prefix="emulator-log-", delete=False)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--port", "0", "--port_file", self.port_file,
             *flags], cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not (os.path.exists(self.port_file) and Path(self.port_file).read_text()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("emulator did not start: " + Path(self.log.name).read_text())
            time.sleep(0.05)
        scheme = "https" if "--tls" in flags else "http"
        self.url = f"{scheme}://127.0.0.1:{Path(self.port_file).read_text()}"
        self.cert_file = flags[flags.index("--cert_file") + 1] if "--cert_file" in flags else None

    def _context(self):
        import ssl
        return ssl.create_default_context(cafile=self.cert_file) if self.cert_file else None

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/emulator/stats", context=self._context()) as r:
            return json.load(r)

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(self.url + "/emulator/reset", method="POST"),
                               context=self._context())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        for path in (self.port_file, self.log.name):  # leave nothing behind in /tmp
            if os.path.exists(path):
                os.remove(path)


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

    def start(*flags: str) -> EmulatorProcess:
        started.append(EmulatorProcess(*flags))
        return started[-1]
    yield start
    for emulator in started:
        emulator.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
