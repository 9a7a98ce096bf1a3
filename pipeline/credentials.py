"""Credentials on the command line: where workers get the express-mode API
key, and keeping the key itself out of Beam's options (which runners log,
display and stage with the job)."""
from __future__ import annotations

import os
import re

from vertex.auth import ApiKeySource

API_KEY_ENV = "GOOGLE_API_KEY"
WORKER_API_KEY_ENV = "VERTEX_BATCH_API_KEY"  # how a --api_key reaches local workers
SECRET_VERSION = re.compile(r"projects/[^/]+/secrets/[^/]+/versions/[^/]+")


def api_key_source(job, project: str | None, runner_is_local: bool,
                   environ=os.environ) -> ApiKeySource | None:
    """Where workers get the express-mode key, or None for no key (ValueError
    for a combination that cannot work). The key itself never goes into the
    job graph: a key from the command line reaches local workers through
    their environment (hand_key_to_workers)."""
    if job.api_key and job.api_key_secret:
        raise ValueError("--api_key and --api_key_secret exclude each other")
    if job.api_key_secret:
        if not SECRET_VERSION.fullmatch(job.api_key_secret):
            raise ValueError("--api_key_secret must be a secret version: "
                              "projects/P/secrets/S/versions/V")
        return ApiKeySource(secret_version=job.api_key_secret)
    if job.api_key:
        if project:
            raise ValueError("--api_key (express mode) and --project (Application Default "
                              "Credentials) exclude each other: give one")
        if not runner_is_local:
            raise ValueError("--api_key cannot reach remote workers without travelling in the "
                              "job graph: store the key in Secret Manager and pass "
                              "--api_key_secret projects/P/secrets/S/versions/V")
        return ApiKeySource(env_var=WORKER_API_KEY_ENV)
    if environ.get(API_KEY_ENV) and not project and not job.endpoint:
        if not runner_is_local:
            raise ValueError(f"{API_KEY_ENV} cannot reach remote workers; pass "
                              "--api_key_secret projects/P/secrets/S/versions/V")
        return ApiKeySource(env_var=API_KEY_ENV)
    return None


def hand_key_to_workers(api_key: str | None, environ=os.environ) -> None:
    """A --api_key, put where local workers read it (WORKER_API_KEY_ENV):
    done by the job when it starts, never by reading the options."""
    if api_key:
        environ[WORKER_API_KEY_ENV] = api_key


def without_secrets(argv: list[str]) -> list[str]:
    """The command line minus --api_key, so that the key never lands in Beam's
    pipeline options (which runners log, display and stage with the job)."""
    cleaned, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--api_key":
            skip = True
        elif not arg.startswith("--api_key="):
            cleaned.append(arg)
    return cleaned
