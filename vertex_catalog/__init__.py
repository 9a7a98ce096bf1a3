"""The model catalog: every model the job and the emulator know, read from
models.json (each fact with the Google page it came from and when).

The one reader of that file. Both the job (vertex/, transforms/, pipeline/)
and the emulator import it; it imports nothing but the standard library.
"""
from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

GENERATE_CONTENT, PREDICT, LIVE = "generateContent", "predict", "live"


@dataclass(frozen=True)
class Model:
    """One model, as models.json describes it."""
    id: str
    api: str                      # generateContent, predict (Imagen) or live
    inputs: tuple[str, ...]       # modalities: TEXT, IMAGE, VIDEO, AUDIO, DOCUMENT
    outputs: tuple[str, ...]
    stage: str                    # GA, preview or legacy
    global_only: bool             # served on the global endpoint only
    discontinued: str | None      # ISO date from which Vertex AI answers 404
    replacement: str | None
    thinking: str | None          # "budget" (thinkingBudget), "level" (thinkingLevel) or None
    legacy_spellings: bool        # the legacy v1 dialect (role ASSISTANT, BLOCK_MED_AND_ABOVE)
    image: dict | None            # aspect_ratios, sizes, tokens_per_image, max_images
    limits: dict | None           # input_tokens, output_tokens
    prices: dict | None           # list prices (vertex.prices reads them); None: not known
    entry: dict                   # the whole entry, sources included

    def discontinued_on(self, today: datetime.date | None = None) -> str | None:
        """The date it was discontinued, if that date has come."""
        today = today or datetime.date.today()
        if self.discontinued and datetime.date.fromisoformat(self.discontinued) <= today:
            return self.discontinued
        return None

    def served_at(self, location: str) -> bool:
        return location == "global" or not self.global_only

    @property
    def makes_images(self) -> bool:
        return "IMAGE" in self.outputs

    @property
    def speaks(self) -> bool:
        return self.api == GENERATE_CONTENT and "AUDIO" in self.outputs

    def lifecycle_line(self) -> str:
        """One line: when it was discontinued and what replaces it."""
        line = f"model {self.id} was discontinued on {self.discontinued}"
        if self.replacement:
            line += f"; use {self.replacement}"
        source = self.entry.get("lifecycle_source") or {}
        if source.get("page"):
            line += f" ({source['page']}, read {source.get('read')})"
        return line


class Catalog:
    def __init__(self, document: dict[str, Any]):
        self.document = document
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
                 global_only=entry["locations"] == ["global"],
                 discontinued=entry.get("discontinued"), replacement=entry.get("replacement"),
                 thinking=entry.get("thinking"), legacy_spellings=bool(entry.get("legacy_spellings")),
                 image=entry.get("image"), limits=entry.get("limits"),
                 prices=entry.get("prices"), entry=entry)


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    """The package's catalog (read once per process)."""
    return Catalog(json.loads(resources.files(__name__).joinpath("models.json").read_text()))


def get(name: str) -> Model | None:
    return catalog().get(name)


def not_served(name: str, location: str | None, allow_discontinued: bool = False,
               today: datetime.date | None = None) -> str | None:
    """Why Vertex AI would not serve this model at this location (one line
    naming the model and what to use instead), or None: it would, or the
    catalog does not know it (then Vertex AI has the last word)."""
    model = get(name)
    if model is None:
        return None
    if model.discontinued_on(today) and not allow_discontinued:
        return model.lifecycle_line()
    if not model.served_at(location or "global"):
        return (f"model {model.id} is served on the global endpoint only, not in {location}; "
                "run it with --vertex_location global")
    return None
