"""A run a scheduler can trust: the exit code and summary.json's outcome say
whether every record was answered, the budget holds whatever the catalog
prices, --prices overlays the catalog, a dry run fails as the real run would,
prompt templates cannot surprise, and the tokens are shown by part."""
import json

import pytest

from pipeline.job import main
from tests.support.pipeline_runs import read_table, run_job, summary, write_jsonl

pytestmark = pytest.mark.slow  # whole jobs on the DirectRunner


def records(n, **extra):
    return [{"id": f"r{i}", "prompt": f"Describe river number {i} in one sentence", **extra}
            for i in range(n)]


def test_a_clean_run_is_complete_and_exits_0(emulator, tmp_path, capsys):
    sample = write_jsonl(tmp_path / "in.jsonl", records(6))
    assert run_job(sample, tmp_path / "out", emulator.url) == 0
    s = summary(tmp_path / "out")
    assert s["outcome"] == "complete" and s["exit_code"] == 0
    assert s["partial"] == {"error_rows": 0, "rejected_lines": 0, "not_called": 0}
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "complete: every record answered; exit 0"
    # the default model is priced: the cost adds up from the rows
    rows = read_table(tmp_path / "out", "responses")
    assert all(r["cost_usd"] > 0 for r in rows)
    assert s["cost"]["total_usd"] == pytest.approx(sum(r["cost_usd"] for r in rows), abs=1e-6)


def test_error_rows_make_a_run_partial_unless_within_the_allowed_rate(emulator, tmp_path, capsys):
    failing = [{"id": f"bad{i}", "prompt": "x [[emulator: fail=400]]"} for i in range(3)]
    sample = write_jsonl(tmp_path / "in.jsonl", records(7) + failing)
    assert run_job(sample, tmp_path / "a", emulator.url) == 3
    s = summary(tmp_path / "a")
    assert s["outcome"] == "partial" and s["exit_code"] == 3
    assert s["partial"]["error_rows"] == 3 and s["error_rate"] == pytest.approx(0.3)
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("partial: 3 error rows;") and last.endswith("exit 3")
    # within --allowed_error_rate 0.3 it exits 0, and still lists them
    assert run_job(sample, tmp_path / "b", emulator.url, "--allowed_error_rate", "0.3") == 0
    s = summary(tmp_path / "b")
    assert s["exit_code"] == 0 and s["partial"]["error_rows"] == 3
    assert run_job(sample, tmp_path / "c", emulator.url, "--allowed_error_rate", "2") == 2


def test_rejected_lines_make_a_run_partial_and_all_rejected_is_never_complete(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", records(4) + ["{not json", '{"id": 1}'])
    assert run_job(sample, tmp_path / "a", emulator.url) == 3
    assert summary(tmp_path / "a")["partial"]["rejected_lines"] == 2
    every = write_jsonl(tmp_path / "bad.jsonl", ["{not json", '{"prompt": ""}'])
    for rate in ("0", "1"):
        assert run_job(every, tmp_path / f"all{rate}", emulator.url,
                       "--allowed_error_rate", rate) == 3
    assert emulator.stats()["requests"] == 4


def test_a_budget_stop_is_partial_and_a_rerun_picks_up_exactly_what_is_missing(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", records(30))
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--max_cost_usd", "0.0005", "--concurrency", "2") == 3
    s = summary(out)
    not_called = s["cost"]["not_called"]
    assert 0 < not_called < 30 and s["partial"]["not_called"] == not_called
    # the spend never passes the budget by more than what was in flight (2 calls here)
    rows = read_table(out, "responses")
    most = max(r["cost_usd"] for r in rows if r["status"] == "ok")
    assert s["cost"]["total_usd"] <= 0.0005 + 2 * most
    emulator.reset()
    assert run_job(sample, out, emulator.url, "--skip_existing") == 0
    assert emulator.stats()["requests"] == not_called


def test_a_budget_with_an_unpriced_model_makes_no_call(emulator, tmp_path, capsys):
    sample = write_jsonl(tmp_path / "in.jsonl", records(5))
    assert run_job(sample, tmp_path / "a", emulator.url, "--model", "gemini-3.7-flash",
                   "--max_cost_usd", "0.000001") == 2
    err = capsys.readouterr().err
    assert "gemini-3.7-flash has no price" in err and "--prices" in err
    # a record naming an unpriced model is a rejected line saying why, never a call
    mixed = write_jsonl(tmp_path / "mixed.jsonl", records(2) + [
        {"id": "x", "model": "gemini-3.7-flash", "prompt": "hi"}])
    assert run_job(mixed, tmp_path / "b", emulator.url, "--max_cost_usd", "1") == 3
    rejected = read_table(tmp_path / "b", "rejected")
    assert rejected[0]["reason"].startswith("unpriced_model: model gemini-3.7-flash has no price")
    assert emulator.stats()["requests"] == 2


def test_a_budget_holds_with_a_thinking_model_and_re_asks(emulator, tmp_path):
    # Gemini 3.5 Flash thinks at MEDIUM by default; every answer misses the schema and is
    # asked again: neither may carry the spend past the budget plus what was in flight.
    off = [{"id": f"t{i}", "prompt": f"Label review {i} [[emulator: off_schema]]"}
           for i in range(20)]
    sample = write_jsonl(tmp_path / "in.jsonl", off)
    out = tmp_path / "out"
    budget = 0.002
    code = run_job(sample, out, emulator.url, "--max_cost_usd", str(budget), "--concurrency", "1",
                   "--output_schema", "label STRING", "--schema_reasks", "3")
    assert code == 3
    rows = read_table(out, "responses")
    per_call = max(r["cost_usd"] / (1 + (r["schema_reasks"] or 0)) for r in rows if r["cost_usd"])
    assert summary(out)["cost"]["total_usd"] <= budget + per_call
    assert summary(out)["cost"]["not_called"] > 0


def test_prices_overlay_the_catalog(emulator, tmp_path):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": {"gemini-3.5-flash": {
        "input": {"TEXT": 0.0}, "output": {"TEXT": 1.0}}}}))
    sample = write_jsonl(tmp_path / "in.jsonl", records(2) + [
        {"id": "other", "model": "gemini-3.8-flash", "prompt": "hi"}])
    assert run_job(sample, tmp_path / "out", emulator.url, "--vertex_location", "global",
                   "--prices", str(prices)) == 0
    rows = {r["id"]: r for r in read_table(tmp_path / "out", "responses")}
    usage = rows["r0"]["usage"]
    assert rows["r0"]["cost_usd"] == pytest.approx(
        (usage["candidates_token_count"] + usage["thoughts_token_count"]) / 1e6)
    assert rows["other"]["cost_usd"] > 0  # the catalog's price, kept
    s = summary(tmp_path / "out")["cost"]["prices"]
    assert s["from_prices_file"] == ["gemini-3.5-flash"] and str(prices) in s["origin"]


def test_a_dry_run_fails_as_the_real_run_would(emulator, tmp_path, capsys):
    sample = write_jsonl(tmp_path / "in.jsonl", records(3))
    out = str(tmp_path / "out")
    base = ["--input", str(sample), "--output", out, "--endpoint", emulator.url, "--dry_run"]
    assert main([*base, "--model", "gemini-3.5-flsh"]) == 2  # a typo: Vertex AI answers 404
    assert "404" in capsys.readouterr().err
    assert main([*base, "--model", "gemini-2.5-flash"]) == 2  # retired
    assert main([*base, "--model", "gemini-3.8-flash", "--vertex_location", "us-central1",
                 "--project", "p"]) == 2  # not served in a single region
    assert main([*base, "--model", "gemini-3.7-flash", "--max_cost_usd", "1"]) == 2  # unpriced
    assert main(base) == 0


def test_prompt_templates_cannot_surprise(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "a", "review": "great", "meta": {"title": "Kettle"}},
        {"id": "b", "review": None, "meta": {"title": "Mug"}},
        {"id": "c", "meta": {"title": "Pan"}},
    ])
    template = 'Answer as {"label": "positive|negative"} about {meta.title}: {review} {{x}}'
    assert run_job(sample, tmp_path / "out", emulator.url, "--prompt_template", template) == 3
    assert [r["id"] for r in read_table(tmp_path / "out", "responses")] == ["a"]
    reasons = {r["line_number"]: r["reason"] for r in read_table(tmp_path / "out", "rejected")}
    assert reasons[2] == "prompt_template: the template's field 'review' is null in the record"
    assert reasons[3] == "prompt_template: the template's field 'review' is missing from the record"
    empty = write_jsonl(tmp_path / "empty.jsonl", [{"id": "e", "review": "  "}])
    assert run_job(empty, tmp_path / "empty", emulator.url, "--prompt_template", "{review}") == 3
    assert "empty once the template is filled" in read_table(tmp_path / "empty", "rejected")[0]["reason"]
    assert emulator.stats()["requests"] == 1


def test_the_summary_shows_thinking_and_cached_tokens_and_their_cost(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", records(4))
    assert run_job(sample, tmp_path / "out", emulator.url) == 0
    s = summary(tmp_path / "out")
    tokens = s["tokens"]
    assert tokens["thinking"] > 0  # 3.5 Flash thinks by default
    assert tokens["total"] == tokens["prompt"] + tokens["thinking"] + tokens["answer"]
    parts = s["cost"]["by_part_usd"]
    assert parts["thinking"] > 0 and parts["answer"] > 0
    assert sum(parts.values()) == pytest.approx(s["cost"]["total_usd"], abs=1e-5)
