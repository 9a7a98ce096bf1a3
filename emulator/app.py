"""The emulator's HTTP surface (aiohttp).

Routes, for API versions v1 and v1beta1:
    POST /{v}/projects/{p}/locations/{l}/publishers/google/models/{m}:{method}
    POST /{v}/publishers/google/models/{m}:{method}          (express mode)
    methods: generateContent, streamGenerateContent (JSON array, or SSE with
    ?alt=sse), countTokens, predict (Imagen)
    GET  /emulator/stats     counters
    POST /emulator/reset     clears counters, quotas and attempt counts
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
from collections import Counter

from aiohttp import web

import vertex_catalog
import vertex_schema
from emulator import answers, images, text_generation
from emulator.live import LiveSessions
from emulator.config import EmulatorConfig
from emulator.errors import STATUS_MESSAGES, ApiError, error_body, error_response
from emulator.markers import Markers, parse_markers
from emulator.caches import CachedContents, ImplicitCache
from emulator.quota import Bucket, ModelQuota
from emulator.stats import Stats
from vertex_schema import InvalidRequest
from vertex_schema.imagen import check_predict

SHARED_REQUEST_TYPE = "X-Vertex-AI-LLM-Shared-Request-Type"  # flex | priority
REQUEST_TYPE = "X-Vertex-AI-LLM-Request-Type"                # dedicated | shared
ROUTE = re.compile(r"^/(v1|v1beta1)/(?:projects/([^/]+)/locations/([^/]+)/)?"
                   r"publishers/([^/]+)/models/([^/:]+):([A-Za-z]+)$")
METHODS = ("generateContent", "streamGenerateContent", "countTokens", "predict")


class Emulator:
    def __init__(self, config: EmulatorConfig):
        self.config = config
        self.stats = Stats()
        self.random = random.Random(config.seed)
        self._gcs = None
        self.live = LiveSessions(self)
        self.caches = CachedContents()
        self.implicit_cache = ImplicitCache(config.implicit_cache_hit_rate, config.seed)
        for version in ("v1", "v1beta1"):  # importing the protos takes a second: not mid-quota
            vertex_schema.proto_module(version)
        self.reset()

    def reset(self) -> None:
        self.stats.reset()
        if hasattr(self, "caches"):
            self.caches.reset()
            self.implicit_cache.reset()
        self.quotas: dict[str, ModelQuota] = {}
        self.provisioned: dict[str, Bucket] = {}
        self.flex_capacity: dict[str, Bucket] = {}  # Flex's capacity, shared by the project
        self.attempts: Counter = Counter()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/emulator/stats", self.handle_stats)
        app.router.add_post("/emulator/reset", self.handle_reset)
        app.router.add_get("/ws/{service}/BidiGenerateContent", self.live.handle)
        for path in ("/{version:v1|v1beta1}/projects/{project}/locations/{location}/cachedContents",
                     "/{version:v1|v1beta1}/projects/{project}/locations/{location}/cachedContents/"
                     "{id}"):
            app.router.add_route("*", path, self.caches.handle)
        app.router.add_post("/{tail:.*}", self.handle_api)
        return app

    async def handle_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats.as_json())

    async def handle_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"reset": True})

    # -- the API ---------------------------------------------------------------

    async def handle_api(self, request: web.Request) -> web.StreamResponse:
        match = ROUTE.match(request.path)
        method = match.group(6) if match else "unknown"
        model = match.group(5) if match else "unknown"
        self.stats.begin(method, model)
        status = 500
        try:
            response = await self._answer(request, match)
            status = response.status
            return response
        except ApiError as error:
            status = error.code
            return error_response(error)
        except _Dropped:
            status = 0
            raise
        finally:
            self.stats.end(status)

    async def _answer(self, request: web.Request, match) -> web.StreamResponse:
        if not match or match.group(6) not in METHODS:
            raise ApiError(404, f"The requested URL {request.path} was not found on this server.")
        version, project, location, publisher, model, method = match.groups()
        self.check_key(request, express=project is None)
        api = "predict" if method == "predict" else vertex_catalog.GENERATE_CONTENT
        served = self.config.model(model, api, location if project else "global") \
            if publisher == "google" else None
        if served is None:
            name = (f"projects/{project}/locations/{location}/" if project else "") + \
                f"publishers/{publisher}/models/{model}"
            raise ApiError(404, f"Publisher Model `{name}` was not found or your project does "
                                "not have access to it.")
        raw = await request.read()
        try:
            body = vertex_schema.loads(raw)
        except ValueError:
            raise ApiError(400, "Invalid JSON payload received.") from None
        try:
            if method == "predict":
                return await self._predict(request, model, body, raw)
            # the legacy v1 dialect's spellings: Vertex AI reads them only from the legacy models
            legacy = served.legacy_spellings
            if method == "countTokens":
                return self._count_tokens(vertex_schema.check_count_tokens(body, version, legacy))
            streaming = method == "streamGenerateContent"
            body = vertex_schema.check_generate_content(body, version, streaming, legacy)
            traffic_type = self._traffic_type(request, served, location if project else "global")
            return await self._generate(request, served, body, raw, streaming, traffic_type)
        except InvalidRequest as error:
            raise ApiError(400, str(error)) from None

    def check_key(self, request: web.Request, express: bool) -> None:
        required = self.config.require_api_key
        if not required:
            return
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if key is None and not express and request.headers.get("authorization", "").startswith("Bearer "):
            return  # project paths may use an OAuth token, which the emulator cannot check
        if key is None:
            raise ApiError(401, "Request is missing required authentication credential. "
                                "Expected an API key or an OAuth 2 access token.")
        if key != required:
            raise ApiError(403, "API key not valid. Please pass a valid API key.")

    def _traffic_type(self, request: web.Request, served: vertex_catalog.Model,
                      location: str) -> str:
        """Which capacity serves the request, from Google's headers: Provisioned
        Throughput first when the project has it (unless `shared`), then the
        PayGo tier asked for. Flex is served on the global endpoint only, for
        the models the catalog says offer it."""
        model = served.id
        tier = request.headers.get(SHARED_REQUEST_TYPE)
        kind = request.headers.get(REQUEST_TYPE)
        if tier not in (None, "flex", "priority"):
            raise ApiError(400, f"Invalid value of header {SHARED_REQUEST_TYPE}: {tier!r} "
                                "(flex or priority)")
        if kind not in (None, "dedicated", "shared"):
            raise ApiError(400, f"Invalid value of header {REQUEST_TYPE}: {kind!r} "
                                "(dedicated or shared)")
        if tier == "flex" and location != "global":
            raise ApiError(400, f"Flex PayGo is only available on the global endpoint, not in "
                                f"location {location}.")
        if tier == "flex" and not served.offers("flex"):
            raise ApiError(400, f"Flex PayGo is not supported for model {model}.")
        if kind != "shared" and self.config.provisioned_rpm:
            bucket = self.provisioned.setdefault(model, Bucket(self.config.provisioned_rpm))
            if bucket.wait_for(1) == 0:
                bucket.take(1)
                return "PROVISIONED_THROUGHPUT"
        if kind == "dedicated":
            raise ApiError(429, "Too many requests. Exceeded the provisioned throughput.",
                           retry_after_s=None)
        if tier == "flex":
            return self._flex(model)
        return {"priority": "ON_DEMAND_PRIORITY"}.get(tier, "ON_DEMAND")

    def _flex(self, model: str) -> str:
        """Flex PayGo: its capacity is shared by the project (429 RESOURCE_EXHAUSTED
        past it), and some requests may be served, and billed, as Standard."""
        if self.config.flex_rpm:
            bucket = self.flex_capacity.setdefault(model, Bucket(self.config.flex_rpm))
            if bucket.wait_for(1) > 0:
                self.stats.flex_429 += 1
                raise ApiError(429, "Resource exhausted, please try again later.",
                               retry_after_s=None)
            bucket.take(1)
        if self.config.flex_as_standard and self.random.random() < self.config.flex_as_standard:
            return "ON_DEMAND"
        return "ON_DEMAND_FLEX"

    def _quota(self, model: str) -> ModelQuota:
        if model not in self.quotas:
            rpm = self.config.image_rpm if model.startswith("imagen") and self.config.image_rpm \
                else self.config.rpm
            self.quotas[model] = ModelQuota(rpm, None if model.startswith("imagen") else self.config.tpm)
        return self.quotas[model]

    def _faults(self, request: web.Request, markers: Markers, raw: bytes, model: str,
                prompt_tokens: int) -> int:
        """Applies quota, marker faults and random errors, in that order.
        Returns which attempt of this same request this is."""
        wait = self._quota(model).admit(prompt_tokens)
        if wait is not None:
            raise ApiError(429, retry_after_s=wait if self.config.retry_info else None)
        attempt = self.attempt_of(markers, request.path.encode() + raw)
        if markers.active("fail", attempt):
            retry_after = markers.retry_after_s if markers.fail_code == 429 else None
            raise ApiError(markers.fail_code, retry_after_s=retry_after)
        if markers.active("drop", attempt):
            self.stats.dropped += 1
            request.transport.close()
            raise _Dropped()
        if self.config.throttle_rate and self.random.random() < self.config.throttle_rate:
            raise ApiError(429, retry_after_s=1.0 if self.config.retry_info else None)
        if self.config.error_rate and self.random.random() < self.config.error_rate:
            raise ApiError(self.random.choice((500, 503)))
        return attempt

    def attempt_of(self, markers: Markers, request_key: bytes) -> int:
        """Which attempt of this same request this is (counted only when a
        marker's behaviour depends on it)."""
        if not markers.counted:
            return 1
        key = hashlib.sha256(request_key).hexdigest()
        self.attempts[key] += 1
        return self.attempts[key]

    async def delay_ms(self, ms: float) -> None:
        if ms > 0:
            await asyncio.sleep(ms / 1000.0)

    async def _delay(self, markers: Markers, attempt: int, output_tokens: int = 0,
                     extra_ms: float = 0.0) -> None:
        delay_ms = self.config.latency_ms + self.config.token_latency_ms * output_tokens + extra_ms
        if markers.active("latency", attempt):
            delay_ms += markers.latency_ms
        if self.config.jitter_ms:
            delay_ms += self.random.expovariate(1.0 / self.config.jitter_ms)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000.0)

    # -- generateContent / streamGenerateContent / countTokens ----------------

    def _count_tokens(self, body: dict) -> web.Response:
        by_modality = text_generation.prompt_tokens_by_modality(body)
        chars = len(text_generation.request_text(body).replace(" ", ""))
        return web.json_response({
            "totalTokens": sum(by_modality.values()), "totalBillableCharacters": chars,
            "promptTokensDetails": [{"modality": m, "tokenCount": n}
                                    for m, n in by_modality.items()]})

    async def _generate(self, request, served: vertex_catalog.Model, body, raw, streaming,
                        traffic_type: str) -> web.StreamResponse:
        model = served.id
        cache_tokens = 0
        if body.get("cachedContent"):  # the cache's prefix goes first, read from the cache
            body, cache_tokens = self.caches.read(body["cachedContent"], model, body)
        else:  # a prefix sent before may be cached implicitly
            cache_tokens = self.implicit_cache.cached_tokens(served, body)
        try:
            markers = parse_markers(text_generation.request_text(body))
        except ValueError as error:
            raise ApiError(400, str(error)) from None
        modalities = (body.get("generationConfig") or {}).get("responseModalities") or []
        for modality, able in (("IMAGE", served.makes_images), ("AUDIO", served.speaks)):
            if modality in modalities and not able:
                raise ApiError(400, f"Model {model} does not support the requested response "
                                    f"modalities: {modality.lower()}")
        self._check_model_settings(served, body.get("generationConfig") or {})
        prompt_tokens = text_generation.prompt_token_count(body)
        attempt = self._faults(request, markers, raw, model, prompt_tokens)
        candidates = [] if markers.block else text_generation.generate_candidates(
            model, body, markers, self.config.image_scale,
            always_thinks=served.thinks_by_level, attempt=attempt,
            default_level=(served.thinking or {}).get("default") or "HIGH")
        usage = answers.usage_metadata(body, candidates, traffic_type)
        if cache_tokens:
            usage["cachedContentTokenCount"] = cache_tokens
            usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cache_tokens}]
        self.stats.by_traffic_type[traffic_type] += 1
        output_tokens = usage["totalTokenCount"] - usage["promptTokenCount"]
        self._quota(model).charge_output(output_tokens)
        self.stats.prompt_tokens += prompt_tokens
        self.stats.candidates_tokens += usage["candidatesTokenCount"]
        common = answers.identity(model)
        legacy = served.legacy_spellings
        extra_ms = self.config.flex_latency_ms if traffic_type == "ON_DEMAND_FLEX" else 0.0
        if streaming:
            chunks = answers.stream_chunks(body, candidates, usage, common, markers.block)
            if legacy:
                chunks = [answers.legacy_dialect(chunk) for chunk in chunks]
            return await self._stream(request, markers, attempt, chunks, extra_ms)
        await self._delay(markers, attempt, output_tokens, extra_ms)
        answer = answers.answer(body, candidates, usage, common, markers.block)
        data = json.dumps(answers.legacy_dialect(answer) if legacy else answer).encode()
        if markers.active("truncate", attempt):
            self.stats.truncated += 1
            data = data[:len(data) // 2]
        return web.Response(body=data, content_type="application/json")

    @staticmethod
    def _check_model_settings(served, config: dict) -> None:
        """What the model itself takes (the catalog says): its own thinking
        control and values (a level, or a budget in its range); image sizes and aspect ratios only
        those it draws."""
        refusal = served.thinking_refusal(config.get("thinkingConfig"))
        if refusal:
            raise ApiError(400, f"Unsupported thinking config: {refusal}.")
        image_config = config.get("imageConfig")
        if image_config is None:
            return
        image = served.image or {}
        if not image:
            raise ApiError(400, f"Image config is not supported for this model ({served.id}).")
        ratio, size = image_config.get("aspectRatio"), image_config.get("imageSize")
        if ratio is not None and ratio not in image.get("aspect_ratios", ()):
            raise ApiError(400, f"Unsupported aspect ratio {ratio!r} for {served.id}; supported: "
                                f"{', '.join(image.get('aspect_ratios', ()))}.")
        sizes = image.get("sizes", ())
        if size is not None and (len(sizes) < 2 or size not in sizes):
            raise ApiError(400, f"Unsupported image size {size!r} for {served.id}"
                                + (f"; supported: {', '.join(sizes)}." if len(sizes) > 1 else "."))

    async def _stream(self, request, markers, attempt, chunks, extra_ms: float = 0.0):
        sse = request.query.get("alt") == "sse"
        if markers.active("stream_error", attempt):
            chunks = chunks[:1] + [error_body(503, STATUS_MESSAGES[503])]
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream" if sse else "application/json"})
        await response.prepare(request)
        await self._delay(markers, attempt, extra_ms=extra_ms)  # time to first token
        for i, chunk in enumerate(chunks):
            if i:
                tokens = sum(text_generation.count_tokens(p.get("text", ""))
                             for c in chunk.get("candidates", []) for p in c["content"]["parts"])
                if self.config.token_latency_ms and tokens:
                    await asyncio.sleep(self.config.token_latency_ms * tokens / 1000.0)
            text = json.dumps(chunk)
            if sse:
                await response.write(f"data: {text}\r\n\r\n".encode())
            else:
                await response.write((("[" if i == 0 else ",\r\n") + text).encode())
        if not sse:
            await response.write(b"]")
        await response.write_eof()
        return response

    # -- Imagen predict ---------------------------------------------------------

    def _storage_client(self):
        """One google-cloud-storage client for the emulator's life (honours
        STORAGE_EMULATOR_HOST), created on the first storageUri request."""
        if self._gcs is None:
            from google.cloud import storage
            self._gcs = (storage.Client.create_anonymous_client()
                         if os.environ.get("STORAGE_EMULATOR_HOST") else storage.Client())
        return self._gcs

    async def _predict(self, request, model, body, raw) -> web.Response:
        if not model.startswith("imagen"):
            raise ApiError(400, f"Model {model} does not support predict; use generateContent.")
        prompt, params = check_predict(body)
        try:
            markers = parse_markers(prompt)
        except ValueError as error:
            raise ApiError(400, str(error)) from None
        attempt = self._faults(request, markers, raw, model, 0)
        store = None
        if params.get("storageUri"):
            prefix = params["storageUri"].rstrip("/") + "/" + hashlib.sha256(raw).hexdigest()[:16]
            store = _gcs_writer(self._storage_client(), prefix)
        # Rendering and encoding are CPU work; keep the event loop answering others.
        predictions = await asyncio.to_thread(
            images.predictions, model, prompt, params, markers, self.config.image_scale, store)
        self.stats.images += sum(1 for p in predictions if "mimeType" in p)
        await self._delay(markers, attempt)
        answer = {"predictions": predictions} if predictions else {}
        data = json.dumps(answer).encode()
        if markers.active("truncate", attempt):
            self.stats.truncated += 1
            data = data[:len(data) // 2]
        return web.Response(body=data, content_type="application/json")


class _Dropped(Exception):
    """The connection was closed on purpose; nothing is answered."""


def _gcs_writer(client, prefix: str):
    """A function that writes images under a gs:// prefix."""
    bucket_name, _, path = prefix[len("gs://"):].partition("/")
    bucket = client.bucket(bucket_name)

    def store(name: str, data: bytes, mime: str) -> str:
        blob_name = f"{path}/{name}" if path else name
        bucket.blob(blob_name).upload_from_string(data, content_type=mime)
        return f"gs://{bucket_name}/{blob_name}"
    return store
