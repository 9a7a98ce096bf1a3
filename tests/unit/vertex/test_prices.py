"""The one pricing function: the usage an answer reports, by part and by
modality, at the price in force on the day and the tier that served it; a
--prices file over the catalog."""
import datetime
import json

import pytest

from vertex.prices import COST_PARTS, PriceTable
from vertex.response_rows import usage_row


def test_the_cost_is_split_as_the_tokens_are_and_adds_up():
    table = PriceTable.load()
    usage = usage_row({"promptTokenCount": 1000, "candidatesTokenCount": 100,
                       "thoughtsTokenCount": 400, "cachedContentTokenCount": 600,
                       "toolUsePromptTokenCount": 50, "totalTokenCount": 1550})
    parts = table.cost_parts("gemini-3.5-flash", usage, "ON_DEMAND")
    assert set(parts) == set(COST_PARTS)
    # 3.5 Flash: $1.50 in, $0.15 cached, $9.00 out (thinking billed as output)
    assert parts["prompt"] == pytest.approx(400 * 1.5 / 1e6)
    assert parts["cached"] == pytest.approx(600 * 0.15 / 1e6)
    assert parts["tool_use"] == pytest.approx(50 * 1.5 / 1e6)
    assert parts["thinking"] == pytest.approx(400 * 9.0 / 1e6)
    assert parts["answer"] == pytest.approx(100 * 9.0 / 1e6)
    assert table.tokens_cost("gemini-3.5-flash", usage, "ON_DEMAND") == \
        pytest.approx(sum(parts.values()))
    assert table.tokens_cost("gemini-3.5-flash", usage, "ON_DEMAND_FLEX") == \
        pytest.approx(sum(parts.values()) / 2)


def test_a_price_change_applies_from_its_day():
    table = PriceTable.load()
    usage = usage_row({"promptTokenCount": 1_000_000, "candidatesTokenCount": 0})
    before = table.tokens_cost("gemini-3.8-flash", usage, None, on=datetime.date(2026, 12, 31))
    after = table.tokens_cost("gemini-3.8-flash", usage, None, on=datetime.date(2027, 1, 1))
    assert (before, after) == (pytest.approx(0.75), pytest.approx(1.50))


def test_a_prices_file_overlays_the_catalog_and_says_so():
    overlay = PriceTable.from_json(json.dumps({"models": {"gemini-3.5-flash": {
        "input": {"TEXT": 0.1}, "output": {"TEXT": 0.2}}}}), origin="contract.json")
    assert overlay.origin_of("gemini-3.5-flash") == "contract.json"
    assert overlay.origin_of("gemini-3.8-flash") == "the model catalog"
    assert overlay.has_price("gemini-3.8-flash") and not overlay.has_price("gemini-9")
    for bad, said in (("{}", "a price file is"), ('{"models": {"m": {"input": 1}}}', "model m"),
                      ("not json", "not JSON")):
        with pytest.raises(ValueError, match=said):
            PriceTable.from_json(bad)


def test_an_explicit_cache_costs_its_making_and_its_storage_and_a_read_saves_the_difference():
    table = PriceTable.load()
    # 3.5 Flash: made at $1.50 per 1M input tokens, stored at $1.00 per 1M token-hours
    assert table.cache_costs("gemini-3.5-flash", 10_000, hours=0.5) == pytest.approx(
        {"creation_usd": 0.015, "storage_usd": 0.005})
    assert table.cache_costs("gemini-3.1-pro-preview", 1_000_000, 1)["storage_usd"] == 4.5
    assert table.cache_costs("gemini-4-argon", 10_000, 1) is None  # no explicit cache, no price
    usage = usage_row({"promptTokenCount": 10_100, "cachedContentTokenCount": 10_000,
                       "candidatesTokenCount": 10, "totalTokenCount": 10_110})
    assert table.cache_saving("gemini-3.5-flash", usage, "ON_DEMAND") == pytest.approx(0.0135)
    assert table.cache_saving("gemini-3.5-flash", usage, "ON_DEMAND_FLEX") == pytest.approx(
        0.0135 * table.factor("ON_DEMAND_FLEX"))


def test_every_task_is_priced_by_one_function_at_the_tier_that_served_it():
    table = PriceTable.load()
    usage = {"promptTokenCount": 1000, "candidatesTokenCount": 100, "totalTokenCount": 1100}
    standard = table.call_cost("gemini-3.5-flash", usage)
    assert standard == pytest.approx((1000 * 1.5 + 100 * 9.0) / 1e6)
    # the answer's trafficType decides; the tier sent at only when it does not say
    assert table.call_cost("gemini-3.5-flash", usage, "flex") == pytest.approx(
        standard * table.factor("ON_DEMAND_FLEX"))
    assert table.call_cost("gemini-3.5-flash", {**usage, "trafficType": "ON_DEMAND"},
                           "flex") == pytest.approx(standard)
    # a per-image model: the images returned, at the tier's factor too
    assert table.call_cost("imagen-4.0-fast-generate-001", images=3) == pytest.approx(0.06)
    assert table.call_cost("gemini-3.7-flash", usage) is None  # no price: never a guess
