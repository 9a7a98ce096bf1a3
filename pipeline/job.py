"""Runs the job: parse and check the command line, build and run the graph,
then write and print the summary."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time

import apache_beam as beam
from apache_beam.options import pipeline_options as beam_options

from pipeline import context_cache, credentials, dry_run, graph, preflight, report, run_lease
from pipeline.context_cache import RunCache
from pipeline.options import (OptionError, VertexBatchOptions, check_known_options, job_config,
                              with_flag_values)
from pipeline.runner_facts import is_local
from pipeline.space_reserve import SpaceReserve, disk_full
from pipeline.summary import (EXIT_COMPLETE, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_REFUSED,
                              make_summary, outcome, outcome_line, short_summary,
                              write_summary)
from transforms.checkpoints import flush_checkpoints, remove_checkpoints
from transforms.input_files import count_lines
from transforms.plan_calls import Resume
from transforms.progress import ProgressSettings
from transforms.run_files import checkpoint_parts, checkpoints_folder
from transforms.tasks import TABLES
from vertex import stopping
from vertex.errors import FatalApiError, first_line


class _HelpFormatter(argparse.HelpFormatter):
    def __init__(self, prog):
        super().__init__(prog, max_help_position=32, width=100)


def help_text(beam: bool = False) -> str:
    """The job's own options in their groups (--help); with `beam`, Beam's
    runner options after them (--help_beam)."""
    parser = beam_options._BeamArgumentParser(  # Beam's parser knows its own option kinds
        prog="vertex-beam-batch", formatter_class=_HelpFormatter,
        usage="%(prog)s [run] --input PATTERN --output DIR [options]  (also: python -m pipeline)",
        description="JSONL prompt records through Vertex AI into Parquet. Other commands: "
                    "report, models, emulator, --version. Exit codes: 0 complete, 3 partial, "
                    "1 failed, 2 refused, 130 interrupted.",
        epilog="Beam's own options (--runner DataflowRunner --region ... --temp_location gs://... "
               "--setup_file ./setup.py for Dataflow, --direct_num_workers, ...) work as well: "
               "--help_beam lists them." if not beam else None)
    VertexBatchOptions._add_argparse_args(parser, with_dry_run=True)
    if beam:
        for options in (beam_options.StandardOptions, beam_options.DirectOptions,
                        beam_options.GoogleCloudOptions, beam_options.SetupOptions):
            group = parser.add_argument_group(f"Beam {options.__name__}")
            options._add_argparse_args(group)
    return parser.format_help()


def fatal_message(error: BaseException | None) -> str | None:
    """The message of a FatalApiError raised on a worker, however the runner
    passed it on: as itself, as a cause, or as text (remote runners)."""
    while error is not None:
        if isinstance(error, FatalApiError):
            return str(error).split(" [while running")[0]
        text = str(error)
        marker = "FatalApiError: "
        if marker in text:
            return first_line(Exception(text[text.rindex(marker) + len(marker):]))
        error = error.__cause__ or error.__context__
    return None


def was_interrupted(error: BaseException | None) -> bool:
    """Ctrl-C or SIGTERM, however the runner passed it on (Beam re-raises a
    KeyboardInterrupt in a worker as a RuntimeError naming it)."""
    while error is not None:
        if isinstance(error, KeyboardInterrupt) or str(error).startswith("KeyboardInterrupt"):
            return True
        error = error.__cause__ or error.__context__
    return False


class _HideExplainedTracebacks(logging.Filter):
    """In-process runners log a worker's exception before re-raising it; for a
    FatalApiError, an interruption or a full disk the job prints one clear
    line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return fatal_message(error) is None and not was_interrupted(error) \
            and not disk_full(error) and "FatalApiError" not in record.getMessage() \
            and "No space left on device" not in record.getMessage() \
            and not record.getMessage().startswith("KeyboardInterrupt")


def local_runner(options: beam_options.PipelineOptions):
    """The runner for --runner DirectRunner (the default).

    Beam's DirectRunner first tries the Prism runner, a binary it downloads
    from GitHub on first use; its fallback, the in-process FnApiRunner, needs
    no download and honours --direct_num_workers and --direct_running_mode, so
    local jobs use it directly. Other runners are left to Beam.
    """
    if not is_local(options):
        return None
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))


STOP_GRACE_S = 10.0  # after Ctrl-C or SIGTERM, how long the answers in flight may take


class _Interruption:
    """Ctrl-C or SIGTERM: no call starts any more, the answers in flight
    arrive and are saved (for at most STOP_GRACE_S), then the job stops. A
    second signal stops it at once."""

    def __init__(self):
        self.running = threading.Event()

    def __call__(self, signum, frame):
        if stopping.stopping() or not self.running.is_set():
            raise KeyboardInterrupt
        stopping.stop()
        threading.Thread(target=self._end_of_grace, args=(signum,), daemon=True).start()

    def _end_of_grace(self, signum):
        deadline = time.monotonic() + STOP_GRACE_S
        while stopping.in_flight() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # the last answers' rows reach the checkpoints
        if self.running.is_set():
            os.kill(os.getpid(), signum)  # wakes the job's thread, which now stops


def _fatal_exit(message: str) -> int:
    """A 404 for the job's model before any answer: nothing was paid, the job
    was refused (2); any other fatal error stopped it early (1)."""
    return EXIT_REFUSED if " answered 404 " in message else EXIT_FAILED


def _dry_run(config) -> int:
    """--dry_run: read, check, estimate; nothing billable is called (but the
    --dry_run_sample calls, which the estimate counts). Fails where the real
    run would be refused: an unknown model, credentials Vertex AI refuses."""
    try:
        estimate = dry_run.estimate(config)
    except FatalApiError as error:
        print(f"error: {error}", file=sys.stderr)
        return _fatal_exit(str(error))
    path = dry_run.write_estimate(config, estimate)
    print(json.dumps({k: v for k, v in estimate.items() if k != "rejected_lines"}, indent=2))
    print(f"estimate: {path}")
    return EXIT_COMPLETE


def main(argv: list[str]) -> int:
    if "-h" in argv or "--help" in argv or "--help_beam" in argv:
        print(help_text(beam="--help_beam" in argv))
        return 0
    # Configured before Beam does, so that its basicConfig() keeps this handler.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_HideExplainedTracebacks())
    # Files of a second stream (e.g. -checked) are only written when it has rows.
    logging.getLogger("apache_beam.io.filebasedsink").addFilter(
        lambda record: not record.getMessage().startswith("No shards found to finalize"))
    try:
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
        credentials.hand_key_to_workers(
            beam_options.PipelineOptions(argv).view_as(VertexBatchOptions).api_key)
        preflight.check_input(config.input, config.output)
        preflight.check_run_id(config)
        preflight.check_carried_schema(config)
        preflight.check_output(config.files)
        preflight.check_credentials(config)
    except OptionError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except FatalApiError as error:
        print(f"error: {error}", file=sys.stderr)
        return _fatal_exit(str(error))

    if config.dry_run_sample is not None:
        return _dry_run(config)
    lease = run_lease.RunLease(config.files)
    lease.take()  # first, then look: of two runs starting at once, neither goes on alone
    others = run_lease.live_runs(config.output, but=config.run_id)
    if others:
        lease.release()
        print(f"error: {run_lease.describe(others[0])} is still writing to {config.output}; "
              "a second run there would pay for its records again: wait for it to end, "
              "or give another --output", file=sys.stderr)
        return 1
    reserve = SpaceReserve(config.files)
    try:
        reserve.take()
    except OSError as error:
        lease.release()
        print(f"error: cannot keep {reserve.size >> 20} MiB free under --output {config.output} "
              f"for the answers of a run that fills the disk: {first_line(error)}",
              file=sys.stderr)
        return 1
    try:
        return _run(config, options, reserve)
    except OSError as error:
        if not disk_full(error):
            raise
        print(f"error: the disk of --output {config.output} is full; {_after_a_full_disk(config)}",
              file=sys.stderr)
        return 1
    finally:
        reserve.release()
        lease.release()


def _after_a_full_disk(config) -> str:
    return (f"the answers received so far are saved under "
            f"{config.files.checkpoints}: free some space, then rerun with "
            "--skip_existing to go on without paying for them again")


def _run(config, options, reserve: SpaceReserve) -> int:
    started = time.monotonic()
    expected = count_lines(config.input) \
        if config.progress_every_s or config.context_cache != "off" else None
    run_cache = RunCache(config, local=is_local(options))
    try:
        config = context_cache.for_workers(config, run_cache.start(expected), expected)
        return _run_with(config, options, reserve, run_cache, started, expected)
    finally:
        run_cache.end()  # however the run ended: a cache left behind costs storage


def _run_with(config, options, reserve: SpaceReserve, run_cache: RunCache, started: float,
              expected: int | None) -> int:
    pipeline = beam.Pipeline(runner=local_runner(options), options=options)
    # The dead runs' checkpoints this run may carry over: removed once it
    # succeeds, those whose every row its final tables then supersede.
    dead_runs_parts = checkpoint_parts(config.output) if config.resume != Resume.NONE else []
    graph.build(pipeline, config, ProgressSettings(config.progress_every_s, expected,
                                                   config.run_id))
    in_main_thread = threading.current_thread() is threading.main_thread()
    stopping.reset()
    interruption = _Interruption()
    if in_main_thread:  # Ctrl-C and SIGTERM stop the job with one line, keeping what was paid
        previous = {s: signal.signal(s, interruption) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        interruption.running.set()
        result = pipeline.run()
        result.wait_until_finish()
    except (KeyboardInterrupt, Exception) as error:  # noqa: BLE001 - one clear line
        preflight.cleanup_after_failure(config.files)
        if was_interrupted(error):
            flush_checkpoints()
            print(f"interrupted: no call was started after the signal, and the answers received "
                  f"are saved under {config.files.checkpoints}; rerun with --skip_existing "
                  "to go on without paying for them again", file=sys.stderr)
            return EXIT_INTERRUPTED
        if disk_full(error):  # the reserve makes room for the rows still in hand
            reserve.release()
            flush_checkpoints()
            print(f"error: the job was stopped: no space left on the disk of --output "
                  f"{config.output}; {_after_a_full_disk(config)}", file=sys.stderr)
            return 1
        message = fatal_message(error)
        if message is None:
            raise
        print(f"error: the job was stopped: {message}", file=sys.stderr)
        return _fatal_exit(message)
    finally:
        interruption.running.clear()
        if in_main_thread:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    run_cache.end()
    summary = make_summary(config, result, time.monotonic() - started, run_cache)
    summary = {**outcome(summary, config.allowed_error_rate), **summary}
    path = write_summary(config, summary)
    kept = remove_checkpoints(config.files, TABLES, dead_runs_parts)
    run_lease.remove_dead_leases(config.output)
    if kept:
        print(f"note: {len(kept)} checkpoint part(s) of runs that died are kept under "
              f"{checkpoints_folder(config.output)}: some of their answers are "
              "for records this run's input does not have", file=sys.stderr)
    try:
        report_path = report.write_report(config.output, config.run_id)
    except Exception as error:  # noqa: BLE001 - the run's results stand without a report
        report_path = None
        print(f"warning: no report.html ({first_line(error)}); rebuild it with "
              f"vertex-beam-batch report {config.output} --run_id {config.run_id}",
              file=sys.stderr)
    if config.summary_json:
        print(json.dumps(summary, indent=2))
    else:
        print(short_summary(summary, path, report_path))
    for unreadable in summary["unreadable_files"]:
        print(f"error: input {unreadable} could not be read to its end; the lines after "
              "that were not read (see the rejected table)", file=sys.stderr)
    print(outcome_line(summary), file=sys.stderr)
    return summary["exit_code"]
