"""The run's context cache (--context_cache auto|off): whether the job's
shared instruction is worth caching, the cache made before the workers
start (one per job, its name handed to them, so any runner works), kept
alive while the run goes on, deleted when the run ends however it ends, and
what a dead run on the same output left deleted at the next start.

The instruction is worth caching when it reaches the model's minimum (the
catalog's `caching.min_tokens`), the model takes explicit caches, the job
has a project (express mode has no cachedContents), and the run is large
enough that its records' cached reads save more than the cache's making
and storage cost (vertex.prices: cache_costs).
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import sys
import threading
import time
from dataclasses import dataclass

import vertex_catalog
from vertex.context_cache import CachedContents, JobCache, display_name, output_tag
from vertex.errors import first_line
from vertex.http import make_http_client
from vertex.prices import TIER_TRAFFIC
from vertex.request_body import estimate_tokens

log = logging.getLogger(__name__)

KEEP_AHEAD_S = 20 * 60      # the cache's expiry is kept this far ahead of now
REFRESH_EVERY_S = 5 * 60    # how often the run moves it on
MIN_TTL_S = 60              # Vertex AI's shortest TTL


@dataclass(frozen=True)
class CachePlan:
    """Whether the run would cache its shared instruction, and why."""
    use: bool
    why: str
    model: str
    tokens: int = 0                     # estimated before the cache is made, then its own count
    records: int | None = None          # the input's records, where they can be counted
    with_cache_usd: float | None = None  # the instruction's cost both ways (answers not counted)
    without_cache_usd: float | None = None
    worth_saying: bool = True            # a job with no shared instruction needs no line

    def as_dict(self) -> dict:
        return {"would_use": self.use, "why": self.why, "model": self.model,
                "cache_tokens": self.tokens, "records": self.records,
                "instruction_with_cache_usd": _round(self.with_cache_usd),
                "instruction_without_cache_usd": _round(self.without_cache_usd)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def expected_hours(config, records: int | None) -> float:
    """How long the run is likely to keep a cache: its records at its rate
    (or the adaptive rate's first guess), never under the keep-ahead time."""
    settings = config.connection.settings
    rpm = (settings.rpm or settings.adaptive_start_rpm) * config.worker_processes
    minutes = (records or 0) / rpm if rpm else 0.0
    return max(minutes / 60.0, KEEP_AHEAD_S / 3600.0)


def plan(config, records: int | None, tokens: int | None = None) -> CachePlan:
    """The decision, before any call: `tokens` is the instruction's real
    count when known (else about 4 characters a token)."""
    defaults = config.defaults
    model = defaults.called_model(defaults.model).rsplit("/", 1)[-1]
    instruction = defaults.defaults_body.get("systemInstruction")
    if config.context_cache == "off":
        return CachePlan(False, "--context_cache off", model, worth_saying=False)
    if not instruction:
        return CachePlan(False, "no --system_instruction to share", model, worth_saying=False)
    tokens = tokens or estimate_tokens({"systemInstruction": instruction})
    known = vertex_catalog.get(model)
    caching = (known.entry.get("caching") if known else None) or {}
    if known and (caching.get("explicit") is False or known.api != vertex_catalog.GENERATE_CONTENT):
        return CachePlan(False, f"{model} takes no explicit context cache "
                                "(Vertex AI caches its prompts implicitly, best effort)",
                         model, tokens, records)
    minimum = caching.get("min_tokens") or 0
    if tokens < minimum:
        return CachePlan(False, f"the system instruction is about {tokens:,} tokens, under "
                                f"{model}'s caching minimum of {minimum:,}", model, tokens, records)
    if not config.connection.project:
        return CachePlan(False, "a context cache belongs to a project, and this job names none "
                                "(express mode, or --endpoint without --project)",
                         model, tokens, records)
    costs = config.prices.cache_costs(model, tokens, expected_hours(config, records))
    prices = config.prices.model(model)
    if costs is None or prices is None or records is None:
        why = ("no price for its storage to weigh it against" if records is not None
               else "the input's records cannot be counted here")
        if records is not None and records < 2:
            return CachePlan(False, f"{why}, and a single record reads it once",
                             model, tokens, records)
        return CachePlan(True, f"{why}: cached, as more than one record reads it",
                         model, tokens, records)
    input_price = prices["input"].get("TEXT", 0.0)
    cached_price = (prices.get("cached_input") or prices["input"]).get("TEXT", input_price)
    factor = config.prices.factor(TIER_TRAFFIC[defaults.service_tier])
    without = records * tokens * input_price * factor / 1e6
    with_cache = costs["creation_usd"] + costs["storage_usd"] \
        + records * tokens * cached_price * factor / 1e6
    if with_cache >= without:
        return CachePlan(False, f"{records} record(s) would not pay for the cache's making and "
                                f"storage (${with_cache:.4f} against ${without:.4f})",
                         model, tokens, records, with_cache, without)
    return CachePlan(True, f"{records} record(s) read {tokens:,} cached tokens: "
                           f"${with_cache:.4f} instead of ${without:.4f} for the instruction",
                     model, tokens, records, with_cache, without)


class RunCache:
    """One run's context cache, from its making to its deletion, through the
    project's cachedContents (its making is billed at the input price, its
    storage per token-hour: summary)."""

    def __init__(self, config, local: bool = True, keep_ahead_s: float = KEEP_AHEAD_S,
                 refresh_every_s: float = REFRESH_EVERY_S):
        self.config, self.local = config, local
        self.keep_ahead_s, self.refresh_every_s = keep_ahead_s, refresh_every_s
        self.tag = display_name(config.output, config.run_id)
        self.plan: CachePlan | None = None
        self.cache: JobCache | None = None
        self.made: dict[str, dict] = {}      # name: the cache as listed (createTime, tokens)
        self.deleted: dict[str, float] = {}  # name: when deleted, or found gone (epoch s)
        self.deleted_by_run = 0
        self.leftovers_deleted = 0
        self.problems: list[str] = []
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    # the start

    def start(self, records: int | None) -> JobCache | None:
        """Deletes what dead runs on this output left, decides, and makes the
        cache; None (with one line on stderr saying why) when the run goes
        without."""
        self.plan = plan(self.config, records)
        if self.config.context_cache == "auto" and self.config.connection.project:
            self._delete_leftovers()
        if not self.plan.use:
            if self.plan.worth_saying:
                _say(f"context cache: not used: {self.plan.why}")
            return None
        ttl_s = max(self.keep_ahead_s, MIN_TTL_S)
        if not self.local:
            # Remote workers may outlive this process: the cache lasts the expected run.
            ttl_s = max(ttl_s, 2 * 3600 * expected_hours(self.config, records))
        draft = JobCache("", self.plan.model, self.config.defaults.defaults_body[
            "systemInstruction"], self.plan.tokens, self.tag, ttl_s)
        endpoint = self.config.connection.endpoint()
        try:
            made = self._call(lambda api: api.create(draft.create_body(endpoint)))
        except Exception as error:  # noqa: BLE001 - the run goes on without, saying why
            _say(f"context cache: not used: Vertex AI would not make it "
                 f"({first_line(error)}); the instruction is sent with every record")
            self.problems.append(f"not made: {first_line(error)}")
            return None
        tokens = int((made.get("usageMetadata") or {}).get("totalTokenCount") or draft.tokens)
        self.plan = plan(self.config, records, tokens)
        self.made[made["name"]] = made
        self.cache = dataclasses.replace(draft, name=made["name"], tokens=tokens)
        self._keeper = threading.Thread(target=self._keep_alive, name="context-cache",
                                        daemon=True)
        self._keeper.start()
        _say(f"context cache: {tokens:,} tokens of --system_instruction cached for "
             f"{self.plan.model} ({made['name'].rsplit('/', 1)[-1]}); deleted when the run ends")
        return self.cache

    def _delete_leftovers(self) -> None:
        """Caches a run on this output left when it died (the run lease says
        no other run is writing here now)."""
        tag = output_tag(self.config.output) + " "
        try:
            leftovers = [c["name"] for c in self._call(lambda api: api.list())
                         if str(c.get("displayName", "")).startswith(tag)]
            for name in leftovers:
                if self._call(lambda api: api.delete(name)):
                    self.leftovers_deleted += 1
        except Exception as error:  # noqa: BLE001 - a leftover costs storage, not the run
            _say(f"warning: could not look for context caches an earlier run left "
                 f"({first_line(error)})")
            return
        if self.leftovers_deleted:
            _say(f"context cache: deleted {self.leftovers_deleted} cache(s) an earlier run "
                 "on this output left behind")

    # while the run goes on

    def _keep_alive(self) -> None:
        while not self._stop.wait(self.refresh_every_s):
            try:
                for name in self._ours():
                    self._call(lambda api: api.keep_alive(name, self.keep_ahead_s))
            except Exception as error:  # noqa: BLE001 - the workers make it again if it goes
                log.warning("could not move the context cache's expiry on: %s",
                            first_line(error))

    def _ours(self) -> list[str]:
        """This run's caches: the one it made and any a worker made again."""
        for cache in self._call(lambda api: api.list()):
            if cache.get("displayName") == self.tag:
                self.made.setdefault(cache["name"], cache)
        return [name for name in self.made if name not in self.deleted]

    # the end

    def end(self) -> None:
        """Deletes this run's caches (also after a failure or an interruption)."""
        if self._stop.is_set():
            return  # ended already
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join(timeout=5)
        if self.cache is None:
            return
        try:
            for name in self._ours():
                if self._call(lambda api: api.delete(name)):
                    self.deleted_by_run += 1
                self.deleted[name] = time.time()  # or found gone: its storage ended by now
        except Exception as error:  # noqa: BLE001 - said, never a traceback
            left = [n for n in self.made if n not in self.deleted]
            self.problems.append(f"not deleted: {first_line(error)}")
            _say(f"warning: could not delete the context cache ({first_line(error)}); it expires "
                 f"by itself within {self.keep_ahead_s / 60:.0f} minutes, and the next run on "
                 f"this output deletes it: {', '.join(left)}")

    def summary(self, rows: dict) -> dict:
        """summary.json's context_cache: what was made, read and deleted, and
        what it cost and saved (`rows`: summary.context_cache_rows)."""
        model = self.plan.model if self.plan else None
        costs, token_hours = [], 0.0
        for name, cache in self.made.items():  # each from its making to its deletion
            hours = max(0.0, (self.deleted.get(name, time.time()) - _epoch(cache)) / 3600.0)
            tokens = int((cache.get("usageMetadata") or {}).get("totalTokenCount") or 0)
            costs.append(self.config.prices.cache_costs(model, tokens, hours))
            token_hours += tokens * hours
        priced = None not in costs
        creation = sum((c["creation_usd"] for c in costs), 0.0) if priced else None
        storage = sum((c["storage_usd"] for c in costs), 0.0) if priced else None
        spent = creation + storage if priced else None
        saving = rows.get("read_saving_usd")
        return {"mode": self.config.context_cache, "used": self.cache is not None,
                "why": self.plan.why if self.plan else None, "model": model,
                "created": len(self.made), "deleted": self.deleted_by_run,
                "leftovers_deleted": self.leftovers_deleted, "names": sorted(self.made),
                "cache_tokens": self.cache.tokens if self.cache else 0, **rows,
                "creation_usd": _round(creation), "storage_usd": _round(storage),
                "storage_token_hours": _round(token_hours), "cost_usd": _round(spent),
                "saved_usd": None if spent is None or saving is None else _round(saving - spent),
                "problems": self.problems}

    def _call(self, use):
        """One cachedContents call from this (driver) process."""
        connection = self.config.connection

        async def run():
            http = make_http_client(4, 60.0, connection.transport)
            try:
                api = CachedContents(connection.endpoint(), connection.auth(), http)
                return await use(api)
            finally:
                await http.aclose()
        return asyncio.run(run())


def _epoch(cache: dict) -> float:
    text = str(cache.get("createTime") or "")
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


def _say(line: str) -> None:
    print(line, file=sys.stderr)


def for_workers(config, cache: JobCache | None, records: int | None):
    """The config the workers get: the cache's name, and a --max_cost_usd
    share less what the cache itself will cost (its making and storage over
    the expected run), so that the budget holds for the whole job."""
    if cache is None:
        return config
    config = dataclasses.replace(config, job_cache=cache)
    settings = config.connection.settings
    costs = config.prices.cache_costs(cache.model, cache.tokens, expected_hours(config, records))
    if settings.max_cost_usd is None or costs is None:
        return config
    share = max(0.0, config.max_cost_usd - sum(costs.values())) / config.worker_processes
    return dataclasses.replace(config, connection=dataclasses.replace(
        config.connection, settings=dataclasses.replace(settings, max_cost_usd=share)))
