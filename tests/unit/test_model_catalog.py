"""The model catalog (vertex_catalog/models.json): each entry well formed and
sourced, and what the job concludes from it."""
import datetime
import json
import re

import pytest

import vertex_catalog
from vertex.prices import Estimate, PriceTable

MODELS = sorted(vertex_catalog.catalog(), key=lambda model: model.id)
MODALITIES = {"TEXT", "IMAGE", "VIDEO", "AUDIO", "DOCUMENT"}
READ_DATE = re.compile(r"^20\d\d-\d\d(-\d\d)?$")


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.id)
def test_each_entry_is_well_formed_and_says_where_its_facts_came_from(model):
    entry = model.entry
    assert model.api in (vertex_catalog.GENERATE_CONTENT, vertex_catalog.PREDICT,
                         vertex_catalog.LIVE)
    assert set(model.inputs) <= MODALITIES and set(model.outputs) <= MODALITIES
    assert model.inputs and model.outputs
    assert model.stage in ("GA", "preview", "legacy")
    assert entry["locations"] in (["global"], ["global", "regions"])
    assert model.thinking in (None, "budget", "level")
    source = entry["lifecycle_source"]
    assert source["page"].startswith("https://") and READ_DATE.match(source["read"])
    if model.discontinued:
        datetime.date.fromisoformat(model.discontinued)
    if model.replacement:
        replacement = vertex_catalog.get(model.replacement)
        assert replacement is not None and replacement.api in (model.api, vertex_catalog.GENERATE_CONTENT)
        assert not replacement.discontinued_on(datetime.date.fromisoformat(model.discontinued))
    if model.prices is None:
        assert entry["prices_source"]["note"]  # why it has none
    else:
        assert entry["prices_source"]["page"].startswith("https://")
        assert READ_DATE.match(entry["prices_source"]["read"])
        for direction in ("input", "output"):
            assert set(model.prices.get(direction) or {}) <= MODALITIES
    if model.makes_images and model.api == vertex_catalog.GENERATE_CONTENT:
        image = model.image
        assert image["aspect_ratios"] and "1:1" in image["aspect_ratios"]
        assert set(image["tokens_per_image"]) >= set(image.get("sizes") or [])
        source = image.get("source") or {}
        assert source.get("page", "").startswith("https://") or image["note"]  # or why not


def test_aliases_name_models_of_the_catalog():
    catalog = vertex_catalog.catalog()
    for alias, name in catalog.aliases.items():
        assert catalog.get(alias).id == name


def test_models_are_found_by_publisher_path_and_alias():
    assert vertex_catalog.get("publishers/google/models/gemini-3.5-flash").id == "gemini-3.5-flash"
    assert vertex_catalog.get("gemini-2.0-flash").id == "gemini-2.0-flash-001"
    assert vertex_catalog.get("no-such-model") is None


def test_a_discontinued_model_is_refused_in_one_line_with_date_and_replacement():
    line = vertex_catalog.not_served("imagen-4.0-fast-generate-001", "us-central1")
    assert line.startswith("model imagen-4.0-fast-generate-001 was discontinued on 2026-08-17; "
                           "use gemini-3.1-flash-image (https://")
    assert "\n" not in line
    assert vertex_catalog.not_served("imagen-4.0-fast-generate-001", "us-central1",
                                     allow_discontinued=True) is None
    # before its date it is served
    assert vertex_catalog.not_served("imagen-4.0-fast-generate-001", "us-central1",
                                     today=datetime.date(2026, 8, 16)) is None


def test_a_global_only_model_is_refused_at_a_region_naming_the_location_to_use():
    line = vertex_catalog.not_served("gemini-3-flash-preview", "europe-west4")
    assert "gemini-3-flash-preview" in line and "--vertex_location global" in line
    assert vertex_catalog.not_served("gemini-3-flash-preview", "global") is None
    assert vertex_catalog.not_served("gemini-3.5-flash", "europe-west4") is None


def test_an_unknown_model_is_left_to_vertex_ai():
    assert vertex_catalog.not_served("gemini-9-ultra", "us-central1") is None


def test_the_price_table_is_the_catalogs_and_prices_gemini_3():
    table = PriceTable.load()
    assert table.origin == "the model catalog"
    # gemini-3-flash-preview: $0.50 in, $3.00 out per 1M tokens
    assert table.estimate("gemini-3-flash-preview", Estimate(1_000_000, 1_000_000)) \
        == pytest.approx(3.5)
    # gemini-3-pro-image: image tokens at $120 per 1M
    assert table.estimate("gemini-3-pro-image", Estimate(image_tokens=1120)) \
        == pytest.approx(1120 * 120 / 1e6)
    priced = json.loads(json.dumps(vertex_catalog.catalog().price_table()))
    assert PriceTable.from_json(json.dumps(priced)).models == table.models
