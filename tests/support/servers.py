"""Real servers the tests start on loopback: the Vertex AI emulator
(python -m emulator) in a process of its own, and a free port."""
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

ROOT = Path(__file__).resolve().parents[2]  # the checkout


class EmulatorProcess:
    def __init__(self, *flags: str, serve_discontinued: bool = True):
        # Most tests send old files on the models they were written for: the
        # emulator serves those past their date unless a test asks it not to.
        flags = (*flags, "--serve_discontinued") if serve_discontinued else flags
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
