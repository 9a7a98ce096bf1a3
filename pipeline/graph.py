"""The job's graph, one way: read -> plan (dedupe, resume) -> call -> write.

    ReadRecordIds ----ids----------v
    MatchEarlierFiles --files------v
    ReadPromptRecords --records--> PlanCalls --calls---------> answer(): by task, call, checkpoint, write
            |   ReadEarlierResults -^   |  \\--grouped_calls--> answer(), to files of their own
            |                          +--rows carried from runs that died------> responses/images/live (-carried)
            +--rejected lines----------+--duplicate ids------------------------> rejected (-duplicates)

Nothing is flattened before it is written: the in-process runner holds every
element of a flatten in memory (measured: 789 MiB instead of 388 at 30,000
records when the answers were flattened with the carried rows), so each
stream is written where it is made, to files of its own (one
WriteParquetTables writes them all, with one set-up and one finalize step).
For the same reason the records are read twice: once for their ids
(PlanCalls' index, transforms/id_index.py), then to be called, flowing from
the read to the files without being held; and a rerun reads the earlier
runs' files twice: once for what they said of each id (in each worker
process, from the files MatchEarlierFiles matched: an index sent through
the runner would be held several times over), then for the rows of the few
ids PlanCalls groups.
"""
from __future__ import annotations

import apache_beam as beam

from pipeline.options import JobConfig
from transforms import input_files, metrics, schemas
from transforms.save_files import CallAndSaveFiles
from transforms.tasks import TASKS, tables
from transforms.progress import ProgressSettings
from transforms.read_prompt_records import ReadPromptRecords, ReadRecordIds
from transforms.checkpoints import CheckpointRows
from transforms.plan_calls import (MatchEarlierFiles, PlanCalls, ReadEarlierResults, Resume,
                                   carried_tag)
from transforms.write_parquet import TableFiles, WriteParquetTables


def _counted(row: dict, counter) -> dict:
    counter.inc()
    return row


def _answer(calls, config: JobConfig, progress: ProgressSettings, streams: dict,
            part: str | None = None):
    """Calls records of every task; adds their tables' streams to `streams`
    (with `part` in the file names, for a second stream of the same run)."""
    suffix = f" {part}" if part else ""
    order = {name: i for i, name in enumerate(TASKS)}
    by_task = calls | f"ByTask{suffix}" >> beam.Partition(
        lambda record, _: order[record.task], len(order))
    for records, task in zip(by_task, TASKS.values()):
        schema = schemas.schema(task.table, config.defaults.output_schema)
        handler = task.handler(config.handler_options(take_files=True))
        streams[f"{task.table}{suffix}"] = (
            TableFiles(task.table, schema, part, tables=True),
            records
            | f"Call {task.table}{suffix}" >> CallAndSaveFiles(
                handler, config.connection, config.output, config.run_id, progress)
            | f"Checkpoint {task.table}{suffix}" >> CheckpointRows(
                config.files, task.table, schema, as_tables=True))


def build(p: beam.Pipeline, config: JobConfig,
          progress: ProgressSettings = ProgressSettings()) -> None:
    files = input_files.snapshot(config.input)  # both reads see the input as it is now
    read = p | "ReadPromptRecords" >> ReadPromptRecords(config.input, config.defaults,
                                                        config.run_id, files)
    ids = p | "ReadRecordIds" >> ReadRecordIds(config.input, config.defaults, files)
    previous = earlier_files = None
    if config.resume != Resume.NONE:  # read twice, as the records are (see PlanCalls)
        previous = p | "ReadEarlierResults" >> ReadEarlierResults(config.output)
        earlier_files = p | "MatchEarlierFiles" >> MatchEarlierFiles(config.output)
    planned = read.records | "PlanCalls" >> PlanCalls(config.resume, config.run_id, previous,
                                                      ids=ids, earlier_files=earlier_files,
                                                      spread=config.spread_calls)
    streams: dict = {}  # name: (TableFiles, PCollection), all written by one WriteParquetTables
    _answer(planned.calls, config, progress, streams)
    _answer(planned.grouped_calls, config, progress, streams, part="grouped")
    if previous is not None:  # rows carried from runs that died
        for table in tables():
            streams[f"{table} carried"] = (TableFiles(
                table, schemas.schema(table, config.defaults.output_schema), "carried"),
                                           planned[carried_tag(table)])
    for rejected, part in ((read.rejected, None), (planned.rejected, "duplicates")):
        suffix = f" {part}" if part else ""
        streams[f"rejected{suffix}"] = (
            TableFiles("rejected", schemas.REJECTED, part),
            rejected | f"CountRejected{suffix}" >> beam.Map(
                _counted, metrics.counter(metrics.REJECTED_ROWS)))
    ({name: stream for name, (_, stream) in streams.items()}
     | "WriteTables" >> WriteParquetTables(config.output, config.run_id,
                                            {name: files for name, (files, _) in streams.items()}))
