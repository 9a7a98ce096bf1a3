"""The job, as a story: read the command line and check all that can be
checked before any call; then estimate (--dry_run) or run (pipeline/run.py).
Every end is one line on stderr and an exit code (README, "Exit codes")."""
from __future__ import annotations

import json
import sys

from apache_beam.options import pipeline_options as beam_options

from pipeline import credentials, dry_run, preflight
from pipeline.failures import configure_logging, fatal_exit
from pipeline.options import (OptionError, VertexBatchOptions, check_known_options, help_text,
                              job_config, with_flag_values)
from pipeline.run import Run, RunRefused
from pipeline.results.summary import EXIT_COMPLETE, EXIT_FAILED, EXIT_REFUSED
from vertex.errors import FatalApiError


def main(argv: list[str]) -> int:
    if "-h" in argv or "--help" in argv or "--help_beam" in argv:
        print(help_text(beam="--help_beam" in argv))
        return 0
    configure_logging()
    try:
        config, options = read_command_line(argv)
    except OptionError as error:
        return _said(error, EXIT_REFUSED)
    except FatalApiError as error:
        return _said(error, fatal_exit(str(error)))
    if config.dry_run_sample is not None:
        return _dry_run(config)
    try:
        with Run(config, options) as run:
            return run.go()
    except RunRefused as error:
        return _said(error, EXIT_FAILED)


def read_command_line(argv: list[str]):
    """The job's config and Beam's options (without secrets), once every
    check that needs no billable call has passed."""
    argv = with_flag_values(argv)
    check_known_options(argv)
    # Every gs:// path the options name, before any is read (without
    # credentials Beam would look for them for minutes, logging tracebacks).
    named = beam_options.PipelineOptions(argv).view_as(VertexBatchOptions)
    preflight.check_storage_credentials(*(
        path for path in (named.input, named.output, named.prices, named.response_schema)
        if path and not path.lstrip().startswith("{")))
    options = beam_options.PipelineOptions(credentials.without_secrets(argv))
    config = job_config(beam_options.PipelineOptions(argv))
    credentials.hand_key_to_workers(named.api_key)
    preflight.check_input(config.input, config.output)
    preflight.check_run_id(config)
    preflight.check_carried_schema(config)
    preflight.check_output(config.files)
    preflight.check_credentials(config)
    return config, options


def _dry_run(config) -> int:
    """--dry_run: read, check, estimate; nothing billable is called (but the
    --dry_run_sample calls, which the estimate counts). Fails where the real
    run would be refused: an unknown model, credentials Vertex AI refuses."""
    try:
        estimate = dry_run.estimate(config)
    except FatalApiError as error:
        return _said(error, fatal_exit(str(error)))
    path = dry_run.write_estimate(config, estimate)
    print(json.dumps({k: v for k, v in estimate.items() if k != "rejected_lines"}, indent=2))
    print(f"estimate: {path}")
    return EXIT_COMPLETE


def _said(error: Exception, code: int) -> int:
    print(f"error: {error}", file=sys.stderr)
    return code
