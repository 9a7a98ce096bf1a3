"""Today's Vertex AI (vertex_catalog/models.json): image records on Gemini
image models, Gemini 3 text models priced, and discontinued or misplaced
models named before anything is paid. The emulator here serves only what
Vertex AI serves today (no --serve_discontinued)."""
import hashlib
import io
import json

import pytest
from PIL import Image

from tests.support.pipeline_runs import read_table, run_job, summary, write_jsonl


@pytest.fixture
def today(start_emulator):
    return start_emulator(serve_discontinued=False)


def test_image_records_on_gemini_image_models(today, tmp_path):
    records = [
        {"id": "wide", "task": "image", "model": "gemini-2.5-flash-image", "prompt": "a banner",
         "parameters": {"aspectRatio": "16:9", "sampleCount": 2}},
        {"id": "tall", "task": "image", "model": "gemini-3-pro-image", "prompt": "a poster",
         "parameters": {"aspect_ratio": "9:16", "sampleImageSize": "2K",
                        "outputOptions": {"mimeType": "image/jpeg"}}},
        {"id": "default", "task": "image", "prompt": "a mug"},
        {"id": "no-equivalent", "task": "image", "model": "gemini-2.5-flash-image",
         "prompt": "a cat", "parameters": {"negativePrompt": "dogs"}},
        {"id": "too-big", "task": "image", "model": "gemini-2.5-flash-image", "prompt": "a cat",
         "parameters": {"sampleImageSize": "2K"}},
        {"id": "old", "task": "image", "model": "imagen-4.0-fast-generate-001", "prompt": "a cat"},
    ]
    out = tmp_path / "out"
    assert run_job(write_jsonl(tmp_path / "in.jsonl", records), out, today.url) == 3  # refusals
    rows = read_table(out, "images")
    by_id = {}
    for row in rows:
        by_id.setdefault(row["id"], []).append(row)
    assert sorted(by_id) == ["default", "tall", "wide"]
    assert by_id["default"][0]["model"] == "gemini-3.1-flash-image"  # a current default
    for record_id, ratio, mime, count in (("wide", 16 / 9, "image/png", 2),
                                          ("tall", 9 / 16, "image/jpeg", 1)):
        images = sorted(by_id[record_id], key=lambda r: r["image_index"])
        assert [r["image_index"] for r in images] == list(range(count))
        for row in images:
            assert row["status"] == "ok" and row["mime_type"] == mime
            data = open(row["uri"], "rb").read()
            assert hashlib.sha256(data).hexdigest() == row["sha256"]
            assert len(data) == row["byte_size"]
            picture = Image.open(io.BytesIO(data))
            assert picture.size == (row["width"], row["height"])
            assert abs(row["width"] / row["height"] - ratio) < 0.05
            assert row["cost_usd"] > 0  # its share of the call's tokens, IMAGE at its price
    # gemini-2.5-flash-image: 1290 image tokens at $30 per million, and the prompt's
    assert by_id["wide"][0]["cost_usd"] == pytest.approx(1290 * 30 / 1e6, rel=0.01)
    # gemini-3-pro-image: 1120 image tokens at $120 per million, and a little
    # more for the prompt and its thinking (a Gemini 3 model always thinks)
    assert 1120 * 120 / 1e6 < by_id["tall"][0]["cost_usd"] < 1120 * 120 / 1e6 * 1.03
    assert by_id["tall"][0]["width"] > by_id["default"][0]["width"]  # 2K, not 1K
    rejected = {r["line_number"]: r["reason"] for r in read_table(out, "rejected")}
    assert "parameter negativePrompt has no equivalent on gemini-2.5-flash-image" in rejected[4]
    assert "sampleImageSize '2K': gemini-2.5-flash-image draws 1K" in rejected[5]
    assert "model imagen-4.0-fast-generate-001 was retired: its last day was 2026-08-16; " \
           "use gemini-3.1-flash-image" in rejected[6]
    assert today.stats()["requests"] == 4  # two for wide; nothing for the refused
    assert summary(out)["all_lines_accounted_for"]


def test_gemini_3_text_records_are_answered_and_priced(today, tmp_path):
    records = [
        {"id": "flash", "model": "gemini-3-flash-preview", "request": {
            "contents": [{"role": "user", "parts": [{"text": "Label this review"}]}],
            "generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}}},
        {"id": "pro", "model": "gemini-3.1-pro-preview", "prompt": "Summarize the plot"},
        {"id": "retired", "model": "gemini-2.5-flash", "prompt": "x"},
    ]
    out = tmp_path / "out"
    assert run_job(write_jsonl(tmp_path / "in.jsonl", records), out, today.url) == 3  # retired
    rows = {r["id"]: r for r in read_table(out, "responses")}
    assert set(rows) == {"flash", "pro"}
    for row in rows.values():
        assert row["status"] == "ok" and row["cost_usd"] > 0
    usage = rows["flash"]["usage"]
    assert rows["flash"]["cost_usd"] == pytest.approx(
        (usage["prompt_token_count"] * 0.5 + usage["candidates_token_count"] * 3.0
         + (usage["thoughts_token_count"] or 0) * 3.0) / 1e6)
    [retired] = read_table(out, "rejected")
    assert retired["reason"].startswith("model_not_served: model gemini-2.5-flash was "
                                        "retired: its last day was 2026-10-20; use gemini-3.8-flash")


def test_the_job_says_before_any_call_when_its_model_is_not_served(today, tmp_path, capsys):
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "prompt": "x", "task": "image"}])
    assert run_job(sample, tmp_path / "o1", today.url, "--image_model",
                   "imagen-4.0-fast-generate-001", "--task", "image") == 2
    err = capsys.readouterr().err
    assert "--image_model: model imagen-4.0-fast-generate-001 was retired: its last day was " \
           "2026-08-16; use gemini-3.1-flash-image" in err and "Traceback" not in err
    assert run_job(sample, tmp_path / "o2", today.url, "--project", "p", "--vertex_location",
                   "us-central1", "--model", "gemini-3-flash-preview") == 2
    assert "model gemini-3-flash-preview is served on the global endpoint, not in " \
           "us-central1; run it with --vertex_location global" in capsys.readouterr().err
    assert today.stats()["requests"] == 0


def test_old_files_on_discontinued_models_run_where_they_are_still_served(start_emulator,
                                                                         tmp_path):
    old = start_emulator()  # --serve_discontinued: for old files and tests
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "prompt": "x",
                                                  "model": "gemini-2.5-flash"}])
    out = tmp_path / "out"
    assert run_job(sample, out, old.url, "--allow_discontinued") == 0
    assert read_table(out, "responses")[0]["status"] == "ok"
    mapped = tmp_path / "mapped"  # or moved onto a current model
    assert run_job(sample, mapped, old.url, "--model_map",
                   "gemini-2.5-flash=gemini-3.5-flash") == 0
    assert read_table(mapped, "responses")[0]["model"] == "gemini-3.5-flash"
    assert json.loads((mapped / "summary.json").read_text())["rejected"] == 0


def test_the_dry_run_prices_gemini_3_and_gemini_image_records(today, tmp_path):
    records = [
        {"id": "flash", "model": "gemini-3-flash-preview", "prompt": "Label this review",
         "generation_config": {"maxOutputTokens": 100}},
        {"id": "wide", "task": "image", "model": "gemini-2.5-flash-image", "prompt": "a banner",
         "parameters": {"aspectRatio": "16:9", "sampleCount": 2}},
        # a text record on the same image model: a tally of its own
        {"id": "icon", "model": "gemini-2.5-flash-image", "request": {
            "contents": [{"role": "user", "parts": [{"text": "Draw an icon"}]}],
            "generationConfig": {"responseModalities": ["TEXT", "IMAGE"],
                                 "maxOutputTokens": 50}}},
    ]
    out = tmp_path / "out"
    assert run_job(write_jsonl(tmp_path / "in.jsonl", records), out, today.url,
                   "--dry_run") == 0
    estimate = json.loads((out / "estimate.json").read_text())
    models = estimate["models"]
    assert set(models) == {"gemini-3-flash-preview", "gemini-2.5-flash-image (image)",
                           "gemini-2.5-flash-image (text)"}
    flash = models["gemini-3-flash-preview"]
    assert flash["output_tokens"] == 100
    assert flash["cost_usd"]["standard"] == pytest.approx(
        (flash["input_tokens"] * 0.5 + 100 * 3.0) / 1e6, rel=0.01)
    images = models["gemini-2.5-flash-image (image)"]
    assert images["task"] == "image" and images["image_tokens"] == 2 * 1290
    assert images["cost_usd"]["standard"] == pytest.approx(
        (images["input_tokens"] * 0.3 + 2 * 1290 * 30) / 1e6, rel=0.01)
    assert models["gemini-2.5-flash-image (text)"]["task"] == "text"
    assert estimate["models_without_price"] == []
    assert estimate["paid_calls"] == 0
