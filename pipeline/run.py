"""One run of the job under --output, from its start to its end, as one object:

    with Run(config, options) as run:   # the output's lease and a disk reserve,
        return run.go()                 # then the context cache, the graph, the
                                        # summary, and what dead runs left
    # leaving: the cache deleted, the reserve and the lease given back

Every way a run can end is said in one line and an exit code (README, "Exit
codes"); what it paid for is never lost: the answers received are in the
checkpoints, which a rerun with --skip_existing carries over.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

import apache_beam as beam

from pipeline import context_cache, graph, preflight, run_lease
from pipeline.context_cache import RunCache
from pipeline.failures import fatal_exit, fatal_message, was_interrupted
from pipeline.runner_facts import is_local, local_runner
from pipeline.space_reserve import SpaceReserve, disk_full
from pipeline.results import report
from pipeline.results.summary import (EXIT_INTERRUPTED, make_summary, outcome, outcome_line,
                              short_summary, write_summary)
from transforms.checkpoints import flush_checkpoints, remove_checkpoints
from transforms.input_files import count_lines
from transforms.plan_calls import Resume
from transforms.progress import ProgressSettings
from transforms.run_files import checkpoint_parts, checkpoints_folder
from transforms.tasks import tables
from vertex import stopping
from vertex.errors import first_line

STOP_GRACE_S = 10.0  # after Ctrl-C or SIGTERM, how long the answers in flight may take


class RunRefused(Exception):
    """The run cannot start (another run writes there, no room on the disk): its message."""


class Run:
    def __init__(self, config, options):
        self.config, self.options = config, options
        self.lease = run_lease.RunLease(config.files)
        self.reserve = SpaceReserve(config.files)
        self.cache = RunCache(config, local=is_local(options))

    # start and end

    def __enter__(self) -> "Run":
        self.lease.take()  # first, then look: of two runs starting at once, neither goes on alone
        others = run_lease.live_runs(self.config.output, but=self.config.run_id)
        if others:
            self.lease.release()
            raise RunRefused(f"{run_lease.describe(others[0])} is still writing to "
                             f"{self.config.output}; a second run there would pay for its "
                             "records again: wait for it to end, or give another --output")
        try:
            self.reserve.take()
        except OSError as error:
            self.lease.release()
            raise RunRefused(f"cannot keep {self.reserve.size >> 20} MiB free under --output "
                             f"{self.config.output} for the answers of a run that fills the "
                             f"disk: {first_line(error)}") from None
        return self

    def __exit__(self, *_) -> None:
        self.cache.end()  # however the run ended: a cache left behind costs storage
        self.reserve.release()
        self.lease.release()

    # the run

    def go(self) -> int:
        """Calls every record, then writes and prints the summary; the exit code."""
        try:
            return self._go()
        except OSError as error:  # outside the pipeline: writing the summary, say
            if not disk_full(error):
                raise
            _say(f"error: the disk of --output {self.config.output} is full; "
                 f"{after_a_full_disk(self.config)}")
            return 1

    def _go(self) -> int:
        started = time.monotonic()
        config = self.config
        records = count_lines(config.input) \
            if config.progress_every_s or config.context_cache != "off" else None
        config = context_cache.for_workers(config, self.cache.start(records), records)
        # The dead runs' checkpoints this run may carry over: removed once it
        # succeeds, those whose every row its final tables then supersede.
        dead_runs_parts = checkpoint_parts(config.output) if config.resume != Resume.NONE else []
        pipeline = beam.Pipeline(runner=local_runner(self.options), options=self.options)
        graph.build(pipeline, config, ProgressSettings(config.progress_every_s, records,
                                                       config.run_id))
        try:
            result = self._run(pipeline)
        except (KeyboardInterrupt, Exception) as error:  # noqa: BLE001 - one clear line
            return self._stopped(error)
        self.cache.end()
        summary = make_summary(config, result, time.monotonic() - started, self.cache)
        summary = {**outcome(summary, config.allowed_error_rate), **summary}
        self._finish(summary, dead_runs_parts)
        return summary["exit_code"]

    def _run(self, pipeline):
        """The pipeline to its end; Ctrl-C and SIGTERM stop it with one line,
        keeping what was paid for."""
        stopping.reset()
        interruption = _Interruption()
        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread:
            previous = {s: signal.signal(s, interruption) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            interruption.running.set()
            result = pipeline.run()
            result.wait_until_finish()
            return result
        finally:
            interruption.running.clear()
            if in_main_thread:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)

    def _stopped(self, error: BaseException) -> int:
        """A run that did not finish: why, in one line, and its exit code."""
        config = self.config
        preflight.cleanup_after_failure(config.files)
        if was_interrupted(error):
            flush_checkpoints()
            _say(f"interrupted: no call was started after the signal, and the answers received "
                 f"are saved under {config.files.checkpoints}; rerun with --skip_existing "
                 "to go on without paying for them again")
            return EXIT_INTERRUPTED
        if disk_full(error):  # the reserve makes room for the rows still in hand
            self.reserve.release()
            flush_checkpoints()
            _say(f"error: the job was stopped: no space left on the disk of --output "
                 f"{config.output}; {after_a_full_disk(config)}")
            return 1
        message = fatal_message(error)
        if message is None:
            raise error
        _say(f"error: the job was stopped: {message}")
        return fatal_exit(message)

    def _finish(self, summary: dict, dead_runs_parts: list) -> None:
        """The summary written and printed; what dead runs left that this run
        superseded removed; the report."""
        config = self.config
        path = write_summary(config, summary)
        kept = remove_checkpoints(config.files, tables(), dead_runs_parts)
        run_lease.remove_dead_leases(config.output)
        if kept:
            _say(f"note: {len(kept)} checkpoint part(s) of runs that died are kept under "
                 f"{checkpoints_folder(config.output)}: some of their answers are "
                 "for records this run's input does not have")
        try:
            report_path = report.write_report(config.output, config.run_id)
        except Exception as error:  # noqa: BLE001 - the run's results stand without a report
            report_path = None
            _say(f"warning: no report.html ({first_line(error)}); rebuild it with "
                 f"vertex-beam-batch report {config.output} --run_id {config.run_id}")
        print(json.dumps(summary, indent=2) if config.summary_json
              else short_summary(summary, path, report_path))
        for unreadable in summary["unreadable_files"]:
            _say(f"error: input {unreadable} could not be read to its end; the lines after "
                 "that were not read (see the rejected table)")
        _say(outcome_line(summary))


def after_a_full_disk(config) -> str:
    return (f"the answers received so far are saved under "
            f"{config.files.checkpoints}: free some space, then rerun with "
            "--skip_existing to go on without paying for them again")


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


def _say(line: str) -> None:
    print(line, file=sys.stderr)
