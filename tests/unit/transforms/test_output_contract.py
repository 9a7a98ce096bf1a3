"""The output contract has one home (transforms/schemas.py): docs/output.md
shows its tables as they are, and the rows the code builds have exactly its
columns."""
from tests.support.servers import ROOT
from transforms import schemas
from transforms.generate_content import responses_table_row
from transforms.prompt_records import PromptRecord
from vertex.call_policy import CallResult
from vertex.response_rows import response_row


def test_the_output_page_shows_every_table_as_defined():
    page = (ROOT / "docs" / "output.md").read_text()
    for table in schemas.COLUMNS:
        assert schemas.markdown_table(table) in page, table


def test_parsed_answers_fill_only_columns_of_the_schema():
    answer = {"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}],
              "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1,
                                "totalTokenCount": 2}}
    assert set(response_row(answer)) <= set(schemas.RESPONSES.names)
    record = PromptRecord("a", "text", "gemini-3.5-flash", {}, None, "in.jsonl", 1)
    row = responses_table_row(record, CallResult(response=answer, attempts=1), "run", str)
    assert list(row) == schemas.RESPONSES.names
    assert list(row["usage"]) == [f.name for f in schemas.USAGE]
