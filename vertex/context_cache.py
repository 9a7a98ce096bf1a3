"""Vertex AI's explicit context cache (`cachedContents`) as a job uses it:
one cache holding the instruction every record shares, made before the
workers start, read by each of their calls, kept alive while the run goes
on, deleted at its end (shared/reference/context-caching.md).

    POST   {parent}/cachedContents                     create
    GET    {parent}/cachedContents?pageToken=          list
    PATCH  {name}?updateMask=ttl                       keep it alive
    DELETE {name}                                      delete

A request that reads a cache may not set systemInstruction, tools or
toolConfig (Vertex AI answers 400): the cache holds the instruction, the
request names the cache (`cachedContent`) instead. A cache that expired or
was deleted answers 400 ("Cache content ... is expired"), not 404.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass

from vertex.auth import Auth
from vertex.endpoints import Endpoint
from vertex.errors import VertexApiError
from vertex.http import send_json
from vertex.retry import retry_policy, with_retries

log = logging.getLogger(__name__)

# The displayName tag of a job's caches: the output they were made for (a
# digest: the name is shown in the console, an output path may be private)
# and the run. A rerun on the same output deletes what a dead run left.
TAG = "vertex-beam-batch"
_GONE = re.compile(r"cache(d)?[ _]?content.*(expired|not found|does not exist)", re.I)

USED = "used"  # a row's `context_cache` when it read the job's cache (else why not)


def output_tag(output: str) -> str:
    """The part of a cache's displayName naming the output it serves."""
    return f"{TAG} {hashlib.sha256(output.encode()).hexdigest()[:12]}"


def display_name(output: str, run_id: str) -> str:
    return f"{output_tag(output)} {run_id}"[:128]


def cache_gone(error: BaseException | None) -> bool:
    """A 400 or 404 saying the cache a request named has expired or is gone:
    made again, not retried."""
    return isinstance(error, VertexApiError) and error.code in (400, 404) \
        and bool(_GONE.search(error.message))


@dataclass(frozen=True)
class JobCache:
    """The job's cache as the workers use it (small and picklable: made
    before they start, its name handed to them)."""
    name: str
    model: str                 # the model id it was made for (a cache serves one model)
    system_instruction: dict   # the Content it holds: the job's --system_instruction
    tokens: int                # its usageMetadata.totalTokenCount
    display_name: str
    ttl_s: float               # the TTL a cache made again mid-run is given

    def without_reason(self, model: str, body: dict) -> str | None:
        """Why this request cannot read the cache (the row's `context_cache`:
        other_model, own_cached_content, own_system_instruction, own_tools),
        or None."""
        if model.rsplit("/", 1)[-1] != self.model:
            return "other_model"
        if body.get("cachedContent"):
            return "own_cached_content"
        if body.get("systemInstruction") != self.system_instruction:
            return "own_system_instruction"
        if "tools" in body or "toolConfig" in body:
            return "own_tools"
        return None

    def request(self, body: dict, name: str | None = None) -> dict:
        """The body as sent with the cache: the instruction read from it."""
        sent = {k: v for k, v in body.items() if k != "systemInstruction"}
        sent["cachedContent"] = name or self.name
        return sent

    def create_body(self, endpoint: Endpoint) -> dict:
        """cachedContents.create's body: the cache made (or made again)."""
        return {"model": endpoint.model_path(self.model), "displayName": self.display_name,
                "systemInstruction": self.system_instruction, "ttl": f"{int(self.ttl_s)}s"}


class CachedContents:
    """The cachedContents methods of one project and location (not express
    mode: a cache is a resource of a project). 429s and 5xx are retried."""

    def __init__(self, endpoint: Endpoint, auth: Auth, http, max_attempts: int = 5):
        if not endpoint.project:
            raise ValueError("a context cache belongs to a project: give --project")
        self.endpoint, self.auth, self.http = endpoint, auth, http
        self.parent = (f"{endpoint.host}/{endpoint.api_version}/projects/{endpoint.project}"
                       f"/locations/{endpoint.location}")
        self._retry = retry_policy(max_attempts, initial_backoff_s=1.0, max_backoff_s=10.0)

    async def create(self, body: dict) -> dict:
        return await self._send("POST", f"{self.parent}/cachedContents", body)

    async def keep_alive(self, name: str, ttl_s: float) -> dict:
        """Its expiry moved to ttl_s from now."""
        return await self._send("PATCH", self._url(name), {"ttl": f"{int(ttl_s)}s"},
                                params={"updateMask": "ttl"})

    async def delete(self, name: str) -> bool:
        """True when it was there to delete (gone already: False)."""
        try:
            await self._send("DELETE", self._url(name))
        except VertexApiError as error:
            if error.code == 404 or cache_gone(error):
                return False
            raise
        return True

    async def list(self) -> list[dict]:
        caches, token = [], None
        while True:
            page = await self._send("GET", f"{self.parent}/cachedContents", params={
                "pageSize": "1000", **({"pageToken": token} if token else {})})
            caches += page.get("cachedContents") or []
            token = page.get("nextPageToken")
            if not token:
                return caches

    def _url(self, name: str) -> str:
        return f"{self.endpoint.host}/{self.endpoint.api_version}/{name}"

    async def _send(self, method: str, url: str, body: dict | None = None,
                    params: dict | None = None) -> dict:
        async def attempt() -> dict:
            return await send_json(self.http, method, url, body, await self.auth.headers(),
                                   params)
        return await with_retries(attempt, self._retry)


# A worker process's caches made again: the job's cache name -> the new one.
# Made once: a second loss leaves the records' error rows to say so.
_remade: dict[str, str | None] = {}
_remaking: dict[str, asyncio.Lock] = {}


def name_of(cache: JobCache) -> str:
    """The name this process's calls send: the job's, or the one made again."""
    return _remade.get(cache.name) or cache.name


async def remake(client, cache: JobCache, gone: str) -> str | None:
    """The cache made again after `gone` expired or vanished mid-run (once
    per process; the calls that saw it go wait for it), or None when it was
    made again already, or cannot be. Tagged as the job's, so the job's end
    deletes it too."""
    async with _remaking.setdefault(cache.name, asyncio.Lock()):
        if name_of(cache) != gone:
            return name_of(cache)
        if cache.name in _remade:
            return None
        _remade[cache.name] = None
        try:
            made = await CachedContents(client.endpoint, client.auth, client.http).create(
                cache.create_body(client.endpoint))
        except Exception as error:  # noqa: BLE001 - the records' rows say why
            log.warning("the context cache %s is gone and could not be made again (%s): the "
                        "records that need it are error rows; rerun with --skip_existing",
                        gone, client.redact(str(error))[:300])
            return None
        _remade[cache.name] = made["name"]
        log.warning("the context cache %s was gone (expired or deleted): made again as %s",
                    gone, made["name"])
        return made["name"]
