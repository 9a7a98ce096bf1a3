"""report.html: what a run did, for a person, in one self-contained file.

    python -m pipeline.report OUTPUT [--run_id ID]

Charts are matplotlib's SVG, inline; CSS inline; thumbnails embedded; no
script, font or stylesheet from the network. The time series come from what
the rows recorded (started_at, finished_at and each attempt's time and
status in attempt_log). Only the columns the report needs are read, and it
aggregates (thumbnails and clips are sampled), so its size does not grow
with the number of records.

Without --run_id it covers the union of the runs under OUTPUT.
"""
from __future__ import annotations

import argparse
import base64
import html
import io
import re
import sys
from datetime import datetime, timezone

import numpy as np
from apache_beam.io.filesystems import FileSystems

from pipeline.results.run_tables import (TOKEN_PARTS, Labels, Sample, Tally, summaries,
                                 table_files, tally)
from transforms.output_files import is_local_path, write_copies
from transforms.run_files import RunFiles, latest_file
from transforms.tasks import tables
from vertex.errors import first_line
from vertex.response_rows import Status

TOP_REASONS = 10
TOP_LABELS = 10  # values shown of each string or enum field

def build(output: str, run_id: str | None = None) -> str:
    """The report's HTML."""
    counted, runs = tally(output, run_id), summaries(output, run_id)
    sections = [
        _header(output, run_id, runs, counted),
        _counts(counted),
        _timeline(counted, runs),
        _latency(counted),
        _spend(counted),
        _context_cache(runs),
        _reasons(counted),
        _labels(counted.labels),
        _contact_sheet(output, counted.images),
        _audio(output, counted.clips),
    ]
    return _page("Run report", "".join(s for s in sections if s))


# -- sections ------------------------------------------------------------------------------

def _header(output, run_id, runs, t: Tally) -> str:
    which = f"run <code>{html.escape(run_id)}</code>" if run_id else (
        f"the union of {len(runs)} run(s)")
    walls = [r.get("wall_time_s") or 0 for r in runs]
    accounted = all(r.get("all_lines_accounted_for") for r in runs) if runs else None
    cache_usd = sum((r.get("context_cache") or {}).get("cost_usd") or 0.0 for r in runs)
    facts = [("records called", t.records), ("rejected lines", t.rejected),
             ("wall time", f"{sum(walls):.1f} s"), ("cost", f"${t.cost + cache_usd:.4f}"),
             ("every line accounted for", {True: "yes", False: "NO", None: "unknown"}[accounted])]
    if len(runs) == 1 and runs[0].get("outcome"):  # exit codes: docs/exit-codes.md
        facts.append(("outcome", f"{runs[0]['outcome']} (exit {runs[0]['exit_code']})"))
    items = "".join(f"<div class='fact'><b>{html.escape(str(v))}</b><span>{k}</span></div>"
                    for k, v in facts)
    return (f"<h1>Run report</h1><p class='sub'>{which} under <code>{html.escape(output)}"
            f"</code>, made {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC</p>"
            f"<div class='facts'>{items}</div>")


def _counts(t: Tally) -> str:
    by = t.by_status
    tasks = sorted({task for task, _ in by})
    statuses = tuple(Status)
    rows = [[task] + [by.get((task, s), 0) for s in statuses]
            + [sum(by.get((task, s), 0) for s in statuses)] for task in tasks]
    rows.append(["rejected lines", "", "", "", t.rejected])
    figure = None
    if tasks:
        figure = _figure(6.5, 0.45 + 0.45 * len(tasks))
        ax = figure.add_subplot()
        left = [0] * len(tasks)
        for status, color in zip(statuses, ("#3a7d44", "#d9a21b", "#c0392b")):
            values = [by.get((task, status), 0) for task in tasks]
            ax.barh(tasks, values, left=left, color=color, label=status)
            left = [a + b for a, b in zip(left, values)]
        _legend_beside(ax)
        ax.set_xlabel("records")
    return _section("Records by status and task",
                    _table(["task"] + list(statuses) + ["total"], rows), figure)


def _timeline(t: Tally, runs) -> str:
    """Records finished and requests sent per second, 429s and retries marked,
    against the rate limit."""
    if not len(t.started):
        return ""
    origin = t.started.min()
    span = max(1e-3, t.finished.max() - origin) if len(t.finished) else 1.0
    width = max(0.1, span / 80)  # about 80 bins, none shorter than 0.1 s

    def slot(at):  # a time's bin; anything before the first call falls outside them all
        return np.trunc((at - origin) / width).astype(np.int64)
    finished_slots, sent_slots = slot(t.finished), slot(t.sent)
    end = max(finished_slots.max(initial=0), sent_slots.max(initial=0)) + 1

    def per_slot(slots, weights=None):
        kept = slots >= 0
        return np.bincount(slots[kept], None if weights is None else weights[kept],
                           minlength=end)
    finished, sent = per_slot(finished_slots), per_slot(sent_slots)
    throttled, retried = per_slot(sent_slots, t.sent_429), per_slot(sent_slots, t.sent_retry)
    x = np.arange(end) * width
    figure = _figure(9, 3.2)
    ax = figure.add_subplot()
    ax.plot(x, finished / width, label="records finished /s", color="#2c6fbb")
    ax.plot(x, sent / width, label="requests sent /s", color="#888", linewidth=1)
    marks = throttled > 0
    ax.scatter(x[marks], sent[marks] / width, color="#c0392b", s=8 + 4 * throttled[marks],
               label="429s", zorder=3)
    marks = retried > 0
    ax.scatter(x[marks], np.zeros(marks.sum()), marker="|", color="#d9a21b", s=60,
               label="retries", zorder=3)
    limit = _rate_limit_per_s(runs)
    if limit:
        ax.axhline(limit, color="#c0392b", linestyle="--", linewidth=1,
                   label=f"rate limit ({limit * 60:g}/min)")
    ax.set_xlabel("seconds from the first call")
    _legend_beside(ax)
    requests, throttled_total = int(sent.sum()), int(throttled.sum())
    quota = (f"{requests / span:.1f} requests/s on average over {span:.1f} s"
             + (f", {requests / span / limit:.0%} of the rate limit" if limit else
                " (no --rpm: the rate adapted to the quota met)")
             + f"; 429s: {throttled_total} ({throttled_total / max(requests, 1):.1%}"
             f" of requests); retries: {int(retried.sum())}")
    return _section("Throughput over time and quota use", f"<p>{quota}</p>", figure)


def _rate_limit_per_s(runs) -> float | None:
    limits = [r["rpm_per_process"] * r.get("worker_processes", 1) / 60 for r in runs
              if r.get("rpm_per_process") and not r.get("adaptive_rate")]
    return max(limits) if limits else None


def _latency(t: Tally) -> str:
    by_model = {model: np.sort(values) for model, values in t.latency.items()}
    if not by_model:
        return ""
    rows = [[m, len(v), *(f"{_percentile(v, q):.0f}" for q in (50, 90, 99))]
            for m, v in sorted(by_model.items())]
    figure = _figure(7, 3)
    ax = figure.add_subplot()
    ax.boxplot(list(by_model.values()), orientation="horizontal", tick_labels=list(by_model),
               showfliers=False)
    ax.set_xlabel("latency, ms (answered records)")
    return _section("Latency by model",
                    _table(["model", "records", "p50 ms", "p90 ms", "p99 ms"], rows), figure)


def _spend(t: Tally) -> str:
    tokens, cost = t.tokens, t.spend
    if not any(cost.values()) and not any(sum(parts.values()) for parts in tokens.values()):
        return ""
    keys = sorted(tokens)
    rows = [[m, t, *(f"{tokens[(m, t)][part]:,}" for part in TOKEN_PARTS),
             f"${cost[(m, t)]:.4f}"] for m, t in keys]
    figure = _figure(7, 0.6 + 0.4 * len(keys))
    ax = figure.add_subplot()
    ax.barh([f"{m} / {t}" for m, t in keys], [cost[k] for k in keys], color="#2c6fbb")
    ax.set_xlabel("USD")
    note = ("<p>Thinking tokens are billed as output; cached tokens are the part of the "
            "prompt read from a context cache, at the cached price. Total = prompt + "
            "thinking + answer.</p>")
    return _section("Tokens and cost by model and tier",
                    note + _table(["model", "tier", *TOKEN_PARTS, "cost"], rows), figure)


def _context_cache(runs) -> str:
    """The runs' context caches (summary.json's context_cache): what each
    held, the records that read it and what it cost and saved."""
    used = [(r["run_id"], r["context_cache"]) for r in runs
            if (r.get("context_cache") or {}).get("used")]
    if not used:
        return ""
    money = lambda v: "unpriced" if v is None else f"${v:.4f}"  # noqa: E731
    rows = [[run_id, c["model"], f"{c['cache_tokens']:,}", c["records_using_it"],
             sum(c["records_without_it"].values()), f"{c['cached_tokens_read']:,}",
             money(c["creation_usd"]), money(c["storage_usd"]), money(c["saved_usd"])]
            for run_id, c in used]
    note = ("<p>The job's <code>--system_instruction</code>, read from Vertex AI's context "
            "cache: made at the input price, stored per token-hour until the run deleted "
            "it; each record read it at the cached price. Saved: against the same tokens at "
            "the input price, the cache's making and storage taken off (in the cost above).</p>")
    return _section("Context cache", note + _table(
        ["run", "model", "cached tokens", "records reading it", "records without",
         "tokens read", "making", "storage", "saved"], rows))


def _reasons(t: Tally) -> str:
    errors, example = t.errors, t.error_example
    reasons, where = t.reasons, t.reason_where
    body = "<h3>Most frequent errors</h3>" + (_table(
        ["error", "records", "example id"],
        [[k, n, example[k]] for k, n in errors.most_common(TOP_REASONS)]) if errors
        else "<p>none</p>")
    body += "<h3>Most frequent reasons for rejected lines</h3>" + (_table(
        ["reason", "lines", "example"],
        [[k, n, where[k]] for k, n in reasons.most_common(TOP_REASONS)]) if reasons
        else "<p>none</p>")
    return _section("What failed, and why", body)


def _labels(labels: Labels) -> str:
    """Each field of the typed answers at a glance: the top values of its
    strings and enums, a histogram of its numbers."""
    if not labels.values and not labels.numbers:
        return ""
    parts = ["<p>The ok answers' <code>parsed</code> fields (from <code>--output_schema</code> "
             "or <code>--response_schema</code>).</p>"]
    for path, counts in sorted(labels.values.items()):
        total = sum(counts.values())
        top = counts.most_common(TOP_LABELS)
        rows = [[value, n, f"{n / total:.1%}"] for value, n in top]
        if len(counts) > TOP_LABELS:
            rest = total - sum(n for _, n in top)
            rows.append([f"({len(counts) - TOP_LABELS:,}"
                         f"{'+' if path in labels.pruned else ''} other values)", rest,
                         f"{rest / total:.1%}"])
        figure = _figure(6.5, 0.5 + 0.3 * len(top))
        ax = figure.add_subplot()
        ax.barh([first_line(v)[:40] for v, _ in reversed(top)], [n for _, n in reversed(top)],
                color="#2c6fbb")
        ax.set_xlabel("answers")
        parts.append(_section_part(f"{path}: top values",
                                   _table(["value", "answers", "share"], rows), figure))
    for path, values in sorted(labels.numbers.items()):
        if not len(values):
            continue
        ordered = np.sort(values)
        rows = [[len(values), f"{ordered[0]:g}", *(f"{_percentile(ordered, q):g}"
                                                    for q in (50, 90)), f"{ordered[-1]:g}"]]
        figure = _figure(6.5, 2.4)
        ax = figure.add_subplot()
        ax.hist(values, bins=min(30, max(1, len(np.unique(values)))), color="#2c6fbb")
        ax.set_xlabel(path)
        ax.set_ylabel("answers")
        parts.append(_section_part(f"{path}: distribution",
                                   _table(["answers", "min", "p50", "p90", "max"], rows), figure))
    return _section("Labels", "".join(parts))


def _section_part(title: str, body: str, figure) -> str:
    return f"<h3>{html.escape(title)}</h3>{body}<div class='chart'>{_svg(figure)}</div>"


def _contact_sheet(output, images: Sample) -> str:
    if not images.seen:
        return ""
    cells = []
    for r in images:
        caption = html.escape(f"{r['id']} #{r.get('image_index')}")
        if r["status"] == Status.OK and r.get("uri"):
            thumb = _thumbnail(r["uri"])
            image = f"<img src='{thumb}' alt='{caption}'>" if thumb else "<div class='none'>?</div>"
            cells.append(f"<a class='cell' href='{html.escape(_link(output, r['uri']))}'>"
                         f"{image}<span>{caption}</span></a>")
        else:
            why = html.escape(first_line(r.get("rai_filtered_reason") or r.get("error_message")
                                          or r["status"]))
            cells.append(f"<div class='cell blocked'><div class='none'>{r['status']}</div>"
                         f"<span>{caption}</span><small>{why}</small></div>")
    note = f"<p>{len(cells)} of {images.seen} images and refusals, sampled evenly.</p>"
    return _section("Images", note + f"<div class='sheet'>{''.join(cells)}</div>")


def _audio(output, clips: Sample) -> str:
    if not clips.seen:
        return ""
    items = []
    for r in clips:
        said = html.escape(first_line(r.get("output_transcript") or "")[:120])
        items.append(f"<div class='clip'><b>{html.escape(r['id'])}</b> "
                     f"{r.get('audio_seconds') or 0:.1f} s<br><audio controls preload='none' "
                     f"src='{html.escape(_link(output, r['audio_uri']))}'></audio>"
                     f"<br><small>{said}</small></div>")
    note = (f"<p>{len(items)} of {clips.seen} clips (the files beside this report; a "
            "gs:// output plays them from the bucket).</p>")
    return _section("Audio", note + "".join(items))


# -- helpers -------------------------------------------------------------------------------

def _thumbnail(uri: str) -> str | None:
    """A small JPEG of an image file, as a data: URI (embedded: opens offline)."""
    from PIL import Image
    try:
        with FileSystems.open(uri) as f, Image.open(io.BytesIO(f.read())) as image:
            image.thumbnail((160, 160))
            out = io.BytesIO()
            image.convert("RGB").save(out, format="JPEG", quality=70)
    except Exception:  # noqa: BLE001 - a missing file shows as a gap, not a failed report
        return None
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def _link(output: str, uri: str) -> str:
    """Files under a local output are linked relative to the report beside them."""
    if is_local_path(output) and uri.startswith(output.rstrip("/") + "/"):
        return uri[len(output.rstrip("/")) + 1:]
    return uri


def _percentile(ordered, q: float) -> float:
    """Of values already sorted."""
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def _legend_beside(ax) -> None:
    """The legend right of the chart, never over its bars or lines."""
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              borderaxespad=0)


def _figure(width: float, height: float):
    import matplotlib
    matplotlib.use("Agg")
    # Labels are the model's text: `$\\boxed{42}$` is text here, never TeX (mathtext
    # would parse it, and fail on what is not valid TeX).
    matplotlib.rcParams["text.parse_math"] = False
    from matplotlib.figure import Figure
    figure = Figure(figsize=(width, height), dpi=96, layout="constrained")
    return figure


def _svg(figure) -> str:
    out = io.StringIO()
    figure.savefig(out, format="svg")
    svg = out.getvalue()
    return svg[svg.index("<svg"):]  # inline: without the XML prolog


def _section(title: str, body: str, figure=None) -> str:
    chart = f"<div class='chart'>{_svg(figure)}</div>" if figure is not None else ""
    return f"<section><h2>{html.escape(title)}</h2>{body}{chart}</section>"


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1100px;
color:#222;padding:0 16px}h1{margin:0}.sub{color:#666;margin-top:4px}
.facts{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}.fact{background:#f4f6f8;padding:10px 14px;
border-radius:6px;min-width:140px}.fact b{display:block;font-size:20px}.fact span{color:#555}
section{margin:28px 0;border-top:1px solid #e3e6ea;padding-top:8px}table{border-collapse:collapse;
margin:8px 0}td,th{border:1px solid #dde1e5;padding:4px 8px;text-align:left;font-size:13px}
th{background:#f4f6f8}.chart svg{max-width:100%;height:auto}.sheet{display:flex;flex-wrap:wrap;gap:8px}
.cell{width:164px;font-size:11px;color:#333;text-decoration:none;word-break:break-all}
.cell img{width:160px;height:auto;border:1px solid #ccc;display:block}
.none{width:160px;height:100px;background:#eee;display:flex;align-items:center;justify-content:center;
color:#a33}.blocked small{color:#a33}.clip{margin:8px 0}code{background:#f4f6f8;padding:1px 4px}
"""


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>"
            f"<body>{body}</body></html>")


def write_report(output: str, run_id: str | None) -> str:
    """report-RUNID.html and report.html (the latest run's) beside the
    summaries; report-union.html for all runs. Returns the path written."""
    text = build(output, run_id).encode()
    if run_id:
        return write_copies([RunFiles(output, run_id).run_file("report", "html"),
                             latest_file(output, "report", "html")], text, "text/html")
    return write_copies([latest_file(output, "report-union", "html")], text, "text/html")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", help="the job's --output (a folder or gs:// prefix)")
    parser.add_argument("--run_id", help="one run (default: the union of the runs there)")
    args = parser.parse_args(argv)
    if args.run_id is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
                                                    args.run_id):
        print("error: --run_id is a run's name", file=sys.stderr)
        return 2
    if not any(table_files(args.output, t, args.run_id) for t in (*tables(), "rejected")):
        which = f"run {args.run_id}" if args.run_id else "any run"
        print(f"error: no tables of {which} under {args.output}", file=sys.stderr)
        return 2
    print(f"report: {write_report(args.output.rstrip('/'), args.run_id)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
