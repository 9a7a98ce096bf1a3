"""The task registry: each kind of record the job knows (text, image, live),
defined once. Everything that differs between tasks is here or in the task's
own module (its request body, handler, cost estimate and rows); the graph,
the dry run, the summary, the report, resume and file saving loop over
TASKS and never ask a task's name.

Adding a task is one new module (a body builder and a CallHandler; see
transforms/generate_images.py) and one entry in TASKS below (with its table's
columns in transforms/schemas.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import vertex_catalog
from transforms import generate_content, generate_images, generate_live, schemas
from transforms.call_vertex import CallHandler
from transforms.prompt_records import (MAX_NESTING, PromptRecord, RejectedLine, SourceLine,
                                       derived_id, nesting_depth, parse_json_line)
from transforms.record_defaults import RecordDefaults
from vertex import service_tiers
from vertex.context_cache import JobCache
from vertex.endpoints import check_model_name
from vertex.output_schema import OutputSchema
from vertex.prices import PriceTable


@dataclass(frozen=True)
class HandlerOptions:
    """What a job tells the handlers of its tasks (each takes what it needs)."""
    run_id: str | None = None
    prices: PriceTable | None = None
    stream: bool = False
    take_files: bool = False           # files leave the rows, for SaveFiles
    output_schema: OutputSchema | None = None
    schema_reasks: int = generate_content.DEFAULT_SCHEMA_REASKS
    context_cache: JobCache | None = None  # the job's cache of its shared instruction


@dataclass(frozen=True)
class Task:
    """One kind of record.

    name: a record's `task`.
    table: its table of answers (named by its handler; columns in
      transforms/schemas.py).
    model_option: the job option, and RecordDefaults field, naming the model
      of its records that name none.
    body: body(obj, defaults, model): the request body from a record's
      object, checked as Vertex AI would check it for that model (raises
      RejectedLine).
    handler: makes its CallHandler from the job's HandlerOptions.
    summary_key: the key of its record counts in summary.json.
    row_index: for a table with several rows a record (one an image), the
      column numbering them: a record's first row (0, or null on a row saying
      why there is none) stands for the record; row_total, the column that
      says how many such rows the record has (a record saved part way by a
      run that died is called again).
    untiered: how summary and report name the tier of its priced rows that
      have no trafficType.
    media: (kind, column) of the files the report shows ("image" or "audio").
    report_columns: the columns of its table the report reads, beyond those
      every table of answers has.
    default: its default model, for a task whose model option is not one of
      RecordDefaults' fields (the built-in tasks' defaults are there).
    model_help: what its model option's --help says.
    columns: its table's own columns (name, Arrow type, doc), for a task
      whose table is not one of transforms/schemas.py's: the columns every
      table of answers has are added around them (schemas.answer_columns).
    """
    name: str
    table: str
    model_option: str
    body: Callable[[dict, "RecordDefaults", str], dict]
    handler: Callable[["HandlerOptions"], CallHandler]
    summary_key: str
    row_index: str | None = None
    row_total: str | None = None  # the column saying how many rows (with an index) it has
    untiered: str = "no answer"
    media: tuple[str, str] | None = None
    report_columns: tuple[str, ...] = ()
    default: str | None = None
    model_help: str = ""
    columns: list | None = None

    def default_model(self, defaults: RecordDefaults) -> str:
        return defaults.model_for(self.model_option) or self.default


TASKS: dict[str, Task] = {task.name: task for task in (
    Task("text", generate_content.GeminiHandler.table, "model", generate_content.text_body,
         lambda o: generate_content.GeminiHandler(o.run_id, o.stream, o.take_files, o.prices,
                                                  o.output_schema, o.schema_reasks,
                                                  o.context_cache),
         summary_key="responses",
         report_columns=("usage", "traffic_type", "parsed"),
         model_help="Gemini model for text records without a model of their own"),
    Task("image", generate_images.ImagenHandler.table, "image_model", generate_images.image_body,
         lambda o: generate_images.ImagenHandler(o.run_id, o.prices),
         summary_key="image_records", row_index="image_index", row_total="images_returned",
         untiered="per image",
         media=("image", "uri"),
         report_columns=("image_index", "uri", "mime_type", "rai_filtered_reason"),
         model_help="image model (a Gemini image model, or Imagen) for image records without "
                    "a model of their own"),
    Task("live", generate_live.LiveHandler.table, "live_model", generate_live.live_body,
         lambda o: generate_live.LiveHandler(o.run_id, o.prices),
         summary_key="live", media=("audio", "audio_uri"),
         report_columns=("usage", "audio_uri", "audio_seconds", "output_transcript",
                         "input_transcript"),
         model_help="Live API model for live records without their own"),
)}


def register(task: Task) -> None:
    """Adds a kind of record: its module (a body builder and a CallHandler)
    and this one call are all it takes; its table joins the run's outputs,
    its model option the command line."""
    if task.name in TASKS or task.table in tables() or task.table == "rejected":
        raise ValueError(f"task {task.name!r} or table {task.table!r} exists already")
    if task.columns is not None:
        schemas.COLUMNS[task.table] = schemas.answer_columns(task.columns)
    if task.table not in schemas.COLUMNS:
        raise ValueError(f"task {task.name!r}: give its table's columns")
    TASKS[task.name] = task


def unregister(name: str) -> None:
    """Takes a registered task away again (tests)."""
    task = TASKS.pop(name)
    if task.columns is not None:
        del schemas.COLUMNS[task.table]


def tables() -> tuple[str, ...]:
    """The tables of answers, one a task."""
    return tuple(task.table for task in TASKS.values())


def of_table(table: str) -> Task:
    return next(task for task in TASKS.values() if task.table == table)


def build_record(line: SourceLine, defaults: RecordDefaults) -> PromptRecord:
    record = record_from_object(parse_json_line(line), defaults, line.source, line.line_number)
    return record._replace(raw_line=line.text)


def record_from_object(obj: dict, defaults: RecordDefaults, source: str | None = None,
                       line_number: int | None = None) -> PromptRecord:
    """A record from one input object (a parsed line, or a dict made in a
    pipeline): the same shapes, the same checks."""
    if not isinstance(obj, dict):
        raise RejectedLine(f"not a JSON object but {type(obj).__name__}")
    if nesting_depth(obj) > MAX_NESTING:
        raise RejectedLine(f"JSON nested more than {MAX_NESTING} levels deep")
    name = obj.get("task", defaults.task)
    task = TASKS.get(name) if isinstance(name, str) else None
    if task is None:
        raise RejectedLine(f"unknown task {name!r}; one of {', '.join(TASKS)}")
    model = defaults.called_model(obj.get("model") or task.default_model(defaults))
    try:
        check_model_name(model)
    except ValueError as error:
        raise RejectedLine(str(error)) from None
    refused = vertex_catalog.not_served(model, defaults.location, defaults.allow_discontinued)
    if refused:  # Vertex AI would answer 404: said here, before anything is paid
        raise RejectedLine(f"model_not_served: {refused}")
    unpriced = defaults.unpriced_under_budget(model)
    if unpriced:  # no call the budget cannot count
        raise RejectedLine(f"unpriced_model: {unpriced}")
    body = task.body(obj, defaults, model)
    known = vertex_catalog.get(model)
    thinking = known.thinking_refusal((body.get("generationConfig") or {}).get("thinkingConfig")) \
        if known else None
    if thinking:  # Vertex AI would answer 400: said here, before anything is paid
        raise RejectedLine(f"invalid_request: {thinking}")
    record_id = obj.get("id")
    if record_id is None or record_id == "":
        record_id = derived_id(task.name, model, body)
    elif not isinstance(record_id, (str, int)) or isinstance(record_id, bool):
        raise RejectedLine("id must be a string or an integer")
    metadata = obj.get("metadata")
    tier = obj.get("service_tier", defaults.service_tier)
    try:
        service_tiers.check(tier, location=defaults.location)
    except ValueError as error:
        raise RejectedLine(f"service_tier: {error}") from None
    refused = vertex_catalog.tier_refusal(model, tier)
    if refused:
        raise RejectedLine(f"service_tier: {refused}")
    return PromptRecord(
        id=str(record_id), task=task.name, model=model, body=body,
        metadata=None if metadata is None else json.dumps(metadata, sort_keys=True),
        source=source, line_number=line_number, service_tier=tier,
        own_tier="service_tier" in obj)
