"""The job's graph, one way: read -> plan (dedupe, resume) -> call -> write.

    ReadRecordIds ----ids----------v
    ReadPromptRecords --records--> PlanCalls --calls---------> answer(): by task, call, checkpoint, write
            |   ReadEarlierResults -^   |  \\--checked_calls--> answer(), to files of their own
            |                          +--rows carried from runs that died------> responses/images/live (-carried)
            +--rejected lines----------+--duplicate ids------------------------> rejected (-duplicates)

Nothing is flattened before it is written: the in-process runner holds every
element of a flatten in memory (measured: 789 MiB instead of 388 at 30,000
records when the answers were flattened with the carried rows), so each
stream writes files of its own. For the same reason the records are read twice:
once for their ids (PlanCalls' index, transforms/id_index.py), then to be
called, flowing from the read to the files without being held.
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
from transforms.read_prompt_records import ReadPromptRecords, ReadRecordIds
from transforms.resume import (CheckpointRows, PlanCalls, ReadEarlierResults, Resume,
                               carried_tag)
from transforms.write_parquet import WriteParquetTable


def _counted(row: dict, counter) -> dict:
    counter.inc()
    return row


def _answer(calls, config: JobConfig, progress: ProgressSettings, part: str | None = None):
    """Calls records of every task and writes their tables (with `part` in
    the file names, for a second stream of the same run)."""
    suffix = f" {part}" if part else ""
    text, image, live = calls | f"ByTask{suffix}" >> beam.Partition(
        lambda record, _: TASKS.index(record.task), len(TASKS))
    steps = (
        (text, "responses", "GenerateContent",
         GenerateContent(config.connection, config.run_id, stream=config.stream,
                         output=config.output, progress=progress, prices=config.prices)),
        (image, "images", "GenerateImages",
         GenerateImages(config.connection, config.output, config.run_id, progress,
                        prices=config.prices)),
        (live, "live", "GenerateLive",
         GenerateLive(config.connection, config.output, config.run_id, progress,
                      prices=config.prices)))
    for records, table, name, generate in steps:
        schema = schemas.schema(table)
        (records
         | f"{name}{suffix}" >> generate
         | f"Checkpoint {table}{suffix}" >> CheckpointRows(config.output, config.run_id, table,
                                                           schema, as_tables=True)
         | f"Write {table}{suffix}" >> WriteParquetTable(config.output, table, config.run_id,
                                                         schema, part=part, tables=True))


def build(p: beam.Pipeline, config: JobConfig,
          progress: ProgressSettings = ProgressSettings()) -> None:
    read = p | "ReadPromptRecords" >> ReadPromptRecords(config.input, config.defaults,
                                                        config.run_id)
    ids = p | "ReadRecordIds" >> ReadRecordIds(config.input, config.defaults)
    previous = None
    if config.resume != Resume.NONE:
        previous = p | "ReadEarlierResults" >> ReadEarlierResults(config.output)
    planned = read.records | "PlanCalls" >> PlanCalls(config.resume, config.run_id, previous,
                                                      ids=ids,
                                                      spread=config.spread_calls)
    _answer(planned.calls, config, progress)
    _answer(planned.checked_calls, config, progress, part="checked")
    if previous is not None:  # rows carried from runs that died
        for table in ("responses", "images", "live"):
            planned[carried_tag(table)] | f"WriteCarried{table}" >> WriteParquetTable(
                config.output, table, config.run_id, schemas.schema(table), part="carried")
    for rejected, part in ((read.rejected, None), (planned.rejected, "duplicates")):
        suffix = f" {part}" if part else ""
        (rejected
         | f"CountRejected{suffix}" >> beam.Map(_counted, metrics.counter(metrics.REJECTED_ROWS))
         | f"WriteRejected{suffix}" >> WriteParquetTable(config.output, "rejected",
                                                         config.run_id, schemas.REJECTED,
                                                         part=part))
