"""Input from and output to GCS, through gcp-storage-emulator with the real
google-cloud-storage client and Beam's GCS filesystem."""
import io
import json

import pyarrow.parquet as pq

from tests.support.pipeline_runs import run_job


def test_reads_gs_input_and_writes_gs_output(emulator, gcs):
    lines = [json.dumps({"id": f"g{i}", "prompt": f"question {i}"}) for i in range(20)]
    gcs.blob("jobs/in/part-1.jsonl").upload_from_string("\n".join(lines[:12]) + "\n")
    gcs.blob("jobs/in/part-2.jsonl").upload_from_string("\n".join(lines[12:]) + "\nnot json\n")

    assert run_job("gs://test-bucket/jobs/in/*.jsonl", "gs://test-bucket/jobs/out",
                   emulator.url, "--run_id", "gcs-test") == 3

    names = sorted(b.name for b in gcs.client.list_blobs("test-bucket", prefix="jobs/out/"))
    assert "jobs/out/summary.json" in names
    responses = [n for n in names if n.startswith("jobs/out/responses-gcs-test-")]
    rejected = [n for n in names if n.startswith("jobs/out/rejected-gcs-test-")]
    assert responses and rejected

    def rows(blob_names):
        result = []
        for name in blob_names:
            result += pq.read_table(io.BytesIO(gcs.blob(name).download_as_bytes())).to_pylist()
        return result
    answered = rows(responses)
    assert sorted(r["id"] for r in answered) == sorted(f"g{i}" for i in range(20))
    assert all(r["status"] == "ok" and r["source"].startswith("gs://test-bucket/jobs/in/")
               for r in answered)
    assert [r["line_number"] for r in rows(rejected)] == [9]
    summary = json.loads(gcs.blob("jobs/out/summary.json").download_as_bytes())
    assert summary["all_lines_accounted_for"] and summary["input_lines"] == 21
    assert not [n for n in names if "beam-temp" in n]  # temporary files were cleaned up
