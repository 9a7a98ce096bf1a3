"""The model catalog (vertex_catalog/models.json): each entry well formed and
sourced, the facts of 2026-12-07 pinned, and what the job concludes from it."""
import datetime
import json
import re

import pytest

import vertex_catalog
from vertex_catalog import __main__ as catalog_command
from transforms.record_defaults import RecordDefaults
from vertex.prices import Estimate, PriceTable

MODELS = sorted(vertex_catalog.catalog(), key=lambda model: model.id)
MODALITIES = {"TEXT", "IMAGE", "VIDEO", "AUDIO", "DOCUMENT"}
READ_DATE = re.compile(r"^20\d\d-\d\d(-\d\d)?$")
LOCATIONS = {"global", "us", "eu", "regions"}
TIERS = {"standard", "flex", "priority", "provisioned", "batch"}
TODAY = datetime.date(2026, 12, 7)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.id)
def test_each_entry_is_well_formed_and_says_where_its_facts_came_from(model):
    entry = model.entry
    assert model.api in (vertex_catalog.GENERATE_CONTENT, vertex_catalog.PREDICT,
                         vertex_catalog.LIVE)
    assert set(model.inputs) <= MODALITIES and set(model.outputs) <= MODALITIES
    assert model.inputs and model.outputs
    assert model.stage in ("GA", "preview", "legacy")
    assert model.locations and set(model.locations) <= LOCATIONS
    assert set(model.tiers) <= TIERS and "standard" in model.tiers
    if model.thinking:
        if model.thinking["control"] == "level":
            assert model.thinking["default"] in model.thinking["levels"]
        else:
            assert model.thinking["control"] == "budget"
    source = entry["lifecycle_source"]
    assert source["page"].startswith("https://") and READ_DATE.match(source["read"])
    if model.retires:
        datetime.date.fromisoformat(model.retires)
    if model.replacement:
        replacement = vertex_catalog.get(model.replacement)
        assert replacement is not None and replacement.api in (model.api, vertex_catalog.GENERATE_CONTENT)
        if model.retires:
            assert not replacement.retired_on(datetime.date.fromisoformat(model.retires))
    if model.prices is None:
        assert entry["prices_source"]["note"]  # why it has none
    else:
        source = entry["prices_source"]
        assert source["page"].startswith("https://") and READ_DATE.match(source["read"])
        # whose list: Vertex AI's, the Developer API's or a third party's, said plainly
        assert source["origin"] in ("vertex", "developer_api", "third_party")
        if source["origin"] != "vertex":
            assert source["note"]
        for prices in (model.prices, *model.prices.get("changes", [])):
            for direction in ("input", "output"):
                assert set(prices.get(direction) or {}) <= MODALITIES
        for change in model.prices.get("changes", []):
            datetime.date.fromisoformat(change["from"])
    if model.makes_images and model.api == vertex_catalog.GENERATE_CONTENT:
        image = model.image
        assert image["aspect_ratios"] and "1:1" in image["aspect_ratios"]
        assert set(image["tokens_per_image"]) >= set(image.get("sizes") or [])
        source = image.get("source") or {}
        assert source.get("page", "").startswith("https://") or image["note"]  # or why not


def test_the_defaults_are_ga_priced_served_in_regions_and_not_retiring_within_90_days():
    defaults = RecordDefaults()
    assert catalog_command.DEFAULTS["--model"] == defaults.model
    assert catalog_command.DEFAULTS["--image_model"] == defaults.image_model
    assert catalog_command.DEFAULTS["--live_model"] == defaults.live_model
    for name in catalog_command.DEFAULTS.values():
        model = vertex_catalog.get(name)
        assert model.stage == "GA" and model.prices, name
        assert model.served_at("us-central1"), name
        assert not model.retires or \
            datetime.date.fromisoformat(model.retires) > TODAY + datetime.timedelta(days=90), name
    assert catalog_command.check(TODAY) == []


def test_the_check_names_a_default_within_30_days_of_its_last_day():
    lines = catalog_command.check(datetime.date(2027, 4, 30))
    assert any(line.startswith("--model: model gemini-3.5-flash retires on 2027-05-19")
               for line in lines)
    assert catalog_command.main(["--check", "--today", "2027-04-30"]) == 1
    assert catalog_command.main(["--check", "--today", "2026-12-07"]) == 0


def test_the_table_shows_what_the_tool_believes(capsys):
    assert catalog_command.main(["--today", "2026-12-07"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("gemini-3.8-flash "))
    assert "2027-09-02" in row and "global,us,eu" in row and "flex" in row
    assert "0.75" in row and "3.75" in row and "Developer API" in row
    assert "gemini-2.5-flash " not in out  # retired: shown with --all
    catalog_command.main(["--all"])
    assert "gemini-2.5-flash " in capsys.readouterr().out


def test_the_live_default_of_last_week_retires_on_2026_12_13_and_names_its_successor():
    native = vertex_catalog.get("gemini-live-2.5-flash-native-audio")
    assert native.retires == "2026-12-13" and native.replacement == "gemini-3.8-live"
    # the retirement date is the last day served, and its last month is warned about
    assert vertex_catalog.not_served(native.id, "us-central1", today=datetime.date(2026, 12, 13)) is None
    assert "last day was 2026-12-13; use gemini-3.8-live" in vertex_catalog.not_served(
        native.id, "us-central1", today=datetime.date(2026, 12, 14))
    assert "retires on 2026-12-13" in vertex_catalog.retirement_warning(native.id, TODAY)
    assert vertex_catalog.retirement_warning("gemini-3.5-flash", TODAY) is None
    old = vertex_catalog.not_served("gemini-live-2.5-flash", "us-central1", today=TODAY)
    assert "no longer served" in old and "use gemini-3.8-live" in old
    live = vertex_catalog.get("gemini-3.8-live")
    assert live.limits == {"input_tokens": 131072, "output_tokens": 65536}


def test_gemini_3_pro_preview_is_gone_and_names_its_replacement():
    line = vertex_catalog.not_served("gemini-3-pro-preview", "global", today=TODAY)
    assert "gemini-3-pro-preview" in line and "use gemini-3.1-pro-preview" in line


def test_the_models_of_late_2026_are_there_with_their_facts():
    argon = vertex_catalog.get("gemini-4-argon")
    assert argon.stage == "GA" and argon.locations == ("global", "us", "eu")
    assert argon.thinking["levels"] == ["LOW", "MEDIUM", "HIGH"]
    assert not argon.offers("flex") and argon.entry["caching"]["explicit"] is False
    for name in ("gemini-3.6-flash", "gemini-3.7-flash", "gemini-3.8-flash-tts",
                 "gemini-3.8-flash-lite-tts", "gemini-2.5-flash-tts", "gemini-2.5-pro-tts"):
        assert vertex_catalog.get(name) is not None, name
    assert vertex_catalog.get("gemini-2.5-flash-preview-tts") is None  # the Developer API's ID
    assert vertex_catalog.get("gemini-3.8-flash-tts").speaks


def test_imagen_3_is_dated_as_vertex_ai_retired_it_not_as_the_developer_api_did():
    imagen3 = vertex_catalog.get("imagen-3.0-generate-002")
    assert imagen3.retires == "2026-08-16"
    assert "Developer API" in imagen3.entry["lifecycle_source"]["note"]


def test_a_retired_model_is_refused_in_one_line_with_its_last_day_and_replacement():
    line = vertex_catalog.not_served("imagen-4.0-fast-generate-001", "us-central1", today=TODAY)
    assert line.startswith("model imagen-4.0-fast-generate-001 was retired: its last day was "
                           "2026-08-16; use gemini-3.1-flash-image (https://")
    assert "\n" not in line
    assert vertex_catalog.not_served("imagen-4.0-fast-generate-001", "us-central1",
                                     allow_discontinued=True, today=TODAY) is None
    # on its last day it is served
    assert vertex_catalog.not_served("imagen-4.0-fast-generate-001", "us-central1",
                                     today=datetime.date(2026, 8, 16)) is None


def test_locations_are_global_multi_region_or_regions():
    line = vertex_catalog.not_served("gemini-3-flash-preview", "europe-west4")
    assert "gemini-3-flash-preview" in line and "--vertex_location global" in line
    assert vertex_catalog.not_served("gemini-3-flash-preview", "global") is None
    assert vertex_catalog.not_served("gemini-3.5-flash", "europe-west4") is None
    # 3.8 Flash: global and the us/eu multi-regions, no single region
    line = vertex_catalog.not_served("gemini-3.8-flash", "us-central1")
    assert "global endpoint, the us multi-region, the eu multi-region" in line
    assert vertex_catalog.not_served("gemini-3.8-flash", "us") is None
    assert vertex_catalog.not_served("gemini-3.8-flash", "eu") is None
    assert vertex_catalog.not_served("gemini-3.1-pro-preview", "us") is not None


def test_thinking_settings_are_judged_per_model():
    flash38, flash35 = vertex_catalog.get("gemini-3.8-flash"), vertex_catalog.get("gemini-3.5-flash")
    assert "LOW, MEDIUM, HIGH" in flash38.thinking_refusal({"thinkingLevel": "MINIMAL"})
    assert flash35.thinking_refusal({"thinkingLevel": "MINIMAL"}) is None
    assert "not thinkingBudget" in flash35.thinking_refusal({"thinkingBudget": 1024})
    pro31 = vertex_catalog.get("gemini-3.1-pro-preview")
    assert pro31.thinking_refusal({"thinkingLevel": "MINIMAL"}) is not None
    flash25 = vertex_catalog.get("gemini-2.5-flash")
    assert "not thinkingLevel" in flash25.thinking_refusal({"thinkingLevel": "LOW"})
    assert flash25.thinking_refusal({"thinkingBudget": 0}) is None
    assert "from 0 to 24576" in flash25.thinking_refusal({"thinkingBudget": 99999})


def test_flex_is_refused_for_a_model_that_does_not_offer_it():
    assert "not offered on Flex" in vertex_catalog.tier_refusal("gemini-4-argon", "flex")
    assert vertex_catalog.tier_refusal("gemini-3.8-flash", "flex") is None
    assert vertex_catalog.tier_refusal("gemini-4-argon", "standard") is None


def test_an_unknown_model_is_left_to_vertex_ai():
    assert vertex_catalog.not_served("gemini-9-ultra", "us-central1") is None


def test_aliases_name_models_of_the_catalog():
    catalog = vertex_catalog.catalog()
    for alias, name in catalog.aliases.items():
        assert catalog.get(alias).id == name


def test_models_are_found_by_publisher_path_and_alias():
    assert vertex_catalog.get("publishers/google/models/gemini-3.5-flash").id == "gemini-3.5-flash"
    assert vertex_catalog.get("gemini-2.0-flash").id == "gemini-2.0-flash-001"
    assert vertex_catalog.get("no-such-model") is None


def test_a_price_is_the_one_in_force_on_the_day_of_the_call():
    table = PriceTable.load()
    million = Estimate(1_000_000, 1_000_000)
    # 3.8 Flash: $0.75 / $3.75 until 2026-12-31, doubled from 2027-01-01
    assert table.estimate("gemini-3.8-flash", million, on=datetime.date(2026, 12, 31)) == pytest.approx(4.5)
    assert table.estimate("gemini-3.8-flash", million, on=datetime.date(2027, 1, 1)) == pytest.approx(9.0)
    # Gemini 4 Argon: doubled from 2026-12-01
    assert table.estimate("gemini-4-argon", million, on=datetime.date(2026, 11, 30)) == pytest.approx(12.0)
    assert table.estimate("gemini-4-argon", million, on=TODAY) == pytest.approx(24.0)


def test_the_price_table_is_the_catalogs_and_prices_the_defaults():
    table = PriceTable.load()
    assert table.origin == "the model catalog"
    assert table.estimate("gemini-3.5-flash", Estimate(1_000_000, 1_000_000)) == pytest.approx(10.5)
    # gemini-3-pro-image: image tokens at $120 per 1M
    assert table.estimate("gemini-3-pro-image", Estimate(image_tokens=1120)) \
        == pytest.approx(1120 * 120 / 1e6)
    priced = json.loads(json.dumps(vertex_catalog.catalog().price_table()))
    assert PriceTable(priced).models == table.models


def test_the_models_page_is_the_catalog():
    from pathlib import Path
    page = (Path(__file__).parents[2] / "docs" / "models.md").read_text()
    table = page.split("<!-- catalog:begin -->\n")[1].split("<!-- catalog:end -->")[0]
    day = datetime.date.fromisoformat(vertex_catalog.catalog().read_on)
    assert table == catalog_command.markdown(day), \
        "regenerate: python -m vertex_catalog --markdown --today " + str(day)


def test_the_job_refuses_before_any_call_what_the_catalog_says_the_model_does_not_take():
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.options import OptionError, job_config

    def config(*args):
        return job_config(PipelineOptions(["--input", "in.jsonl", "--output", "out",
                                           "--endpoint", "http://127.0.0.1:9", *args]))
    minimal = '{"thinkingConfig": {"thinkingLevel": "MINIMAL"}}'
    with pytest.raises(OptionError, match="LOW, MEDIUM, HIGH"):
        config("--model", "gemini-3.8-flash", "--generation_config", minimal)
    config("--model", "gemini-3.5-flash", "--generation_config", minimal)  # 3.5 takes MINIMAL
    with pytest.raises(OptionError, match="not offered on Flex"):
        config("--model", "gemini-4-argon", "--service_tier", "flex")
    with pytest.raises(OptionError, match="served on the global endpoint, the us multi-region"):
        config("--model", "gemini-3.8-flash", "--project", "p", "--vertex_location", "us-central1")
    us = job_config(PipelineOptions(["--input", "in.jsonl", "--output", "out", "--project", "p",
                                     "--vertex_location", "us", "--model", "gemini-3.8-flash"]))
    assert us.connection.endpoint().host == "https://aiplatform.us.rep.googleapis.com"
