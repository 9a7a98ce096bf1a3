"""A run's files are its own: a run id that is the start of another's
(`nightly`, `nightly-2`) names no file of the other (report, summary), and a dry run says of
a duplicated id what the run says."""
import json
import os

from pipeline.results import report
from tests.support.pipeline_runs import read_table, run_job, write_jsonl


def records(n, prefix):
    return [{"id": f"{prefix}{i}", "prompt": f"question {i}"} for i in range(n)]


def test_the_report_of_a_run_reads_no_file_of_a_run_whose_id_it_starts(emulator, tmp_path):
    out = tmp_path / "out"
    assert run_job(write_jsonl(tmp_path / "a.jsonl", records(3, "a")), out, emulator.url,
                   "--run_id", "nightly", "--progress_s", "0") == 0
    assert run_job(write_jsonl(tmp_path / "b.jsonl", records(5, "b")), out, emulator.url,
                   "--run_id", "nightly-2", "--progress_s", "0") == 0
    assert report.tally(str(out), "nightly").records == 3
    assert report.tally(str(out), "nightly-2").records == 5
    assert report.tally(str(out), None).records == 8
    listed = json.loads((out / "summary-nightly.json").read_text())["files"]["responses"]
    assert isinstance(listed, list) and listed  # the files themselves, not a pattern
    assert all(os.path.exists(path) and "nightly-2" not in path for path in listed)


def test_a_dry_run_gives_a_duplicate_the_reason_the_run_gives(emulator, tmp_path):
    lines = [{"id": "x", "prompt": "one"}, {"id": "y", "prompt": "two"},
             {"id": "x", "prompt": "three"}]
    sample = write_jsonl(tmp_path / "in.jsonl", lines)
    assert run_job(sample, tmp_path / "dry", emulator.url, "--dry_run", "--progress_s", "0") == 0
    estimate = json.loads((tmp_path / "dry" / "estimate.json").read_text())
    assert run_job(sample, tmp_path / "run", emulator.url, "--progress_s", "0") == 3
    [rejected] = read_table(tmp_path / "run", "rejected")
    assert [r["reason"] for r in estimate["rejected_lines"]] == [rejected["reason"]]
    assert rejected["reason"] == f"duplicate_id: id 'x' was first seen at {sample}:1"
