"""Runs the job: parse and check the command line, build and run the graph,
then write and print the summary."""
from __future__ import annotations

import json
import logging
import sys
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options import pipeline_options as beam_options

from pipeline import graph
from pipeline.options import OptionError, VertexBatchOptions, job_config, without_secrets
from pipeline.summary import make_summary, write_summary


def help_text() -> str:
    parser = beam_options._BeamArgumentParser(  # Beam's parser knows its own option kinds
        prog="python -m pipeline",
        description="Send JSONL prompt records through Vertex AI Gemini (and Imagen) and "
                    "write the answers, safety ratings and token usage to Parquet.",
        epilog="Any other standard Beam option works as well (see the Beam docs), e.g. "
               "--runner DataflowRunner --region us-central1 --temp_location gs://... "
               "--setup_file ./setup.py for Dataflow.")
    VertexBatchOptions._add_argparse_args(parser)
    for options in (beam_options.StandardOptions, beam_options.DirectOptions,
                    beam_options.GoogleCloudOptions, beam_options.SetupOptions):
        group = parser.add_argument_group(f"Beam {options.__name__}")
        options._add_argparse_args(group)
    return parser.format_help()


def fatal_message(error: BaseException) -> str | None:
    """The message of a FatalApiError raised on a worker, however the runner wrapped it."""
    text = str(error)
    marker = "FatalApiError: "
    if marker in text:
        return text[text.rindex(marker) + len(marker):].strip().splitlines()[0]
    cause = error.__cause__ or error.__context__
    return fatal_message(cause) if cause is not None else None


def main(argv: list[str]) -> int:
    if "-h" in argv or "--help" in argv:
        print(help_text())
        return 0
    logging.getLogger().setLevel(logging.WARNING)
    beam_argv = without_secrets(argv)
    try:
        options = beam_options.PipelineOptions(beam_argv)
        config = job_config(beam_options.PipelineOptions(argv))
    except OptionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not FileSystems.match([config.input])[0].metadata_list:
        print(f"error: --input {config.input!r} matches no files", file=sys.stderr)
        return 2

    started = time.monotonic()
    pipeline = beam.Pipeline(options=options)
    graph.build(pipeline, config)
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except Exception as error:  # noqa: BLE001 - report one clear line, not a worker traceback
        message = fatal_message(error)
        if message is None:
            raise
        print(f"error: the job was stopped: {message}", file=sys.stderr)
        return 1
    summary = make_summary(config, result, time.monotonic() - started)
    path = write_summary(config, summary)
    print(json.dumps(summary, indent=2))
    print(f"summary: {path}")
    return 0 if summary["state"].endswith("DONE") else 1
