"""The job's command line (Beam style flags) and its checked configuration."""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import difflib
import json
import logging
import math
import os
import re
import time
import uuid
from dataclasses import dataclass

from apache_beam.io.filesystems import FileSystems
from apache_beam.options import pipeline_options as _beam_options
from apache_beam.options.pipeline_options import (DirectOptions, GoogleCloudOptions,
                                                  PipelineOptions, TestOptions,
                                                  _BeamArgumentParser)

import vertex_catalog
from pipeline import credentials, runner_facts
from pipeline.credentials import API_KEY_ENV
from transforms.plan_calls import Resume
from transforms.run_files import RUN_ID, RunFiles
from transforms.record_defaults import MODEL_FIELDS, RecordDefaults, unpriced_line
from transforms.generate_content import DEFAULT_SCHEMA_REASKS
from transforms.input_files import count_lines
from transforms.tasks import TASKS, HandlerOptions
from transforms.vertex_connection import VertexConnection
from vertex import service_tiers
from vertex.call_policy import CallSettings
from vertex.context_cache import JobCache
from vertex.endpoints import check_model_name
from vertex.http import TRANSPORTS
from vertex.output_schema import OutputSchema, SchemaError
from vertex.prices import PriceTable


class VertexBatchOptions(PipelineOptions):
    """The job's own options, in groups by purpose (`--help` shows them first,
    Beam's own apart)."""

    @classmethod
    def _add_argparse_args(cls, parser, with_dry_run: bool = False):
        group = parser.add_argument_group("Input and output")
        group.add_argument("--input", help="JSONL prompt records: a local path, a glob or a "
                           "gs:// pattern (.gz and other compressed files are read too)")
        group.add_argument("--output", help="a local directory or gs:// prefix for the "
                           "Parquet tables and summary.json")
        group.add_argument("--run_id", help="names this run's files and fills the run_id "
                           "column (default: UTC time and a random suffix)")
        group.add_argument("--task", default="text", choices=tuple(TASKS),
                           help="task of records that do not name one")
        group.add_argument("--prompt_template", help="for records that carry fields instead "
                           "of a prompt: text with {field} placeholders")
        group = parser.add_argument_group("Models and requests")
        for task in TASKS.values():  # each task's model option, from the task registry
            group.add_argument(f"--{task.model_option}",
                               default=getattr(RecordDefaults, task.model_option, None)
                               or task.default,
                               help=f"{task.model_help} (default: %(default)s)")
        group.add_argument("--model_map", help="run records naming one model on another, e.g. "
                           "gemini-pro=gemini-3.5-flash,gemini-pro-vision=gemini-3.5-flash "
                           "(old files against current models); rows name the model called")
        group.add_argument("--allow_discontinued", action="store_true",
                           help="call models the model catalog marks discontinued (Vertex AI "
                           "answers 404 for them; an endpoint may still serve them, as the "
                           "emulator does with --serve_discontinued)")
        group.add_argument("--system_instruction", help="job-level system instruction: text, "
                           "or a JSON Content object; a record's own wins")
        group.add_argument("--generation_config", help="job-level generationConfig (JSON); a "
                           "record's own fields win")
        group.add_argument("--safety_settings", help="job-level safetySettings (JSON list); a "
                           "record's own win per category")
        group.add_argument("--output_schema", help="labels as typed columns: BigQuery's column "
                           "list, e.g. 'sentiment STRING, confidence FLOAT64, tags "
                           "ARRAY<STRING>' (STRING, INT64, FLOAT64, NUMERIC, BOOL, ARRAY<T>, "
                           "STRUCT<name T, ...>; every field required); answers fill the "
                           "responses' `parsed` struct")
        group.add_argument("--response_schema", help="the same from a Vertex AI responseSchema "
                           "(JSON, or a local or gs:// file holding it; or "
                           "{\"responseJsonSchema\": ...})")
        group.add_argument("--schema_reasks", type=int, default=DEFAULT_SCHEMA_REASKS,
                           help="times an answer that is not valid JSON or not of the schema "
                           "is asked for again (each one paid) before the record becomes an "
                           "invalid_json or schema_mismatch error row")
        group.add_argument("--stream", action="store_true", help="use streamGenerateContent "
                           "(SSE) and record the time to first token")
        group = parser.add_argument_group("Where to call, and credentials")
        group.add_argument("--vertex_location", default="us-central1",
                           help="Vertex AI location (region, or 'global'); the project "
                           "comes from --project")
        group.add_argument("--endpoint", help="base URL of a local Vertex AI server, e.g. "
                           "the emulator at http://127.0.0.1:8090 (no credentials are sent "
                           "unless --api_key is given)")
        group.add_argument("--api_key", help="Vertex AI express mode API key (or set "
                           f"{API_KEY_ENV} and give neither --project nor --endpoint); never "
                           "logged, written or put in the job graph (local runs only)")
        group.add_argument("--api_key_secret", help="express mode with the key in Secret "
                           "Manager, read by each worker: projects/P/secrets/S/versions/V "
                           "(for Dataflow, where --api_key cannot reach the workers)")
        group.add_argument("--http_transport", default="aiohttp", choices=TRANSPORTS,
                           help="HTTP transport under httpx")
        group = parser.add_argument_group("Quota, concurrency and retries")
        group.add_argument("--rpm", type=float, help="the job's requests-per-minute quota per "
                           "model, split evenly across worker processes; without it the job "
                           "finds the rate the server allows (as with --adaptive_rate)")
        group.add_argument("--tpm", type=float, help="the job's tokens-per-minute quota (prompt "
                           "and output) per model, split across worker processes")
        group.add_argument("--adaptive_rate", action="store_true", help="with --rpm: take it as "
                           "a first guess and find the rate the server allows (cut on 429, "
                           "raise on success); the default when no --rpm is given")
        group.add_argument("--live_sessions", type=int, help="Live API sessions open at once, "
                           "job-wide, split across worker processes like --rpm")
        group.add_argument("--worker_processes", type=int, help="how many worker processes "
                           "share --rpm/--tpm (default: from the runner's options, e.g. "
                           "--direct_num_workers, or Dataflow workers times vCPUs)")
        group.add_argument("--concurrency", type=int, default=CallSettings.max_in_flight,
                           help="requests in flight at most, for each worker process")
        group.add_argument("--max_attempts", type=int, default=CallSettings.max_attempts,
                           help="attempts per record, the first included (retries on 429, "
                           "5xx, timeouts and broken connections)")
        group.add_argument("--initial_backoff_s", type=float,
                           default=CallSettings.initial_backoff_s,
                           help="first wait before a retry; it doubles (with jitter) from there, "
                           "and is never shorter than the server's own retry hint")
        group.add_argument("--max_backoff_s", type=float, default=CallSettings.max_backoff_s,
                           help="longest wait between attempts, unless the server asks for more")
        group.add_argument("--request_timeout_s", type=float,
                           help=f"time limit of one attempt (default {CallSettings.attempt_timeout_s:g}; "
                           f"{service_tiers.FLEX_TIMEOUT_S:g} for Flex, Google's default, "
                           f"{service_tiers.FLEX_MAX_TIMEOUT_S:g} at most)")
        group.add_argument("--deadline_s", type=float,
                           help="time limit of one record, all attempts and waits included; "
                           "each attempt gets at most the time left")
        group.add_argument("--unreachable_after_s", type=float,
                           default=CallSettings.unreachable_after_s,
                           help="stop the job when no connection to Vertex AI (or --endpoint) "
                           "has succeeded for this long")
        group.add_argument("--progress_s", type=float, help="seconds between progress lines "
                           "(default 10 on the DirectRunner, 0 = none elsewhere)")
        group.add_argument("--summary_json", action="store_true", help="print summary.json on "
                           "stdout at the end (for scripts) instead of the short summary")
        group = parser.add_argument_group("Cost and service tiers")
        group.add_argument("--service_tier", default="standard", choices=service_tiers.TIERS,
                           help="PayGo tier: standard, flex (half price, slower, global "
                           "only) or priority (premium, throttled less); a record's own "
                           "\"service_tier\" wins")
        group.add_argument("--finish_by", help="with --service_tier flex: Flex first, and "
                           "Standard for what Flex cannot finish by then: a duration (45m, 2h, "
                           "1h30m, 90s) or a clock time (06:00, 06:00+01:00, 06:00Z); a "
                           "record's own tier stays")
        group.add_argument("--context_cache", default="auto", choices=("auto", "off"),
                           help="auto: --system_instruction sent once, from Vertex AI's "
                           "context cache, where it pays; off: with every record")
        group.add_argument("--provisioned_throughput", default="auto",
                           choices=service_tiers.PROVISIONED, help="auto: Provisioned "
                           "Throughput first when the project has it; only: PT or 429 "
                           "(dedicated); never: PayGo only (shared)")
        group.add_argument("--prices", help="prices over the catalog's (JSON, local or gs://): "
                           "{\"models\": {\"MODEL\": {\"input\": {\"TEXT\": 0.3}, \"output\": "
                           "{\"TEXT\": 2.5}}}} (USD per 1M tokens) changes those models' prices "
                           "and keeps every other catalog price")
        group.add_argument("--max_cost_usd", type=float, help="stop starting calls once the "
                           "money spent plus the calls in flight (at their estimates) reaches "
                           "this; the records not called are listed in the summary. Every "
                           "model called must have a price (catalog or --prices)")
        if with_dry_run:  # --help only: Beam's TestOptions owns the name (with_flag_values)
            group.add_argument("--dry_run", action="store_true", help="read and check every "
                               "line, estimate tokens, cost and duration into estimate.json, "
                               "call nothing billable; exits non-zero where the run would be "
                               "refused")
        group.add_argument("--allowed_error_rate", type=float, default=0.0, help="a run whose "
                           "error rows and rejected lines are at most this share of its input "
                           "lines exits 0 (default 0: any makes it partial, exit 3)")
        group.add_argument("--dry_run_sample", type=int, default=0, help="with --dry_run: "
                           "measure answers on this many paid calls per model instead of "
                           "assuming their length")
        group = parser.add_argument_group("Resume")
        group.add_argument("--skip_existing", action="store_true", help="do not call records "
                           "whose id already has an ok or blocked answer in earlier runs under "
                           "--output; answers saved by runs that died are carried over, "
                           "errors are called again")
        group.add_argument("--retry_errors_only", action="store_true", help="call only the "
                           "records whose earlier answer under --output was an error")


class OptionError(ValueError):
    """An invalid command line; the message names the option."""


@dataclass(frozen=True)
class JobConfig:
    input: str
    output: str
    run_id: str
    run_id_given: bool     # --run_id was given (so it may name an earlier run)
    connection: VertexConnection
    defaults: RecordDefaults
    stream: bool
    resume: Resume
    worker_processes: int
    progress_every_s: float
    prices: PriceTable
    max_cost_usd: float | None = None   # job-wide (each process gets its share)
    dry_run_sample: int | None = None   # None: a real run; 0: a dry run assuming answer lengths
    spread_calls: bool = False          # reshuffle the calls: more than one worker process
    schema_reasks: int = DEFAULT_SCHEMA_REASKS
    allowed_error_rate: float = 0.0     # error rows and rejected lines a complete run may have
    summary_json: bool = False          # the whole summary on stdout, not the short one
    context_cache: str = "auto"         # --context_cache: auto | off
    job_cache: JobCache | None = None   # the cache the run made (pipeline/context_cache.py)

    @property
    def files(self) -> RunFiles:
        return RunFiles(self.output, self.run_id)

    def handler_options(self, take_files: bool) -> HandlerOptions:
        return HandlerOptions(self.run_id, self.prices, self.stream, take_files,
                              self.defaults.output_schema, self.schema_reasks, self.job_cache)


def _json_option(name: str, value: str | None, kind: type):
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError as error:
        raise OptionError(f"--{name} is not valid JSON: {error}") from None
    if not isinstance(parsed, kind):
        raise OptionError(f"--{name} must be a JSON {'object' if kind is dict else 'list'}")
    return parsed


# Bounds beyond which a value is a slip, not a plan: past them the job would
# fail later with a traceback (a thread or connection that cannot be made).
MAX_ATTEMPTS = 1000
MAX_CONCURRENCY = 10_000
MAX_DIRECT_WORKERS = 512
MAX_SCHEMA_REASKS = 10


def _positive(name: str, value, allow_none: bool = True):
    if value is None and allow_none:
        return value
    if value is None or not math.isfinite(value) or value <= 0:
        raise OptionError(f"--{name} must be a positive finite number, got {value}")
    return value


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]




def known_options_parser() -> _BeamArgumentParser:
    """Every option Beam and this job know, parsed as Beam parses them."""
    parser = _BeamArgumentParser(allow_abbrev=False, add_help=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    return parser


def check_known_options(argv: list[str]) -> None:
    """Refuses an option nobody knows (a typo would otherwise be dropped with a
    warning, and the job run without it), naming the nearest known option.
    Values are never echoed: a mistyped --api_key is still a key."""
    parser = known_options_parser()

    def refuse(message: str):  # argparse would print usage and exit
        raise OptionError(message)
    parser.error = refuse
    _, unknown = parser.parse_known_args(argv)
    known = [option for action in parser._actions for option in action.option_strings]
    for arg in unknown:
        if arg.startswith("-"):
            name = arg.split("=", 1)[0]
            nearest = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {nearest[0]}?)" if nearest else ""
            raise OptionError(f"unknown option {name}{hint}; see --help")
    if unknown:
        raise OptionError("a value was given with no option before it (values are not shown)")


def job_config(options: PipelineOptions, environ=os.environ) -> JobConfig:
    job = options.view_as(VertexBatchOptions)
    project = options.view_as(GoogleCloudOptions).project
    local = runner_facts.is_local(options)
    if not job.input:
        raise OptionError("--input is required (a path, glob or gs:// pattern of JSONL files)")
    if not job.output:
        raise OptionError("--output is required (a directory or gs:// prefix)")
    try:
        api_key = credentials.api_key_source(job, project, local, environ)
    except ValueError as error:
        raise OptionError(str(error)) from None
    if not (project or api_key or job.endpoint):
        raise OptionError("say where to send requests: --project (with Application Default "
                          f"Credentials), --api_key (or {API_KEY_ENV}) for express mode, or "
                          "--endpoint for a local server such as the emulator")
    if job.endpoint and not re.match(r"^https?://[^/]+", job.endpoint):
        raise OptionError(f"--endpoint must be an http(s) URL, got {job.endpoint!r}")
    if job.run_id is not None and not RUN_ID.fullmatch(job.run_id):
        raise OptionError("--run_id is a name, not a path: letters, digits, '_', '.' and '-', "
                          "starting with a letter or digit, 64 at most")
    if job.max_attempts is None or not 1 <= job.max_attempts <= MAX_ATTEMPTS:
        raise OptionError(f"--max_attempts must be from 1 to {MAX_ATTEMPTS}, "
                          f"got {job.max_attempts}")
    if job.concurrency is not None and job.concurrency > MAX_CONCURRENCY:
        raise OptionError(f"--concurrency is {MAX_CONCURRENCY} at most (requests in flight "
                          f"per process, each an open connection), got {job.concurrency}")
    direct_workers = options.view_as(DirectOptions).direct_num_workers
    if local and not 0 <= direct_workers <= MAX_DIRECT_WORKERS:
        raise OptionError(f"--direct_num_workers must be from 1 to {MAX_DIRECT_WORKERS} "
                          f"(0: one per CPU), got {direct_workers}")
    _positive("worker_processes", job.worker_processes)
    try:
        processes = runner_facts.worker_processes(options, job.worker_processes)
    except ValueError as error:
        raise OptionError(str(error)) from None
    rpm, tpm = _positive("rpm", job.rpm), _positive("tpm", job.tpm)
    # Flex lives on the global endpoint; express mode and an endpoint without a project are global.
    location = job.vertex_location if project else None
    try:
        service_tiers.check(job.service_tier, job.provisioned_throughput, location)
    except ValueError as error:
        raise OptionError(f"--service_tier {job.service_tier} with --provisioned_throughput "
                          f"{job.provisioned_throughput}: {error}") from None
    finish_by = _finish_by(job.finish_by, job.service_tier)
    request_timeout_s = _positive("request_timeout_s", job.request_timeout_s)
    if request_timeout_s and request_timeout_s > service_tiers.FLEX_MAX_TIMEOUT_S \
            and job.service_tier == "flex":
        raise OptionError(f"--request_timeout_s for Flex is {service_tiers.FLEX_MAX_TIMEOUT_S}s "
                          f"at most (Google's limit), got {request_timeout_s:g}")
    max_cost = _positive("max_cost_usd", job.max_cost_usd)
    live_sessions = _positive("live_sessions", job.live_sessions)
    dry_run = is_dry_run(options)
    if job.dry_run_sample < 0 or (job.dry_run_sample and not dry_run):
        raise OptionError("--dry_run_sample N (N > 0) goes with --dry_run")
    prices = _price_table(job.prices)
    if job.allowed_error_rate is None or not 0.0 <= job.allowed_error_rate <= 1.0:
        raise OptionError(f"--allowed_error_rate is a share from 0 to 1, got "
                          f"{job.allowed_error_rate}")
    settings = CallSettings(
        max_in_flight=int(_positive("concurrency", job.concurrency, allow_none=False)),
        max_attempts=job.max_attempts,
        attempt_timeout_s=request_timeout_s or CallSettings.attempt_timeout_s,
        flex_attempt_timeout_s=min(request_timeout_s or service_tiers.FLEX_TIMEOUT_S,
                                   service_tiers.FLEX_MAX_TIMEOUT_S),
        provisioned_throughput=job.provisioned_throughput,
        max_cost_usd=max_cost / processes if max_cost else None,
        live_sessions=max(1, int(live_sessions) // processes) if live_sessions else None,
        deadline_s=_positive("deadline_s", job.deadline_s),
        initial_backoff_s=_positive("initial_backoff_s", job.initial_backoff_s, allow_none=False),
        max_backoff_s=_positive("max_backoff_s", job.max_backoff_s, allow_none=False),
        unreachable_after_s=_positive("unreachable_after_s", job.unreachable_after_s,
                                      allow_none=False),
        rpm=rpm / processes if rpm else None, tpm=tpm / processes if tpm else None,
        finish_by=finish_by,
        expected_records=_expected_records(job.input, processes) if finish_by else None,
        # With no number for the quota (Gemini's dynamic shared quota has none), find it.
        adaptive=job.adaptive_rate or rpm is None)
    task_models = {task.model_option: getattr(job, task.model_option) for task in TASKS.values()}
    for model_option, model in task_models.items():
        try:
            check_model_name(model)
        except ValueError as error:
            raise OptionError(f"--{model_option}: {error}") from None
    if not 0 <= job.schema_reasks <= MAX_SCHEMA_REASKS:
        raise OptionError(f"--schema_reasks must be from 0 to {MAX_SCHEMA_REASKS}, "
                          f"got {job.schema_reasks}")
    output_schema = _output_schema(job.output_schema, job.response_schema)
    system_instruction = job.system_instruction
    if system_instruction and system_instruction.lstrip().startswith("{"):
        system_instruction = _json_option("system_instruction", system_instruction, dict)
    try:
        defaults = RecordDefaults(
            model=job.model, image_model=job.image_model, live_model=job.live_model,
            task_models=tuple((option, model) for option, model in task_models.items()
                              if option not in MODEL_FIELDS),
            task=job.task,
            prompt_template=job.prompt_template, system_instruction=system_instruction,
            generation_config=_json_option("generation_config", job.generation_config, dict),
            output_schema=output_schema,
            safety_settings=_json_option("safety_settings", job.safety_settings, list),
            model_map=_model_map(job.model_map), stream=job.stream,
            service_tier=job.service_tier, location=location,
            allow_discontinued=job.allow_discontinued,
            budget_prices=prices if max_cost else None)
        settings = dataclasses.replace(settings, job_models=frozenset(
            defaults.called_model(m) for m in task_models.values()))
        connection = VertexConnection(
            project=project, location=job.vertex_location, endpoint_url=job.endpoint,
            api_key=api_key, transport=job.http_transport, settings=settings)
        connection.endpoint()  # checks project and location
    except ValueError as error:
        raise OptionError(str(error)) from None
    # The default model of the job's own task is said to be refused up front,
    # once; another task's default only matters to the records that use it.
    task = TASKS.get(job.task)
    if task is not None:
        _check_default_model(task, defaults, job.generation_config is not None)
    for other in TASKS.values():  # a default inside its last month: served, but not for long
        model = defaults.called_model(other.default_model(defaults))
        warning = vertex_catalog.retirement_warning(model)
        if warning:
            logging.getLogger(__name__).warning("--%s %s: %s", other.model_option, model, warning)
    if options.view_as(GoogleCloudOptions).template_location:
        raise OptionError("--template_location (a classic template) would fix the run id and "
                          "the list of earlier outputs when staged; package the job as a "
                          "Dataflow Flex Template instead, which runs this command at each "
                          "launch (see the README)")
    if job.skip_existing and job.retry_errors_only:
        raise OptionError("--skip_existing and --retry_errors_only exclude each other")
    resume = Resume.ERRORS_ONLY if job.retry_errors_only else (
        Resume.SKIP_EXISTING if job.skip_existing else Resume.NONE)
    progress_s = job.progress_s if job.progress_s is not None else (10.0 if local else 0.0)
    if not math.isfinite(progress_s) or progress_s < 0:
        raise OptionError(f"--progress_s must not be negative, got {progress_s}")
    return JobConfig(input=job.input, output=job.output.rstrip("/"),
                     run_id=job.run_id or new_run_id(), run_id_given=job.run_id is not None,
                     connection=connection, defaults=defaults, stream=job.stream,
                     resume=resume, worker_processes=processes, progress_every_s=progress_s,
                     prices=prices, max_cost_usd=max_cost,
                     dry_run_sample=job.dry_run_sample if dry_run else None,
                     spread_calls=not local or processes > 1, schema_reasks=job.schema_reasks,
                     allowed_error_rate=job.allowed_error_rate, summary_json=job.summary_json,
                     context_cache=job.context_cache)


def _check_default_model(task, defaults: RecordDefaults, config_given: bool) -> None:
    """What Vertex AI would refuse for every record of the job, said before
    any call: a model not served in the location (or retired), a thinking
    setting the model does not take, Flex on a model without Flex, a budget
    over a model without a price."""
    model = defaults.called_model(task.default_model(defaults))
    option = f"--{task.model_option}"
    refused = vertex_catalog.not_served(model, defaults.location, defaults.allow_discontinued) \
        or vertex_catalog.tier_refusal(model, defaults.service_tier)
    if refused:
        raise OptionError(f"{option}: {refused}")
    if defaults.budget_prices is not None and not defaults.budget_prices.has_price(model):
        raise OptionError(f"{option}: {unpriced_line(model)}")
    known = vertex_catalog.get(model)
    thinking = (defaults.defaults_body.get("generationConfig") or {}).get("thinkingConfig")
    refusal = known.thinking_refusal(thinking) if known and config_given else None
    if refusal:
        raise OptionError(f"--generation_config: {refusal}")


def _finish_by(text: str | None, tier: str, now: float | None = None) -> float | None:
    """--finish_by as epoch seconds: a duration from now (45m, 2h, 1h30m,
    90s), or the next time a clock shows (06:00, 06:00+01:00, 06:00Z; this
    machine's zone without one)."""
    if text is None:
        return None
    if tier != "flex":
        raise OptionError("--finish_by moves Flex records to Standard to finish in time: it goes "
                          "with --service_tier flex")
    now = time.time() if now is None else now
    duration = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if duration and any(duration.groups()):
        hours, minutes, seconds = (int(g or 0) for g in duration.groups())
        return now + hours * 3600 + minutes * 60 + seconds
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?(Z|[+-]\d{2}:\d{2})?", text.strip())
    if not clock:
        raise OptionError(f"--finish_by {text!r}: give a duration (45m, 2h, 1h30m, 90s) or a "
                          "clock time (06:00, 06:00+01:00, 06:00Z)")
    hour, minute, second, zone = clock.groups()
    if int(hour) > 23 or int(minute) > 59 or int(second or 0) > 59:
        raise OptionError(f"--finish_by {text!r}: not a time of day")
    tz = (datetime.timezone.utc if zone == "Z" else None if zone is None else
          datetime.datetime.strptime(zone.replace(":", ""), "%z").tzinfo)
    current = datetime.datetime.fromtimestamp(now, tz) if tz else datetime.datetime.fromtimestamp(now)
    at = current.replace(hour=int(hour), minute=int(minute), second=int(second or 0),
                         microsecond=0)
    if at.timestamp() <= now:
        at += datetime.timedelta(days=1)  # the next time the clock shows it
    return at.timestamp()


def _expected_records(pattern: str, processes: int) -> int | None:
    """This process's share of the input's lines, where they can be counted
    (local files): Flex by deadline spreads what Flex cannot finish over them."""
    lines = count_lines(pattern)
    return None if lines is None else max(1, lines // processes)


def _output_schema(columns: str | None, response_schema: str | None) -> OutputSchema | None:
    """--output_schema (BigQuery's column list) or --response_schema (JSON,
    or a file holding it), read and judged as Vertex AI would."""
    if columns is not None and response_schema is not None:
        raise OptionError("--output_schema and --response_schema say the same thing: give one")
    try:
        if columns is not None:
            return OutputSchema.from_columns(columns)
        if response_schema is None:
            return None
        text = response_schema
        if not text.lstrip().startswith("{"):
            try:
                with FileSystems.open(text) as f:
                    text = f.read().decode("utf-8")
            except Exception as error:  # noqa: BLE001 - any reason: one clear line
                raise SchemaError(f"neither JSON nor a file that can be read ({error})") from None
        try:
            schema = json.loads(text)
        except ValueError as error:
            raise SchemaError(f"not JSON ({error})") from None
        return OutputSchema.from_response_schema(schema)
    except SchemaError as error:
        name = "--output_schema" if columns is not None else "--response_schema"
        raise OptionError(f"{name}: {error}") from None


def _price_table(path: str | None) -> PriceTable:
    """The package's prices, or --prices (a local or gs:// file)."""
    if path is None:
        return PriceTable.load()
    try:
        with FileSystems.open(path) as f:
            return PriceTable.from_json(f.read(), origin=path)
    except Exception as error:  # noqa: BLE001 - any reason: one clear line
        raise OptionError(f"--prices {path}: not a price table ({error})") from None


def _model_map(text: str | None) -> tuple[tuple[str, str], ...]:
    """--model_map NAMED=CALLED[,NAMED=CALLED...]"""
    pairs = []
    for item in (text or "").split(","):
        if not item.strip():
            continue
        named, sep, called = (part.strip() for part in item.partition("="))
        if not sep or not named or not called:
            raise OptionError(f"--model_map takes NAMED=CALLED pairs separated by commas, "
                              f"got {item.strip()!r}")
        try:
            check_model_name(named)
            check_model_name(called)
        except ValueError as error:
            raise OptionError(f"--model_map: {error}") from None
        pairs.append((named, called))
    return tuple(pairs)


def with_flag_values(argv: list[str]) -> list[str]:
    """--dry_run is Beam's own option (TestOptions: "used in unit testing
    runners without submitting the actual job"), and Beam's takes a value:
    a bare --dry_run becomes --dry_run=true. Here it means read and check
    everything, estimate, and call nothing billable."""
    result = []
    for i, arg in enumerate(argv):
        bare = arg == "--dry_run" and (i + 1 == len(argv) or argv[i + 1].startswith("--"))
        result.append("--dry_run=true" if bare else arg)
    return result


def is_dry_run(options: PipelineOptions) -> bool:
    return str(options.view_as(TestOptions).dry_run).lower() in ("true", "1", "yes")


class _HelpFormatter(argparse.HelpFormatter):
    def __init__(self, prog):
        super().__init__(prog, max_help_position=32, width=100)


def help_text(beam: bool = False) -> str:
    """The job's own options in their groups (--help); with `beam`, Beam's
    runner options after them (--help_beam)."""
    parser = _beam_options._BeamArgumentParser(  # Beam's parser knows its own option kinds
        prog="vertex-beam-batch", formatter_class=_HelpFormatter,
        usage="%(prog)s [run] --input PATTERN --output DIR [options]  (also: python -m pipeline)",
        description="JSONL prompt records through Vertex AI into Parquet. Other commands: "
                    "report, models, emulator, --version. Exit codes: 0 complete, 3 partial, "
                    "1 failed, 2 refused, 130 interrupted.",
        epilog="Beam's own options (--runner DataflowRunner --region ... --temp_location gs://... "
               "--setup_file ./setup.py for Dataflow, --direct_num_workers, ...) work as well: "
               "--help_beam lists them." if not beam else None)
    VertexBatchOptions._add_argparse_args(parser, with_dry_run=True)
    if beam:
        for options in (_beam_options.StandardOptions, _beam_options.DirectOptions,
                        _beam_options.GoogleCloudOptions, _beam_options.SetupOptions):
            group = parser.add_argument_group(f"Beam {options.__name__}")
            options._add_argparse_args(group)
    return parser.format_help()
