"""--dry_run: what a job would do and cost, without calling anything billable.

Every line is read and checked as a real run checks it (the same record
building, the same schema, duplicate ids). Input tokens: countTokens (free)
on a sample of each model's records gives the ratio to a local estimate,
which scales to all records; without a network the local estimate stands,
and the estimate says so. Output tokens: assumed from maxOutputTokens (an
upper bound) or ASSUMED_OUTPUT_TOKENS, unless --dry_run_sample N pays for N
real calls per model and measures them. Images: sampleCount each. Every
estimate is the record's handler's own (CallHandler.estimate), the one
--max_cost_usd reserves before a call.
Duration: at --rpm / --tpm per model, when given.
"""
from __future__ import annotations

import asyncio
import datetime
import json
import time
from collections import Counter
from dataclasses import dataclass, field

from pipeline import context_cache
from pipeline.options import JobConfig
from transforms import schemas
from transforms.call_vertex import CallHandler
from transforms.input_files import snapshot
from transforms.output_files import write_copies
from transforms.prompt_records import PromptRecord, RejectedLine
from transforms.read_prompt_records import duplicate_reason, numbered_lines
from transforms.run_files import RunFiles, latest_file
from transforms.tasks import TASKS, Task, build_record
from vertex.client import VertexClient
from vertex.errors import FatalApiError
from vertex.prices import Estimate
from vertex.request_body import ASSUMED_OUTPUT_TOKENS
from vertex.service_tiers import TIERS

COUNT_TOKENS_SAMPLE = 20   # records per model whose tokens countTokens counts
REJECTED_LISTED = 1000     # rejected lines listed in estimate.json (all are counted)


@dataclass
class ModelTally:
    task: Task
    handler: CallHandler
    records: int = 0
    input_tokens: float = 0     # the handler's estimate over every record
    output_tokens: float = 0    # the same: maxOutputTokens or an assumed length
    images: int = 0             # Imagen's, priced each
    image_tokens: float = 0     # a Gemini image model's, priced as output IMAGE tokens
    sample: list[PromptRecord] = field(default_factory=list)


def read_all(config: JobConfig, sample_size: int
             ) -> tuple[dict[tuple[str, str], ModelTally], dict]:
    """Every line of the input, checked; tallies per (task, model) (one model
    may serve two tasks: text and image records on a Gemini image model) and
    the rejected lines."""
    handlers = {name: task.handler(config.handler_options(take_files=False))
                for name, task in TASKS.items()}
    tallies: dict[tuple[str, str], ModelTally] = {}
    rejected: list[dict] = []
    reasons: Counter = Counter()
    seen: dict[str, tuple] = {}  # id: where it was first seen
    lines = 0
    for file in snapshot(config.input):
        for line in numbered_lines(file):
            lines += 1
            try:
                if line.error:
                    raise RejectedLine(line.error)
                record = build_record(line, config.defaults)
                if record.id in seen:
                    raise RejectedLine(duplicate_reason(record.id, *seen[record.id]))
            except RejectedLine as error:
                reasons[str(error).split(":")[0]] += 1
                if len(rejected) < REJECTED_LISTED:
                    rejected.append({"source": line.source, "line_number": line.line_number,
                                     "reason": str(error)})
                continue
            seen[record.id] = (line.source, line.line_number)
            tally = tallies.setdefault((record.task, record.model),
                                       ModelTally(TASKS[record.task], handlers[record.task]))
            tally.records += 1
            usage = tally.handler.estimate(record) or Estimate()
            tally.input_tokens += usage.input_tokens
            tally.output_tokens += usage.output_tokens
            tally.images += usage.images
            tally.image_tokens += usage.image_tokens
            if len(tally.sample) < sample_size:
                tally.sample.append(record)
    return tallies, {"lines": lines, "rejected": sum(reasons.values()),
                     "rejected_by_reason": dict(reasons.most_common()), "rejected_lines": rejected}


async def _measure(client: VertexClient, tally: ModelTally, paid: int) -> dict:
    """countTokens on the sample (free, where the API has it), and with
    paid > 0 that many real calls."""
    handler, measured = tally.handler, {}
    counted = local = 0
    counts_tokens = bool(tally.input_tokens)
    try:
        for record in tally.sample[:COUNT_TOKENS_SAMPLE] if counts_tokens else ():
            tokens = await handler.count_tokens(client, record)
            if tokens is None:
                counts_tokens = False
                break
            counted += tokens
            local += handler.estimate(record).input_tokens
        if counts_tokens:
            measured["input_ratio"] = counted / local if local else 1.0
            measured["input_tokens_method"] = (
                f"countTokens on {len(tally.sample[:COUNT_TOKENS_SAMPLE])} records, scaled to all")
    except FatalApiError:  # a model Vertex AI does not know, credentials it refuses
        raise
    except Exception as error:  # noqa: BLE001 - no network: the local estimate stands
        measured["input_tokens_method"] = (f"local estimate ({handler.estimate_method}; "
                                           f"countTokens failed: {str(error)[:200]})")
    if "input_tokens_method" not in measured:
        measured["input_tokens_method"] = f"local estimate ({handler.estimate_method})"
    calls = tally.sample[:paid]
    if calls:
        results = await asyncio.gather(*(handler.call(client, r) for r in calls))
        answered = [(r, result) for r, result in zip(calls, results) if result.ok]
        measured["paid_calls"] = len(calls)
        measured["paid_calls_answered"] = len(answered)
        usages = [row["usage"] for record, result in answered
                  for row in handler.rows(record, result, client.redact)[:1]
                  if row.get("usage")]
        if usages:
            measured["output_tokens_per_record"] = sum(
                (u["candidates_token_count"] or 0) + (u["thoughts_token_count"] or 0)
                for u in usages) / len(usages)
    return measured


def estimate(config: JobConfig) -> dict:
    paid = config.dry_run_sample or 0
    tallies, lines = read_all(config, max(COUNT_TOKENS_SAMPLE, paid))

    async def measure_all():
        client = await config.connection.create_client()
        try:
            return {key: await _measure(client, tally, paid) for key, tally in tallies.items()}
        finally:
            await client.aclose()
    measured = asyncio.run(measure_all()) if tallies else {}

    models, totals = {}, {tier: 0.0 for tier in TIERS}
    unpriced = []
    settings = config.connection.settings
    durations = []
    tasks_of = Counter(model for _, model in tallies)
    for (task, model), tally in sorted(tallies.items(), key=lambda item: item[0][::-1]):
        m = measured.get((task, model), {})
        entry = {"task": task, "records": tally.records}
        if tally.images:
            entry["images"] = tally.images
        if tally.image_tokens:
            entry["image_tokens"] = round(tally.image_tokens)
        input_tokens = output_tokens = 0
        if tally.input_tokens or tally.output_tokens:
            input_tokens = round(tally.input_tokens * m.get("input_ratio", 1.0))
            if "output_tokens_per_record" in m:
                output_tokens = round(m["output_tokens_per_record"] * tally.records)
                output_method = (f"measured on {m['paid_calls_answered']} paid calls "
                                 "(--dry_run_sample), scaled to all")
            else:
                output_tokens = round(tally.output_tokens)
                output_method = (f"assumed: maxOutputTokens where a request sets it (an upper "
                                 f"bound), else {ASSUMED_OUTPUT_TOKENS} tokens per answer plus "
                                 "the model's likely thinking (its thinkingBudget, or by its "
                                 "thinking level)")
            entry.update(input_tokens=input_tokens, input_tokens_method=m.get(
                "input_tokens_method"), output_tokens=output_tokens,
                output_tokens_method=output_method)
        usage = Estimate(input_tokens, output_tokens, tally.images, tally.image_tokens)
        costs = {tier: config.prices.estimate(model, usage, tier) for tier in TIERS}
        if "paid_calls" in m:
            entry["paid_calls"] = m["paid_calls"]
        entry["cost_usd"] = {t: None if c is None else round(c, 6) for t, c in costs.items()}
        if costs["standard"] is None and model not in unpriced:
            unpriced.append(model)
        for tier, cost in costs.items():
            totals[tier] += cost or 0.0
        per_min = [n / limit for n, limit in (
            (tally.records, settings.rpm and settings.rpm * config.worker_processes),
            (input_tokens + output_tokens,
             settings.tpm and settings.tpm * config.worker_processes)) if limit]
        if per_min:
            durations.append(max(per_min))
        # keyed by model; by "model (task)" where one model serves two tasks
        models[model if tasks_of[model] == 1 else f"{model} ({task})"] = entry
    rpm_given = settings.rpm is not None
    by_task: Counter = Counter()
    for tally in tallies.values():
        by_task[tally.task.name] += tally.records
    return {
        "run_id": config.run_id, "input": config.input,
        **{k: v for k, v in lines.items() if k != "rejected_lines"},
        "records": sum(t.records for t in tallies.values()),
        "records_by_task": dict(by_task),
        "models": models,
        "cost_usd": {tier: round(v, 6) for tier, v in totals.items()},
        "models_without_price": unpriced,
        "prices": config.prices.origin,
        "duration_minutes": round(max(durations), 2) if durations and rpm_given else None,
        "duration_note": ("at --rpm/--tpm per model, models in parallel" if rpm_given else
                          "no --rpm given: the job adapts to the quota it meets, so no "
                          "duration can be computed; give --rpm (and --tpm) to get one"),
        "flex_by_deadline": _flex_by_deadline(settings, totals, max(durations, default=None)
                                              if rpm_given else None),
        "paid_calls": sum(m.get("paid_calls", 0) for m in measured.values()),
        "rejected_lines": lines["rejected_lines"],
        "output_schema": _output_schema_note(config),
        "context_cache": _context_cache(config, tallies, totals),
    }


def _context_cache(config: JobConfig, tallies: dict, totals: dict) -> dict:
    """Whether the run would read --system_instruction from a context cache,
    why, and the estimate both ways (the costs above send it with every record)."""
    model = config.defaults.called_model(config.defaults.model).rsplit("/", 1)[-1]
    records = sum(t.records for (_, m), t in tallies.items()
                  if t.task.name == "text" and m.rsplit("/", 1)[-1] == model)
    plan = context_cache.plan(config, records)
    result = plan.as_dict()
    if plan.with_cache_usd is not None and plan.without_cache_usd is not None:
        without = totals[config.defaults.service_tier]
        result["cost_usd_without_cache"] = round(without, 6)
        result["cost_usd_with_cache"] = round(
            without - plan.without_cache_usd + plan.with_cache_usd, 6)
        result["note"] = ("the cache's making and its storage over the expected run included; "
                          "records with their own system instruction or tools go without it")
    return result


def _flex_by_deadline(settings, totals: dict, minutes: float | None) -> dict | None:
    """With --finish_by: what Flex first, Standard for the rest would cost,
    between Flex-only (everything in time on Flex) and Standard-only."""
    if not settings.finish_by:
        return None
    left = (settings.finish_by - time.time()) / 60
    flex, standard = totals["flex"], totals["standard"]
    result = {"finish_by": datetime.datetime.fromtimestamp(settings.finish_by).astimezone()
              .isoformat(timespec="seconds"), "minutes_left": round(left, 1),
              "cost_usd_range": [round(flex, 6), round(standard, 6)]}
    if minutes is None:
        result["note"] = ("no --rpm: Flex's pace is measured during the run, so the share "
                          "moved to Standard cannot be known here; the cost is in this range")
        return result
    share = 1.0 if minutes <= left else max(0.0, left / minutes)
    result.update(flex_share=round(share, 3),
                  cost_usd=round(share * flex + (1 - share) * standard, 6),
                  note=f"at --rpm: {minutes:.1f} minutes of calls, {left:.1f} left; the run "
                       "measures Flex's real pace and moves only what Flex cannot finish")
    return result


def _output_schema_note(config: JobConfig) -> dict | None:
    """The typed column the run would write, and what re-asking may add."""
    schema = config.defaults.output_schema
    if schema is None:
        return None
    return {"parsed": str(schemas.parsed_type(schema)),
            "schema_reasks": config.schema_reasks,
            "note": f"an answer that is not valid JSON or not of the schema is asked for again "
                    f"up to {config.schema_reasks} times, each a paid call not in this estimate"}


def write_estimate(config: JobConfig, result: dict) -> str:
    """estimate-RUNID.json, and estimate.json for the latest dry run."""
    return write_copies([RunFiles(config.output, config.run_id).run_file("estimate", "json"),
                         latest_file(config.output, "estimate", "json")],
                        json.dumps(result, indent=2).encode(), "application/json")
