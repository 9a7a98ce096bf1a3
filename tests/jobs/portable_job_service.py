"""Beam's own local job service, with one change: its runner starts
`--sdk_worker_parallelism` SDK workers per environment, as a runner with
several worker processes (Dataflow's) does.

Beam's local job service (local_job_service.py) runs the job with
FnApiRunner.run_via_runner_api, which never reads a worker count (only
FnApiRunner.run_pipeline does), so it always uses one SDK worker. This sets
the runner's count from the job's options; everything else is Beam's. Test
only: it sets FnApiRunner's private `_num_workers` (should an upgrade rename
it, the two-worker test fails on the workers it counts).

    python -m tests.jobs.portable_job_service --port PORT
"""
from __future__ import annotations

import argparse
import time

from apache_beam.options.pipeline_options import PortableOptions
from apache_beam.portability.api import beam_job_api_pb2
from apache_beam.runners.portability import local_job_service
from apache_beam.runners.portability.fn_api_runner import fn_runner


class ParallelBeamJob(local_job_service.BeamJob):
    def _invoke_runner(self):
        self.set_state(beam_job_api_pb2.JobState.RUNNING)
        runner = fn_runner.FnApiRunner(provision_info=self._provision_info)
        options = self.pipeline_options()
        runner._num_workers = max(1, int(options.view_as(PortableOptions)
                                          .sdk_worker_parallelism or 1))
        return runner.run_via_runner_api(self._pipeline_proto, options)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    servicer = local_job_service.LocalJobServicer(beam_job_type=ParallelBeamJob)
    servicer.start_grpc_server(args.port)
    print(f"job service on port {args.port}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
