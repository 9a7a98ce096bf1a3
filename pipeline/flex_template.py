"""The job as a Dataflow Flex Template: its metadata.json (every option a
user sets, with its help text and a check), and the launcher's arguments
turned into the job's command line.

    python -m pipeline.flex_template > flex_template/metadata.json

The launcher passes each parameter as `--name=value`; an on/off option
(`--skip_existing`) comes as `--skip_existing=true` or `=false`, which
`command_line` turns into the flag or nothing. `--api_key` is never a
parameter: a template's parameters are part of the job's graph and its
logs; use `--api_key_secret` (Secret Manager) or the workers' credentials.
"""
from __future__ import annotations

import argparse
import json
import sys

from apache_beam.options.pipeline_options import _BeamArgumentParser

from pipeline.options import VertexBatchOptions

NOT_PARAMETERS = {"api_key", "dry_run_sample"}  # a secret; a dry run is not a scheduled job's
REQUIRED = {"input", "output"}
_NUMBER = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"
_INTEGER = r"^[0-9]+$"
_FLAG = r"^(true|false)$"


def _actions() -> list[argparse.Action]:
    parser = _BeamArgumentParser(add_help=False)
    VertexBatchOptions._add_argparse_args(parser)
    return [a for a in parser._actions if a.option_strings and a.dest not in NOT_PARAMETERS]


def _flags() -> set[str]:
    return {a.dest for a in _actions() if isinstance(a, argparse._StoreTrueAction)}


def metadata() -> dict:
    parameters = []
    for action in _actions():
        help_text = (action.help or "") % {"default": action.default}
        parameter = {"name": action.dest, "label": action.dest.replace("_", " "),
                     "helpText": help_text, "isOptional": action.dest not in REQUIRED}
        if isinstance(action, argparse._StoreTrueAction):
            parameter["regexes"] = [_FLAG]
        elif action.choices:
            parameter["regexes"] = [f"^({'|'.join(action.choices)})$"]
        elif action.type is int:
            parameter["regexes"] = [_INTEGER]
        elif action.type is float:
            parameter["regexes"] = [_NUMBER]
        parameters.append(parameter)
    return {"name": "vertex-beam-batch",
            "description": "JSONL prompt records through Vertex AI (Gemini text, images, speech, "
                           "the Live API) into Parquet, with typed labels, cost and a budget; "
                           "exit codes as in docs/exit-codes.md",
            "parameters": parameters}


def command_line(argv: list[str]) -> list[str]:
    """The launcher's `--name=value` arguments as the job's command line: an
    on/off option's `=true` becomes the flag, `=false` nothing; the rest
    (Beam's options the launcher adds included) as they are."""
    flags, result = _flags(), []
    for arg in argv:
        name, sep, value = arg.partition("=")
        if sep and name.startswith("--") and name[2:] in flags:
            if value.lower() not in ("true", "false"):
                raise SystemExit(f"error: {name} is true or false, got {value!r}")
            if value.lower() == "true":
                result.append(name)
            continue
        result.append(arg)
    return result


if __name__ == "__main__":
    json.dump(metadata(), sys.stdout, indent=2)
    sys.stdout.write("\n")
