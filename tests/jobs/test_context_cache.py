"""The job's context cache (--context_cache auto|off) against the emulator
serving cachedContents as Vertex AI does: made before the calls, read by
every eligible record, deleted at the end (also after a kill, by the next
run), made again once when it vanishes mid-run, and costed in summary.json."""
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.pipeline_runs import read_table, run_job, summary, write_jsonl

pytestmark = pytest.mark.slow  # whole jobs on the DirectRunner

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("--project", "test-project", "--vertex_location", "global")


def guideline(words: int = 9000) -> str:
    """A labeling guideline of about `words` tokens (the emulator counts a word a token)."""
    rng = random.Random(7)
    vocabulary = ("label each review by its sentiment positive negative neutral or mixed; "
                  "sarcasm counts as negative; give a confidence from zero to one").split()
    return " ".join(rng.choice(vocabulary) for _ in range(words))


def reviews(n: int, prefix: str = "r"):
    return [{"id": f"{prefix}{i}", "prompt": f"Review {i}: it arrived late but works"}
            for i in range(n)]


def caches(emulator) -> list[dict]:
    url = f"{emulator.url}/v1/projects/test-project/locations/global/cachedContents"
    with urllib.request.urlopen(url) as answer:
        return json.load(answer).get("cachedContents", [])


def delete_cache(emulator, name: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{emulator.url}/v1/{name}", method="DELETE"))


def test_a_shared_instruction_is_read_from_the_cache_and_costs_at_most_half(emulator, tmp_path,
                                                                            capfd):
    sample = write_jsonl(tmp_path / "in.jsonl", reviews(40))
    instruction = guideline()
    cached, uncached = tmp_path / "cached", tmp_path / "uncached"
    assert run_job(sample, cached, emulator.url, *PROJECT,
                   "--system_instruction", instruction) == 0
    section = summary(cached)["context_cache"]
    tokens = section["cache_tokens"]
    assert 8000 <= tokens <= 11000  # as the emulator counts them
    printed = capfd.readouterr()
    assert f"context cache: {tokens:,} tokens of --system_instruction cached" in printed.err
    assert f"cache     {tokens:,} tokens of the system instruction read by 40" in printed.out
    rows = read_table(cached, "responses")
    assert {r["context_cache"] for r in rows} == {"used"}
    assert {r["usage"]["cached_content_token_count"] for r in rows} == {tokens}
    assert section["used"] and section["created"] == 1 and section["deleted"] == 1
    assert section["records_using_it"] == 40 and section["cached_tokens_read"] == 40 * tokens
    # made at the input price ($1.50 per 1M), stored per token-hour
    assert section["creation_usd"] == pytest.approx(tokens * 1.5e-6, abs=1e-6)
    assert 0 < section["storage_usd"] < tokens * 1e-6  # $1 per 1M token-hours, for seconds
    assert section["saved_usd"] > 0
    assert caches(emulator) == []  # deleted when the run ended
    assert "<h2>Context cache</h2>" in (cached / "report.html").read_text()

    assert run_job(sample, uncached, emulator.url, *PROJECT, "--context_cache", "off",
                   "--system_instruction", instruction) == 0
    assert {r["context_cache"] for r in read_table(uncached, "responses")} == {None}
    with_cache, without = summary(cached)["cost"], summary(uncached)["cost"]
    # the cache's making and storage are in the run's total
    assert with_cache["context_cache_usd"] == pytest.approx(section["cost_usd"])
    assert with_cache["total_usd"] <= without["total_usd"] / 2
    assert summary(uncached)["context_cache"]["used"] is False


def test_records_with_their_own_instruction_tools_or_model_go_without_and_say_so(emulator,
                                                                                 tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", reviews(4) + [
        {"id": "own", "prompt": "hi", "systemInstruction": "Answer in French."},
        {"id": "tools", "prompt": "hi", "tools": [{"functionDeclarations": [
            {"name": "lookup", "description": "find a product"}]}]},
        {"id": "other", "prompt": "hi", "model": "gemini-3.1-flash-lite"}])
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, *PROJECT,
                   "--system_instruction", guideline(5000)) == 0
    rows = {r["id"]: r for r in read_table(out, "responses")}
    assert all(r["status"] == "ok" for r in rows.values())
    assert rows["own"]["context_cache"] == "own_system_instruction"
    assert rows["tools"]["context_cache"] == "own_tools"
    assert rows["other"]["context_cache"] == "other_model"
    assert {rows[f"r{i}"]["context_cache"] for i in range(4)} == {"used"}
    assert summary(out)["context_cache"]["records_without_it"] == {
        "own_system_instruction": 1, "own_tools": 1, "other_model": 1}


@pytest.mark.parametrize("flags, why", [
    (("--model", "gemini-4-argon"), "gemini-4-argon takes no explicit context cache"),
    ((), "belongs to a project"),
    (("--system_instruction", "short"), "under gemini-3.5-flash's caching minimum"),
])
def test_the_job_goes_without_a_cache_where_vertex_ai_would_not_take_one(emulator, tmp_path,
                                                                         capfd, flags, why):
    sample = write_jsonl(tmp_path / "in.jsonl", reviews(3))
    project = () if not flags else PROJECT
    assert run_job(sample, tmp_path / "out", emulator.url, *project,
                   "--system_instruction", guideline(5000), *flags) == 0
    lines = [line for line in capfd.readouterr().err.splitlines() if "context cache" in line]
    assert len(lines) == 1 and "not used" in lines[0] and why in lines[0], lines
    assert {r["context_cache"] for r in read_table(tmp_path / "out", "responses")} == {None}


def test_a_cache_that_vanishes_mid_run_is_made_again_once(start_emulator, tmp_path):
    emulator = start_emulator("--latency_ms", "150")
    sample = write_jsonl(tmp_path / "in.jsonl", reviews(60))
    out = tmp_path / "out"
    deleted = []

    def delete_the_first_cache():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            made = caches(emulator)
            if made and emulator.stats()["requests"] > 10:
                delete_cache(emulator, made[0]["name"])
                deleted.append(made[0]["name"])
                return
            time.sleep(0.05)
    thread = threading.Thread(target=delete_the_first_cache)
    thread.start()
    assert run_job(sample, out, emulator.url, *PROJECT, "--concurrency", "4",
                   "--system_instruction", guideline(5000)) == 0
    thread.join()
    assert deleted
    rows = read_table(out, "responses")
    assert all(r["status"] == "ok" and r["context_cache"] == "used" for r in rows)
    section = summary(out)["context_cache"]
    assert all(r["usage"]["cached_content_token_count"] == section["cache_tokens"] for r in rows)
    assert section["created"] == 2 and section["deleted"] == 1  # the first was gone already
    assert caches(emulator) == []


def test_a_rerun_deletes_the_cache_a_killed_run_left(start_emulator, tmp_path):
    emulator = start_emulator("--latency_ms", "500")
    sample = write_jsonl(tmp_path / "in.jsonl", reviews(200))
    out = tmp_path / "out"
    instruction = tmp_path / "guide.txt"
    instruction.write_text(guideline(5000))
    command = [sys.executable, "-m", "pipeline", "--input", str(sample), "--output", str(out),
               "--endpoint", emulator.url, *PROJECT, "--concurrency", "2",
               "--system_instruction", instruction.read_text()]
    job = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 90
        while not (caches(emulator) and emulator.stats()["requests"] > 4):
            assert time.monotonic() < deadline and job.poll() is None
            time.sleep(0.1)
    finally:
        job.send_signal(signal.SIGKILL)  # no clean-up of any kind
        job.wait()
    left = caches(emulator)
    assert len(left) == 1 and left[0]["displayName"].startswith("vertex-beam-batch ")

    rerun = write_jsonl(tmp_path / "few.jsonl", reviews(3, "again"))
    assert run_job(rerun, out, emulator.url, *PROJECT,
                   "--system_instruction", instruction.read_text()) == 0
    assert summary(out)["context_cache"]["leftovers_deleted"] == 1
    assert caches(emulator) == []


def test_the_dry_run_says_both_ways_and_which_it_would_choose(emulator, tmp_path, capsys):
    sample = write_jsonl(tmp_path / "in.jsonl", reviews(40))
    assert run_job(sample, tmp_path / "out", emulator.url, *PROJECT, "--dry_run",
                   "--system_instruction", guideline()) == 0
    estimate = json.loads((tmp_path / "out" / "estimate.json").read_text())["context_cache"]
    assert estimate["would_use"] is True and estimate["records"] == 40
    assert estimate["cost_usd_with_cache"] < estimate["cost_usd_without_cache"]
    assert estimate["instruction_with_cache_usd"] < estimate["instruction_without_cache_usd"] / 2
    assert caches(emulator) == []  # a dry run makes no cache

    one = write_jsonl(tmp_path / "one.jsonl", reviews(1))
    assert run_job(one, tmp_path / "one", emulator.url, *PROJECT, "--dry_run",
                   "--system_instruction", guideline()) == 0
    single = json.loads((tmp_path / "one" / "estimate.json").read_text())["context_cache"]
    assert single["would_use"] is False and "would not pay" in single["why"]


def test_the_cache_is_kept_alive_while_the_run_goes_on(emulator, tmp_path):
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.context_cache import RunCache
    from pipeline.options import job_config
    config = job_config(PipelineOptions([
        "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "out"),
        "--endpoint", emulator.url, *PROJECT, "--system_instruction", guideline(5000)]))
    run = RunCache(config, keep_ahead_s=120, refresh_every_s=0.3)
    cache = run.start(records=100)
    assert cache is not None
    first = caches(emulator)[0]["expireTime"]
    time.sleep(1.5)
    later = caches(emulator)[0]["expireTime"]
    assert later > first  # moved on, still about 120 s ahead
    run.end()
    assert caches(emulator) == []
    section = run.summary({"read_saving_usd": 0.01})
    assert section["created"] == section["deleted"] == 1
    assert section["saved_usd"] == pytest.approx(0.01 - section["cost_usd"], abs=1e-6)
