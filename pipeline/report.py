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
import json
import random
import re
import sys
from array import array
from collections import Counter, defaultdict
from datetime import datetime, timezone

from apache_beam.io.filesystems import FileSystems

from transforms.output_files import is_local_path, matching_paths, parquet_rows, write_run_file

THUMBNAILS = 48        # images shown at most, sampled evenly
AUDIO_CLIPS = 12       # players shown at most
TOP_REASONS = 10
_COLUMNS = {
    "responses": ["id", "model", "status", "error_code", "error_message", "latency_ms",
                  "started_at", "finished_at", "attempts", "throttled_attempts", "attempt_log",
                  "usage", "cost_usd", "traffic_type"],
    "images": ["id", "model", "status", "error_code", "error_message", "latency_ms",
               "started_at", "finished_at", "attempts", "throttled_attempts", "attempt_log",
               "cost_usd", "image_index", "uri", "mime_type", "rai_filtered_reason"],
    "live": ["id", "model", "status", "error_code", "error_message", "latency_ms",
             "started_at", "finished_at", "attempts", "throttled_attempts", "attempt_log",
             "usage", "cost_usd", "audio_uri", "audio_seconds", "output_transcript",
             "input_transcript"],
    "rejected": ["source", "line_number", "reason"],
}
_TASK = {"responses": "text", "images": "image", "live": "live"}


def table_files(output: str, table: str, run_id: str | None) -> list[str]:
    pattern = f"{table}-{run_id}-*.parquet" if run_id else f"{table}-*.parquet"
    return matching_paths(FileSystems.join(output, pattern))


def summaries(output: str, run_id: str | None) -> list[dict]:
    names = [f"summary-{run_id}.json"] if run_id else None
    paths = [FileSystems.join(output, n) for n in names] if names else [
        p for p in matching_paths(FileSystems.join(output, "summary-*.json"))]
    found = []
    for path in paths:
        try:
            with FileSystems.open(path) as f:
                found.append(json.loads(f.read()))
        except Exception:  # noqa: BLE001 - a run without a summary (died) still has rows
            continue
    return found


class _Sample:
    """Up to `size` items spread over a stream of unknown length (reservoir
    sampling, seeded: the same rows give the same report), in stream order."""

    def __init__(self, size: int):
        self.size, self.seen, self.items = size, 0, []
        self._random = random.Random(0)

    def add(self, item) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append((self.seen, item))
        elif (slot := self._random.randrange(self.seen)) < self.size:
            self.items[slot] = (self.seen, item)

    def __iter__(self):
        return (item for _, item in sorted(self.items, key=lambda pair: pair[0]))


class _Tally:
    """What the report shows, gathered in one pass over the rows: counts and
    sums, compact arrays of times and latencies, samples of images and clips.
    Memory grows by some 30 bytes a record, never by the rows themselves."""

    def __init__(self):
        self.records, self.cost = 0, 0.0
        self.by_status: Counter = Counter()                  # (task, status)
        self.started, self.finished = array("d"), array("d")  # epoch seconds
        self.sent, self.sent_429, self.sent_retry = array("d"), array("b"), array("b")
        self.latency: dict[str, array] = defaultdict(lambda: array("d"))
        self.tokens: dict = defaultdict(int)
        self.spend: dict = defaultdict(float)
        self.errors, self.error_example = Counter(), {}
        self.rejected, self.reasons, self.reason_where = 0, Counter(), {}
        self.images, self.clips = _Sample(THUMBNAILS), _Sample(AUDIO_CLIPS)

    def add(self, r: dict, task: str) -> None:
        self.records += 1
        self.cost += r.get("cost_usd") or 0
        self.by_status[(task, r["status"])] += 1
        if r.get("started_at"):
            base = r["started_at"].timestamp()
            self.started.append(base)
            for i, attempt in enumerate(r.get("attempt_log") or []):
                self.sent.append(base + (attempt["offset_ms"] or 0) / 1000)
                self.sent_429.append(attempt["http_status"] == 429)
                self.sent_retry.append(i > 0)
        if r.get("finished_at"):
            self.finished.append(r["finished_at"].timestamp())
        if r.get("latency_ms") is not None and r["status"] != "error":
            self.latency[r["model"]].append(r["latency_ms"])
        tier = r.get("traffic_type") or ("per image" if task == "image" else "-")
        self.tokens[(r["model"], tier)] += (r.get("usage") or {}).get("total_token_count") or 0
        self.spend[(r["model"], tier)] += r.get("cost_usd") or 0
        if r["status"] == "error":
            key = f"{r.get('error_code')}: {_first_line(r.get('error_message'))}"
            self.errors[key] += 1
            self.error_example.setdefault(key, r["id"])

    def add_rejected(self, r: dict) -> None:
        self.rejected += 1
        key = _first_line(r["reason"])
        self.reasons[key] += 1
        self.reason_where.setdefault(key, f"{r['source']}:{r['line_number']}")


def tally(output: str, run_id: str | None) -> _Tally:
    tally = _Tally()
    for table, task in _TASK.items():
        for path in table_files(output, table, run_id):
            for r in parquet_rows(path, _COLUMNS[table]):
                if table == "images" and (r.get("uri") or r["status"] != "ok"):
                    tally.images.add(r)
                if table == "live" and r.get("audio_uri"):
                    tally.clips.add(r)
                if table != "images" or r.get("image_index") in (None, 0):  # a record's first row
                    tally.add(r, task)
    for path in table_files(output, "rejected", run_id):
        for r in parquet_rows(path, _COLUMNS["rejected"]):
            tally.add_rejected(r)
    return tally


def build(output: str, run_id: str | None = None) -> str:
    """The report's HTML."""
    counted, runs = tally(output, run_id), summaries(output, run_id)
    sections = [
        _header(output, run_id, runs, counted),
        _counts(counted),
        _timeline(counted, runs),
        _latency(counted),
        _spend(counted),
        _reasons(counted),
        _contact_sheet(output, counted.images),
        _audio(output, counted.clips),
    ]
    return _page("Run report", "".join(s for s in sections if s))


# -- sections ------------------------------------------------------------------------------

def _header(output, run_id, runs, t: _Tally) -> str:
    which = f"run <code>{html.escape(run_id)}</code>" if run_id else (
        f"the union of {len(runs)} run(s)")
    walls = [r.get("wall_time_s") or 0 for r in runs]
    accounted = all(r.get("all_lines_accounted_for") for r in runs) if runs else None
    facts = [("records called", t.records), ("rejected lines", t.rejected),
             ("wall time", f"{sum(walls):.1f} s"), ("cost", f"${t.cost:.4f}"),
             ("every line accounted for", {True: "yes", False: "NO", None: "unknown"}[accounted])]
    items = "".join(f"<div class='fact'><b>{html.escape(str(v))}</b><span>{k}</span></div>"
                    for k, v in facts)
    return (f"<h1>Run report</h1><p class='sub'>{which} under <code>{html.escape(output)}"
            f"</code>, made {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC</p>"
            f"<div class='facts'>{items}</div>")


def _counts(t: _Tally) -> str:
    by = t.by_status
    tasks = sorted({task for task, _ in by})
    statuses = ("ok", "blocked", "error")
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
        ax.legend(loc="lower right", fontsize=8, frameon=False)
        ax.set_xlabel("records")
    return _section("Records by status and task",
                    _table(["task"] + list(statuses) + ["total"], rows), figure)


def _timeline(t: _Tally, runs) -> str:
    """Records finished and requests sent per second, 429s and retries marked,
    against the rate limit."""
    if not t.started:
        return ""
    origin = min(t.started)
    span = max(1e-3, max(t.finished) - origin) if t.finished else 1.0
    width = max(0.1, span / 80)  # about 80 bins, none shorter than 0.1 s
    finished, sent, throttled, retried = Counter(), Counter(), Counter(), Counter()
    for at in t.finished:
        finished[int((at - origin) / width)] += 1
    for at, was_429, is_retry in zip(t.sent, t.sent_429, t.sent_retry):
        slot = int((at - origin) / width)
        sent[slot] += 1
        throttled[slot] += was_429
        retried[slot] += is_retry
    end = max(list(finished) + list(sent) + [0]) + 1
    slots = list(range(end))
    x = [slot * width for slot in slots]
    figure = _figure(9, 3.2)
    ax = figure.add_subplot()
    ax.plot(x, [finished[s] / width for s in slots], label="records finished /s",
            color="#2c6fbb")
    ax.plot(x, [sent[s] / width for s in slots], label="requests sent /s", color="#888",
            linewidth=1)
    marks = [s for s in slots if throttled[s]]
    ax.scatter([s * width for s in marks], [sent[s] / width for s in marks], color="#c0392b",
               s=[8 + 4 * throttled[s] for s in marks], label="429s", zorder=3)
    marks = [s for s in slots if retried[s]]
    ax.scatter([s * width for s in marks], [0] * len(marks), marker="|", color="#d9a21b",
               s=60, label="retries", zorder=3)
    limit = _rate_limit_per_s(runs)
    if limit:
        ax.axhline(limit, color="#c0392b", linestyle="--", linewidth=1,
                   label=f"rate limit ({limit * 60:g}/min)")
    ax.set_xlabel("seconds from the first call")
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    requests = sum(sent.values())
    quota = (f"{requests / span:.1f} requests/s on average over {span:.1f} s"
             + (f", {requests / span / limit:.0%} of the rate limit" if limit else
                " (no --rpm: the rate adapted to the quota met)")
             + f"; 429s: {sum(throttled.values())} ({sum(throttled.values()) / max(requests, 1):.1%}"
             " of requests); retries: " + str(sum(retried.values())))
    return _section("Throughput over time and quota use", f"<p>{quota}</p>", figure)


def _rate_limit_per_s(runs) -> float | None:
    limits = [r["rpm_per_process"] * r.get("worker_processes", 1) / 60 for r in runs
              if r.get("rpm_per_process") and not r.get("adaptive_rate")]
    return max(limits) if limits else None


def _latency(t: _Tally) -> str:
    by_model = {model: sorted(values) for model, values in t.latency.items()}
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


def _spend(t: _Tally) -> str:
    tokens, cost = t.tokens, t.spend
    if not any(cost.values()) and not any(tokens.values()):
        return ""
    keys = sorted(tokens)
    rows = [[m, t, f"{tokens[(m, t)]:,}", f"${cost[(m, t)]:.4f}"] for m, t in keys]
    figure = _figure(7, 0.6 + 0.4 * len(keys))
    ax = figure.add_subplot()
    ax.barh([f"{m} / {t}" for m, t in keys], [cost[k] for k in keys], color="#2c6fbb")
    ax.set_xlabel("USD")
    return _section("Tokens and cost by model and tier",
                    _table(["model", "tier", "tokens", "cost"], rows), figure)


def _reasons(t: _Tally) -> str:
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


def _contact_sheet(output, images: _Sample) -> str:
    if not images.seen:
        return ""
    cells = []
    for r in images:
        caption = html.escape(f"{r['id']} #{r.get('image_index')}")
        if r["status"] == "ok" and r.get("uri"):
            thumb = _thumbnail(r["uri"])
            image = f"<img src='{thumb}' alt='{caption}'>" if thumb else "<div class='none'>?</div>"
            cells.append(f"<a class='cell' href='{html.escape(_link(output, r['uri']))}'>"
                         f"{image}<span>{caption}</span></a>")
        else:
            why = html.escape(_first_line(r.get("rai_filtered_reason") or r.get("error_message")
                                          or r["status"]))
            cells.append(f"<div class='cell blocked'><div class='none'>{r['status']}</div>"
                         f"<span>{caption}</span><small>{why}</small></div>")
    note = f"<p>{len(cells)} of {images.seen} images and refusals, sampled evenly.</p>"
    return _section("Images", note + f"<div class='sheet'>{''.join(cells)}</div>")


def _audio(output, clips: _Sample) -> str:
    if not clips.seen:
        return ""
    items = []
    for r in clips:
        said = html.escape(_first_line(r.get("output_transcript") or "")[:120])
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


def _first_line(text) -> str:
    return (str(text or "").strip().splitlines() or [""])[0][:200]


def _figure(width: float, height: float):
    import matplotlib
    matplotlib.use("Agg")
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
        return write_run_file(output, "report", run_id, text, "text/html", "html")
    return write_run_file(output, "report-union", None, text, "text/html", "html")


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
    if not any(table_files(args.output, t, args.run_id) for t in _COLUMNS):
        which = f"run {args.run_id}" if args.run_id else "any run"
        print(f"error: no tables of {which} under {args.output}", file=sys.stderr)
        return 2
    print(f"report: {write_report(args.output.rstrip('/'), args.run_id)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
