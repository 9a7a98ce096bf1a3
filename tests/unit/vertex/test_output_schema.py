"""Typed answers: BigQuery's column list and Vertex AI's responseSchema read
as the request Vertex AI gets, answers checked against them, and the Arrow
type of `parsed`."""
import json
from decimal import Decimal

import pyarrow as pa
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

import vertex_schema
from pipeline.options import OptionError, job_config
from transforms.schemas import parsed_type, schema
from vertex.output_schema import OutputSchema, SchemaError

REVIEW = "sentiment STRING, confidence FLOAT64, tags ARRAY<STRING>"


def test_a_column_list_becomes_a_response_schema_with_every_field_required_in_order():
    labels = OutputSchema.from_columns(
        "sentiment STRING, score INT64, ok BOOL, price NUMERIC, tags ARRAY<STRING>, "
        "`where` STRUCT<city STRING, spots ARRAY<STRUCT<x FLOAT64, y FLOAT64>>>")
    config = labels.generation_config
    assert config["responseMimeType"] == "application/json"
    root = config["responseSchema"]
    assert root["propertyOrdering"] == root["required"] == [
        "sentiment", "score", "ok", "price", "tags", "where"]
    assert root["properties"]["where"]["properties"]["spots"]["items"]["required"] == ["x", "y"]
    assert {name: p["type"] for name, p in root["properties"].items()} == {
        "sentiment": "STRING", "score": "INTEGER", "ok": "BOOLEAN", "price": "NUMBER",
        "tags": "ARRAY", "where": "OBJECT"}
    # Google's protos take it as it is.
    body = {"contents": [{"role": "user", "parts": [{"text": "x"}]}], "generationConfig": config}
    assert vertex_schema.check_generate_content(body)["generationConfig"] == config
    assert parsed_type(labels) == pa.struct([
        ("sentiment", pa.string()), ("score", pa.int64()), ("ok", pa.bool_()),
        ("price", pa.decimal128(38, 9)), ("tags", pa.list_(pa.string())),
        ("where", pa.struct([("city", pa.string()), ("spots", pa.list_(pa.struct(
            [("x", pa.float64()), ("y", pa.float64())])))]))])


@pytest.mark.parametrize("text, said", [
    ("", "empty"),
    ("sentiment", "field sentiment has no type"),
    ("sentiment STRNG", "field sentiment: type STRNG is not one of"),
    ("when DATE", "field when: type DATE"),
    ("a STRING,", "expected a field name"),
    ("a STRING b INT64", "expected ',' or the end after field a"),
    ("a STRING, A INT64", "field 'A' appears twice"),
    ("m ARRAY<ARRAY<INT64>>", "field m: BigQuery has no ARRAY of ARRAY"),
    ("s STRUCT<>", "expected a field name in STRUCT<...> at s"),
    ("s STRUCT<a STRING", "after field s.a"),
])
def test_a_column_list_that_is_not_bigquery_syntax_is_refused_naming_the_field(text, said):
    with pytest.raises(SchemaError, match=None) as error:
        OutputSchema.from_columns(text)
    assert said in str(error.value)


def test_answers_are_typed_or_refused_with_the_field_path():
    labels = OutputSchema.from_columns(REVIEW + ", detail STRUCT<stars INT64, price NUMERIC>")
    good = labels.read(json.dumps({"sentiment": "positive", "confidence": 1, "tags": ["a"],
                                   "detail": {"stars": 4.0, "price": 1.25}, "extra": True}))
    assert good.ok and good.value == {"sentiment": "positive", "confidence": 1.0, "tags": ["a"],
                                      "detail": {"stars": 4, "price": Decimal("1.25")}}
    assert json.loads(good.json)["extra"] is True  # parsed_json keeps the answer as given
    for answer, code, said in [
        ('{"sentiment": "positive", "confidence": 0.9', "invalid_json", "not valid JSON"),
        ("", "invalid_json", "it is empty"),
        ('{"sentiment": "p", "confidence": "high", "tags": [], "detail": {"stars": 1, '
         '"price": 1}}', "schema_mismatch", 'field confidence: "high" is not a number'),
        ('{"sentiment": "p", "confidence": 1, "tags": ["a", 2], "detail": {"stars": 1, '
         '"price": 1}}', "schema_mismatch", "field tags[1]: 2 is not a string"),
        ('{"sentiment": "p", "confidence": 1, "tags": [], "detail": {"price": 1}}',
         "schema_mismatch", "field detail.stars: missing (required)"),
        ('{"sentiment": "p", "confidence": 1, "tags": [], "detail": {"stars": 1.5, '
         '"price": 1}}', "schema_mismatch", "field detail.stars: 1.5 is not an integer"),
        ('{"sentiment": null, "confidence": 1, "tags": [], "detail": {"stars": 1, "price": 1}}',
         "schema_mismatch", "field sentiment: null, but it is not nullable"),
        ("[1]", "schema_mismatch", "the answer's top level: [1] is not an object"),
    ]:
        verdict = labels.read(answer)
        assert (verdict.error_code, verdict.value) == (code, None), answer
        assert said in verdict.message, verdict.message


def test_a_response_schema_is_read_as_vertex_reads_it_and_its_enum_holds():
    labels = OutputSchema.from_response_schema({
        "type": "object", "properties": {
            "label": {"type": "string", "format": "enum", "enum": ["positive", "negative"]},
            "note": {"type": "string", "nullable": True}},
        "required": ["label"]})
    assert labels.generation_config["responseSchema"]["type"] == "OBJECT"
    assert labels.read('{"label": "negative"}').value == {"label": "negative", "note": None}
    wrong = labels.read('{"label": "neutral"}')
    assert wrong.error_code == "schema_mismatch" and "field label: \"neutral\" is not one of " \
        "the enum (positive, negative)" in wrong.message
    assert parsed_type(labels) == pa.struct([("label", pa.string()), ("note", pa.string())])


def test_a_json_schema_is_taken_too_and_null_unions_are_nullable():
    labels = OutputSchema.from_response_schema({"responseJsonSchema": {
        "type": "object", "properties": {
            "n": {"type": ["integer", "null"]},
            "kind": {"enum": ["a", "b"]},
            "when": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
        "required": ["n", "kind"]}})
    assert "responseJsonSchema" in labels.generation_config
    assert labels.read('{"n": null, "kind": "a"}').value == {"n": None, "kind": "a",
                                                             "when": None}
    assert labels.read('{"n": 1, "kind": "c"}').error_code == "schema_mismatch"
    assert parsed_type(labels) == pa.struct([("n", pa.int64()), ("kind", pa.string()),
                                             ("when", pa.string())])


def test_a_top_level_that_is_not_an_object_is_kept_as_value():
    labels = OutputSchema.from_response_schema({"type": "STRING", "enum": ["yes", "no"]})
    assert labels.read('"yes"').value == {"value": "yes"}
    assert parsed_type(labels) == pa.struct([("value", pa.string())])


@pytest.mark.parametrize("given, said", [
    ({"type": "DICT"}, "Vertex AI would refuse it"),
    ({"type": "OBJECT"}, "an object without properties has no typed column equivalent"),
    ({"type": "OBJECT", "properties": {"a": {"type": "ARRAY"}}},
     "field a: an array without items"),
    ({"type": "OBJECT", "properties": {"a": {"anyOf": [{"type": "STRING"},
                                                       {"type": "INTEGER"}]}}},
     "field a: anyOf has no typed column equivalent"),
    ({"responseJsonSchema": {"type": ["string", "integer"]}}, "type ['string', 'integer']"),
    ({"type": "OBJECT", "properties": {"a": {"type": "STRING"}}, "required": ["b"]},
     "required names 'b'"),
    ({"responseSchema": {"type": "STRING"}, "responseJsonSchema": {"type": "string"}},
     "only one of response_schema and response_json_schema"),
    ({"responseSchema": {"type": "STRING"}, "temperature": 1}, "alone, not beside temperature"),
])
def test_a_schema_vertex_would_refuse_or_with_no_typed_equivalent_is_refused(given, said):
    with pytest.raises(SchemaError) as error:
        OutputSchema.from_response_schema(given)
    assert said in str(error.value)


def test_a_records_own_schema_is_checked_as_far_as_it_can_be():
    """A record's schema need not have a typed equivalent: it is only checked."""
    own = OutputSchema.from_generation_config({"responseMimeType": "application/json",
                                               "responseSchema": {"anyOf": [
                                                   {"type": "STRING"}, {"type": "INTEGER"}]}})
    assert own.read("3").ok and own.read('"x"').ok
    assert own.read("true").error_code == "schema_mismatch"
    enum = OutputSchema.from_generation_config({"responseMimeType": "text/x.enum",
                                                "responseSchema": {"type": "STRING",
                                                                   "enum": ["a", "b"]}})
    assert enum.read("b").json == '"b"' and enum.read("c").error_code == "schema_mismatch"


def _config(*args, tmp_path=None):
    return job_config(PipelineOptions(["--input", "i", "--output", "o", "--endpoint",
                                       "http://127.0.0.1:1", *args]), environ={})


def test_the_job_options_put_the_schema_in_every_request_and_type_the_table(tmp_path):
    config = _config("--output_schema", REVIEW)
    assert config.defaults.defaults_body["generationConfig"]["responseSchema"]["required"] == [
        "sentiment", "confidence", "tags"]
    assert schema("responses", config.defaults.output_schema).field("parsed").type == \
        pa.struct([("sentiment", pa.string()), ("confidence", pa.float64()),
                   ("tags", pa.list_(pa.string()))])
    path = tmp_path / "schema.json"
    path.write_text(json.dumps({"type": "OBJECT", "properties": {"label": {
        "type": "STRING", "enum": ["a", "b"]}}, "required": ["label"]}))
    from_file = _config("--response_schema", str(path), "--schema_reasks", "0")
    assert from_file.defaults.output_schema.root.properties[0][0] == "label"
    assert from_file.schema_reasks == 0


@pytest.mark.parametrize("args, said", [
    (("--output_schema", "a STRNG"), "--output_schema: field a: type STRNG"),
    (("--response_schema", '{"type": "DICT"}'), "--response_schema: Vertex AI would refuse"),
    (("--response_schema", "/no/such/schema.json"), "--response_schema: neither JSON nor a file"),
    (("--response_schema", "{not json"), "--response_schema: not JSON"),
    (("--output_schema", "a STRING", "--response_schema", '{"type": "STRING"}'),
     "give one"),
    (("--output_schema", "a STRING", "--generation_config",
      '{"responseMimeType": "application/json"}'), "sets the generation config's "
                                                   "responseMimeType"),
    (("--output_schema", "a STRING", "--schema_reasks", "-1"), "--schema_reasks must be"),
])
def test_schema_options_that_cannot_work_are_refused_in_one_line(args, said):
    with pytest.raises(OptionError) as error:
        _config(*args)
    assert said in str(error.value) and "\n" not in str(error.value)


# Values that do not fit their column are mismatches, never a crash later.

def test_numbers_beyond_their_column_are_mismatches():
    from decimal import Decimal
    schema = OutputSchema.from_columns("n INT64, d NUMERIC, f FLOAT64")
    assert "does not fit INT64" in schema.read('{"n": 9223372036854775808, "d": 1, "f": 1}').message
    assert schema.read('{"n": -9223372036854775808, "d": 1, "f": 1}').ok
    assert "does not fit NUMERIC" in schema.read('{"n": 1, "d": 1e29, "f": 1}').message
    assert "does not fit FLOAT64" in schema.read('{"n": 1, "d": 1, "f": 1e400}').message
    for constant in ("NaN", "Infinity", "-Infinity"):
        verdict = schema.read(f'{{"n": 1, "d": {constant}, "f": 1}}')
        assert verdict.error_code == "invalid_json" and "not a JSON number" in verdict.message
    # NUMERIC is decimal(38, 9): above 1e19 too, every digit written
    big = schema.read('{"n": 1, "d": 12345678901234567890.123456789, "f": 1}')
    assert big.value["d"] == Decimal("12345678901234567890.123456789")
    assert schema.read('{"n": 1, "d": 99999999999999999999999999999.999999999, "f": 1}').ok


def test_a_text_x_enum_label_is_typed():
    schema = OutputSchema.from_response_schema({"responseMimeType": "text/x.enum",
                                                "responseSchema": {"type": "STRING",
                                                                   "enum": ["a", "b"]}})
    assert schema.enum_text and schema.generation_config["responseMimeType"] == "text/x.enum"
    assert schema.read("b\n").value == {"value": "b"}
    assert schema.read("c").error_code == "schema_mismatch"
    with pytest.raises(SchemaError, match="responseMimeType"):
        OutputSchema.from_response_schema({"responseMimeType": "text/plain",
                                           "responseSchema": {"type": "STRING"}})


def test_refs_without_a_cycle_are_inlined_and_sent_inlined():
    schema = OutputSchema.from_response_schema({"responseJsonSchema": {
        "$defs": {"Tag": {"type": "object", "properties": {"name": {"type": "string"}},
                          "required": ["name"]}},
        "type": "object", "properties": {"tags": {"type": "array",
                                                  "items": {"$ref": "#/$defs/Tag"}}},
        "required": ["tags"]}})
    sent = schema.generation_config["responseJsonSchema"]
    assert "$defs" not in json.dumps(sent) and "$ref" not in json.dumps(sent)
    assert schema.read('{"tags": [{"name": "x"}]}').value == {"tags": [{"name": "x"}]}
    with pytest.raises(SchemaError, match="cyclic"):
        OutputSchema.from_response_schema({"responseJsonSchema": {
            "$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
            "$ref": "#/$defs/N"}})


def test_anyof_of_objects_is_one_struct_of_their_fields():
    schema = OutputSchema.from_response_schema({"responseJsonSchema": {"anyOf": [
        {"type": "object", "properties": {"cat": {"type": "string"}}, "required": ["cat"]},
        {"type": "object", "properties": {"dog": {"type": "integer"}}, "required": ["dog"]}]}})
    assert [name for name, _ in schema.root.properties] == ["cat", "dog"]
    assert schema.read('{"dog": 2}').value == {"dog": 2}
    assert schema.read('{"bird": 2}').error_code == "schema_mismatch"
    with pytest.raises(SchemaError, match="two types"):
        OutputSchema.from_response_schema({"responseJsonSchema": {"anyOf": [
            {"type": "object", "properties": {"x": {"type": "string"}}},
            {"type": "object", "properties": {"x": {"type": "integer"}}}]}})
