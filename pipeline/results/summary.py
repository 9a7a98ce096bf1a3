"""summary.json: what the run did, from Beam's metrics."""
from __future__ import annotations

import json
from collections import Counter, defaultdict

import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.metrics.metric import MetricsFilter

from pipeline.options import JobConfig
from pipeline.results.run_tables import costs, table_batches, table_files, table_rows
from transforms import metrics
from transforms.output_files import first_rows, write_copies
from transforms.run_files import RunFiles, latest_file
from transforms.tasks import TASKS, tables
from vertex.context_cache import USED
from vertex.output_schema import INVALID_JSON, SCHEMA_MISMATCH
from vertex.prices import CATALOG, COST_PARTS
from vertex.response_rows import Status


def _value(result):
    return result.committed if result.committed is not None else result.attempted


def metric_values(result) -> tuple[dict[str, int], dict[str, dict], dict[str, set]]:
    """Counters, distributions and string sets of the job's namespace
    (committed values where the runner has them)."""
    query = result.metrics().query(MetricsFilter().with_namespace(metrics.NAMESPACE))
    counters: dict[str, int] = {}
    for c in query["counters"]:
        counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + (_value(c) or 0)
    string_sets: dict[str, set] = {}
    for s in query.get("string_sets", []):
        string_sets.setdefault(s.key.metric.name, set()).update(_value(s) or ())
    distributions: dict[str, dict] = {}
    for d in query["distributions"]:  # one per step: merge them
        value = d.committed if d.committed is not None else d.attempted
        if value is None or not value.count:
            continue
        merged = distributions.setdefault(d.key.metric.name, {
            "count": 0, "sum": 0, "min": value.min, "max": value.max})
        merged["count"] += value.count
        merged["sum"] += value.sum
        merged["min"], merged["max"] = min(merged["min"], value.min), max(merged["max"], value.max)
    for merged in distributions.values():
        merged["mean"] = round(merged.pop("sum") / merged["count"], 1)
    return counters, distributions, string_sets


def written_records(output: str, run_id: str) -> dict[str, int]:
    """Records in this run's files as they are on storage (carried rows
    included), by task (its summary key) and `rejected`: the accounting
    trusts what was written, not what was counted. A table with several rows
    a record counts its first rows."""
    def records(table: str, row_index: str | None) -> int:
        if row_index is None:
            return sum(table_rows(path) for path in table_files(output, table, run_id))
        return sum(pc.sum(first_rows(batch[row_index])).as_py() or 0
                   for batch in table_batches(output, table, run_id, [row_index]))
    written = {task.summary_key: records(task.table, task.row_index) for task in TASKS.values()}
    written["rejected"] = records("rejected", None)
    return written


NOT_CALLED_LISTED = 10_000  # ids listed in the summary; the rows say it for every record


def spending(output: str, run_id: str, max_cost_usd: float | None) -> dict:
    """What the run's rows cost, by model, tier (trafficType; Task.untiered
    where a row has none) and status, and the records the budget left uncalled. Read from
    the files written, a few columns at a time, in Arrow."""
    total, unpriced, not_called = 0.0, 0, []
    sums = {key: defaultdict(float) for key in ("model", "tier", "status")}
    columns = ["id", "model", "status", "cost_usd", "error_code", "traffic_type"]
    for task in TASKS.values():
        for batch in table_batches(output, task.table, run_id, columns):
            rows = pa.Table.from_batches([batch])
            not_called += rows.filter(
                pc.equal(rows["error_code"], "budget_exhausted"))["id"].to_pylist()
            priced = costs(rows, task).filter(pc.is_valid(rows["cost_usd"]))
            unpriced += rows.num_rows - priced.num_rows
            total += pc.sum(priced["cost"]).as_py() or 0
            for key, bucket in sums.items():
                for group in priced.group_by(key).aggregate([("cost", "sum")]).to_pylist():
                    bucket[group[key]] += group["cost_sum"]
    rounded = lambda d: {k: round(v, 6) for k, v in sorted(d.items())}  # noqa: E731
    return {"total_usd": round(total, 6), "by_model": rounded(sums["model"]),
            "by_tier": rounded(sums["tier"]), "by_status": rounded(sums["status"]),
            "rows_without_price": unpriced, "max_cost_usd": max_cost_usd,
            "not_called": len(not_called), "not_called_ids": sorted(not_called)[:NOT_CALLED_LISTED]}


def tiers(output: str, run_id: str, flex_factor: float) -> dict:
    """Text records by the tier they asked for, the tier they were sent at and
    the capacity that served them (trafficType), and what Flex by deadline
    cost: records moved from Flex to Standard, their cost, and how much more
    that was than Flex would have cost; Flex requests served (and billed) as
    Standard are named, never priced at the Flex rate."""
    asked, sent, served = Counter(), Counter(), Counter()
    moved = silently = 0
    moved_usd = 0.0
    columns = ["service_tier", "sent_tier", "traffic_type", "cost_usd"]
    for batch in table_batches(output, "responses", run_id, columns):
        rows = pa.Table.from_batches([batch])
        for counter, column in ((asked, pc.fill_null(rows["service_tier"], "standard")),
                                (sent, rows["sent_tier"]), (served, rows["traffic_type"])):
            counter.update({value: n for value, n in _counts(column) if value is not None})
        was_moved = _where(pc.and_(pc.equal(rows["service_tier"], "flex"),
                                   pc.equal(rows["sent_tier"], "standard")))
        moved += pc.sum(was_moved.cast(pa.int64())).as_py() or 0
        moved_usd += pc.sum(rows["cost_usd"].filter(was_moved)).as_py() or 0.0
        silently += pc.sum(_where(pc.and_(pc.equal(rows["sent_tier"], "flex"), pc.equal(
            rows["traffic_type"], "ON_DEMAND"))).cast(pa.int64())).as_py() or 0
    return {"asked": dict(asked), "sent": dict(sent), "served": dict(served),
            "moved_to_standard": moved, "moved_usd": round(moved_usd, 6),
            "moved_extra_usd": round(moved_usd * (1 - flex_factor), 6),
            "flex_served_as_standard": silently}


def _counts(column) -> list[tuple]:
    """(value, rows) of a column, in Arrow."""
    return [(g["value"], g["count_all"]) for g in pa.table({"value": column}).group_by(
        "value").aggregate([([], "count_all")]).to_pylist()]


def _where(condition):
    return pc.fill_null(condition, False)


def context_cache_rows(output: str, run_id: str, prices) -> dict:
    """What the responses say of the job's context cache: the records that
    read it, those that went without (by why), the cached tokens they read
    and what reading them saved against the input price."""
    used, without = 0, Counter()
    cached_tokens, saving = 0, 0.0
    columns = ["model", "context_cache", "usage", "traffic_type"]
    for batch in table_batches(output, "responses", run_id, columns):
        for row in batch.to_pylist():
            if row["context_cache"] is None:
                continue
            if row["context_cache"] != USED:
                without[row["context_cache"]] += 1
                continue
            used += 1
            usage = row["usage"] or {}
            cached_tokens += usage.get("cached_content_token_count") or 0
            saved = prices.cache_saving(row["model"], usage, row["traffic_type"])
            saving = None if saved is None or saving is None else saving + saved
    return {"records_using_it": used, "records_without_it": dict(without),
            "cached_tokens_read": cached_tokens,
            "read_saving_usd": None if saving is None else round(saving, 6)}


def typed_answers(output: str, run_id: str) -> dict:
    """How the answers to a schema went: matched, invalid_json and
    schema_mismatch rows, and the answers asked for again."""
    counts = Counter()
    columns = ["error_code", "parsed_json", "schema_reasks"]
    for batch in table_batches(output, "responses", run_id, columns):
        counts["matched"] += batch.num_rows - batch["parsed_json"].null_count
        counts["reasks"] += pc.sum(batch["schema_reasks"]).as_py() or 0
        for code in (INVALID_JSON, SCHEMA_MISMATCH):
            counts[code] += pc.sum(pc.equal(batch["error_code"], code).cast(pa.int64())).as_py() or 0
    return {key: counts[key] for key in ("matched", INVALID_JSON, SCHEMA_MISMATCH, "reasks")}


# Exit codes: the contract a scheduler reads (README, "Exit codes").
EXIT_COMPLETE, EXIT_FAILED, EXIT_REFUSED, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def outcome(summary: dict, allowed_error_rate: float = 0.0) -> dict:
    """complete, partial or failed, with the exit code and why: every line
    accounted for and every record answered (ok or blocked) is complete;
    error rows, rejected lines and records not called make a run partial
    (exit 3), unless error rows and rejected lines are at most
    `allowed_error_rate` of the input lines and every record was called."""
    errors = sum(summary[task.summary_key][Status.ERROR] for task in TASKS.values())
    not_called = summary["cost"]["not_called"]
    reasons = {"error_rows": errors - not_called, "rejected_lines": summary["rejected"],
               "not_called": not_called}
    answered = sum(summary[task.summary_key][s] for task in TASKS.values()
                   for s in (Status.OK, Status.BLOCKED))
    lines = summary["input_lines"]
    rate = (reasons["error_rows"] + reasons["rejected_lines"]) / lines if lines else 0.0
    if summary["unreadable_files"] or not summary["state"].endswith("DONE") \
            or not summary["all_lines_accounted_for"]:
        state, code = "failed", EXIT_FAILED
    elif not any(reasons.values()):
        state, code = "complete", EXIT_COMPLETE
    elif not not_called and rate <= allowed_error_rate and (answered or not lines):
        state, code = "partial", EXIT_COMPLETE  # within --allowed_error_rate
    else:
        state, code = "partial", EXIT_PARTIAL
    return {"outcome": state, "exit_code": code, "partial": reasons,
            "error_rate": round(rate, 6), "allowed_error_rate": allowed_error_rate}


def outcome_line(summary: dict) -> str:
    """The last line on stderr: the outcome, the exit code and why."""
    reasons = summary["partial"]
    if summary["outcome"] == "complete":
        return f"complete: every record answered; exit {summary['exit_code']}"
    if summary["outcome"] == "failed":
        return f"failed: not every input line was read or accounted for; exit {summary['exit_code']}"
    why = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in reasons.items() if n)
    within = (f" (within --allowed_error_rate {summary['allowed_error_rate']:g})"
              if summary["exit_code"] == EXIT_COMPLETE else "")
    return (f"partial: {why}{within}; rerun with --skip_existing to call what is missing; "
            f"exit {summary['exit_code']}")


def price_origins(prices) -> dict:
    """Where the prices came from: the catalog, a --prices file over it (and
    which models it priced)."""
    return {"origin": prices.origin,
            "from_prices_file": sorted(m for m, o in prices.origins.items() if o != CATALOG)}


def short_summary(summary: dict, path: str, report_path: str | None) -> str:
    """The run for a person, in a few lines (--summary_json prints it all)."""
    tasks = [(task.summary_key, summary[task.summary_key]) for task in TASKS.values()]
    records = "; ".join(f"{key}: " + ", ".join(f"{n} {status}" for status, n in counts.items()
                                                if status != "total" and n)
                        for key, counts in tasks if counts["total"])
    tokens, cost = summary["tokens"], summary["cost"]
    lines = [f"run {summary['run_id']}: {summary['outcome']} (exit {summary['exit_code']}) "
             f"in {summary['wall_time_s']:.1f} s",
             f"  records   {records or 'none called'}",
             f"  rejected  {summary['rejected']} line(s); not called (budget) "
             f"{cost['not_called']}; carried over {summary['carried_over']}; "
             f"skipped {summary['skipped_existing']}",
             f"  tokens    {tokens['total']:,} (prompt {tokens['prompt']:,}, of it cached "
             f"{tokens['cached']:,}; thinking {tokens['thinking']:,}; answer "
             f"{tokens['answer']:,})",
             f"  cost      ${cost['total_usd']:.4f}"
             + (f" of --max_cost_usd {cost['max_cost_usd']:g}" if cost["max_cost_usd"] else "")
             + (f"; {cost['rows_without_price']} row(s) without a price"
                if cost["rows_without_price"] else "")]
    cache = summary.get("context_cache") or {}
    if cache.get("used"):
        money = lambda v: "unpriced" if v is None else f"${v:.4f}"  # noqa: E731
        lines.append(f"  cache     {cache['cache_tokens']:,} tokens of the system instruction "
                     f"read by {cache['records_using_it']} record(s); making and storage "
                     f"{money(cache['cost_usd'])}, saved {money(cache['saved_usd'])}")
    written = [f for files in summary["files"].values() for f in files]
    folder = summary["output"]
    lines.append(f"  tables    {len(written)} file(s) under {folder}"
                 + (f"; images and audio under {folder}/images/, {folder}/audio/"
                    if summary["images_written"] or summary["audio_files_written"] else ""))
    lines.append(f"  summary   {path}")
    if report_path:
        lines.append(f"  report    {report_path}")
    return "\n".join(lines)


def make_summary(config: JobConfig, result, wall_time_s: float, run_cache=None) -> dict:
    counters, distributions, string_sets = metric_values(result)
    files = RunFiles(config.output, config.run_id)
    written = written_records(config.output, config.run_id)
    c = lambda name: counters.get(name, 0)  # noqa: E731
    records = {}  # by task: records called, by status
    for task in TASKS.values():
        counts = {s: c(metrics.records(task.table, s)) for s in metrics.STATUSES}
        records[task.summary_key] = {**counts, "total": sum(counts.values())}
    called = sum(counts["total"] for counts in records.values())
    cost = spending(config.output, config.run_id, config.max_cost_usd)
    cache = run_cache.summary(context_cache_rows(config.output, config.run_id, config.prices)) \
        if run_cache is not None else None
    if cache is not None:  # the cache's making and storage are the run's cost too
        cost["context_cache_usd"] = cache["cost_usd"]
        cost["total_usd"] = round(cost["total_usd"] + (cache["cost_usd"] or 0.0), 6)
    return {
        "run_id": config.run_id,
        "input": config.input,
        "output": config.output,
        "state": str(result.state),
        "input_lines": c(metrics.INPUT_LINES),
        "blank_lines_skipped": c(metrics.BLANK_LINES),
        # files appended to after the run started: their new lines wait for the next run
        "input_files_grown": sorted(string_sets.get(metrics.FILES_GROWN, ())),
        **records,
        "audio_files_written": c(metrics.AUDIO_FILES_WRITTEN),
        "images_written": c(metrics.IMAGES_WRITTEN),
        "image_bytes": c(metrics.IMAGE_BYTES),
        "rejected": c(metrics.REJECTED_ROWS),
        "resume": config.resume.value,
        "skipped_existing": c(metrics.SKIPPED_EXISTING),
        "carried_over": c(metrics.CARRIED_OVER),
        "unreadable_files": sorted(string_sets.get(metrics.UNREADABLE_FILES, ())),
        "written": written,
        # Every line read is in exactly one table written (or skipped as
        # answered before), and every file was read to its end.
        "all_lines_accounted_for":
            sum(written.values()) - c(metrics.UNREADABLE_FILES) + c(metrics.SKIPPED_EXISTING)
            == c(metrics.INPUT_LINES) and not c(metrics.UNREADABLE_FILES),
        "worker_processes": config.worker_processes,
        "rpm_per_process": config.connection.settings.rpm,
        "adaptive_rate": config.connection.settings.adaptive,
        "requests": c(metrics.REQUESTS),
        "retries": c(metrics.RETRIES),
        "http_429": c(metrics.HTTP_429),
        # total = prompt (cached and tool-use prompt tokens are parts of it as
        # the API counts them) + thinking + answer (candidates)
        "tokens": {"prompt": c(metrics.PROMPT_TOKENS), "cached": c(metrics.CACHED_TOKENS),
                   "tool_use": c(metrics.TOOL_USE_TOKENS), "thinking": c(metrics.THINKING_TOKENS),
                   "answer": c(metrics.CANDIDATES_TOKENS),
                   "candidates": c(metrics.CANDIDATES_TOKENS), "total": c(metrics.TOTAL_TOKENS)},
        "cost": {**cost,
                 # the answers of this run's calls, split as their tokens are
                 "by_part_usd": {part: round(c(metrics.cost_part(part)) / 1e6, 6)
                                 for part in COST_PARTS},
                 "prices": price_origins(config.prices),
                 "tiers": tiers(config.output, config.run_id,
                                config.prices.factor("ON_DEMAND_FLEX"))},
        "typed_answers": typed_answers(config.output, config.run_id),
        "context_cache": cache,
        "latency_ms": distributions.get(metrics.LATENCY_MS),
        "wall_time_s": round(wall_time_s, 3),
        "records_per_s": round(called / wall_time_s, 2) if wall_time_s else None,
        # the files themselves: a pattern of the run id would match other runs' too
        "files": {table: files.table_files(table) for table in (*tables(), "rejected")},
    }


def write_summary(config: JobConfig, summary: dict) -> str:
    """summary-RUNID.json for this run, and summary.json for the latest run."""
    return write_copies([RunFiles(config.output, config.run_id).run_file("summary", "json"),
                         latest_file(config.output, "summary", "json")],
                        json.dumps(summary, indent=2).encode(), "application/json")
