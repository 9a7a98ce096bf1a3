"""Beam's own RunInference with GeminiModelHandler, its google-genai client
pointed at the emulator, as the comparison for bench.overhead. Run as its own
process: python -m bench.runinference URL RECORDS [MAX_BATCH_SIZE]; prints JSON."""
from __future__ import annotations

import json
import resource
import sys
import time

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference
from apache_beam.ml.inference.gemini_inference import GeminiModelHandler, generate_from_string
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter


class EmulatorGeminiModelHandler(GeminiModelHandler):
    """GeminiModelHandler as shipped, but its client talks to the emulator
    (create_client has no base URL option) with a token nobody checks."""

    def __init__(self, url: str, **kwargs):
        super().__init__(model_name="gemini-3.5-flash", request_fn=generate_from_string,
                         project="bench", location="us-central1", **kwargs)
        self.url = url

    def create_client(self):
        from google import genai
        from google.genai.types import HttpOptions
        from google.oauth2.credentials import Credentials
        return genai.Client(vertexai=True, project=self.project, location=self.location,
                            credentials=Credentials(token="bench"),
                            http_options=HttpOptions(base_url=self.url))


def main(url: str, records: int, max_batch_size: int | None) -> dict:
    from pipeline.runner_facts import local_runner  # the in-process runner, no Prism download
    options = PipelineOptions([])
    handler = EmulatorGeminiModelHandler(
        url, **({"max_batch_size": max_batch_size} if max_batch_size else {}))
    rows = Metrics.counter("bench", "rows")
    started = time.perf_counter()
    p = beam.Pipeline(runner=local_runner(options), options=options)
    (p | beam.Create([f"Label item {i}: blue mug, good." for i in range(records)])
     | RunInference(handler) | beam.Map(lambda _: rows.inc()))
    result = p.run()
    result.wait_until_finish()
    wall = time.perf_counter() - started
    counted = result.metrics().query(MetricsFilter().with_name("rows"))["counters"]
    return {"records": records, "rows": sum(c.committed or c.attempted for c in counted),
            "wall_s": wall,
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


if __name__ == "__main__":
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else None
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), batch)))
