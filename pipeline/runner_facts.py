"""Facts about where the job runs, read from Beam's options: local or not,
and how many worker processes call Vertex AI at once (each with its own
share of the job-wide limits)."""
from __future__ import annotations

import os
import re

from apache_beam.options.pipeline_options import (DebugOptions, DirectOptions, PipelineOptions,
                                                  PortableOptions, StandardOptions, WorkerOptions)


def is_local(options: PipelineOptions) -> bool:
    return options.view_as(StandardOptions).runner in (None, "DirectRunner")


# Machine types whose vCPUs are not in their name.
_VCPUS_NOT_IN_NAME = {"e2-micro": 2, "e2-small": 2, "e2-medium": 2, "f1-micro": 1,
                      "g1-small": 1, "a2-megagpu-16g": 96}
_GPU_VCPUS_PER_GPU = {"a2-highgpu": 12, "a2-ultragpu": 12, "a3-highgpu": 26, "a3-megagpu": 26,
                      "a3-edgegpu": 26, "a3-ultragpu": 28}
_GPU_TYPE = re.compile(r"(a\d-[a-z]+gpu)-(\d+)g")


def vcpus(machine_type: str | None) -> int:
    """vCPUs of a Compute Engine machine type: n1-standard-4 -> 4,
    c3-standard-4-lssd -> 4, n2d-highmem-16 -> 16, e2-custom-4-8192 -> 4,
    custom-8-30720 -> 8, a2-highgpu-1g -> 12, e2-small -> 2."""
    name = (machine_type or "n1-standard-1").rsplit("/", 1)[-1]  # also a full URL
    if name in _VCPUS_NOT_IN_NAME:
        return _VCPUS_NOT_IN_NAME[name]
    parts = name.split("-")
    if "custom" in parts and parts.index("custom") + 1 < len(parts) \
            and parts[parts.index("custom") + 1].isdigit():
        return int(parts[parts.index("custom") + 1])
    gpu = _GPU_TYPE.fullmatch(name)
    if gpu and gpu.group(1) in _GPU_VCPUS_PER_GPU:
        return _GPU_VCPUS_PER_GPU[gpu.group(1)] * int(gpu.group(2))
    numbers = [p for p in parts[2:] if p.isdigit()]
    if len(parts) >= 3 and numbers:
        return int(numbers[0])
    raise ValueError(f"cannot tell the vCPUs of machine type {name!r}; pass "
                      "--worker_processes (workers times processes per worker)")


def worker_processes(options: PipelineOptions, explicit: int | None) -> int:
    """How many processes call Vertex AI at once, each with its own limiter."""
    if explicit:
        return explicit
    if is_local(options):
        direct = options.view_as(DirectOptions)
        if direct.direct_running_mode == "multi_processing":
            return direct.direct_num_workers or os.cpu_count() or 1
        return 1
    if "Dataflow" in (options.view_as(StandardOptions).runner or ""):
        workers = options.view_as(WorkerOptions)
        count = workers.max_num_workers or workers.num_workers or 1
        experiments = options.view_as(DebugOptions).experiments or []
        per_worker = 1 if "no_use_multiple_sdk_containers" in experiments \
            else vcpus(workers.machine_type)
        return count * per_worker
    if "PortableRunner" in (options.view_as(StandardOptions).runner or ""):
        portable = options.view_as(PortableOptions)
        if portable.job_endpoint in (None, "embed"):
            # Beam's own job service runs one SDK worker per environment
            # (local_job_service.py: FnApiRunner.run_via_runner_api).
            return 1
        return max(1, int(portable.sdk_worker_parallelism or 1))  # per runner worker: see README
    return 1


def local_runner(options: PipelineOptions):
    """The runner for --runner DirectRunner (the default).

    Beam's DirectRunner first tries the Prism runner, a binary it downloads
    from GitHub on first use; its fallback, the in-process FnApiRunner, needs
    no download and honours --direct_num_workers and --direct_running_mode, so
    local jobs use it directly. Other runners are left to Beam.
    """
    if not is_local(options):
        return None
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))
