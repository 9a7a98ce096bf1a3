"""vertex-beam-batch: the job, and the commands around it.

    vertex-beam-batch [run] --input PATTERN --output DIR [options]   the job
    vertex-beam-batch report OUTPUT [--run_id ID]                     rebuild report.html
    vertex-beam-batch models [--all] [--check] [--markdown]            what the tool believes
    vertex-beam-batch emulator [--port N ...]                          the local Vertex AI
    vertex-beam-batch --version

`python -m pipeline` is `vertex-beam-batch run`.
"""
from __future__ import annotations

import gc
import sys

COMMANDS = ("run", "report", "models", "emulator")


def version() -> str:
    from importlib import metadata
    try:
        return metadata.version("vertex-beam-batch")
    except metadata.PackageNotFoundError:  # run from a checkout without installing it
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--version"]:
        print(f"vertex-beam-batch {version()}")
        return 0
    command, rest = (argv[0], argv[1:]) if argv[:1] and argv[0] in COMMANDS else ("run", argv)
    if command == "report":
        from pipeline.results import report
        return report.main(rest)
    if command == "models":
        from vertex_catalog.__main__ import main as models
        return models(rest)
    if command == "emulator":
        from emulator.__main__ import main as emulator
        return emulator(rest)
    # Python's cyclic collector would walk the millions of objects Beam's
    # imports make, again and again: they load with it off, then are frozen
    # (pipeline/__main__.py says more).
    gc.disable()
    from pipeline.job import main as run
    gc.freeze()
    gc.enable()
    status = run(rest)
    gc.freeze()  # exiting: the interpreter frees everything without collecting it
    return status


if __name__ == "__main__":
    sys.exit(main())
