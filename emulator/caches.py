"""Vertex AI's explicit context cache, `cachedContents`, as the REST API and
the google-genai SDK use it (shared/reference/context-caching.md):

    POST   /{v}/projects/P/locations/L/cachedContents            create
    GET    /{v}/projects/P/locations/L/cachedContents[?pageSize] list
    GET    /{v}/projects/P/locations/L/cachedContents/ID         get
    PATCH  /{v}/projects/P/locations/L/cachedContents/ID?updateMask=ttl|expireTime
    DELETE /{v}/projects/P/locations/L/cachedContents/ID

A cache holds a model's shared prefix (systemInstruction, contents, tools,
toolConfig: input only, never returned); generateContent with
`cachedContent` reads it (usage: cachedContentTokenCount, cacheTokensDetails)
and may not set systemInstruction, tools or toolConfig itself. Below the
model's minimum tokens, after its expiry, or once deleted, it answers as
Vertex AI does.
"""
from __future__ import annotations

import collections
import datetime
import hashlib
import json
import random
import re
import time

from aiohttp import web

import vertex_catalog
from emulator import text_generation
from emulator.errors import ApiError, error_response

MIN_TOKENS = 4096  # Gemini 3 models' minimum, where the catalog says none
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _timestamp(at: datetime.datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_time(text: str) -> datetime.datetime:
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise ApiError(400, f"Invalid value at 'expire_time' (type.googleapis.com/"
                            f"google.protobuf.Timestamp), \"{text}\"") from None


def _expiry(body: dict) -> datetime.datetime:
    if "ttl" in body and "expireTime" in body:
        raise ApiError(400, "Only one of ttl and expire_time may be set.")
    if "expireTime" in body:
        return _parse_time(body["expireTime"])
    ttl = body.get("ttl", "3600s")
    match = _DURATION.match(str(ttl))
    if not match:
        raise ApiError(400, f"Invalid value at 'ttl' (type.googleapis.com/"
                            f"google.protobuf.Duration), \"{ttl}\"")
    return _now() + datetime.timedelta(seconds=float(match.group(1)))


class CachedContents:
    def __init__(self):
        self.caches: dict[str, dict] = {}
        self.random = random.Random()

    def reset(self) -> None:
        self.caches.clear()

    async def handle(self, request: web.Request) -> web.Response:
        try:
            return await self._handle(request)
        except ApiError as error:
            return error_response(error)

    async def _handle(self, request: web.Request) -> web.Response:
        info = request.match_info
        parent = f"projects/{info['project']}/locations/{info['location']}"
        cache_id = info.get("id")
        if request.method == "POST" and not cache_id:
            return web.json_response(self.create(parent, info["location"],
                                                 await self._json(request)))
        if request.method == "GET" and not cache_id:
            return web.json_response(self.list(parent, request.query))
        name = f"{parent}/cachedContents/{cache_id}"
        if request.method == "GET":
            return web.json_response(self._visible(self._live(name)))
        if request.method == "PATCH":
            return web.json_response(self.update(name, request.query.get("updateMask", ""),
                                                 await self._json(request)))
        if request.method == "DELETE":
            self._live(name)
            del self.caches[name]
            return web.json_response({})
        raise ApiError(404, f"The requested URL {request.path} was not found on this server.")

    @staticmethod
    async def _json(request: web.Request) -> dict:
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            raise ApiError(400, "Invalid JSON payload received.") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid JSON payload received.")
        return body

    def create(self, parent: str, location: str, body: dict) -> dict:
        model_name = str(body.get("model") or "")
        model = vertex_catalog.get(model_name) if model_name else None
        if model is None or model.api != vertex_catalog.GENERATE_CONTENT:
            raise ApiError(400, f"Model {model_name or '(none)'} is not supported for caching.")
        caching = model.entry.get("caching") or {}
        if caching.get("explicit") is False:
            raise ApiError(400, f"Explicit context caching is not supported for model {model.id}.")
        unknown = sorted(set(body) - {"model", "displayName", "systemInstruction", "contents",
                                      "tools", "toolConfig", "ttl", "expireTime",
                                      "encryptionSpec", "name"})
        if unknown:
            raise ApiError(400, f"Invalid JSON payload received. Unknown name \"{unknown[0]}\": "
                                "Cannot find field.")
        prefix = {k: body[k] for k in ("systemInstruction", "contents", "tools", "toolConfig")
                  if k in body}
        tokens = text_generation.prompt_token_count({"contents": [], **prefix})
        minimum = caching.get("min_tokens") or MIN_TOKENS
        if tokens < minimum:
            raise ApiError(400, f"The cached content is of {tokens} tokens. The minimum token "
                                f"count to start caching is {minimum}.")
        now = _now()
        name = f"{parent}/cachedContents/{self.random.randrange(10 ** 18, 10 ** 19)}"
        full_model = model_name if model_name.startswith("projects/") else \
            f"{parent}/publishers/google/models/{model.id}"
        self.caches[name] = {
            "name": name, "displayName": body.get("displayName", ""), "model": full_model,
            "createTime": _timestamp(now), "updateTime": _timestamp(now),
            "expireTime": _timestamp(_expiry(body)),
            "usageMetadata": {"totalTokenCount": tokens,
                              "textCount": len(json.dumps(prefix))},
            "_prefix": prefix, "_model": model.id}
        return self._visible(self.caches[name])

    def list(self, parent: str, query) -> dict:
        live = [c for name, c in sorted(self.caches.items())
                if name.startswith(parent + "/") and not self._expired(c)]
        size = min(int(query.get("pageSize") or 1000), 1000) or 1000
        start = int(query.get("pageToken") or 0)
        page = live[start:start + size]
        result = {"cachedContents": [self._visible(c) for c in page]}
        if start + size < len(live):
            result["nextPageToken"] = str(start + size)
        return result

    def update(self, name: str, mask: str, body: dict) -> dict:
        cache = self._live(name)
        # The SDK sends no updateMask: the fields in the body are the ones to change.
        names = [f.strip() for f in mask.split(",") if f.strip()] or sorted(body)
        fields = {"expireTime" if f == "expire_time" else f for f in names}
        if not fields:
            raise ApiError(400, "Nothing to update: give ttl or expire_time.")
        wrong = sorted(fields - {"ttl", "expireTime"})
        if wrong:
            raise ApiError(400, f"Field {wrong[0]} can not be updated; only ttl or expire_time.")
        given = {f: body[f] for f in fields if f in body}
        cache["expireTime"] = _timestamp(_expiry(given))
        cache["updateTime"] = _timestamp(_now())
        return self._visible(cache)

    # generateContent with cachedContent

    def read(self, name: str, model: str, body: dict) -> tuple[dict, int]:
        """The request with the cache's prefix in front, and the cache's tokens."""
        set_too = [k for k in ("systemInstruction", "tools", "toolConfig") if k in body]
        if set_too:
            raise ApiError(400, "CachedContent can not be used with GenerateContent request "
                                "setting system_instruction, tools or tool_config.\n\nProposed "
                                "fix: move those values to CachedContent from GenerateContent "
                                "request.")
        cache = self.caches.get(name)
        if cache is None:
            raise ApiError(400, f"Cache content {name.rsplit('/', 1)[-1]} not found or the "
                                "caller does not have access to it.")
        if self._expired(cache):
            raise ApiError(400, f"Cache content {name.rsplit('/', 1)[-1]} is expired.")
        if cache["_model"] != model:
            raise ApiError(400, f"Model {model} does not match the model of cached content "
                                f"{name} ({cache['_model']}).")
        prefix = cache["_prefix"]
        merged = {**body, **{k: v for k, v in prefix.items() if k != "contents"},
                  "contents": list(prefix.get("contents") or []) + list(body.get("contents")
                                                                         or [])}
        merged.pop("cachedContent", None)
        return merged, cache["usageMetadata"]["totalTokenCount"]

    # helpers

    def _live(self, name: str) -> dict:
        cache = self.caches.get(name)
        if cache is None or self._expired(cache):
            raise ApiError(404, f"CachedContent not found (or it has expired): {name}")
        return cache

    @staticmethod
    def _expired(cache: dict) -> bool:
        return _parse_time(cache["expireTime"]) <= _now()

    @staticmethod
    def _visible(cache: dict) -> dict:
        return {k: v for k, v in cache.items() if not k.startswith("_")}


class ImplicitCache:
    """Vertex AI's implicit caching, on by default and best effort: a request
    whose prefix (its system instruction, tools and every content before the
    last) reaches the model's minimum, and was sent within the last 24 hours,
    may come back with that prefix cached (usageMetadata.cachedContentTokenCount,
    billed at the cached price). Google promises no hit: here a repeated prefix
    hits `hit_rate` of the time (--implicit_cache_hit_rate)."""

    KEPT = 10_000          # prefixes remembered
    RETAINED_S = 24 * 3600  # every implicitly cached prefix is gone within 24 hours

    def __init__(self, hit_rate: float, seed: int = 0):
        self.hit_rate = hit_rate
        self.random = random.Random(seed)
        self.seen: collections.OrderedDict[str, float] = collections.OrderedDict()

    def reset(self) -> None:
        self.seen.clear()

    def cached_tokens(self, model: vertex_catalog.Model, body: dict) -> int:
        caching = model.entry.get("caching") or {}
        if not caching.get("implicit") or not self.hit_rate:
            return 0
        prefix = {k: body[k] for k in ("systemInstruction", "tools", "toolConfig") if k in body}
        prefix["contents"] = list(body.get("contents") or [])[:-1]
        tokens = text_generation.prompt_token_count(prefix)
        if tokens < (caching.get("min_tokens") or MIN_TOKENS):
            return 0
        key = hashlib.sha256(json.dumps([model.id, prefix], sort_keys=True).encode()).hexdigest()
        now = time.monotonic()
        sent_at = self.seen.pop(key, None)
        self.seen[key] = now
        while len(self.seen) > self.KEPT:
            self.seen.popitem(last=False)
        if sent_at is None or now - sent_at > self.RETAINED_S:
            return 0
        return tokens if self.random.random() < self.hit_rate else 0
