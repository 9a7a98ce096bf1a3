"""The job's graph: read -> generate (text or images) -> write, one way."""
from __future__ import annotations

import apache_beam as beam

from pipeline.options import JobConfig
from transforms import metrics, schemas
from transforms.generate_content import GenerateContent
from transforms.generate_images import GenerateImages
from transforms.progress import ProgressSettings
from transforms.read_prompt_records import ReadPromptRecords
from transforms.write_parquet import WriteParquetTable


def _counted(row: dict, counter) -> dict:
    counter.inc()
    return row


def build(p: beam.Pipeline, config: JobConfig,
          progress: ProgressSettings = ProgressSettings()) -> None:
    read = p | "ReadPromptRecords" >> ReadPromptRecords(config.input, config.defaults,
                                                        config.run_id)
    text, image = read.records | "ByTask" >> beam.Partition(
        lambda record, _: 1 if record.task == "image" else 0, 2)
    (text
     | "GenerateContent" >> GenerateContent(config.connection, config.run_id,
                                            stream=config.stream, output=config.output,
                                            progress=progress)
     | "WriteResponses" >> WriteParquetTable(config.output, "responses", config.run_id,
                                             schemas.RESPONSES))
    (image
     | "GenerateImages" >> GenerateImages(config.connection, config.output, config.run_id,
                                          progress)
     | "WriteImages" >> WriteParquetTable(config.output, "images", config.run_id,
                                          schemas.IMAGES))
    (read.rejected
     | "CountRejected" >> beam.Map(_counted, metrics.counter("rejected_rows"))
     | "WriteRejected" >> WriteParquetTable(config.output, "rejected", config.run_id,
                                            schemas.REJECTED))
