"""The job's graph, one way: read -> plan (dedupe, resume) -> call -> write.

    ReadPromptRecords --records--> PlanCalls --calls--> GenerateContent --> CheckpointRows --> responses
            |      ReadEarlierResults -^  |  \\-------> GenerateImages --> CheckpointRows --> images
            |                            |   \\------> GenerateLive ----> CheckpointRows --> live
            |                            +--rows carried from runs that died------------------> responses/images (-carried)
            +--rejected lines------------+--duplicate ids-------------------------------------> rejected

The answers are never flattened with another collection before they are
written: the in-process runner then holds every row in memory (measured: 789
MiB instead of 388 at 30,000 records), so carried rows get files of their own.
"""
from __future__ import annotations

import apache_beam as beam

from pipeline.options import JobConfig
from transforms import metrics, schemas
from transforms.prompt_records import TASKS
from transforms.generate_content import GenerateContent
from transforms.generate_images import GenerateImages
from transforms.generate_live import GenerateLive
from transforms.progress import ProgressSettings
from transforms.read_prompt_records import ReadPromptRecords
from transforms.resume import (CheckpointRows, PlanCalls, ReadEarlierResults, Resume,
                               carried_tag)
from transforms.write_parquet import WriteParquetTable


def _counted(row: dict, counter) -> dict:
    counter.inc()
    return row


def build(p: beam.Pipeline, config: JobConfig,
          progress: ProgressSettings = ProgressSettings()) -> None:
    read = p | "ReadPromptRecords" >> ReadPromptRecords(config.input, config.defaults,
                                                        config.run_id)
    previous = None
    if config.resume != Resume.NONE:
        previous = p | "ReadEarlierResults" >> ReadEarlierResults(config.output)
    planned = read.records | "PlanCalls" >> PlanCalls(config.resume, config.run_id, previous)
    text, image, live = planned.calls | "ByTask" >> beam.Partition(
        lambda record, _: TASKS.index(record.task), len(TASKS))

    answers = (text
               | "GenerateContent" >> GenerateContent(config.connection, config.run_id,
                                                      stream=config.stream,
                                                      output=config.output, progress=progress,
                                                      prices=config.prices)
               | "CheckpointResponses" >> CheckpointRows(config.output, config.run_id,
                                                         "responses", schemas.RESPONSES))
    answers | "WriteResponses" >> WriteParquetTable(config.output, "responses", config.run_id,
                                                    schemas.RESPONSES)
    images = (image
              | "GenerateImages" >> GenerateImages(config.connection, config.output,
                                                   config.run_id, progress,
                                                   prices=config.prices)
              | "CheckpointImages" >> CheckpointRows(config.output, config.run_id, "images",
                                                     schemas.IMAGES))
    images | "WriteImages" >> WriteParquetTable(config.output, "images", config.run_id,
                                                schemas.IMAGES)
    spoken = (live
              | "GenerateLive" >> GenerateLive(config.connection, config.output, config.run_id,
                                               progress, prices=config.prices)
              | "CheckpointLive" >> CheckpointRows(config.output, config.run_id, "live",
                                                   schemas.LIVE))
    spoken | "WriteLive" >> WriteParquetTable(config.output, "live", config.run_id, schemas.LIVE)
    if previous is not None:  # rows carried from runs that died: files of their own
        for table in ("responses", "images", "live"):
            planned[carried_tag(table)] | f"WriteCarried{table}" >> WriteParquetTable(
                config.output, table, config.run_id, schemas.schema(table), part="carried")

    ((read.rejected, planned.rejected) | "AllRejected" >> beam.Flatten()
     | "CountRejected" >> beam.Map(_counted, metrics.counter(metrics.REJECTED_ROWS))
     | "WriteRejected" >> WriteParquetTable(config.output, "rejected", config.run_id,
                                            schemas.REJECTED))
