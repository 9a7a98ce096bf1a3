"""Shared by the benchmarks: the emulator in a subprocess, machine facts, output."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


class Emulator:
    def __init__(self, *flags: str):
        self.flags = flags

    def __enter__(self) -> "Emulator":
        port_file = tempfile.mktemp(prefix="bench-emulator-port-")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "emulator", "--port", "0", "--port_file", port_file,
             *self.flags], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not (os.path.exists(port_file) and Path(port_file).read_text()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{Path(port_file).read_text()}"
        os.remove(port_file)
        return self

    def stats(self) -> dict:
        import urllib.request
        with urllib.request.urlopen(self.url + "/emulator/stats") as r:
            return json.load(r)

    def reset(self) -> None:
        import urllib.request
        urllib.request.urlopen(urllib.request.Request(self.url + "/emulator/reset", method="POST"))

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(10)


def machine() -> dict:
    try:
        memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        memory_gib = None
    return {"cpus": os.cpu_count(), "memory_gib": memory_gib, "python": platform.python_version(),
            "platform": platform.platform(), "load_avg": os.getloadavg()}


def report(name: str, rows: list[dict], extra: dict | None = None) -> None:
    """Prints a table and writes bench/results/{name}.json."""
    facts = machine()
    print(f"machine: {facts['cpus']} cpus, {facts['memory_gib']} GiB, Python {facts['python']}, "
          f"load {tuple(round(x, 2) for x in facts['load_avg'])}")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(_fmt(row.get(c)).ljust(widths[c]) for c in columns))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": facts, "rows": rows, **(extra or {})}, indent=2))
    print(f"written: {path.relative_to(ROOT)}")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return "" if value is None else str(value)
