"""The Dataflow path, as far as it runs here (issue 28).

Dataflow's Runner v2 runs Python the portable way: the graph goes through
Beam's runner API and SDK worker processes execute it over the Fn API. Beam's
own embedded job service and an external worker pool do the same on this
machine, so the whole job runs on them here; and a job service that starts
two SDK workers (tests/jobs/portable_job_service.py) shows the quota shared
between them. Workers install the package from
setup.py: the package is built and installed into a virtualenv of its own,
and a job runs from it, not from the checkout. Nothing is mocked; what this
cannot show (GCS at Dataflow's scale, Secret Manager, autoscaling) the
docs/dataflow.md says."""
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.support.pipeline_runs import read_table, summary, write_jsonl
from tests.support.servers import ROOT, free_port

PACKAGES = ("pipeline", "transforms", "vertex", "vertex_schema", "vertex_catalog", "emulator")


def every_task_records():
    return [
        {"id": "t-ok", "prompt": "Label this: a fine review"},
        {"id": "t-fails", "prompt": "Label this [[emulator: fail=400]]"},
        {"id": "t-retried", "prompt": "Label this [[emulator: fail=503x1]]"},
        {"id": "img", "task": "image", "prompt": "a red mug", "parameters": {"sampleCount": 2}},
        {"id": "live", "task": "live", "prompt": "Your order has shipped.",
         "config": {"output_audio_transcription": {}}},
        "this line is not JSON",
    ]


@pytest.fixture
def worker_pool(tmp_path):
    """Beam's SDK worker pool (what Dataflow's workers run), started and
    stopped here. It starts each SDK worker as `python`: the PATH puts this
    interpreter first."""
    port = free_port()
    log = open(tmp_path / "worker_pool.log", "w")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    pool = subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                             f"--service_port={port}"], stdout=log, stderr=subprocess.STDOUT,
                            env=env, cwd=tmp_path)
    time.sleep(2)
    assert pool.poll() is None, (tmp_path / "worker_pool.log").read_text()
    yield f"localhost:{port}", tmp_path / "worker_pool.log"
    pool.terminate()
    try:
        pool.wait(10)
    except subprocess.TimeoutExpired:
        pool.kill()
    log.close()


@pytest.fixture
def parallel_job_service(tmp_path):
    """Beam's local job service, its runner starting --sdk_worker_parallelism
    SDK workers (tests/jobs/portable_job_service.py): Beam's own runs one."""
    port = free_port()
    log = open(tmp_path / "job_service.log", "w")
    service = subprocess.Popen([sys.executable, "-m", "tests.jobs.portable_job_service",
                                "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                               cwd=ROOT)
    deadline = time.monotonic() + 30
    while "job service on port" not in (tmp_path / "job_service.log").read_text():
        assert service.poll() is None and time.monotonic() < deadline, \
            (tmp_path / "job_service.log").read_text()
        time.sleep(0.1)
    yield f"localhost:{port}"
    service.terminate()
    try:
        service.wait(10)
    except subprocess.TimeoutExpired:
        service.kill()
    log.close()


@pytest.mark.parametrize("sdk_workers", [1, 2])
def test_the_job_runs_the_portable_way_on_sdk_workers_of_an_external_pool(
        emulator, tmp_path, worker_pool, request, sdk_workers):
    """On Beam's embedded job service (one SDK worker), and on one whose
    runner starts two."""
    address, pool_log = worker_pool
    job_endpoint = "embed" if sdk_workers == 1 else request.getfixturevalue("parallel_job_service")
    out = tmp_path / "out"
    path = write_jsonl(tmp_path / "in.jsonl", every_task_records())
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "--input", str(path), "--output", str(out),
         "--endpoint", emulator.url, "--run_id", "portable",
         "--runner", "PortableRunner", "--job_endpoint", job_endpoint,
         "--sdk_worker_parallelism", str(sdk_workers),
         "--environment_type", "EXTERNAL", "--environment_config", address,
         "--max_attempts", "3", "--initial_backoff_s", "0.05"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 3, done.stderr[-3000:]
    # The records were called in the SDK worker processes the pool started.
    assert pool_log.read_text().count("Starting worker") == sdk_workers
    counts = summary(out)
    assert counts["all_lines_accounted_for"] and counts["input_lines"] == 6
    assert counts["responses"] == {"ok": 2, "blocked": 0, "error": 1, "total": 3}
    assert counts["image_records"]["ok"] == 1 and counts["live"]["ok"] == 1
    assert counts["rejected"] == 1
    responses = {r["id"]: r for r in read_table(out, "responses")}
    assert responses["t-retried"]["attempts"] == 2
    assert responses["t-fails"]["error_code"] == "INVALID_ARGUMENT"
    images = [r for r in read_table(out, "images") if r["status"] == "ok"]
    assert len(images) == 2 and all(Path(r["uri"]).exists() for r in images)
    [live] = read_table(out, "live")
    assert Path(live["audio_uri"]).exists()
    # Checkpoints cleaned up as on the in-process runner; summary and report written.
    assert not (out / "_checkpoints" / "portable").exists()
    assert (out / "report.html").exists() and (out / "summary-portable.json").exists()


def test_the_quota_holds_and_is_used_with_portable_workers(start_emulator, tmp_path,
                                                         worker_pool):
    """--rpm shared by the portable runner's worker processes: under the
    emulator's quota (600/min, 1 s of burst), and at least 0.95 of it."""
    address, _ = worker_pool
    emulator = start_emulator("--rpm", "600", "--no_retry_info")
    out = tmp_path / "out"
    path = write_jsonl(tmp_path / "in.jsonl",
                       [{"id": f"r{i}", "prompt": f"question {i}"} for i in range(150)])
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "--input", str(path), "--output", str(out),
         "--endpoint", emulator.url, "--rpm", "600", "--progress_s", "0",
         "--runner", "PortableRunner", "--job_endpoint", "embed",
         "--environment_type", "EXTERNAL", "--environment_config", address],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    counts = summary(out)
    assert counts["worker_processes"] == 1 and counts["rpm_per_process"] == 600
    assert counts["responses"]["ok"] == 150
    assert counts["http_429"] <= 1  # no 429 beyond 1%
    rows = read_table(out, "responses")
    sent = sorted(r["started_at"].timestamp() + a["offset_ms"] / 1000
                  for r in rows for a in r["attempt_log"])
    # After the first second's burst, requests go at the quota's pace.
    paced = [t for t in sent if t >= sent[0] + 1.0]
    rate = (len(paced) - 1) / (paced[-1] - paced[0])
    assert 0.95 * 10 <= rate <= 10 * 1.05, rate


def _build(tmp_path: Path) -> tuple[Path, Path]:
    """The sdist from setup.py, and the wheel built from that sdist (as pip
    builds what Dataflow's workers install)."""
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(dist)], cwd=ROOT,
                   check=True, capture_output=True, timeout=300)
    [sdist] = dist.glob("*.tar.gz")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(dist), str(sdist)],
                   check=True, capture_output=True, timeout=300)
    [wheel] = dist.glob("*.whl")
    return sdist, wheel


def test_the_package_as_workers_install_it_runs_a_job(emulator, tmp_path):
    sdist, wheel = _build(tmp_path)
    # Every module and data file of the checkout's packages is in the wheel.
    tracked = subprocess.run(["git", "ls-files", *PACKAGES], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    shipped = set(zipfile.ZipFile(wheel).namelist())
    assert [f for f in tracked if f not in shipped] == []

    # A virtualenv of its own: the package from the wheel, the dependencies
    # from this environment's site-packages (a path, so none of its .pth files,
    # such as the checkout's editable install, apply).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", str(wheel)], check=True, capture_output=True, timeout=300)
    import site
    [site_packages] = (venv / "lib").glob("python3*/site-packages")
    (site_packages / "_dependencies.pth").write_text(site.getsitepackages()[0] + "\n")

    where = subprocess.run([str(python), "-c", "import pipeline, vertex_catalog, emulator; "
                            "print(pipeline.__file__, vertex_catalog.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert str(ROOT) not in where and str(site_packages) in where

    out = tmp_path / "out"
    path = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "t", "prompt": "Label this: fine"},
        {"id": "img", "task": "image", "prompt": "a red mug"}])
    done = subprocess.run([str(python), "-m", "pipeline", "--input", str(path), "--output",
                           str(out), "--endpoint", emulator.url, "--progress_s", "0",
                           "--output_schema", "label STRING, score FLOAT64"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert done.returncode == 0, done.stderr[-3000:]
    counts = json.loads((out / "summary.json").read_text())
    assert counts["all_lines_accounted_for"]
    assert counts["responses"]["ok"] == 1 and counts["image_records"]["ok"] == 1
    assert counts["typed_answers"]["matched"] == 1


def test_the_quota_is_shared_by_two_portable_sdk_workers(start_emulator, tmp_path, worker_pool,
                                                         parallel_job_service):
    """--rpm split between two SDK worker processes of the pool, started by a
    job service (as Dataflow's runner starts one per vCPU): each sends at
    most its half, together they keep under the emulator's quota (600/min,
    1 s of burst) and use at least 0.95 of it."""
    address, pool_log = worker_pool
    emulator = start_emulator("--rpm", "600", "--no_retry_info")
    out = tmp_path / "out"
    path = write_jsonl(tmp_path / "in.jsonl",
                       [{"id": f"r{i}", "prompt": f"question {i}"} for i in range(200)])
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "--input", str(path), "--output", str(out),
         "--endpoint", emulator.url, "--rpm", "600", "--progress_s", "0",
         "--runner", "PortableRunner", "--job_endpoint", parallel_job_service,
         "--sdk_worker_parallelism", "2",
         "--environment_type", "EXTERNAL", "--environment_config", address],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert pool_log.read_text().count("Starting worker") == 2
    counts = summary(out)
    assert counts["worker_processes"] == 2 and counts["rpm_per_process"] == 300
    assert counts["responses"]["ok"] == 200
    assert counts["http_429"] <= 2  # no 429 beyond 1%
    rows = read_table(out, "responses")
    sent = sorted(r["started_at"].timestamp() + a["offset_ms"] / 1000
                  for r in rows for a in r["attempt_log"])
    paced = [t for t in sent if t >= sent[0] + 1.0]  # after the first second's burst
    rate = (len(paced) - 1) / (paced[-1] - paced[0])
    assert 0.95 * 10 <= rate <= 10 * 1.05, rate
