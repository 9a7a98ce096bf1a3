"""--concurrency and --rpm hold in a real pipeline run, across the threads of
a worker process."""
import pytest

from tests.support.pipeline_runs import read_table, run_job, summary, write_jsonl


def records(n):
    return [{"id": f"r{i}", "prompt": f"question {i}"} for i in range(n)]


def test_concurrency_bounds_requests_in_flight(start_emulator, tmp_path):
    emulator = start_emulator("--latency_ms", "100")
    sample = write_jsonl(tmp_path / "in.jsonl", records(60))
    assert run_job(sample, tmp_path / "out", emulator.url, "--concurrency", "5") == 0
    stats = emulator.stats()
    assert stats["requests"] == 60
    assert 2 <= stats["peak_in_flight"] <= 5


def test_a_record_waiting_its_turn_is_not_timed(start_emulator, tmp_path):
    # Records queue on the event loop ahead of a free slot, so that a slot is
    # refilled at once; the wait for a turn is not the call's latency, nor
    # does it run down the record's deadline.
    emulator = start_emulator("--latency_ms", "500")
    sample = write_jsonl(tmp_path / "in.jsonl", records(12))
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--concurrency", "2", "--deadline_s", "0.9") == 0
    assert emulator.stats()["peak_in_flight"] == 2
    rows = read_table(out, "responses")
    assert [r["status"] for r in rows] == ["ok"] * 12  # 6 turns of 500 ms, a deadline of 900
    assert max(r["latency_ms"] for r in rows) < 850


def test_without_the_limit_the_same_job_meets_429s_and_still_loses_nothing(start_emulator, tmp_path):
    emulator = start_emulator("--rpm", "600")
    sample = write_jsonl(tmp_path / "in.jsonl", records(40))
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--max_attempts", "20") == 0
    assert emulator.stats()["by_status"].get("429", 0) > 0
    rows = read_table(out, "responses")
    assert sorted(r["id"] for r in rows) == sorted(f"r{i}" for i in range(40))
    assert all(r["status"] == "ok" for r in rows)
    assert summary(out)["http_429"] == sum(r["throttled_attempts"] for r in rows) > 0


@pytest.mark.parametrize("mode, processes", [("multi_threading", 1),
                                             ("multi_processing", 2)])
def test_rpm_keeps_a_quota_bound_job_free_of_429s_across_threads_and_processes(
        start_emulator, tmp_path, mode, processes):
    # The emulator refuses bursts above 1 s of its 600/min quota; without the
    # client-side limit, 40 requests at once would meet many 429s. Two
    # threads share one process's limit; two processes each get half the quota.
    emulator = start_emulator("--rpm", "600", "--no_retry_info")
    sample = write_jsonl(tmp_path / "in.jsonl", records(40))
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--rpm", "600", "--direct_num_workers", "2",
                   "--direct_running_mode", mode) == 0
    assert emulator.stats()["by_status"] == {"200": 40}
    s = summary(out)
    assert s["http_429"] == 0 and s["responses"]["ok"] == 40
    assert s["worker_processes"] == processes and s["rpm_per_process"] == 600 / processes
    assert all(r["status"] == "ok" for r in read_table(out, "responses"))


@pytest.mark.parametrize("machine_type, expected", [
    ("n1-standard-4", 4), ("c3-standard-4-lssd", 4), ("n2d-highmem-16", 16),
    ("e2-custom-4-8192", 4), ("custom-8-30720", 8), ("n2-custom-6-16384-ext", 6),
    ("a2-highgpu-1g", 12), ("a2-highgpu-4g", 48), ("a2-megagpu-16g", 96), ("a3-highgpu-8g", 208),
    ("g2-standard-8", 8), ("e2-small", 2), ("f1-micro", 1), ("m1-ultramem-40", 40),
    ("c4a-highcpu-72-lssd", 72),
])
def test_vcpus_of_every_machine_family(machine_type, expected):
    from pipeline.runner_facts import vcpus
    assert vcpus(machine_type) == expected


def test_a_machine_type_of_unknown_shape_asks_for_worker_processes():
    from pipeline.runner_facts import vcpus
    with pytest.raises(ValueError, match="--worker_processes"):
        vcpus("mystery")


def test_worker_processes_follow_the_runner_options():
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.runner_facts import worker_processes
    assert worker_processes(PipelineOptions([]), None) == 1
    assert worker_processes(PipelineOptions(["--direct_num_workers", "3",
                                             "--direct_running_mode", "multi_processing"]), None) == 3
    assert worker_processes(PipelineOptions(["--direct_num_workers", "3"]), None) == 1  # threads
    dataflow = ["--runner", "DataflowRunner", "--max_num_workers", "5"]
    assert worker_processes(PipelineOptions(dataflow + ["--machine_type", "n2-standard-4"]), None) == 20
    assert worker_processes(PipelineOptions(dataflow + ["--machine_type", "custom-8-30720"]), None) == 40
    assert worker_processes(PipelineOptions(dataflow), None) == 5
    assert worker_processes(PipelineOptions(dataflow + [
        "--machine_type", "n1-standard-4", "--experiments", "no_use_multiple_sdk_containers"]), None) == 5
    assert worker_processes(PipelineOptions(dataflow), 7) == 7
    portable = ["--runner", "PortableRunner", "--environment_type", "EXTERNAL"]
    assert worker_processes(PipelineOptions(portable + ["--job_endpoint", "embed"]), None) == 1
    assert worker_processes(PipelineOptions(portable + ["--job_endpoint", "localhost:8099",
                                                        "--sdk_worker_parallelism", "4"]),
                            None) == 4
    assert worker_processes(PipelineOptions(portable + ["--job_endpoint", "embed"]), 2) == 2
