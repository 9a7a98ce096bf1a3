"""The job's graph: read -> generate -> write, one way."""
from __future__ import annotations

import json

import apache_beam as beam

from pipeline.options import JobConfig
from transforms import metrics, schemas
from transforms.generate_content import GenerateContent
from transforms.read_prompt_records import ReadPromptRecords, rejected_row
from transforms.prompt_records import SourceLine
from transforms.write_parquet import WriteParquetTable


def _unsupported_image_record(record, run_id: str) -> dict:
    line = SourceLine(record.source, record.line_number, json.dumps(record.body))
    return rejected_row(line, "image records (task=image) are not supported by this "
                              "version yet", run_id)


def _counted(row: dict, counter) -> dict:
    counter.inc()
    return row


def build(p: beam.Pipeline, config: JobConfig) -> None:
    read = p | "ReadPromptRecords" >> ReadPromptRecords(config.input, config.defaults,
                                                        config.run_id)
    text, image = read.records | "ByTask" >> beam.Partition(
        lambda record, _: 1 if record.task == "image" else 0, 2)
    responses = text | "GenerateContent" >> GenerateContent(
        config.connection, config.run_id, stream=config.stream)
    responses | "WriteResponses" >> WriteParquetTable(
        config.output, "responses", config.run_id, schemas.RESPONSES)
    unsupported = image | "RejectImages" >> beam.Map(_unsupported_image_record, config.run_id)
    ((read.rejected, unsupported) | "AllRejected" >> beam.Flatten()
     | "CountRejected" >> beam.Map(_counted, metrics.counter("rejected_rows"))
     | "WriteRejected" >> WriteParquetTable(config.output, "rejected", config.run_id,
                                            schemas.REJECTED))
