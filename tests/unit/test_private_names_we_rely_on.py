"""Where the job leans on a library's private names, and why it keeps them:
each test states what is relied on, and fails loudly (naming the place in
our code) when an upgrade changes it, instead of the job failing quietly.

- Beam's `WriteToParquetBatched(...)._sink` (transforms/write_parquet.py):
  the FileBasedSink protocol (initialize_write, open_writer, pre_finalize,
  finalize_write) lets one step write several tables, fused with their
  producers, and finalize them together; the public transform writes one
  table per write step and finalizes each on its own.
- Beam's `_BeamArgumentParser` (pipeline/options.py known_options_parser,
  pipeline/job.py help_text): the parser Beam's option classes expect in
  `_add_argparse_args` (it knows ValueProvider arguments); a plain argparse
  parser refuses some of Beam's own options.
- Beam's credential cache, `apache_beam.internal.gcp.auth._Credentials`
  (pipeline/preflight.py check_storage_credentials): against a GCS emulator
  Beam is told up front to go anonymous, where its own lookup would spend
  25 s and log tracebacks.
- tenacity's `RetryCallState` driven by hand (vertex/retry.py with_retries):
  tenacity's strategies without AsyncRetrying's 25-44 us per call (measured
  in vertex/retry.py).
"""
import argparse
import asyncio
import inspect

import pyarrow as pa
import pytest
import tenacity
from apache_beam.internal.gcp import auth as beam_auth
from apache_beam.io.filebasedsink import FileBasedSink
from apache_beam.options import pipeline_options as beam_options

from transforms.run_files import RunFiles
from transforms.write_parquet import TableFiles
from vertex.retry import RetryPolicy, with_retries


def test_beams_parquet_sink_is_a_file_based_sink_we_can_drive(tmp_path):
    """transforms/write_parquet.py: TableFiles.sink and its writing steps."""
    schema = pa.schema([("id", pa.string())])
    sink = TableFiles("responses", schema).sink(RunFiles(str(tmp_path), "r1"))
    assert isinstance(sink, FileBasedSink), "WriteToParquetBatched._sink is no FileBasedSink"
    folder = sink.initialize_write()
    writer = sink.open_writer(folder, "a")
    writer.write(pa.table({"id": ["x"]}))
    written = [writer.close()]
    pre_finalized = sink.pre_finalize(folder, written)
    final = list(sink.finalize_write(folder, written, pre_finalized))
    assert len(final) == 1 and final[0].startswith(str(tmp_path / "responses-r1-"))
    assert sink.file_path_prefix.get().endswith("responses-r1")
    assert "skip_if_empty" in vars(sink), "FileBasedSink no longer has skip_if_empty"


def test_beams_argument_parser_takes_every_options_class():
    """pipeline/options.py known_options_parser and pipeline/job.py help_text."""
    assert issubclass(beam_options._BeamArgumentParser, argparse.ArgumentParser)
    parser = beam_options._BeamArgumentParser(allow_abbrev=False, add_help=False)
    for options in beam_options.PipelineOptions.__subclasses__():
        options._add_argparse_args(parser)
    known, unknown = parser.parse_known_args(["--runner", "DirectRunner", "--project", "p"])
    assert (known.runner, known.project, unknown) == ("DirectRunner", "p", [])


def test_beams_credential_cache_can_be_told_to_go_anonymous():
    """pipeline/preflight.py check_storage_credentials."""
    cache = beam_auth._Credentials
    for name in ("_credentials_lock", "_credentials", "_credentials_init"):
        assert hasattr(cache, name), f"Beam's _Credentials has no {name} any more"
    saved = cache._credentials, cache._credentials_init
    try:
        with cache._credentials_lock:
            cache._credentials, cache._credentials_init = None, True
        assert beam_auth.get_service_credentials(beam_options.PipelineOptions([])) is None
    finally:
        cache._credentials, cache._credentials_init = saved


def test_tenacitys_retry_call_state_can_be_driven_by_hand():
    """vertex/retry.py with_retries: the attribute names it sets and reads."""
    parameters = inspect.signature(tenacity.RetryCallState).parameters
    assert list(parameters)[:4] == ["retry_object", "fn", "args", "kwargs"]
    state = tenacity.RetryCallState(None, fn=None, args=(), kwargs={})
    for name in ("start_time", "idle_for", "upcoming_sleep", "attempt_number"):
        assert hasattr(state, name), f"tenacity's RetryCallState has no {name} any more"

    calls = []

    async def attempt():
        calls.append(1)
        if len(calls) < 3:
            raise ValueError("again")
        return "done"

    policy = RetryPolicy(retry=tenacity.retry_if_exception_type(ValueError),
                         stop=tenacity.stop_after_attempt(3), wait=tenacity.wait_fixed(0.01))
    assert asyncio.run(with_retries(attempt, policy)) == "done" and len(calls) == 3
    calls.clear()
    policy = policy._replace(stop=tenacity.stop_after_attempt(2))
    with pytest.raises(ValueError):
        asyncio.run(with_retries(attempt, policy))
    assert len(calls) == 2  # stop_after_attempt sees the attempt number we keep
