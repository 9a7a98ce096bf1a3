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
