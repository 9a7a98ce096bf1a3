"""Flex first, Standard for what Flex cannot finish by the deadline, against
the emulator acting as Flex does (slow, its capacity shared: 429 past it,
and, on demand, Flex requests served as Standard)."""
import time

import pytest

from tests.support.pipeline_runs import read_table, run_job, summary, write_jsonl

pytestmark = pytest.mark.slow  # whole jobs on the DirectRunner


def records(n):
    return [{"id": f"f{i}", "prompt": f"Label review {i}"} for i in range(n)]


def test_flex_first_and_standard_for_what_flex_cannot_finish_by_the_deadline(start_emulator,
                                                                            tmp_path):
    emulator = start_emulator("--flex_latency_ms", "300", "--flex_rpm", "300")
    sample = write_jsonl(tmp_path / "in.jsonl", records(120) + [
        {"id": "own", "prompt": "mine", "service_tier": "flex"}])
    out = tmp_path / "out"
    started = time.time()
    assert run_job(sample, out, emulator.url, "--service_tier", "flex",
                   "--finish_by", "15s", "--max_attempts", "20") == 0
    rows = {r["id"]: r for r in read_table(out, "responses")}
    assert all(r["status"] == "ok" for r in rows.values())
    # every answer came before the deadline (Beam's start-up is inside the 15 s)
    assert max(r["finished_at"].timestamp() for r in rows.values()) <= started + 15
    served = summary(out)["cost"]["tiers"]
    assert served["served"].get("ON_DEMAND_FLEX", 0) > 20      # Flex first...
    assert served["served"].get("ON_DEMAND", 0) > 0            # ...Standard for the rest
    assert served["moved_to_standard"] == served["served"]["ON_DEMAND"]
    assert served["moved_extra_usd"] == pytest.approx(served["moved_usd"] / 2, abs=1e-6)
    assert rows["own"]["traffic_type"] == "ON_DEMAND_FLEX"    # a record's own tier stays
    moved = [r for r in rows.values() if r["sent_tier"] == "standard"]
    assert all(r["service_tier"] == "flex" and r["traffic_type"] == "ON_DEMAND" for r in moved)


def test_without_a_deadline_everything_stays_on_flex(start_emulator, tmp_path):
    emulator = start_emulator("--flex_latency_ms", "300", "--flex_rpm", "300")
    sample = write_jsonl(tmp_path / "in.jsonl", records(120))
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--service_tier", "flex",
                   "--max_attempts", "30", "--max_backoff_s", "5") == 0
    rows = read_table(out, "responses")
    assert {r["traffic_type"] for r in rows} == {"ON_DEMAND_FLEX"} and len(rows) == 120
    assert summary(out)["cost"]["tiers"]["moved_to_standard"] == 0


def test_a_flex_request_served_as_standard_is_named_and_priced_as_standard(start_emulator,
                                                                          tmp_path):
    emulator = start_emulator("--flex_as_standard", "0.5", "--seed", "3")
    sample = write_jsonl(tmp_path / "in.jsonl", records(40))
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--service_tier", "flex") == 0
    rows = read_table(out, "responses")
    silently = [r for r in rows if r["traffic_type"] == "ON_DEMAND"]
    flex = [r for r in rows if r["traffic_type"] == "ON_DEMAND_FLEX"]
    assert silently and flex
    assert all(r["sent_tier"] == "flex" for r in rows)
    s = summary(out)["cost"]
    assert s["tiers"]["flex_served_as_standard"] == len(silently)
    # the same answers: a Standard one costs twice a Flex one, never the Flex rate
    per_token = {r["traffic_type"]: r["cost_usd"] / r["usage"]["total_token_count"] for r in rows}
    assert per_token["ON_DEMAND"] > per_token["ON_DEMAND_FLEX"] * 1.5
    assert set(s["by_tier"]) == {"ON_DEMAND", "ON_DEMAND_FLEX"}


def test_finish_by_is_checked_before_the_job_starts(emulator, tmp_path, capsys):
    sample = write_jsonl(tmp_path / "in.jsonl", records(2))
    assert run_job(sample, tmp_path / "a", emulator.url, "--finish_by", "15s") == 2
    assert "--finish_by" in capsys.readouterr().err
    assert run_job(sample, tmp_path / "b", emulator.url, "--service_tier", "flex",
                   "--finish_by", "soon") == 2
    assert emulator.stats()["requests"] == 0


def test_the_dry_run_estimates_flex_only_standard_only_and_flex_by_deadline(emulator, tmp_path):
    import json
    sample = write_jsonl(tmp_path / "in.jsonl", records(120))
    assert run_job(sample, tmp_path / "dry", emulator.url, "--dry_run", "--service_tier", "flex",
                   "--finish_by", "1m", "--rpm", "60") == 0
    estimate = json.loads((tmp_path / "dry" / "estimate.json").read_text())
    flex, standard = estimate["cost_usd"]["flex"], estimate["cost_usd"]["standard"]
    by_deadline = estimate["flex_by_deadline"]
    assert by_deadline["cost_usd_range"] == [flex, standard]
    # 120 records at 60 a minute take 2 minutes; what is left of 1 is Flex's share
    assert estimate["duration_minutes"] == 2.0 and 0 < by_deadline["minutes_left"] < 1
    assert by_deadline["flex_share"] == pytest.approx(by_deadline["minutes_left"] / 2, abs=0.01)
    assert flex < by_deadline["cost_usd"] < standard
    assert emulator.stats()["by_method"].keys() <= {"countTokens"}
