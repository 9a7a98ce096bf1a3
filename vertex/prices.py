"""What a call cost: the usage an answer reports, priced by the model's list
prices and the tier that served it (usageMetadata.trafficType).

Prices come from the model catalog (vertex_catalog/models.json: each with the
page it was read from and when), or from a file of the price table's shape
(--prices: {"tiers", "models": {id: prices}, "aliases"}). A model the table
prices not costs None, with one warning naming it: never a guess.
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Any, NamedTuple

import vertex_catalog

log = logging.getLogger(__name__)
PER_MILLION = 1_000_000
# The trafficType a tier is served as when the answer does not say.
TIER_TRAFFIC = {"standard": "ON_DEMAND", "flex": "ON_DEMAND_FLEX",
                "priority": "ON_DEMAND_PRIORITY"}


class Estimate(NamedTuple):
    """What a call will likely use, before it is made: text tokens in and out,
    images (Imagen, priced each) or image tokens (Gemini image models' output)."""
    input_tokens: float = 0
    output_tokens: float = 0
    images: int = 0
    image_tokens: float = 0


class PriceTable:
    def __init__(self, table: dict[str, Any], origin: str = "the model catalog"):
        self.origin = origin
        self.tiers = {name: float(t["factor"]) for name, t in table["tiers"].items()}
        self.models = table["models"]
        self.aliases = table.get("aliases", {})
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def load(cls) -> "PriceTable":
        """The catalog's list prices."""
        return cls(vertex_catalog.catalog().price_table())

    @classmethod
    def from_json(cls, text: str | bytes, origin: str = "--prices") -> "PriceTable":
        """A table of the price table's shape (ValueError when it is not)."""
        try:
            table = json.loads(text)
            return cls(table, origin)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not a price table: {error!r}") from None

    def __getstate__(self):  # picklable for Beam: the lock and warnings stay behind
        return {"origin": self.origin, "tiers": self.tiers, "models": self.models,
                "aliases": self.aliases}

    def __setstate__(self, state):
        self.__dict__.update(state, _warned=set(), _lock=threading.Lock())

    def model(self, model: str) -> dict | None:
        """A model's prices, by short id (publisher paths and versions read as Google names them)."""
        short = model.rsplit("/", 1)[-1]
        prices = self.models.get(short) or self.models.get(self.aliases.get(short, ""))
        if prices is None:
            with self._lock:
                if short not in self._warned:
                    self._warned.add(short)
                    log.warning("no price for model %s in %s: its rows get a null cost_usd",
                                short, self.origin)
        return prices

    def factor(self, traffic_type: str | None) -> float:
        return self.tiers.get(traffic_type or "ON_DEMAND", 1.0)

    def tokens_cost(self, model: str, usage: dict, traffic_type: str | None) -> float | None:
        """A generateContent answer's cost from its usage row (vertex.response_rows.usage_row)."""
        prices = self.model(model)
        if prices is None or "input" not in prices or usage.get("prompt_token_count") is None:
            return None
        prompt_total = usage["prompt_token_count"] or 0
        long = prices.get("long_context")
        if long and prompt_total > long["above_prompt_tokens"]:
            prices = {**prices, **long}
        prompt = _by_modality(usage.get("prompt_tokens_details"), prompt_total)
        cached = _by_modality(usage.get("cache_tokens_details"),
                              usage.get("cached_content_token_count") or 0)
        output = _by_modality(usage.get("candidates_tokens_details"),
                              usage.get("candidates_token_count") or 0)
        output["TEXT"] = output.get("TEXT", 0) + (usage.get("thoughts_token_count") or 0)
        tool_use = usage.get("tool_use_prompt_token_count") or 0
        cached_prices = prices.get("cached_input", prices["input"])
        dollars = sum((count - cached.get(m, 0)) * _price(prices["input"], m)
                      for m, count in prompt.items())
        dollars += sum(count * _price(cached_prices, m) for m, count in cached.items())
        dollars += tool_use * _price(prices["input"], "TEXT")
        dollars += sum(count * _price(prices["output"], m) for m, count in output.items())
        return round(dollars / PER_MILLION * self.factor(traffic_type), 9)

    def image_cost(self, model: str) -> float | None:
        prices = self.model(model)
        return None if prices is None or "per_image" not in prices else float(prices["per_image"])

    def estimate(self, model: str, usage: Estimate, tier: str = "standard") -> float | None:
        """A cost before the call: text tokens in and out (or images)."""
        prices = self.model(model)
        if prices is None:
            return None
        if "per_image" in prices:
            return usage.images * float(prices["per_image"])
        dollars = (usage.input_tokens * _price(prices["input"], "TEXT")
                   + usage.output_tokens * _price(prices["output"], "TEXT")
                   + usage.image_tokens * _price(prices["output"], "IMAGE"))
        return dollars / PER_MILLION * self.factor(TIER_TRAFFIC[tier])


def _by_modality(details: list[dict] | None, total: int) -> dict[str, int]:
    """Token counts by modality; all TEXT when the answer gives no details."""
    counts: dict[str, int] = {}
    for detail in details or []:
        modality = detail.get("modality") or "TEXT"
        counts[modality] = counts.get(modality, 0) + (detail.get("token_count") or 0)
    if not counts and total:
        counts["TEXT"] = total
    return counts


def _price(prices: dict[str, float], modality: str) -> float:
    """A modality's price; a modality the table does not list costs as text."""
    return float(prices.get(modality, prices.get("TEXT", next(iter(prices.values())))))
