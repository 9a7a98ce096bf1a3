"""Imagen jobs on the DirectRunner against the emulator: every file decodes
and matches its row. Imagen predict keeps working exactly as the seed
documents it, for old files against a server that still serves it (Vertex AI
discontinued Imagen in 2026; the emulator here serves it, and the job calls it
with --allow_discontinued). Image records on Gemini image models:
tests/jobs/test_current_models.py."""
import hashlib
import io
import json

from PIL import Image

from tests.support.pipeline_runs import read_table, run_job, summary, write_jsonl

IMAGEN = ("--image_model", "imagen-4.0-fast-generate-001", "--allow_discontinued")


def run_imagen(sample, out, url, *extra) -> int:
    return run_job(sample, out, url, *IMAGEN, *extra)


RECORDS = [
    {"id": "two-square", "task": "image", "prompt": "a mug", "parameters": {"sampleCount": 2}},
    {"id": "wide-jpeg", "task": "image", "prompt": "a banner",
     "parameters": {"aspectRatio": "16:9", "outputOptions": {"mimeType": "image/jpeg"}}},
    {"id": "webp", "task": "image", "prompt": "a story", "metadata": {"sku": 7},
     "parameters": {"aspectRatio": "9:16", "output_options": {"mime_type": "image/webp"}}},
    {"id": "filtered", "task": "image", "prompt": "poster [[emulator: filter=1]]",
     "parameters": {"sampleCount": 3}},
    {"id": "refused", "task": "image", "prompt": "x [[emulator: block]]"},
    {"id": "bad-count", "task": "image", "prompt": "logo", "parameters": {"sampleCount": 9}},
    {"id": "bad-seed", "task": "image", "prompt": "logo", "parameters": {"seed": 3}},
    {"id": "text", "prompt": "a text record in the same file"},
]


def test_image_job_writes_decodable_files_that_match_their_rows(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", RECORDS)
    out = tmp_path / "out"
    assert run_imagen(sample, out, emulator.url) == 3
    rows = read_table(out, "images")
    images = [r for r in rows if r["image_index"] is not None]
    assert sorted((r["id"], r["image_index"]) for r in images) == [
        ("filtered", 0), ("filtered", 1), ("two-square", 0), ("two-square", 1),
        ("webp", 0), ("wide-jpeg", 0)]
    for row in images:
        data = open(row["uri"], "rb").read()
        image = Image.open(io.BytesIO(data))
        assert (image.width, image.height) == (row["width"], row["height"])
        assert hashlib.sha256(data).hexdigest() == row["sha256"] and len(data) == row["byte_size"]
        assert Image.MIME[image.format] == row["mime_type"] and row["status"] == "ok"
        assert row["uri"].startswith(str(out / "images" / row["run_id"] / row["id"]))
    by_id = {r["id"]: r for r in images}
    assert by_id["wide-jpeg"]["width"] > by_id["wide-jpeg"]["height"]
    assert by_id["webp"]["mime_type"] == "image/webp" and json.loads(by_id["webp"]["metadata"]) == {"sku": 7}
    filtered = [r for r in images if r["id"] == "filtered"]
    assert all(r["images_requested"] == 3 and r["images_returned"] == 2 for r in filtered)
    assert "filtered out 1" in filtered[0]["rai_filtered_reason"]
    refused = [r for r in rows if r["id"] == "refused"]
    assert len(refused) == 1 and refused[0]["status"] == "blocked"
    assert refused[0]["image_index"] is None and refused[0]["rai_filtered_reason"]

    rejected = {r["raw_line"] and json.loads(r["raw_line"])["id"]: r["reason"]
                for r in read_table(out, "rejected")}
    assert set(rejected) == {"bad-count", "bad-seed"}
    assert "sampleCount" in rejected["bad-count"] and "addWatermark" in rejected["bad-seed"]
    assert emulator.stats()["by_method"] == {"predict": 5, "generateContent": 1}  # none for rejects

    s = summary(out)
    assert s["image_records"] == {"ok": 3 + 1, "blocked": 1, "error": 0, "total": 5}
    assert s["images_written"] == 6 and s["all_lines_accounted_for"]
    assert s["image_bytes"] == sum(r["byte_size"] for r in images)


def test_runs_into_one_output_never_replace_each_others_images(emulator, tmp_path):
    """Without a seed every run draws new images for the same ids; each row's
    file must still hold the bytes its sha256 describes, run after run."""
    sample = write_jsonl(tmp_path / "in.jsonl", [
        {"id": f"p{i}", "task": "image", "prompt": f"a vase, take {i}",
         "parameters": {"sampleCount": 2}} for i in range(3)])
    out = tmp_path / "out"
    for run in ("first", "second", "third"):
        assert run_imagen(sample, out, emulator.url, "--run_id", run) == 0
    rows = [r for r in read_table(out, "images") if r["uri"]]
    assert len(rows) == 3 * 3 * 2 and len({r["uri"] for r in rows}) == len(rows)
    for row in rows:
        assert hashlib.sha256(open(row["uri"], "rb").read()).hexdigest() == row["sha256"]


def test_failed_image_calls_are_error_rows(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "down", "task": "image", "prompt": "x [[emulator: fail=503]]"},
        {"id": "flaky", "task": "image", "prompt": "y [[emulator: fail=429x1]]"}])
    out = tmp_path / "out"
    run_imagen(sample, out, emulator.url, "--max_attempts", "2")
    rows = {r["id"]: r for r in read_table(out, "images")}
    assert rows["down"]["status"] == "error" and rows["down"]["error_code"] == "UNAVAILABLE"
    assert rows["down"]["attempts"] == 2 and rows["down"]["uri"] is None
    assert rows["flaky"]["status"] == "ok" and rows["flaky"]["throttled_attempts"] == 1


def test_task_image_for_a_whole_input(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": f"p{i}", "prompt": f"scene {i}"}
                                                 for i in range(3)])
    out = tmp_path / "out"
    run_imagen(sample, out, emulator.url, "--task", "image",
            "--image_model", "imagen-4.0-ultra-generate-001")
    rows = read_table(out, "images")
    assert sorted(r["id"] for r in rows) == ["p0", "p1", "p2"]
    assert {r["model"] for r in rows} == {"imagen-4.0-ultra-generate-001"}
    assert emulator.stats()["by_model"] == {"imagen-4.0-ultra-generate-001": 3}


def test_gemini_answers_with_images_store_them_and_link_the_files(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": "g/1", "model": "gemini-2.5-flash-image",
        "request": {"contents": [{"role": "user", "parts": [{"text": "draw a cat"}]}],
                    "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}}}])
    out = tmp_path / "out"
    run_imagen(sample, out, emulator.url)
    row = read_table(out, "responses")[0]
    assert row["status"] == "ok" and row["text"] and len(row["image_uris"]) == 1
    assert Image.open(row["image_uris"][0]).format == "PNG"
    parts = json.loads(row["response_json"])["candidates"][0]["content"]["parts"]
    assert parts[1]["inlineData"] == {"mimeType": "image/png"}  # bytes live in the file only


def test_images_to_gcs_and_imagen_writing_to_storage_uri(start_emulator, gcs):
    emulator = start_emulator()  # started after STORAGE_EMULATOR_HOST is set
    gcs.blob("img/in.jsonl").upload_from_string("\n".join(json.dumps(r) for r in [
        {"id": "ours", "task": "image", "prompt": "a kettle", "parameters": {"sampleCount": 2}},
        {"id": "theirs", "task": "image", "prompt": "a teapot",
         "parameters": {"storageUri": "gs://test-bucket/imagen-wrote/"}}]) + "\n")
    assert run_imagen("gs://test-bucket/img/in.jsonl", "gs://test-bucket/img/out",
                   emulator.url, "--run_id", "img") == 0
    names = [b.name for b in gcs.client.list_blobs("test-bucket", prefix="img/out/")]
    table = next(n for n in names if n.startswith("img/out/images-img-"))
    import pyarrow.parquet as pq
    rows = {(r["id"], r["image_index"]): r for r in
            pq.read_table(io.BytesIO(gcs.blob(table).download_as_bytes())).to_pylist()}
    for index in (0, 1):
        row = rows[("ours", index)]
        assert row["uri"].startswith(f"gs://test-bucket/img/out/images/img/ours-{index}-")
        data = gcs.blob(row["uri"][len("gs://test-bucket/"):]).download_as_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        assert Image.open(io.BytesIO(data)).size == (row["width"], row["height"])
    theirs = rows[("theirs", 0)]
    assert theirs["uri"].startswith("gs://test-bucket/imagen-wrote/") and theirs["sha256"] is None
    Image.open(io.BytesIO(gcs.blob(theirs["uri"][len("gs://test-bucket/"):]).download_as_bytes()))
