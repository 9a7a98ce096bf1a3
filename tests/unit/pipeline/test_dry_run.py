"""The dry run's reading of the input (the same checks as a run, tallied by
task and model) and its Flex-by-deadline arithmetic, without any call."""
import json
import time

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import dry_run
from pipeline.options import job_config
from vertex.call_policy import CallSettings


def config(tmp_path, lines, *flags):
    source = tmp_path / "in.jsonl"
    source.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                              for line in lines))
    return job_config(PipelineOptions(["--input", str(source), "--output", str(tmp_path / "out"),
                                       "--endpoint", "http://127.0.0.1:9", *flags]))


def test_every_line_is_checked_and_tallied_by_task_and_model(tmp_path):
    job = config(tmp_path, [
        {"id": "t1", "prompt": "a" * 400},
        {"id": "t2", "prompt": "b", "generationConfig": {"maxOutputTokens": 10}},
        {"id": "i1", "task": "image", "prompt": "a mug", "parameters": {"sampleCount": 3}},
        {"id": "i2", "task": "image", "prompt": "a cup", "model": "imagen-4.0-generate-001"},
        {"id": "t1", "prompt": "the same id again"},
        "not json",
        {"id": "x", "task": "nonsense"}])
    tallies, lines = dry_run.read_all(job, sample_size=1)
    assert lines["lines"] == 7 and lines["rejected"] == 4
    assert set(lines["rejected_by_reason"]) == {
        "model_not_served", "duplicate_id", "not valid JSON",
        "unknown task 'nonsense'; one of text, image, live"}
    assert [r["line_number"] for r in lines["rejected_lines"]] == [4, 5, 6, 7]
    text = tallies[("text", "gemini-3.5-flash")]
    assert text.records == 2 and len(text.sample) == 1
    assert text.input_tokens >= 100  # 400 characters at about 4 a token, and the short one
    images = tallies[("image", "gemini-3.1-flash-image")]
    assert images.records == 1 and images.image_tokens > 0  # three images, as output tokens


def test_flex_by_deadline_is_a_share_between_flex_and_standard():
    settings = CallSettings(finish_by=time.time() + 600)
    totals = {"standard": 10.0, "flex": 5.0, "priority": 18.0}
    in_time = dry_run._flex_by_deadline(settings, totals, minutes=5)
    assert in_time["flex_share"] == 1.0 and in_time["cost_usd"] == pytest.approx(5.0)
    late = dry_run._flex_by_deadline(settings, totals, minutes=20)
    assert late["flex_share"] == pytest.approx(0.5, abs=0.01)
    assert late["cost_usd"] == pytest.approx(7.5, abs=0.1)
    unknown = dry_run._flex_by_deadline(settings, totals, minutes=None)
    assert unknown["cost_usd_range"] == [5.0, 10.0] and "flex_share" not in unknown
    assert dry_run._flex_by_deadline(CallSettings(), totals, 5) is None
