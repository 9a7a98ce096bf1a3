"""python -m vertex_catalog [--all] [--check] [--today YYYY-MM-DD]

Prints what the tool believes about each model: stage, last day served,
locations, tiers, price in/out/cached today and whose list it comes from.
--check names every default model within 30 days of its last day, or past
it (exit 1), so that the catalog is renewed before scheduled jobs break.
"""
from __future__ import annotations

import argparse
import datetime
import sys

import vertex_catalog

# The job's defaults (transforms/record_defaults.py says the same; a test checks they agree).
DEFAULTS = {"--model": "gemini-3.5-flash", "--image_model": "gemini-3.1-flash-image",
            "--live_model": "gemini-3.8-live", "speech (samples, README)": "gemini-2.5-flash-tts"}
WARN_WITHIN = datetime.timedelta(days=30)
ORIGIN = {"vertex": "Vertex AI", "developer_api": "Developer API", "third_party": "third party"}


def _text_price(prices: dict, key: str) -> str:
    values = prices.get(key) or {}
    value = values.get("TEXT", values.get("AUDIO", next(iter(values.values()), None)))
    return "-" if value is None else f"{value:g}"


def rows(today: datetime.date, everything: bool) -> list[tuple[str, ...]]:
    """A header and a row a model (retired ones with `everything`)."""
    result = [("model", "stage", "last day", "locations", "tiers", "in", "out", "cached",
               "price from", "read")]
    for model in sorted(vertex_catalog.catalog(), key=lambda m: m.id):
        retired = model.retired_on(today)
        if retired and not everything:
            continue
        prices = vertex_catalog.prices_on(model.prices or {}, today)
        source = model.entry.get("prices_source") or {}
        if "per_image" in prices:
            price_in, price_out, cached = "-", f"{prices['per_image']:g}/image", "-"
        else:
            price_in, price_out, cached = (_text_price(prices, key) for key in
                                           ("input", "output", "cached_input"))
        result.append((model.id, model.stage + (" (retired)" if retired else ""),
                       "withdrawn" if model.withdrawn else model.retires or "-",
                       ",".join(model.locations), ",".join(model.tiers), price_in, price_out,
                       cached, ORIGIN.get(model.price_origin, "no price"),
                       source.get("read", "-") if model.prices else "-"))
    return result


def table(today: datetime.date, everything: bool) -> list[str]:
    lines = rows(today, everything)
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in lines]


def markdown(today: datetime.date) -> str:
    """Every model as a Markdown table (docs/models.md holds it; a test checks
    that the page and the catalog agree)."""
    header, *models = rows(today, everything=True)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join((f"`{row[0]}`", *row[1:])) + " |" for row in models]
    return "\n".join(lines) + "\n"


def check(today: datetime.date) -> list[str]:
    """One line per default model that retires within 30 days (or has), or is unknown."""
    problems = []
    for option, name in DEFAULTS.items():
        model = vertex_catalog.get(name)
        if model is None:
            problems.append(f"{option} {name} is not in the catalog")
        elif model.retired_on(today):
            problems.append(f"{option}: {model.lifecycle_line()}")
        elif model.retires and datetime.date.fromisoformat(model.retires) - WARN_WITHIN <= today:
            problems.append(f"{option}: {model.last_month_line()}")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m vertex_catalog", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--all", action="store_true", help="retired models too")
    parser.add_argument("--markdown", action="store_true", help="every model as a Markdown "
                        "table (as in docs/models.md)")
    parser.add_argument("--check", action="store_true", help="warn about default models near "
                        "their last day (exit 1), print nothing else")
    parser.add_argument("--today", type=datetime.date.fromisoformat,
                        default=datetime.date.today(), help="the day to judge (default: today)")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.today)
        for line in problems:
            print(f"warning: {line}", file=sys.stderr)
        if not problems:
            print(f"the default models are served beyond {args.today + WARN_WITHIN} "
                  f"(catalog read on {vertex_catalog.catalog().read_on})")
        return 1 if problems else 0
    if args.markdown:
        print(markdown(args.today), end="")
        return 0
    print(f"Models as of {args.today} (catalog read on {vertex_catalog.catalog().read_on}; "
          "prices per 1M tokens, Standard tier, in force that day):")
    print("\n".join(table(args.today, args.all)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
