"""The input as a run sees it: one view of every file (lines appended while it
runs wait for the next run), every matched file accounted for (those that
cannot be read are named), any file name, and never its own output."""
import json
import os

from transforms import input_files
from tests.support.pipeline_runs import read_table, run_job, summary, write_jsonl


def records(n, prefix="a"):
    return [{"id": f"{prefix}{i}", "prompt": f"question {i}"} for i in range(n)]


def test_lines_appended_after_the_start_are_left_for_the_next_run(emulator, tmp_path,
                                                                   monkeypatch):
    sample = write_jsonl(tmp_path / "growing.jsonl", records(10))
    real_snapshot = input_files.snapshot

    def snapshot_then_append(pattern):
        files = real_snapshot(pattern)
        with open(sample, "a") as f:  # a writer appends while the run reads
            f.write("".join(json.dumps(r) + "\n" for r in records(5)))  # ids already there
            f.write('{"id": "half", "prom')  # a line still being written
        return files
    monkeypatch.setattr(input_files, "snapshot", snapshot_then_append)
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--progress_s", "0") == 0
    assert emulator.stats()["requests"] == 10  # a0..a4 were not paid twice
    assert sorted(r["id"] for r in read_table(out, "responses")) == sorted(
        r["id"] for r in records(10))
    s = summary(out)
    assert (s["input_lines"], s["rejected"]) == (10, 0)
    assert s["input_files_grown"] == [str(sample)]
    assert s["all_lines_accounted_for"]


def test_matched_files_that_cannot_be_read_are_named(emulator, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    write_jsonl(folder / "good.jsonl", records(3))
    os.symlink(folder / "gone.jsonl", folder / "dangling.jsonl")
    os.symlink(folder / "loop.jsonl", folder / "loop.jsonl")
    out = tmp_path / "out"
    capsys.readouterr()
    assert run_job(f"{folder}/*.jsonl", out, emulator.url, "--progress_s", "0") == 1
    s = summary(out)
    assert not s["all_lines_accounted_for"]
    assert [u.split(" (")[0] for u in s["unreadable_files"]] == [
        str(folder / "dangling.jsonl"), str(folder / "loop.jsonl")]
    rejected = {r["source"]: r["reason"] for r in read_table(out, "rejected")}
    assert "No such file or directory" in rejected[str(folder / "dangling.jsonl")]
    assert "Too many levels of symbolic links" in rejected[str(folder / "loop.jsonl")]
    assert len(read_table(out, "responses")) == 3
    err = capsys.readouterr().err
    assert "dangling.jsonl (FileNotFoundError: No such file or directory) could not be read" \
        in err and "Traceback" not in err


def test_a_file_name_that_is_not_utf8_is_read(emulator, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.jsonl")  # Latin-1, as an old system writes it
    write_jsonl(folder / name, records(2))
    out = tmp_path / "out"
    assert run_job(f"{folder}/*.jsonl", out, emulator.url, "--progress_s", "0") == 0
    rows = read_table(out, "responses")
    assert {r["source"] for r in rows} == {f"{folder}/caf\\xe9.jsonl"}
    assert summary(out)["all_lines_accounted_for"]


def test_an_input_pattern_that_matches_the_jobs_own_output_is_refused(emulator, tmp_path,
                                                                      capsys):
    folder = tmp_path / "d"
    folder.mkdir()
    write_jsonl(folder / "prompts.jsonl", records(2))
    assert run_job(f"{folder}/*.jsonl", folder, emulator.url, "--progress_s", "0") == 0
    capsys.readouterr()
    paid = emulator.stats()["requests"]
    assert run_job(f"{folder}/*", folder, emulator.url, "--progress_s", "0",
                   "--skip_existing") == 2
    err = capsys.readouterr().err
    assert "matches files the job writes under --output" in err and "Traceback" not in err
    assert emulator.stats()["requests"] == paid
