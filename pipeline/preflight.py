"""Checks made before the first billable call, so that a job that cannot
finish stops at once, with one line, instead of paying for answers it could
not keep: the input exists, the output is a writable place where this run id
is new, and the credentials resolve."""
from __future__ import annotations

import asyncio
import os

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipeline.options import JobConfig, OptionError
from transforms.input_files import snapshot, source_name
from transforms.output_files import is_local_path, matching_paths, remove_empty_folders
from transforms.plan_calls import Resume
from transforms import schemas
from transforms.run_files import (RunFiles, checkpoint_parts, checkpoint_table,
                                  is_written_by_job)
from transforms.tasks import tables
from vertex.errors import FatalApiError, first_line


def all_tables() -> tuple[str, ...]:
    """Every table a run writes: its tasks' and the rejected lines'."""
    return (*tables(), "rejected")


def check_input(pattern: str, output: str) -> None:
    files = matching_paths(pattern) + [f.path for f in snapshot(pattern) if f.size is None]
    if not files:
        raise OptionError(f"--input {pattern!r} matches no files")
    if all(is_local_path(f) and os.path.isdir(f) for f in files):
        raise OptionError(f"--input {pattern!r} is a folder; give the files in it, e.g. "
                          f"{FileSystems.join(pattern, '*.jsonl')!r}")
    def normal(path: str) -> str:
        return os.path.abspath(path) if is_local_path(path) else path
    prefix = normal(output).rstrip("/") + "/"
    for path in files:
        inside = (normal(path)[len(prefix):].split("/") if normal(path).startswith(prefix)
                  else None)
        if inside and is_written_by_job(inside, all_tables()):
            raise OptionError(f"--input {pattern!r} matches files the job writes under "
                              f"--output (e.g. {source_name(path)}): a run would read its own "
                              "results as prompts; give a pattern that matches only the input")


def check_run_id(config: JobConfig) -> None:
    """A run never writes over another run's files: a run id that finished
    under this output is refused; one whose run died may only be resumed."""
    if not config.run_id_given:
        return  # a new id (time and a random suffix)
    files = config.files
    finished = any(files.table_files(t) for t in all_tables()) or FileSystems.exists(
        files.run_file("summary", "json"))
    if finished:
        raise OptionError(f"--run_id {files.run_id} was already used by a run under "
                          f"{files.output}; choose another run id, or leave --run_id out")
    if files.checkpoint_parts() and config.resume == Resume.NONE:
        raise OptionError(f"--run_id {files.run_id} names a run that died under {files.output}; "
                          "resume it with --skip_existing, or choose another run id")


def check_carried_schema(config: JobConfig) -> None:
    """A rerun that carries over a dead run's answers writes them into its
    own tables: answers saved under another typed schema (--output_schema or
    --response_schema) would not fit its `parsed` column, and the run would
    pay for the remaining records and then fail. Refused here instead, naming
    both schemas. One part of each dead run is read (a run has one schema)."""
    if config.resume == Resume.NONE:
        return
    expected = schemas.parsed_type(config.defaults.output_schema)
    by_run: dict[str, str] = {}
    for part in checkpoint_parts(config.output):
        if checkpoint_table(part) == "responses":
            by_run.setdefault(part.rstrip("/").rsplit("/", 2)[-2], part)
    for run_id, part in sorted(by_run.items()):
        try:
            with FileSystems.open(part) as f:
                saved = pq.read_schema(pa.BufferReader(f.read())).field("parsed").type
        except Exception:  # noqa: BLE001 - a damaged part is reported where it is read
            continue
        if saved != expected and not pa.types.is_null(saved):
            raise OptionError(
                f"the run {run_id} that died under {config.output} saved answers typed as "
                f"{saved}, and this run's schema types them as {expected}: rerun with that "
                "run's --output_schema/--response_schema to finish it, or give another "
                "--output; nothing was called")


def check_storage_credentials(*paths: str) -> None:
    """gs:// paths need Google credentials. Beam would look for them for about
    25 s, logging tracebacks, then go on anonymously and fail later; say it
    now instead. Against a GCS emulator (STORAGE_EMULATOR_HOST) anonymous is
    right, and Beam is told so up front."""
    if not any(FileSystems.get_scheme(p) == "gs" for p in paths):
        return
    import google.auth
    import google.auth.exceptions
    try:
        google.auth.default()
    except google.auth.exceptions.DefaultCredentialsError:
        if not os.environ.get("STORAGE_EMULATOR_HOST"):
            raise FatalApiError("gs:// input or output needs Google credentials, and no "
                                "Application Default Credentials were found (run `gcloud auth "
                                "application-default login`)") from None
        from apache_beam.internal.gcp import auth  # Beam's own cache of its lookup
        with auth._Credentials._credentials_lock:
            auth._Credentials._credentials, auth._Credentials._credentials_init = None, True


def check_output(files: RunFiles) -> None:
    """The output is a folder (or prefix) where this process can write: the
    tables' place, and the folders of the files answers carry (images/RUNID,
    audio/RUNID: a read-only mount there would fail after the images were
    paid for), and of the checkpoints."""
    output = files.output
    if is_local_path(output) and os.path.isfile(output):
        raise OptionError(f"--output {output!r} is a file; give a folder or a gs:// prefix")
    folders = [output, files.media_folder("images"), files.media_folder("audio"),
               files.checkpoints]
    made = [f for f in folders[1:] for f in (f, f.rsplit("/", 1)[0])
            if is_local_path(f) and not os.path.isdir(f)]  # to take away again
    try:
        for folder in folders:
            marker = FileSystems.join(folder, f".write-check-{files.run_id}")
            try:
                with FileSystems.create(marker) as f:
                    f.write(b"")
                FileSystems.delete([marker])
            except Exception as error:  # noqa: BLE001 - whatever the filesystem says, one line
                where = "--output" if folder == output else "the folder"
                raise FatalApiError(f"cannot write to {where} {folder}: {first_line(error)}; "
                                    "nothing was called") from None
    finally:
        remove_empty_folders(made)


def check_credentials(config: JobConfig) -> None:
    """The credentials the workers will use resolve here too: an API key can
    be read, or Application Default Credentials give a token."""
    import google.auth.exceptions
    connection = config.connection

    async def token():
        await connection.auth().headers()
    try:
        asyncio.run(token())  # a refused or missing credential raises FatalApiError itself
    except google.auth.exceptions.TransportError as error:
        raise FatalApiError(f"cannot reach Google's token endpoint to check the credentials: "
                            f"{first_line(error)}") from None


def cleanup_after_failure(files: RunFiles) -> None:
    """Beam's temporary files of this run's tables (beam-temp-TABLE-RUNID-HEX),
    which a failed run leaves behind; nothing else."""
    output = files.output
    temp = [p for p in matching_paths(FileSystems.join(output, "beam-temp-*", "*"))
            if files.is_beam_temp_folder(p.rstrip("/").rsplit("/", 2)[-2], all_tables())]
    if temp:
        FileSystems.delete(temp)
    if is_local_path(output) and os.path.isdir(output):  # the folders, now empty
        remove_empty_folders(os.path.join(output, name) for name in os.listdir(output)
                             if files.is_beam_temp_folder(name, all_tables()))
