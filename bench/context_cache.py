"""A labeling job sharing a long instruction, with and without the context
cache, side by side on the same records: the cost (summary.json, the
cache's making and storage included), the wall time and the tokens read
from a cache. The emulator caches repeated prefixes implicitly half of the
time (its default), as Vertex AI's best-effort cache may; with
--context_cache auto the job's own cache makes every read a cached one.

    python -m bench.context_cache [--records 1000] [--instruction_words 9000]
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

from bench.common import Emulator, report
from bench.jobs import run_pipeline, write_text_records


def guideline(words: int) -> str:
    rng = random.Random(7)
    vocabulary = ("label each review by its sentiment positive negative neutral or mixed; "
                  "sarcasm counts as negative; give a confidence from zero to one").split()
    return " ".join(rng.choice(vocabulary) for _ in range(words))


def run(records: int = 1000, instruction_words: int = 9000) -> list[dict]:
    rows, without_cost = [], None
    project = ("--project", "bench", "--vertex_location", "global")  # a cache needs one
    with tempfile.TemporaryDirectory() as tmp:
        source = write_text_records(Path(tmp) / "in.jsonl", records)
        instruction = guideline(instruction_words)
        for mode in ("off", "auto"):
            with Emulator("--latency_ms", "50") as emulator:
                output = Path(tmp) / f"out-{mode}"
                job = run_pipeline(source, output, emulator.url, *project,
                                   "--system_instruction", instruction,
                                   "--context_cache", mode)
            summary = json.loads((output / "summary.json").read_text())
            cost, tokens = summary["cost"]["total_usd"], summary["tokens"]
            cache = summary["context_cache"]
            without_cost = without_cost or cost
            rows.append({
                "section": "context_cache", "case": f"--context_cache {mode}",
                "records": records, "records_per_s": round(records / job["wall_s"], 1),
                "seconds": round(job["wall_s"], 1),
                "ratio": round(cost / without_cost, 3), "ratio_of": "the cost without the cache",
                "lost": records - summary["responses"]["ok"],
                "note": f"${cost:.4f}; prompt tokens {tokens['prompt']:,}, of them cached "
                        f"{tokens['cached']:,}"
                        + (f"; cache {cache['cache_tokens']:,} tokens, making and storage "
                           f"${cache['cost_usd']:.4f}, saved ${cache['saved_usd']:.4f}"
                           if cache["used"] else "")})
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--instruction_words", type=int, default=9000)
    args = parser.parse_args()
    report("context_cache", run(args.records, args.instruction_words), vars(args))
