"""docs/library.md's "Use the transforms in your own pipeline" example, run as
written against the emulator: plain dict records, windowed input, results in
the right windows, failures apart."""
import json
import re
from pathlib import Path

from tests.support.servers import ROOT


def readme_example() -> str:
    text = (ROOT / "docs" / "library.md").read_text()
    return re.search(r"<!-- example: windowed -->\n```python\n(.*?)```", text, re.S).group(1)


def test_the_documented_example_runs_with_results_in_the_right_windows(emulator, tmp_path, capsys):
    code = readme_example()
    code = code.replace('"http://127.0.0.1:8090"', repr(emulator.url))
    code = code.replace('"out/windowed"', repr(str(tmp_path)))
    exec(compile(code, "docs/library.md example", "exec"), {"__name__": "readme_example"})

    def lines(name):
        return [json.loads(line) for f in sorted(Path(tmp_path).glob(f"{name}-*.jsonl"))
                for line in f.read_text().splitlines()]
    rows = {row["id"]: row for row in lines("rows")}
    assert set(rows) == {"t1", "t2", "t3", "t4"}
    assert rows["t4"]["status"] == "error" and rows["t4"]["error_code"] == "INVALID_ARGUMENT"
    counts = sorted((c["window_start"], c["status"], c["records"]) for c in lines("counts"))
    assert counts == [(0, "ok", 2), (15, "error", 1), (15, "ok", 1)]
    assert "failed: t4" in capsys.readouterr().out
    assert emulator.stats()["requests"] == 4


def test_two_call_steps_in_one_pipeline_count_apart_and_report_throttling(emulator):
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter

    from transforms import BuildPromptRecords, CallVertexAI, GeminiHandler, VertexConnection
    from vertex.call_policy import CallSettings
    connection = VertexConnection(endpoint_url=emulator.url,
                                  settings=CallSettings(rpm=120))  # 2 a second: waits
    pipeline = beam.Pipeline()
    for namespace, count in (("first", 2), ("second", 3)):
        records = (pipeline
                   | f"Create {namespace}" >> beam.Create(
                       [{"id": f"{namespace}{i}", "prompt": f"p{i}"} for i in range(count)])
                   | f"Build {namespace}" >> BuildPromptRecords())
        records.records | f"Call {namespace}" >> CallVertexAI(
            GeminiHandler(), connection, metrics_namespace=namespace)
    result = pipeline.run()
    result.wait_until_finish()

    def counter(namespace, name):
        found = result.metrics().query(MetricsFilter().with_namespace(namespace)
                                       .with_name(name))["counters"]
        return sum(c.committed or c.attempted or 0 for c in found)
    assert counter("first", "requests") == 2 and counter("second", "requests") == 3
    assert counter("first", "responses_ok") + counter("second", "responses_ok") == 5
    # Five calls at two a second wait about two seconds on the limiter in all.
    throttled = counter("first", "cumulativeThrottlingSeconds") + counter(
        "second", "cumulativeThrottlingSeconds")
    assert throttled >= 1


def test_a_second_job_in_the_same_process_starts_fresh():
    """Clients (limiters, models seen) and progress counters belong to one
    job: the next job in the process gets its own, even with equal settings."""
    from transforms.progress import ProgressSettings
    from transforms.vertex_connection import VertexConnection, worker_state
    first, second = VertexConnection(endpoint_url="http://127.0.0.1:1"), \
        VertexConnection(endpoint_url="http://127.0.0.1:1")
    assert first != second
    worker = worker_state()
    assert worker.client(first) is not worker.client(second)
    assert worker.client(first) is worker.client(first)
    assert worker.progress(ProgressSettings(10, 5, "run1")) is not \
        worker.progress(ProgressSettings(10, 5, "run2"))
