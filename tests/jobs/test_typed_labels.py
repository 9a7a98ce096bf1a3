"""Labels as typed columns (issue 27), as a user runs them: --output_schema
and --response_schema against the emulator, the `parsed` struct read back by
pyarrow and DuckDB, answers that are not of the schema asked for again and
then kept as error rows, the summary's counts and the report's charts."""
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tests.support.pipeline_runs import read_table, run_job, summary, write_jsonl
from vertex.prices import PriceTable

REVIEW = "sentiment STRING, confidence FLOAT64, tags ARRAY<STRING>"
PRICED = "gemini-3-flash-preview"  # a model with a list price, so re-asks show in cost_usd
OWN_SCHEMA = {"responseMimeType": "application/json", "responseSchema": {
    "type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}, "required": ["n"]}}


def reviews(n):
    return [{"id": f"r{i}", "prompt": f"Label this review: item {i} was fine"} for i in range(n)]


def _cost(model, row, answers=1):
    return answers * PriceTable.load().tokens_cost(model, row["usage"], "ON_DEMAND")


def test_output_schema_writes_typed_labels_and_keeps_answers_that_do_not_match(emulator,
                                                                               tmp_path):
    records = reviews(12) + [
        {"id": "never-json", "prompt": "Label [[emulator: bad_json]]"},
        {"id": "once-broken", "prompt": "Label [[emulator: bad_json x1]]"},
        {"id": "off", "prompt": "Label [[emulator: off_schema]]"},
        {"id": "own", "prompt": "Count", "generationConfig": {}},  # the job's schema too
        {"id": "blocked", "prompt": "Label [[emulator: block]]"},
    ]
    out = tmp_path / "out"
    assert run_job(write_jsonl(tmp_path / "in.jsonl", records), out, emulator.url,
                   "--output_schema", REVIEW, "--model", PRICED) == 3
    [path] = list(out.glob("responses-*.parquet"))
    assert pq.read_schema(path).field("parsed").type == pa.struct([
        ("sentiment", pa.string()), ("confidence", pa.float64()),
        ("tags", pa.list_(pa.string()))])
    rows = {r["id"]: r for r in read_table(out, "responses")}
    ok = [r for r in rows.values() if r["status"] == "ok"]
    assert len(ok) == 14 and all(r["parsed"] is not None for r in ok)
    for r in ok:  # the typed value is the answer's
        assert r["parsed"] == json.loads(r["text"]) == json.loads(r["parsed_json"])
        assert set(r["parsed"]) == {"sentiment", "confidence", "tags"}

    never = rows["never-json"]
    assert (never["status"], never["error_code"]) == ("error", "invalid_json")
    assert "not valid JSON" in never["error_message"]
    assert never["text"] and never["parsed"] is None  # the raw answer is kept
    with_json = never["text"]
    try:
        json.loads(with_json)
        raise AssertionError("the emulator's bad_json answer parsed")
    except ValueError:
        pass
    # asked three times (the default two re-asks), each answer paid
    assert (never["schema_reasks"], never["attempts"]) == (2, 3)
    assert abs(never["cost_usd"] - _cost(PRICED, never, answers=3)) < 1e-12

    once = rows["once-broken"]
    assert (once["status"], once["schema_reasks"], once["attempts"]) == ("ok", 1, 2)
    assert once["cost_usd"] > _cost(PRICED, once)  # the broken answer was paid too
    assert [a["http_status"] for a in once["attempt_log"]] == [200, 200]
    assert once["attempt_log"][1]["offset_ms"] >= once["attempt_log"][0]["offset_ms"]

    off = rows["off"]
    assert off["error_code"] == "schema_mismatch"
    assert "field sentiment: missing (required)" in off["error_message"]
    assert rows["blocked"]["status"] == "blocked" and rows["blocked"]["error_code"] is None

    counts = summary(out)
    assert counts["all_lines_accounted_for"]
    assert counts["typed_answers"] == {"matched": 14, "invalid_json": 1,
                                       "schema_mismatch": 1, "reasks": 2 + 1 + 2}

    # DuckDB reads the struct's fields directly.
    by_sentiment = duckdb.sql(
        f"SELECT parsed.sentiment, count(*) FROM read_parquet('{out}/responses-*.parquet') "
        "GROUP BY 1").fetchall()
    assert sum(n for value, n in by_sentiment if value is not None) == 14

    report = Path(out, "report.html").read_text()
    assert "<h2>Labels</h2>" in report
    assert "sentiment: top values" in report and "confidence: distribution" in report
    assert "tags[]: top values" in report


def test_a_response_schema_with_an_enum_gives_only_its_values(emulator, tmp_path):
    schema = tmp_path / "label.json"
    schema.write_text(json.dumps({"type": "OBJECT", "properties": {
        "label": {"type": "STRING", "format": "enum",
                  "enum": ["positive", "negative", "neutral"]},
        "stars": {"type": "INTEGER", "nullable": True}}, "required": ["label"]}))
    records = reviews(30) + [{"id": "own", "prompt": "n?", "generationConfig": OWN_SCHEMA}]
    out = tmp_path / "out"
    assert run_job(write_jsonl(tmp_path / "in.jsonl", records), out, emulator.url,
                   "--response_schema", str(schema), "--stream") == 0
    rows = {r["id"]: r for r in read_table(out, "responses")}
    labels = {rows[f"r{i}"]["parsed"]["label"] for i in range(30)}
    assert labels <= {"positive", "negative", "neutral"} and len(labels) > 1
    # A record with its own schema: checked, kept as JSON, not in the job's typed column.
    own = rows["own"]
    assert own["status"] == "ok" and own["parsed"] is None
    assert isinstance(json.loads(own["parsed_json"])["n"], int)
    values = duckdb.sql(f"SELECT DISTINCT parsed.label FROM read_parquet("
                        f"'{out}/responses-*.parquet') WHERE parsed IS NOT NULL").fetchall()
    assert {v for (v,) in values} == labels


def test_a_rerun_of_the_errors_keeps_the_typed_column(emulator, tmp_path):
    records = reviews(3) + [{"id": "flaky", "prompt": "Label [[emulator: bad_json x3]]"}]
    path, out = write_jsonl(tmp_path / "in.jsonl", records), tmp_path / "out"
    assert run_job(path, out, emulator.url, "--output_schema", REVIEW, "--run_id", "first") == 3
    first = {r["id"]: r for r in read_table(out, "responses")}
    assert first["flaky"]["error_code"] == "invalid_json"
    # The emulator spoils three attempts of that request; the rerun's is the fourth.
    assert run_job(path, out, emulator.url, "--output_schema", REVIEW, "--run_id", "second",
                   "--retry_errors_only") == 0
    second = [r for r in read_table(out, "responses") if r["run_id"] == "second"]
    assert [(r["id"], r["status"]) for r in second] == [("flaky", "ok")]
    assert set(second[0]["parsed"]) == {"sentiment", "confidence", "tags"}


def test_the_transforms_in_your_own_pipeline_give_the_same_typed_rows(emulator):
    import apache_beam as beam
    from apache_beam.testing.util import assert_that

    from transforms import (BuildPromptRecords, GenerateContent, OutputSchema, RecordDefaults,
                            VertexConnection)
    labels = OutputSchema.from_columns("label STRING, score INT64")
    with beam.Pipeline() as pipeline:
        rows = (pipeline
                | beam.Create([{"id": "a", "prompt": "x"}, {"id": "b", "prompt": "y"}])
                | BuildPromptRecords(RecordDefaults(output_schema=labels))).records \
            | GenerateContent(VertexConnection(endpoint_url=emulator.url), output_schema=labels)

        def typed(found):
            assert sorted(r["id"] for r in found) == ["a", "b"]
            for r in found:
                assert r["status"] == "ok" and set(r["parsed"]) == {"label", "score"}
                assert isinstance(r["parsed"]["score"], int)
        assert_that(rows, typed)


def test_the_dry_run_names_the_typed_column_and_what_re_asking_may_add(emulator, tmp_path):
    out = tmp_path / "out"
    assert run_job(write_jsonl(tmp_path / "in.jsonl", reviews(3)), out, emulator.url,
                   "--output_schema", REVIEW, "--schema_reasks", "1", "--dry_run") == 0
    estimate = json.loads((out / "estimate.json").read_text())
    assert estimate["output_schema"]["parsed"] == \
        "struct<sentiment: string, confidence: double, tags: list<item: string>>"
    assert estimate["output_schema"]["schema_reasks"] == 1
    assert not list(out.glob("responses-*.parquet"))  # nothing was called
