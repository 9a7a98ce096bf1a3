"""Adding a task is one module and one registry line (docs/architecture.md,
"Adding a task"): this file is the toy task's module, and `tasks.register`
its line. Nothing else of the job is changed, and a whole job runs it: its
model option on the command line, its records read, called and priced, its
table written, counted in summary.json and shown in the report."""
import pyarrow as pa
import pytest

from tests.support.pipeline_runs import read_table, run_job, summary, write_jsonl
from transforms import tasks
from transforms.call_vertex import CallHandler, record_row
from transforms.prompt_records import RejectedLine
from transforms.schemas import schema
from vertex.request_body import user_content
from vertex.response_rows import Status

pytestmark = pytest.mark.slow  # whole jobs on the DirectRunner


# -- the toy task's module: count a prompt's tokens (countTokens is free) --------------

def count_body(obj: dict, defaults, model: str) -> dict:
    if not isinstance(obj.get("prompt"), str) or not obj["prompt"]:
        raise RejectedLine("a count record needs a prompt")
    return {"contents": [user_content(obj["prompt"])]}


class CountHandler(CallHandler):
    table = "counts"

    def __init__(self, run_id=None):
        self.run_id = run_id

    async def call(self, client, record):
        return await client.count_tokens(record.model, record.body)

    def rows(self, record, result, redact):
        row = record_row(schema(self.table), record, result, self.run_id)
        if not result.ok:
            return [{**row, "status": Status.ERROR, "error_message": redact(str(result.error))}]
        return [{**row, "status": Status.OK,
                 "total_tokens": int(result.response.get("totalTokens") or 0)}]

    def cost(self, record, result):
        return 0.0  # countTokens is free


COUNT = tasks.Task(
    "count", CountHandler.table, "count_model", count_body,
    lambda options: CountHandler(options.run_id), summary_key="counts",
    default="gemini-3.5-flash", model_help="model whose tokens count records are counted in",
    columns=[("total_tokens", pa.int64(), "the prompt's tokens, as the model counts them")])


@pytest.fixture
def count_task():
    tasks.register(COUNT)  # the one registry line
    yield COUNT
    tasks.unregister(COUNT.name)


def test_a_toy_task_runs_through_the_whole_job(count_task, emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "c1", "task": "count", "prompt": "three little words"},
        {"id": "c2", "task": "count", "prompt": "a few more words than that one"},
        {"id": "c3", "task": "count"},
        {"id": "t1", "prompt": "and a text record beside them"}])
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--count_model", "gemini-3.8-flash") == 3
    counts = {r["id"]: r for r in read_table(out, "counts")}
    assert set(counts) == {"c1", "c2"}
    assert all(r["status"] == "ok" and r["model"] == "gemini-3.8-flash" for r in counts.values())
    assert 0 < counts["c1"]["total_tokens"] < counts["c2"]["total_tokens"]
    assert [r["id"] for r in read_table(out, "responses")] == ["t1"]
    rejected = read_table(out, "rejected")
    assert len(rejected) == 1 and "a count record needs a prompt" in rejected[0]["reason"]
    run = summary(out)
    assert run["counts"]["ok"] == 2 and run["written"]["counts"] == 2
    assert run["all_lines_accounted_for"] and run["outcome"] == "partial"
    assert [f.rsplit("/", 1)[-1].split("-")[0] for f in run["files"]["counts"]] == ["counts"]
    assert "<td>count</td>" in (out / "report.html").read_text()  # its records in the report
