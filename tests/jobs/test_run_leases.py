"""Two runs on one output: a live run's checkpoints are never deleted, a second
run never pays for its records again, and a rerun removes only the
checkpoint parts of dead runs whose every row its final tables supersede."""
import glob
import json
import subprocess
import sys
import time

from pipeline.job import main
from tests.support.servers import ROOT
from tests.support.pipeline_runs import read_table, run_job, write_jsonl
from transforms import schemas
from transforms.run_files import RunFiles, checkpoint_parts
from transforms.write_parquet import write_parquet_file


def records(n, prefix):
    return [{"id": f"{prefix}{i}", "prompt": f"question {i}"} for i in range(n)]


def one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_second_run_on_a_live_runs_output_refuses_naming_it(start_emulator, tmp_path,
                                                              capsys):
    emulator = start_emulator("--latency_ms", "200")
    sample = write_jsonl(tmp_path / "in.jsonl", records(60, "a"))
    out = tmp_path / "out"
    live = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "--input", str(sample), "--output", str(out),
         "--endpoint", emulator.url, "--concurrency", "2", "--progress_s", "0",
         "--run_id", "nightly-1"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    deadline = time.monotonic() + 60
    while not checkpoint_parts(str(out), "nightly-1"):  # it has paid for answers
        assert live.poll() is None and time.monotonic() < deadline, live.stderr.read()
        time.sleep(0.05)
    parts = checkpoint_parts(str(out), "nightly-1")
    capsys.readouterr()
    for mode in ([], ["--skip_existing"], ["--retry_errors_only"]):
        paid = emulator.stats()["requests"]
        assert run_job(sample, out, emulator.url, "--progress_s", "0", *mode) == 1
        error = one_line_error(capsys.readouterr().err)
        assert "run nightly-1 (process" in error and "is still writing to" in error
        # nothing paid for by the second run (the live one goes on at 2 in flight)
        assert emulator.stats()["requests"] - paid <= 2 + 2 * 5
        assert all(map(lambda p: glob.glob(p), parts))  # its checkpoints untouched
    assert live.wait(120) == 0, live.stderr.read()
    assert len(read_table(out, "responses")) == 60
    assert not glob.glob(f"{out}/summary-2*.json")  # the refused runs wrote nothing
    assert not (out / "_checkpoints").exists()  # the live run, done, removed its own


def _dead_run_part(out, run_id: str, ids: list[str]) -> str:
    """A checkpoint part as a run that was killed leaves it (killed processes
    leave their lease too: one of a process that no longer exists)."""
    rows = [{**schemas.blank_row(schemas.RESPONSES), "run_id": run_id, "id": i, "model": "m",
             "status": "ok", "text": f"paid answer {i}", "attempts": 1} for i in ids]
    path = f"{out}/_checkpoints/{run_id}/responses-part-{'0' * 31}{len(ids) % 10}.parquet"
    (out / "_checkpoints" / run_id).mkdir(parents=True, exist_ok=True)
    write_parquet_file(path, rows, schemas.RESPONSES)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    import socket
    (out / "_checkpoints" / run_id / "_lease.json").write_text(json.dumps(
        {"run_id": run_id, "host": socket.gethostname(), "pid": int(dead.stdout),
         "renewed_at": time.time()}))
    assert RunFiles(str(out), run_id).lease.endswith("_lease.json")
    return path


def test_a_rerun_removes_only_dead_runs_parts_it_superseded(emulator, tmp_path):
    out = tmp_path / "out"
    mine = _dead_run_part(out, "died-1", ["x0", "x1"])
    others = _dead_run_part(out, "died-2", ["y0", "y1", "y2"])  # another input's records
    sample = write_jsonl(tmp_path / "x.jsonl", records(3, "x"))
    assert run_job(sample, out, emulator.url, "--progress_s", "0", "--skip_existing") == 0
    assert emulator.stats()["requests"] == 1  # x0, x1 carried over, x2 called
    rows = {r["id"]: r for r in read_table(out, "responses")}
    assert rows["x0"]["text"] == "paid answer x0" and set(rows) == {"x0", "x1", "x2"}
    assert not glob.glob(mine) and not (out / "_checkpoints" / "died-1").exists()
    assert glob.glob(others)  # y0..y2 are in no final table: kept, with their run's lease
    assert (out / "_checkpoints" / "died-2" / "_lease.json").exists()

    # The other input's rerun carries them, and then they go.
    sample = write_jsonl(tmp_path / "y.jsonl", records(3, "y"))
    emulator.reset()
    assert main(["--input", str(sample), "--output", str(out), "--endpoint", emulator.url,
                 "--progress_s", "0", "--skip_existing"]) == 0
    assert emulator.stats()["requests"] == 0
    assert not (out / "_checkpoints").exists()


def test_damaged_or_foreign_tables_under_the_output_do_not_block_a_rerun(emulator, tmp_path,
                                                                         caplog):
    out = tmp_path / "out"
    sample = write_jsonl(tmp_path / "in.jsonl", records(4, "r"))
    assert run_job(sample, out, emulator.url, "--progress_s", "0") == 0
    table = sorted(out.glob("responses-*.parquet"))[0]
    (out / "responses-cut.parquet").write_bytes(table.read_bytes()[:200])  # cut off
    (out / "responses-export.parquet").write_bytes(b"not parquet at all")
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"review": ["mine"], "score": [3]}),  # the user's own columns
                   out / "responses-mine.parquet")
    torn = _dead_run_part(out, "died-3", ["r9"])
    with open(torn, "r+b") as f:
        f.truncate(100)
    emulator.reset()
    caplog.set_level("WARNING")
    assert run_job(sample, out, emulator.url, "--progress_s", "0", "--skip_existing") == 0
    assert emulator.stats()["requests"] == 0  # the good table still says what was answered
    warned = caplog.text
    for name in ("responses-cut.parquet", "responses-export.parquet", "responses-mine.parquet",
                 torn.rsplit("/", 1)[-1]):
        assert f"{name} while reading earlier results" in warned, warned
    assert (out / "responses-mine.parquet").exists() and glob.glob(torn)  # nothing deleted


def test_a_full_disk_stops_the_job_in_one_line_and_loses_no_answer(start_emulator, tmp_path):
    """The output on a small tmpfs of its own (mounting one needs root, as CI
    and the developers' machines are); the disk fills while the job runs."""
    import os
    import pytest
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)], check=True)
    try:
        emulator = start_emulator("--latency_ms", "20")
        total = 1500
        sample = write_jsonl(tmp_path / "in.jsonl", records(total, "d"))
        out = disk / "out"
        command = [sys.executable, "-m", "pipeline", "--input", str(sample), "--output",
                   str(out), "--endpoint", emulator.url, "--concurrency", "8",
                   "--progress_s", "0"]
        job = subprocess.Popen(command + ["--run_id", "full"], cwd=ROOT, text=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while emulator.stats()["requests"] < 50:
            assert job.poll() is None and time.monotonic() < deadline, job.stderr.read()
            time.sleep(0.02)
        calling_since, paid_then = time.monotonic(), emulator.stats()["requests"]
        while emulator.stats()["requests"] < 200:
            assert job.poll() is None and time.monotonic() < deadline, job.stderr.read()
            time.sleep(0.02)
        answers_per_s = (emulator.stats()["requests"] - paid_then) / (
            time.monotonic() - calling_since)
        with open(disk / "filler", "wb") as f:  # someone else fills the disk
            try:
                while True:
                    f.write(bytes(1 << 20))
            except OSError:
                pass
        stderr = job.communicate(timeout=120)[1]
        assert job.returncode == 1, stderr
        error = one_line_error(stderr)
        assert "no space left on the disk of --output" in error and "--skip_existing" in error
        paid_first = emulator.stats()["requests"]
        assert not glob.glob(f"{out}/_checkpoints/full/*.partial")

        (disk / "filler").unlink()
        emulator.reset()
        rerun = subprocess.run(command + ["--skip_existing"], cwd=ROOT, capture_output=True,
                               text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        rows = read_table(out, "responses")
        assert sorted(r["id"] for r in rows) == sorted(f"d{i}" for i in range(total))
        carried = json.loads((out / "summary.json").read_text())["carried_over"]
        assert emulator.stats()["requests"] == total - carried
        # Paid again: only the calls the job had under way when it stopped, at
        # most twice --concurrency (those running and those waiting their turn,
        # transforms/concurrent_calls.py): every answer that reached the
        # checkpoint step is saved, by the reserve's room.
        repaid = paid_first - carried
        print(f"\nfull disk at {paid_first} paid calls ({answers_per_s:.0f} answers/s): "
              f"the rerun paid {repaid} again")
        assert 0 <= repaid <= 2 * 8
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
