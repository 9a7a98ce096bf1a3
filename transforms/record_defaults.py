"""Job-level settings of the records: defaults a record's own values win
over (its model by task, system instruction, generation config, ...)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import vertex_schema
from vertex.output_schema import OutputSchema
from vertex.request_body import as_content


MODEL_FIELDS = ("model", "image_model", "live_model")  # the built-in tasks' model options


@dataclass(frozen=True)
class RecordDefaults:
    """Job-level settings; a record's own values win over them."""
    # GA, priced, served in regions and not retiring soon: `python -m vertex_catalog --check`
    # names any within 30 days of its last day (vertex_catalog/__main__.py lists them too).
    model: str = "gemini-3.5-flash"
    image_model: str = "gemini-3.1-flash-image"
    live_model: str = "gemini-3.8-live"
    task: str = "text"
    prompt_template: str | None = None
    system_instruction: Any = None          # a string or a Content object
    generation_config: dict | None = None
    output_schema: OutputSchema | None = None  # every request asks for answers of it
    safety_settings: list | None = None
    model_map: tuple[tuple[str, str], ...] = ()  # (named, called): run old files on new models
    service_tier: str = "standard"          # a record's own "service_tier" wins
    location: str | None = None             # where calls go (Flex: global only); None: global
    allow_discontinued: bool = False        # call models the catalog marks discontinued
    api_version: str = "v1"                 # whose protos judge the requests
    stream: bool = False                    # streamGenerateContent has rules of its own
    budget_prices: Any = None               # with --max_cost_usd: the PriceTable every model needs a price in
    task_models: tuple[tuple[str, str], ...] = ()  # (option, model) of registered tasks' defaults
    defaults_body: dict = field(init=False, default_factory=dict)

    def __post_init__(self):
        body: dict = {}
        if self.system_instruction is not None:
            body["systemInstruction"] = as_content(self.system_instruction)
        if self.generation_config is not None:
            if not isinstance(self.generation_config, dict):
                raise ValueError("generation_config must be a JSON object")
            body["generationConfig"] = self.generation_config
        if self.output_schema is not None:
            config = body.get("generationConfig") or {}
            clash = sorted(set(config) & {"responseMimeType", "responseSchema",
                                          "responseJsonSchema", "response_mime_type",
                                          "response_schema", "response_json_schema"})
            if clash:
                raise ValueError(f"the output schema sets the generation config's {clash[0]}; "
                                 "give one or the other")
            body["generationConfig"] = {**config, **self.output_schema.generation_config}
        if self.safety_settings is not None:
            if not isinstance(self.safety_settings, (list, dict)):
                raise ValueError("safety_settings must be a JSON list")
            body["safetySettings"] = self.safety_settings
        try:
            body = vertex_schema.read_generate_content(body, self.api_version)
        except vertex_schema.InvalidRequest as error:
            raise ValueError(f"invalid job defaults: {'; '.join(error.messages)}") from None
        object.__setattr__(self, "defaults_body", body)

    def model_for(self, option: str) -> str | None:
        """The default model named by a task's model option (one of
        MODEL_FIELDS, or a registered task's own)."""
        if option in MODEL_FIELDS:
            return getattr(self, option)
        return dict(self.task_models).get(option)

    def called_model(self, model: str) -> str:
        return dict(self.model_map).get(model, model)

    def unpriced_under_budget(self, model: str) -> str | None:
        """Why a model cannot be called under --max_cost_usd (it has no price), or None."""
        if self.budget_prices is None or self.budget_prices.has_price(model):
            return None
        return unpriced_line(model)


def unpriced_line(model: str) -> str:
    return (f"model {model} has no price (not in the model catalog's prices nor in --prices), "
            "so --max_cost_usd cannot hold for it: give its price in a --prices file, e.g. "
            f'{{"models": {{"{model.rsplit("/", 1)[-1]}": {{"input": {{"TEXT": 0.3}}, '
            '"output": {"TEXT": 2.5}}}} (USD per 1M tokens)')
