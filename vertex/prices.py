"""What a call cost: the usage an answer reports, priced by the model's list
prices in force on the day and the tier that served it (usageMetadata.trafficType).

Prices come from the model catalog (vertex_catalog/models.json: each with the
page it was read from and when), overlaid by a --prices file: its models
(`{"models": {id: prices}}`, with `tiers` and `aliases` optional) replace
those models' prices and keep every other catalog price. A model's prices may
carry `changes`: prices in force from a date (`{"from": "2027-01-01", ...}`).
A model no table prices costs None, with one warning naming it: never a guess.
"""
from __future__ import annotations

import datetime
import json
import logging
import threading
from typing import Any, NamedTuple

import vertex_catalog
from vertex.response_rows import usage_row

log = logging.getLogger(__name__)
PER_MILLION = 1_000_000
CATALOG = "the model catalog"
COST_PARTS = ("prompt", "cached", "tool_use", "thinking", "answer")
# The trafficType a tier is served as when the answer does not say.
TIER_TRAFFIC = {"standard": "ON_DEMAND", "flex": "ON_DEMAND_FLEX",
                "priority": "ON_DEMAND_PRIORITY"}


class Estimate(NamedTuple):
    """What a call will likely use, before it is made: text tokens in and out
    (thinking included), images (Imagen, priced each) or image tokens (Gemini
    image models' output)."""
    input_tokens: float = 0
    output_tokens: float = 0
    images: int = 0
    image_tokens: float = 0


def today() -> datetime.date:
    return datetime.datetime.now(datetime.timezone.utc).date()


class PriceTable:
    def __init__(self, table: dict[str, Any], origin: str = CATALOG):
        self.origin = origin
        self.tiers = {name: float(t["factor"]) for name, t in table["tiers"].items()}
        self.models = dict(table["models"])
        self.aliases = dict(table.get("aliases", {}))
        self.origins = {model: origin for model in self.models}  # where each price came from
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def load(cls) -> "PriceTable":
        """The catalog's list prices."""
        return cls(vertex_catalog.catalog().price_table())

    @classmethod
    def from_json(cls, text: str | bytes, origin: str = "--prices") -> "PriceTable":
        """The catalog's prices with a --prices file over them (ValueError,
        saying what is wrong, when the file is not of the price table's shape)."""
        try:
            table = json.loads(text)
        except ValueError as error:
            raise ValueError(f"not JSON ({error})") from None
        table = _checked_overlay(table)
        result = cls.load()
        result.origin = f"{CATALOG}, with {origin} over it"
        result.tiers.update({name: float(t["factor"]) for name, t in table.get("tiers", {}).items()})
        result.aliases.update(table.get("aliases", {}))
        for model, prices in table["models"].items():
            result.models[model] = prices
            result.origins[model] = origin
        return result

    def __getstate__(self):  # picklable for Beam: the lock and warnings stay behind
        return {k: v for k, v in self.__dict__.items() if k not in ("_warned", "_lock")}

    def __setstate__(self, state):
        self.__dict__.update(state, _warned=set(), _lock=threading.Lock())

    def _short(self, model: str) -> str:
        short = model.rsplit("/", 1)[-1]
        return short if short in self.models else self.aliases.get(short, short)

    def has_price(self, model: str) -> bool:
        return self._short(model) in self.models

    def origin_of(self, model: str) -> str | None:
        """Where a model's price came from: the catalog or a --prices file."""
        return self.origins.get(self._short(model))

    def model(self, model: str, on: datetime.date | None = None) -> dict | None:
        """A model's prices in force on a day (today by default), by short id
        (publisher paths and versions read as Google names them)."""
        short = self._short(model)
        prices = self.models.get(short)
        if prices is None:
            with self._lock:
                if short not in self._warned:
                    self._warned.add(short)
                    log.warning("no price for model %s in %s: its rows get a null cost_usd",
                                short, self.origin)
            return None
        return vertex_catalog.prices_on(prices, on or today())

    def factor(self, traffic_type: str | None) -> float:
        return self.tiers.get(traffic_type or "ON_DEMAND", 1.0)

    def call_cost(self, model: str, usage_metadata: dict | None = None, tier: str = "standard",
                  images: int = 0) -> float | None:
        """The one price of an answer, for every task: its usageMetadata's
        tokens (or, for a per-image model, the images it returned) at the
        tier that served it (trafficType), or the tier it was sent at when
        the answer does not say. None: the model has no price."""
        usage = usage_metadata or {}
        traffic = usage.get("trafficType") or TIER_TRAFFIC.get(tier or "standard", "ON_DEMAND")
        if usage:
            return self.tokens_cost(model, usage_row(usage), traffic)
        prices = self.model(model)  # an answer without usage: a per-image model's (Imagen)
        if prices is None or "per_image" not in prices:
            return None
        return float(prices["per_image"]) * images * self.factor(traffic)

    def tokens_cost(self, model: str, usage: dict, traffic_type: str | None,
                    on: datetime.date | None = None) -> float | None:
        """A generateContent answer's cost from its usage row (vertex.response_rows.usage_row)."""
        parts = self.cost_parts(model, usage, traffic_type, on)
        return None if parts is None else round(sum(parts.values()), 9)

    def cost_parts(self, model: str, usage: dict, traffic_type: str | None,
                   on: datetime.date | None = None) -> dict[str, float] | None:
        """The same cost split as the tokens are (COST_PARTS): the prompt not
        read from a cache, the cached prompt, the tool-use prompt, thinking
        (billed as output text) and the answer."""
        prices = self.model(model, on)
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
        cached_prices = prices.get("cached_input", prices["input"])
        factor = self.factor(traffic_type) / PER_MILLION
        dollars = {
            "prompt": sum((count - cached.get(m, 0)) * _price(prices["input"], m)
                          for m, count in prompt.items()),
            "cached": sum(count * _price(cached_prices, m) for m, count in cached.items()),
            "tool_use": (usage.get("tool_use_prompt_token_count") or 0)
            * _price(prices["input"], "TEXT"),
            "thinking": (usage.get("thoughts_token_count") or 0) * _price(prices["output"], "TEXT"),
            "answer": sum(count * _price(prices["output"], m) for m, count in output.items()),
        }
        return {part: value * factor for part, value in dollars.items()}

    def cache_costs(self, model: str, tokens: int, hours: float,
                    on: datetime.date | None = None) -> dict[str, float] | None:
        """What an explicit context cache of `tokens` kept for `hours` costs:
        its making (its tokens at the input price) and its storage (per
        token-hour); None without both prices."""
        prices = self.model(model, on)
        if prices is None or "input" not in prices or "cache_storage_per_hour" not in prices:
            return None
        return {"creation_usd": tokens * _price(prices["input"], "TEXT") / PER_MILLION,
                "storage_usd": tokens * hours * float(prices["cache_storage_per_hour"])
                / PER_MILLION}

    def cache_saving(self, model: str, usage: dict, traffic_type: str | None,
                     on: datetime.date | None = None) -> float | None:
        """What the cached part of a prompt saved against the same tokens at
        the input price (the storage of an explicit cache not counted)."""
        prices = self.model(model, on)
        cached = _by_modality(usage.get("cache_tokens_details"),
                              usage.get("cached_content_token_count") or 0)
        if prices is None or "input" not in prices:
            return None
        cached_prices = prices.get("cached_input", prices["input"])
        return sum(count * (_price(prices["input"], m) - _price(cached_prices, m))
                   for m, count in cached.items()) * self.factor(traffic_type) / PER_MILLION

    def estimate(self, model: str, usage: Estimate, tier: str = "standard",
                 on: datetime.date | None = None) -> float | None:
        """A cost before the call: text tokens in and out (or images)."""
        prices = self.model(model, on)
        if prices is None:
            return None
        if "per_image" in prices:
            return usage.images * float(prices["per_image"])
        dollars = (usage.input_tokens * _price(prices["input"], "TEXT")
                   + usage.output_tokens * _price(prices["output"], "TEXT")
                   + usage.image_tokens * _price(prices["output"], "IMAGE"))
        return dollars / PER_MILLION * self.factor(TIER_TRAFFIC[tier])


def _checked_overlay(table) -> dict:
    """A --prices file: {"models": {id: prices}} with optional "tiers" and
    "aliases"; every model priced per token (input and output) or per image."""
    if not isinstance(table, dict) or not isinstance(table.get("models"), dict):
        raise ValueError('a price file is {"models": {"MODEL": {"input": {"TEXT": USD per 1M '
                         'tokens}, "output": {...}}}} (with "tiers" and "aliases" optional)')
    for model, prices in table["models"].items():
        per_token = isinstance(prices, dict) and all(
            isinstance(prices.get(k), dict) and prices[k] and all(
                isinstance(v, (int, float)) and v >= 0 for v in prices[k].values())
            for k in ("input", "output"))
        per_image = isinstance(prices, dict) and isinstance(prices.get("per_image"), (int, float))
        if not (per_token or per_image):
            raise ValueError(f"model {model}: give input and output prices by modality "
                             '(e.g. {"input": {"TEXT": 0.3}, "output": {"TEXT": 2.5}}) '
                             'or a per_image price')
    for name, tier in (table.get("tiers") or {}).items():
        if not isinstance(tier, dict) or not isinstance(tier.get("factor"), (int, float)):
            raise ValueError(f"tier {name}: give its factor, e.g. {{\"factor\": 0.5}}")
    return table


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
