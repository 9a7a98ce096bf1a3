"""ReadPromptRecords: JSONL files (local, gs://, any Beam filesystem) to
PromptRecords, with every unusable line kept as a rejected row."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.io import fileio

from transforms import metrics
from transforms.prompt_records import (RecordDefaults, RejectedLine, SourceLine,
                                       build_record)


def rejected_row(line: SourceLine, reason: str, run_id: str) -> dict:
    return {"run_id": run_id, "source": line.source, "line_number": line.line_number,
            "raw_line": line.text, "reason": reason}


def _numbered_lines(readable_file: fileio.ReadableFile):
    """Streams a file's lines with their 1-based numbers; compressed files
    (.gz, .bz2, ...) are decompressed by their extension."""
    source = readable_file.metadata.path
    lines, blank = metrics.counter("input_lines"), metrics.counter("blank_lines")
    with readable_file.open() as f:
        for number, raw in enumerate(iter(f.readline, b""), start=1):
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not text.strip():
                blank.inc()  # JSONL readers skip blank lines; they are counted, not rejected
                continue
            lines.inc()
            yield SourceLine(source, number, text)


class ReadJsonLines(beam.PTransform):
    """SourceLines from the files that match a pattern. One file is read by
    one worker; group or reshuffle downstream to spread the lines."""

    def __init__(self, file_pattern: str):
        super().__init__()
        self.file_pattern = file_pattern

    def expand(self, pbegin):
        return (pbegin
                | "Match" >> fileio.MatchFiles(self.file_pattern)
                | "Open" >> fileio.ReadMatches()
                | "Lines" >> beam.FlatMap(_numbered_lines))


class _BuildRecords(beam.DoFn):
    REJECTED = "rejected"

    def __init__(self, defaults: RecordDefaults, run_id: str):
        self.defaults, self.run_id = defaults, run_id

    def process(self, line: SourceLine):
        try:
            yield build_record(line, self.defaults)
        except RejectedLine as error:
            yield beam.pvalue.TaggedOutput(self.REJECTED, rejected_row(line, str(error), self.run_id))


class ReadPromptRecords(beam.PTransform):
    """Returns a tagged result: `.records` (PromptRecords) and `.rejected` (rows)."""

    def __init__(self, file_pattern: str, defaults: RecordDefaults, run_id: str):
        super().__init__()
        self.file_pattern, self.defaults, self.run_id = file_pattern, defaults, run_id

    def expand(self, pbegin):
        return (pbegin
                | "Read" >> ReadJsonLines(self.file_pattern)
                | "Build" >> beam.ParDo(_BuildRecords(self.defaults, self.run_id))
                .with_outputs(_BuildRecords.REJECTED, main="records"))
