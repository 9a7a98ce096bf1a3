"""Know the price: service tiers, a cost per row, a budget and a dry run,
against the emulator (which serves each tier as Vertex AI does)."""
import json
import logging

import httpx
import pytest

import vertex_catalog

from tests.support.pipeline_runs import read_table, run_job, summary, write_jsonl
from vertex.prices import PriceTable
from vertex.response_rows import usage_row

PATH = "/v1/projects/p/locations/{location}/publishers/google/models/gemini-3.5-flash:generateContent"


# The model these tests price: one with a list price, whose numbers they were
# written for (discontinued on Vertex AI on 2026-10-20: the emulator here still
# serves it, and the job calls it with --allow_discontinued).
MODEL = "gemini-2.5-flash"
# The model of the tier tests: one offered on Flex and Priority (Gemini 2.5 was not on Flex).
TIER_MODEL = "gemini-3.5-flash"


def run_priced(sample, out, url, *extra) -> int:
    return run_job(sample, out, url, "--model", MODEL, "--allow_discontinued", *extra)


def records(n, **extra):
    return [{"id": f"r{i}", "prompt": f"Tell me about river number {i} and its towns", **extra}
            for i in range(n)]


def total_cost(rows):
    return sum(r["cost_usd"] for r in rows)


def test_each_tier_is_asked_for_served_and_priced(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", records(12))
    rows = {}
    for tier in ("standard", "flex", "priority"):
        out = tmp_path / tier
        assert run_job(sample, out, emulator.url, "--service_tier", tier) == 0
        rows[tier] = read_table(out, "responses")
    expected = {"standard": "ON_DEMAND", "flex": "ON_DEMAND_FLEX",
                "priority": "ON_DEMAND_PRIORITY"}
    for tier, traffic in expected.items():
        assert {r["traffic_type"] for r in rows[tier]} == {traffic}
        assert all(r["cost_usd"] > 0 for r in rows[tier])
    # The same records (the emulator answers them identically): Flex halves the cost.
    assert total_cost(rows["flex"]) == pytest.approx(total_cost(rows["standard"]) / 2)
    assert total_cost(rows["priority"]) == pytest.approx(total_cost(rows["standard"]) * 1.8)
    assert emulator.stats()["by_traffic_type"] == {
        "ON_DEMAND": 12, "ON_DEMAND_FLEX": 12, "ON_DEMAND_PRIORITY": 12}
    s = summary(tmp_path / "flex")["cost"]
    assert s["total_usd"] == pytest.approx(total_cost(rows["flex"]), abs=1e-6)
    assert set(s["by_tier"]) == {"ON_DEMAND_FLEX"} and set(s["by_status"]) == {"ok"}
    assert set(s["by_model"]) == {TIER_MODEL}


def test_a_record_chooses_its_own_tier(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", records(2) + [
        {"id": "fast", "prompt": "x", "service_tier": "priority"},
        {"id": "odd", "prompt": "x", "service_tier": "gold"}])
    out = tmp_path / "out"
    assert run_priced(sample, out, emulator.url) == 3  # the odd tier is a rejected line
    rows = {r["id"]: r for r in read_table(out, "responses")}
    assert rows["fast"]["traffic_type"] == "ON_DEMAND_PRIORITY"
    assert rows["r0"]["traffic_type"] == "ON_DEMAND"
    [rejected] = read_table(out, "rejected")
    assert "service_tier" in rejected["reason"] and "gold" in rejected["reason"]


def test_flex_outside_the_global_endpoint_is_refused_as_google_does(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", records(1))
    assert run_job(sample, tmp_path / "out", emulator.url, "--project", "p",
                   "--vertex_location", "us-central1", "--service_tier", "flex") == 2
    assert run_job(sample, tmp_path / "out2", emulator.url, "--project", "p",
                   "--vertex_location", "global", "--service_tier", "flex") == 0
    # Flex on a model that does not offer it (Gemini 4, and 2.5): refused before any call
    assert run_job(sample, tmp_path / "out4", emulator.url, "--model", "gemini-4-argon",
                   "--service_tier", "flex") == 2
    flex_25 = httpx.post(emulator.url + PATH.replace("gemini-3.5-flash", "gemini-4-argon").format(
        location="global"), json={"contents": [{"parts": [{"text": "x"}]}]},
        headers={"X-Vertex-AI-LLM-Shared-Request-Type": "flex"}, timeout=30)
    assert flex_25.status_code == 400 and "Flex" in flex_25.json()["error"]["message"]
    body = {"contents": [{"parts": [{"text": "x"}]}]}
    flex = {"X-Vertex-AI-LLM-Shared-Request-Type": "flex"}
    regional = httpx.post(emulator.url + PATH.format(location="us-central1"), json=body,
                          headers=flex, timeout=30)
    assert regional.status_code == 400 and "global" in regional.json()["error"]["message"]
    served = httpx.post(emulator.url + PATH.format(location="global"), json=body, headers=flex,
                        timeout=30)
    assert served.json()["usageMetadata"]["trafficType"] == "ON_DEMAND_FLEX"
    assert run_priced(sample, tmp_path / "out3", emulator.url, "--service_tier", "priority",
                   "--provisioned_throughput", "only") == 2


def test_provisioned_throughput_first_then_paygo_and_dedicated_overflow(start_emulator,
                                                                        tmp_path):
    emulator = start_emulator("--provisioned_rpm", "60")  # one request of burst, 1/s
    body = {"contents": [{"parts": [{"text": "x"}]}]}
    url = emulator.url + PATH.format(location="us-central1")
    first = httpx.post(url, json=body, timeout=30).json()
    assert first["usageMetadata"]["trafficType"] == "PROVISIONED_THROUGHPUT"
    spill = httpx.post(url, json=body, timeout=30).json()  # PT used up: PayGo serves it
    assert spill["usageMetadata"]["trafficType"] == "ON_DEMAND"
    dedicated = httpx.post(url, json=body, headers={"X-Vertex-AI-LLM-Request-Type": "dedicated"},
                           timeout=30)
    assert dedicated.status_code == 429
    assert "Exceeded the provisioned throughput" in dedicated.json()["error"]["message"]
    shared = httpx.post(url, json=body, headers={"X-Vertex-AI-LLM-Request-Type": "shared"},
                        timeout=30).json()
    assert shared["usageMetadata"]["trafficType"] == "ON_DEMAND"
    # Rows served by Provisioned Throughput cost nothing per request.
    big = start_emulator("--provisioned_rpm", "60000")
    sample = write_jsonl(tmp_path / "in.jsonl", records(5))
    out = tmp_path / "out"
    assert run_priced(sample, out, big.url, "--provisioned_throughput", "only") == 0
    rows = read_table(out, "responses")
    assert {r["traffic_type"] for r in rows} == {"PROVISIONED_THROUGHPUT"}
    assert {r["cost_usd"] for r in rows} == {0.0}


def test_the_budget_stops_new_calls_and_a_rerun_completes_the_set(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", records(40))
    out = tmp_path / "out"
    # An answer costs about $0.0001 here; a call in flight counts at its estimate
    # (500 output tokens, ~$0.0013) until its answer is priced.
    assert run_priced(sample, out, emulator.url, "--max_cost_usd", "0.0015",
                   "--concurrency", "2") == 3  # partial: records not called
    rows = read_table(out, "responses")
    called = [r for r in rows if r["error_code"] != "budget_exhausted"]
    not_called = [r for r in rows if r["error_code"] == "budget_exhausted"]
    assert 3 <= len(called) <= 30 and len(called) + len(not_called) == 40
    assert all(r["status"] == "ok" for r in called)
    assert all(r["attempts"] == 0 and r["cost_usd"] == 0 for r in not_called)
    assert emulator.stats()["by_method"] == {"generateContent": len(called)}
    s = summary(out)
    assert s["cost"]["not_called"] == len(not_called)
    assert s["cost"]["not_called_ids"] == sorted(r["id"] for r in not_called)
    assert 0.0015 - 0.0013 <= s["cost"]["total_usd"] <= 0.0015 + 2 * 0.0002
    assert run_priced(sample, out, emulator.url, "--skip_existing") == 0
    assert emulator.stats()["by_method"] == {"generateContent": 40}  # none paid twice
    latest = read_table(out, "responses")
    answered = {r["id"] for r in latest if r["status"] == "ok"}
    assert answered == {f"r{i}" for i in range(40)}


def test_a_dry_run_calls_nothing_billable_and_estimates_well(emulator, tmp_path):
    mixed = [{"id": f"m{i}", "prompt": " ".join(["word"] * (5 + 7 * (i % 9))) + f" {i}"}
             for i in range(60)]
    sample = write_jsonl(tmp_path / "in.jsonl", mixed + ["not json", {"id": "m1", "prompt": "x"}])
    out = tmp_path / "out"
    assert run_priced(sample, out, emulator.url, "--dry_run", "--rpm", "120") == 0
    assert set(emulator.stats()["by_method"]) == {"countTokens"}  # nothing billable
    estimate = json.loads((out / "estimate.json").read_text())
    assert estimate["records"] == 60 and estimate["rejected"] == 2
    assert {r["line_number"] for r in estimate["rejected_lines"]} == {61, 62}
    assert estimate["duration_minutes"] == pytest.approx(0.5)  # 60 records at 120 rpm
    assert estimate["cost_usd"]["flex"] == pytest.approx(estimate["cost_usd"]["standard"] / 2)
    assert not list(out.glob("responses-*"))

    emulator.reset()
    assert run_priced(sample, tmp_path / "real", emulator.url) == 3  # the two bad lines
    rows = [r for r in read_table(tmp_path / "real", "responses")]
    real_input = sum(r["usage"]["prompt_token_count"] for r in rows)
    model = estimate["models"][MODEL]
    assert model["input_tokens"] == pytest.approx(real_input, rel=0.10)

    emulator.reset()
    assert run_priced(sample, tmp_path / "sampled", emulator.url, "--dry_run",
                   "--dry_run_sample", "20") == 0
    assert emulator.stats()["by_method"]["generateContent"] == 20  # the paid sample, no more
    sampled = json.loads((tmp_path / "sampled" / "estimate.json").read_text())
    assert sampled["paid_calls"] == 20
    real_cost = sum(r["cost_usd"] for r in rows)
    assert sampled["cost_usd"]["standard"] == pytest.approx(real_cost, rel=0.25)


def test_a_price_file_overrides_and_an_unknown_model_gets_no_invented_price(
        emulator, tmp_path, caplog):
    prices = json.loads(json.dumps(vertex_catalog.catalog().price_table()))  # a copy
    prices["models"][MODEL]["input"] = {"TEXT": 100.0}
    prices["models"][MODEL]["output"] = {"TEXT": 0.0}
    (tmp_path / "prices.json").write_text(json.dumps(prices))
    sample = write_jsonl(tmp_path / "in.jsonl", records(3) + [
        {"id": "new", "prompt": "x", "model": "gemini-3-pro-preview"},
        {"id": "unpriced", "prompt": "x", "model": "gemini-1.5-pro-002"}])
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        assert run_priced(sample, out, emulator.url, "--prices", str(tmp_path / "prices.json")) == 0
    rows = {r["id"]: r for r in read_table(out, "responses")}
    for i in range(3):
        row = rows[f"r{i}"]
        assert row["cost_usd"] == pytest.approx(row["usage"]["prompt_token_count"] * 100 / 1e6)
    assert rows["new"]["cost_usd"] > 0
    assert rows["unpriced"]["cost_usd"] is None
    warnings = [r for r in caplog.records if "no price for model gemini-1.5-pro-002" in r.message]
    assert len(warnings) == 1
    assert summary(out)["cost"]["rows_without_price"] == 1
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert run_priced(sample, tmp_path / "out2", emulator.url, "--prices", str(bad)) == 2


def test_prices_by_modality_cache_thoughts_and_long_context():
    table = PriceTable.load()
    usage = usage_row({
        "promptTokenCount": 1000, "candidatesTokenCount": 100, "thoughtsTokenCount": 50,
        "cachedContentTokenCount": 400,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 600},
                                {"modality": "AUDIO", "tokenCount": 400}],
        "cacheTokensDetails": [{"modality": "AUDIO", "tokenCount": 400}],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 100}]})
    # gemini-2.5-flash: text in $0.30, cached audio $0.10, out (answer + thoughts) $2.50
    expected = (600 * 0.30 + 400 * 0.10 + 150 * 2.50) / 1e6
    assert table.tokens_cost("gemini-2.5-flash", usage, "ON_DEMAND") == pytest.approx(expected)
    assert table.tokens_cost("gemini-2.5-flash", usage, "ON_DEMAND_FLEX") == pytest.approx(
        expected / 2)
    assert table.tokens_cost("gemini-2.5-flash", usage, "PROVISIONED_THROUGHPUT") == 0
    long = usage_row({"promptTokenCount": 300_000, "candidatesTokenCount": 1000})
    # gemini-3-pro-preview beyond 200k tokens of prompt: $4 in, $18 out (not $2 and $12)
    assert table.tokens_cost("gemini-3-pro-preview", long, None) == pytest.approx(
        (300_000 * 4 + 1000 * 18) / 1e6)
    short = usage_row({"promptTokenCount": 1000, "candidatesTokenCount": 1000})
    assert table.tokens_cost("gemini-3-pro-preview", short, None) == pytest.approx(
        (1000 * 2 + 1000 * 12) / 1e6)
    assert table.tokens_cost("gemini-3-flash-preview", short, None) == pytest.approx(
        (1000 * 0.5 + 1000 * 3) / 1e6)
    image = usage_row({"promptTokenCount": 10, "candidatesTokenCount": 1300,
                       "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 10},
                                                   {"modality": "IMAGE", "tokenCount": 1290}]})
    assert table.tokens_cost("gemini-2.5-flash-image", image, None) == pytest.approx(
        (10 * 0.30 + 10 * 2.5 + 1290 * 30) / 1e6)
    assert table.call_cost("imagen-4.0-fast-generate-001", images=1) == 0.02
    for model in vertex_catalog.catalog():  # every price says where it was read, or why none
        source = model.entry["prices_source"]
        assert (source["page"].startswith("https://") and source["read"]) if model.prices \
            else source["note"], model.id
