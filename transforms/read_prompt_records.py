"""ReadPromptRecords: JSONL files (local, gs://, any Beam filesystem) to
PromptRecords, with every unusable line kept as a rejected row."""
from __future__ import annotations

import bz2
import codecs
import gzip
import json
import lzma
import os
import zlib
from typing import Any, Dict, Union

import apache_beam as beam
from apache_beam.io.filesystem import CompressedFile, CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.display import DisplayDataItem

from transforms import metrics
from transforms.input_files import BoundedReader, InputFile, snapshot, source_name
from transforms.prompt_records import PromptRecord, RejectedLine, SourceLine, parse_json_line
from transforms.record_defaults import RecordDefaults
from transforms.tasks import TASKS, build_record, record_from_object


def duplicate_reason(record_id: str, first_source: str | None, first_line: int | None) -> str:
    """Why a line is rejected whose id an earlier line of the input has: the
    same words in the run's rejected table and the dry run's estimate."""
    return f"duplicate_id: id {record_id!r} was first seen at {first_source}:{first_line}"


def rejected_row(line: SourceLine, reason: str, run_id: str | None) -> dict:
    return {"run_id": run_id, "source": line.source, "line_number": line.line_number,
            "raw_line": line.text, "reason": reason}


# Compressed input is decompressed with Python's own modules, which raise on a
# truncated or corrupt stream; Beam's CompressedFile stops silently at the cut.
_DECOMPRESSORS = {CompressionTypes.GZIP: gzip.GzipFile, CompressionTypes.BZIP2: bz2.BZ2File,
                  CompressionTypes.LZMA: lzma.LZMAFile}
_READ_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError)
_BOM = codecs.BOM_UTF8


def _open(file: InputFile):
    """The file's bytes as they were when the run started, decompressed."""
    compression = CompressionTypes.detect_compression_type(file.path)
    raw = FileSystems.open(file.path, compression_type=CompressionTypes.UNCOMPRESSED)
    bounded = BoundedReader(raw, file.size)
    if compression == CompressionTypes.UNCOMPRESSED:
        return bounded, bounded
    if compression in _DECOMPRESSORS:
        return _DECOMPRESSORS[compression](fileobj=bounded), bounded
    return CompressedFile(bounded, compression), bounded  # .deflate, .zst: Beam's own


def _decode(source: str, number: int, raw: bytes) -> SourceLine:
    """A line as text; a line that is not UTF-8 carries the reason instead
    (its bytes shown escaped), and is never sent altered."""
    try:
        return SourceLine(source, number, raw.decode("utf-8").rstrip("\r\n"))
    except UnicodeDecodeError as error:
        return SourceLine(source, number, raw.decode("utf-8", "backslashreplace").rstrip("\r\n"),
                          f"not valid UTF-8: byte 0x{raw[error.start]:02x} at byte offset "
                          f"{error.start} of the line")


def numbered_lines(file: InputFile, counted: bool = True):
    """Streams a file's lines, as far as the file went when the run started,
    with their 1-based numbers. A file that cannot be opened, or read to its
    end (a truncated or corrupt compressed file), yields one last line that
    says so, after the lines that could be read. `counted`: the read the
    job's line counts come from (a second read of the same files is not)."""
    def counter(name: str):
        return metrics.counter(name) if counted else _NOT_COUNTED
    lines, blank = counter(metrics.INPUT_LINES), counter(metrics.BLANK_LINES)
    source, number = source_name(file.path), 0
    try:
        if file.size is None:
            os.stat(file.path)  # says why it cannot be looked at (a dangling link, a loop)
        stream, bounded = _open(file)
        with stream:
            for number, raw in enumerate(iter(stream.readline, b""), start=1):
                if number == 1 and raw.startswith(_BOM):
                    raw = raw[len(_BOM):]
                if not raw.strip():
                    blank.inc()  # JSONL readers skip blank lines; they are counted, not rejected
                    continue
                lines.inc()
                yield _decode(source, number, raw)
        if counted and bounded.grew:
            metrics.string_set(metrics.FILES_GROWN).add(source)
    except IsADirectoryError:
        pass  # a pattern such as data/* also matches folders
    except _READ_ERRORS as error:
        why = source_name(f"{type(error).__name__}: {getattr(error, 'strerror', None) or error}")
        if counted:
            metrics.counter(metrics.UNREADABLE_FILES).inc()
            metrics.string_set(metrics.UNREADABLE_FILES).add(
                f"{source} (after line {number}: {why})" if number else f"{source} ({why})")
        what = (f"the file cannot be read past line {number} (corrupt or truncated: {why}); "
                "the lines after that were not read" if number
                else f"the file cannot be read ({why})")
        yield SourceLine(source, number + 1, None, f"unreadable_input: {what}")


class _NotCounted:
    def inc(self, n: int = 1) -> None:
        pass


_NOT_COUNTED = _NotCounted()


class ReadJsonLines(beam.PTransform):
    """SourceLines from the files that match a pattern, as far as each went
    when the pipeline was built (transforms/input_files.py): give two reads
    the same `files` (input_files.snapshot) and they read the same lines.
    One file is read by one worker; group or reshuffle downstream to spread
    the lines. `counted`: whether this read counts the job's input lines."""

    def __init__(self, file_pattern: str, counted: bool = True,
                 files: list[InputFile] | None = None):
        super().__init__()
        self.file_pattern, self.counted, self.files = file_pattern, counted, files

    def expand(self, pbegin):
        files = self.files if self.files is not None else snapshot(self.file_pattern)
        return (pbegin
                | "Files" >> beam.Create(files, reshuffle=False).with_output_types(InputFile)
                | "Lines" >> beam.FlatMap(numbered_lines, self.counted)
                .with_output_types(SourceLine))


class _BuildRecords(beam.DoFn):
    REJECTED = "rejected"

    def __init__(self, defaults: RecordDefaults, run_id: str | None):
        if defaults.task not in TASKS:  # checked when the graph is built, not per record
            raise ValueError(f"task must be one of {tuple(TASKS)}, not {defaults.task!r}")
        self.defaults, self.run_id = defaults, run_id

    def process(self, element: SourceLine | dict):
        if isinstance(element, SourceLine):
            line = element
            build = lambda: build_record(line, self.defaults)  # noqa: E731
        else:  # a dict made in a pipeline: the same shapes as a line
            line = SourceLine(None, None, json.dumps(element, default=str))
            build = lambda: record_from_object(element, self.defaults)  # noqa: E731
        try:
            if line.error:
                raise RejectedLine(line.error)
            yield build()
        except RejectedLine as error:
            yield beam.pvalue.TaggedOutput(self.REJECTED,
                                           rejected_row(line, str(error), self.run_id))


class BuildPromptRecords(beam.PTransform):
    """Input objects to PromptRecords: SourceLines read from files, or plain
    dicts of the input line shapes ({"id", "prompt"}, {"id", "request"},
    {"task": "image", ...}). Returns a tagged result: `.records` and
    `.rejected` (rows saying why an object cannot be used).

    Args:
      defaults: job-level settings a record's own values win over.
      run_id: fills the rejected rows' run_id column (optional).
    """

    def __init__(self, defaults: RecordDefaults = RecordDefaults(), run_id: str | None = None):
        super().__init__()
        self.defaults, self.run_id = defaults, run_id

    def expand(self, objects):
        return objects | beam.ParDo(_BuildRecords(self.defaults, self.run_id)) \
            .with_input_types(Union[SourceLine, Dict[str, Any]]) \
            .with_output_types(PromptRecord).with_outputs(_BuildRecords.REJECTED, main="records")


class ReadPromptRecords(beam.PTransform):
    """JSONL files to PromptRecords. Returns a tagged result: `.records`
    (PromptRecords) and `.rejected` (rows). `files`: the view of the input
    to read (input_files.snapshot; default: the pattern's files now)."""

    def __init__(self, file_pattern: str, defaults: RecordDefaults = RecordDefaults(),
                 run_id: str | None = None, files: list[InputFile] | None = None):
        super().__init__()
        self.file_pattern, self.defaults, self.run_id = file_pattern, defaults, run_id
        self.files = files

    def expand(self, pbegin):
        return (pbegin
                | "Read" >> ReadJsonLines(self.file_pattern, files=self.files)
                | "Build" >> BuildPromptRecords(self.defaults, self.run_id))

    def display_data(self):
        return {"file_pattern": DisplayDataItem(self.file_pattern, label="Input files")}


def line_id(line: SourceLine, defaults: RecordDefaults):
    """The id of the record a line would make, read cheaply: its own `id`
    without checking the rest (a line that turns out unusable is rejected
    by the records' own read), or for a line without one the id derived from
    the whole record."""
    if line.error:
        return
    try:
        obj = parse_json_line(line)
        record_id = obj.get("id")
        if record_id is None or record_id == "":
            yield record_from_object(obj, defaults).id
        elif isinstance(record_id, (str, int)) and not isinstance(record_id, bool):
            yield str(record_id)
    except RejectedLine:
        pass


class ReadRecordIds(beam.PTransform):
    """The ids of the records in JSONL files: a second, cheap read of the
    input, for PlanCalls' index (so the records themselves are read once
    the index is ready, and flow without being held)."""

    def __init__(self, file_pattern: str, defaults: RecordDefaults = RecordDefaults(),
                 files: list[InputFile] | None = None):
        super().__init__()
        self.file_pattern, self.defaults, self.files = file_pattern, defaults, files

    def expand(self, pbegin):
        return (pbegin
                | "Read" >> ReadJsonLines(self.file_pattern, counted=False, files=self.files)
                | "Ids" >> beam.FlatMap(line_id, self.defaults).with_output_types(str))
