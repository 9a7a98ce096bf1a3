"""The model catalog: every model the job and the emulator know, read from
models.json (each fact with the Google page it came from and when).

The one reader of that file. Both the job (vertex/, transforms/, pipeline/)
and the emulator import it; it imports nothing but the standard library.

Dates: `retires` is the last day Vertex AI serves a model (its retirement
date, as Google's lifecycle page defines it); from the day after, requests
get 404. New access is blocked from a month before, so a model inside its
last month is still served to running jobs but warned about.
"""
from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

GENERATE_CONTENT, PREDICT, LIVE = "generateContent", "predict", "live"
MULTI_REGIONS = ("us", "eu")        # aiplatform.{us,eu}.rep.googleapis.com
LAST_MONTH = datetime.timedelta(days=30)


@dataclass(frozen=True)
class Model:
    """One model, as models.json describes it."""
    id: str
    api: str                      # generateContent, predict (Imagen) or live
    inputs: tuple[str, ...]       # modalities: TEXT, IMAGE, VIDEO, AUDIO, DOCUMENT
    outputs: tuple[str, ...]
    stage: str                    # GA, preview or legacy
    locations: tuple[str, ...]    # of "global", "us", "eu" (multi-regions) and "regions"
    retires: str | None           # ISO date: the last day it is served
    withdrawn: bool               # no longer listed by Google, date unknown: not served
    replacement: str | None
    thinking: dict | None         # {"control": "level", "levels", "default"} or {"control": "budget", "min", "max"}
    tiers: tuple[str, ...]        # standard, flex, priority, provisioned, batch
    legacy_spellings: bool        # the legacy v1 dialect (role ASSISTANT, BLOCK_MED_AND_ABOVE)
    image: dict | None            # aspect_ratios, sizes, tokens_per_image, max_images
    limits: dict | None           # input_tokens, output_tokens
    prices: dict | None           # list prices (vertex.prices reads them); None: not known
    entry: dict                   # the whole entry, sources included

    def retired_on(self, today: datetime.date | None = None) -> str | None:
        """Why it is no longer served today ("since DATE" or "withdrawn"), or None."""
        today = today or datetime.date.today()
        if self.withdrawn:
            return "withdrawn"
        if self.retires and datetime.date.fromisoformat(self.retires) < today:
            return self.retires
        return None

    def in_last_month(self, today: datetime.date | None = None) -> bool:
        """Served still, but within a month of its last day (new access blocked)."""
        today = today or datetime.date.today()
        return bool(self.retires) and not self.retired_on(today) and \
            datetime.date.fromisoformat(self.retires) - LAST_MONTH <= today

    def served_at(self, location: str) -> bool:
        if location in ("global", *MULTI_REGIONS):
            return location in self.locations
        return "regions" in self.locations

    @property
    def global_only(self) -> bool:
        return self.locations == ("global",)

    def where_served(self) -> str:
        names = {"global": "the global endpoint", "us": "the us multi-region",
                 "eu": "the eu multi-region", "regions": "single regions"}
        return ", ".join(names[place] for place in self.locations)

    @property
    def thinks_by_level(self) -> bool:
        return bool(self.thinking) and self.thinking["control"] == "level"

    def offers(self, tier: str) -> bool:
        return tier == "standard" or tier in self.tiers

    @property
    def makes_images(self) -> bool:
        return "IMAGE" in self.outputs

    @property
    def speaks(self) -> bool:
        return self.api == GENERATE_CONTENT and "AUDIO" in self.outputs

    @property
    def price_origin(self) -> str | None:
        """Whose list its price is: vertex, developer_api or third_party."""
        return (self.entry.get("prices_source") or {}).get("origin") if self.prices else None

    def _source(self) -> str:
        source = self.entry.get("lifecycle_source") or {}
        return f" ({source['page']}, read {source.get('read')})" if source.get("page") else ""

    def lifecycle_line(self) -> str:
        """One line: since when it is not served and what replaces it."""
        if self.withdrawn:
            line = f"model {self.id} is no longer served by Vertex AI (withdrawn from its model list)"
        else:
            line = f"model {self.id} was retired: its last day was {self.retires}"
        if self.replacement:
            line += f"; use {self.replacement}"
        return line + self._source()

    def last_month_line(self) -> str:
        line = (f"model {self.id} retires on {self.retires} (its last day; new access is "
                "already blocked)")
        if self.replacement:
            line += f"; move to {self.replacement}"
        return line + self._source()

    def thinking_refusal(self, thinking_config: dict | None) -> str | None:
        """Why this model refuses a request's thinkingConfig (one line naming
        what it takes), or None."""
        config = thinking_config or {}
        level = config.get("thinkingLevel", config.get("thinking_level"))
        budget = config.get("thinkingBudget", config.get("thinking_budget"))
        if self.thinking is None:  # not documented: Vertex AI has the last word
            return None
        if self.thinking["control"] == "level":
            if budget is not None:
                return (f"model {self.id} takes thinkingLevel ("
                        f"{', '.join(self.thinking['levels'])}), not thinkingBudget")
            if level is not None and str(level).upper() not in self.thinking["levels"]:
                return (f"model {self.id} does not take thinkingLevel {level}; it takes "
                        f"{', '.join(self.thinking['levels'])}")
            return None
        if level is not None:
            return f"model {self.id} takes thinkingBudget, not thinkingLevel"
        if budget is not None and isinstance(budget, int) and budget != self.thinking.get("dynamic"):
            low, high = self.thinking.get("min"), self.thinking.get("max")
            off = budget == 0 and self.thinking.get("can_turn_off")
            if low is not None and not off and not low <= budget <= high:
                off_note = "0 turns it off, " if self.thinking.get("can_turn_off") else ""
                return (f"model {self.id} takes a thinkingBudget from {low} to {high} "
                        f"({off_note}-1: dynamic), not {budget}")
        return None


class Catalog:
    def __init__(self, document: dict[str, Any]):
        self.document = document
        self.read_on: str = document.get("read_on", "")
        self.aliases: dict[str, str] = document.get("aliases", {})
        self.tiers: dict[str, dict] = document["tiers"]
        self.models = {name: _model(name, entry) for name, entry in document["models"].items()}

    def get(self, name: str) -> Model | None:
        """A model by its id, a publisher path (publishers/google/models/ID) or an alias."""
        short = name.rsplit("/", 1)[-1]
        return self.models.get(short) or self.models.get(self.aliases.get(short, ""))

    def __iter__(self):
        return iter(self.models.values())

    def price_table(self) -> dict:
        """The list prices in the shape of a --prices file: tiers, models, aliases."""
        return {"tiers": self.tiers, "aliases": self.aliases,
                "models": {m.id: m.prices for m in self if m.prices}}


def _model(name: str, entry: dict) -> Model:
    return Model(id=name, api=entry["api"], inputs=tuple(entry["inputs"]),
                 outputs=tuple(entry["outputs"]), stage=entry["stage"],
                 locations=tuple(entry["locations"]), retires=entry.get("retires"),
                 withdrawn=bool(entry.get("withdrawn")), replacement=entry.get("replacement"),
                 thinking=entry.get("thinking"), tiers=tuple(entry.get("tiers") or ("standard",)),
                 legacy_spellings=bool(entry.get("legacy_spellings")),
                 image=entry.get("image"), limits=entry.get("limits"),
                 prices=entry.get("prices"), entry=entry)


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    """The package's catalog (read once per process)."""
    return Catalog(json.loads(resources.files(__name__).joinpath("models.json").read_text()))


def get(name: str) -> Model | None:
    return catalog().get(name)


def prices_on(prices: dict, day: datetime.date) -> dict:
    """A model's prices in force on a day: its base prices with every dated
    change (`{"from": DATE, ...}`) up to that day applied, in date order."""
    changes = prices.get("changes")
    if not changes:
        return prices
    resolved = {k: v for k, v in prices.items() if k != "changes"}
    for change in sorted(changes, key=lambda c: c["from"]):
        if datetime.date.fromisoformat(change["from"]) <= day:
            resolved.update({k: v for k, v in change.items() if k != "from"})
    return resolved


def not_served(name: str, location: str | None, allow_discontinued: bool = False,
               today: datetime.date | None = None) -> str | None:
    """Why Vertex AI would not serve this model at this location (one line
    naming the model and what to use instead), or None: it would, or the
    catalog does not know it (then Vertex AI has the last word)."""
    model = get(name)
    if model is None:
        return None
    if model.retired_on(today) and not allow_discontinued:
        return model.lifecycle_line()
    location = location or "global"
    if not model.served_at(location):
        where = ("global" if "global" in model.locations
                 else next(p for p in model.locations if p != "regions"))
        return (f"model {model.id} is served on {model.where_served()}, not in {location}; "
                f"run it with --vertex_location {where}")
    return None


def retirement_warning(name: str, today: datetime.date | None = None) -> str | None:
    """A line for a model inside its last month (served, but not for long), or None."""
    model = get(name)
    return model.last_month_line() if model and model.in_last_month(today) else None


def tier_refusal(name: str, tier: str) -> str | None:
    """Why this model cannot be served at this PayGo tier (Flex is offered
    for some models only), or None. Only Flex is judged: for the other tiers
    Google's model lists are incomplete, so Vertex AI has the last word."""
    model = get(name)
    if model is None or tier != "flex" or model.offers("flex"):
        return None
    return (f"model {model.id} is not offered on Flex PayGo (Google: 'Gemini 3.8 Flash and "
            "earlier' models); use --service_tier standard, or a model that offers Flex")
