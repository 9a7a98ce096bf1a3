"""The legacy v1 reference's four sample bodies (text, chat, vision, function
calling; samples/legacy-v1.jsonl holds them unchanged, trailing commas and
all) run as that API ran them: streamed, against gemini-pro models that
answer in the legacy dialect, or mapped onto a current model."""

import httpx

import vertex_schema
from tests.support.pipeline_runs import read_table, run_job, summary
from tests.support.servers import ROOT

SAMPLES = ROOT / "samples" / "legacy-v1.jsonl"
IDS = {"legacy-text", "legacy-chat", "legacy-vision", "legacy-function"}


def test_the_four_samples_run_streamed_on_the_legacy_models(emulator, tmp_path):
    out = tmp_path / "out"
    # gemini-pro and gemini-pro-vision are discontinued: this emulator serves
    # them for old files, and the job calls them only when told to
    assert run_job(SAMPLES, out, emulator.url, "--stream", "--allow_discontinued") == 0
    rows = {r["id"]: r for r in read_table(out, "responses")}
    assert set(rows) == IDS
    for row in rows.values():
        assert row["status"] == "ok", row
        assert row["finish_reason"] == "FINISH_REASON_STOP"  # as the legacy API said it
    assert {rows[i]["model"] for i in IDS} == {"gemini-pro", "gemini-pro-vision"}
    assert rows["legacy-function"]["function_calls"][0]["name"] == "find_theaters"
    assert rows["legacy-text"]["text"] and rows["legacy-chat"]["text"]
    assert summary(out)["all_lines_accounted_for"]
    assert emulator.stats()["by_status"] == {"200": 4}


def test_model_map_runs_old_files_on_a_current_model(emulator, tmp_path):
    out = tmp_path / "out"
    assert run_job(SAMPLES, out, emulator.url, "--stream", "--model_map",
                   "gemini-pro=gemini-3.5-flash,gemini-pro-vision=gemini-3.5-flash") == 0
    rows = read_table(out, "responses")
    assert len(rows) == 4 and {r["model"] for r in rows} == {"gemini-3.5-flash"}
    assert all(r["status"] == "ok" and r["finish_reason"] == "STOP" for r in rows)
    assert all(r["traffic_type"] == "ON_DEMAND" for r in rows)


def test_the_emulator_takes_the_sample_bodies_as_sent(emulator):
    """The raw lines' bodies, trailing commas included, over HTTP."""
    for line in SAMPLES.read_text().splitlines():
        record = vertex_schema.loads(line)
        start = line.index('"request": ') + len('"request": ')
        raw_body = line[start:line.rindex("}")]
        url = (f"{emulator.url}/v1/projects/p/locations/us-central1/publishers/google/models/"
               f"{record['model']}:streamGenerateContent")
        response = httpx.post(url, content=raw_body.encode(),
                              headers={"Content-Type": "application/json"}, timeout=30)
        assert response.status_code == 200, (record["id"], response.text)
        chunks = response.json()
        assert chunks[-1]["candidates"][0]["finishReason"] == "FINISH_REASON_STOP"
        assert set(chunks[-1]["usageMetadata"]) == {"promptTokenCount", "candidatesTokenCount",
                                                    "totalTokenCount"}
