"""The HTTP client under the Vertex client: the httpx API on a chosen transport.

httpx's own transport tops out far below what a quota-bound job needs with
hundreds of requests in flight on a small machine; the aiohttp transport keeps
the httpx API and goes several times faster (bench/transport.py measures both).
"""
from __future__ import annotations

import functools
import json
import os
import ssl
import urllib.request

import httpx

from vertex.errors import MalformedResponseError, error_from_response

TRANSPORTS = ("aiohttp", "httpx")


def tls_verification() -> ssl.SSLContext | bool:
    """The certificates to trust: SSL_CERT_FILE / SSL_CERT_DIR when set (for
    example the emulator's --cert_file), else the default bundle (True)."""
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if not (cafile or capath):
        return True
    return ssl.create_default_context(cafile=cafile, capath=capath)


def proxies_in_environment() -> bool:
    """Whether a proxy is set for HTTP or HTTPS (HTTPS_PROXY, http_proxy, ALL_PROXY, ...)."""
    return bool(urllib.request.getproxies_environment())


class HttpClient(httpx.AsyncClient):
    """httpx's client, and post_json: a JSON POST handed straight to the
    client's transport.

    A Vertex AI call uses none of the client's own per-request layers (the
    cookie jar, the auth and redirect flows, event hooks), and they cost about
    100 us of CPU a request, a fifth of its HTTP work (measured against the
    emulator, 64 in flight). The request is the one client.post would send:
    build_request merges the client's headers and timeouts. Only a transport
    given to the client is used this way: httpx honours the environment's
    proxies (HTTPS_PROXY, ...) only with a transport of its own making, and
    then post_json goes through the client."""

    def __init__(self, *, transport: httpx.AsyncBaseTransport | None = None, **kwargs):
        super().__init__(transport=transport, **kwargs)
        self._direct = transport

    async def post_json(self, url: str, body, headers: dict[str, str]) -> httpx.Response:
        """The answer, read to its end."""
        if self._direct is None:
            return await self.post(url, json=body, headers=headers)
        response = await self._direct.handle_async_request(
            self.build_request("POST", _parsed(url), json=body, headers=headers))
        try:
            await response.aread()
        except BaseException:
            await response.aclose()
            raise
        return response


# A call's URL is one of a few (a model and a method), and parsing it is about
# a quarter of building the request: each is parsed once (httpx.URL is immutable).
_parsed = functools.lru_cache(maxsize=1024)(httpx.URL)


def make_http_client(max_connections: int, timeout_s: float,
                     transport: str = "aiohttp") -> HttpClient:
    """Must be called on the event loop that will use the client."""
    limits = httpx.Limits(max_connections=max_connections,
                          max_keepalive_connections=max_connections)
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 30.0))
    verify = tls_verification()
    if transport == "aiohttp":
        from httpx_aiohttp import AiohttpTransport
        aiohttp_transport = AiohttpTransport(limits=limits, verify=verify)
        if proxies_in_environment():
            import aiohttp

            def session_through_proxies():
                # aiohttp honours HTTP(S)_PROXY and NO_PROXY only when told to
                # trust the environment (as httpx and google-auth do by default);
                # it then reads them at each request, so only when they are set.
                return aiohttp.ClientSession(trust_env=True, connector=aiohttp.TCPConnector(
                    limit=max_connections, keepalive_timeout=limits.keepalive_expiry,
                    ssl=aiohttp_transport.ssl_context))
            aiohttp_transport.client = session_through_proxies
        return HttpClient(transport=aiohttp_transport, timeout=timeout)
    if transport == "httpx":
        return HttpClient(limits=limits, timeout=timeout, verify=verify)
    raise ValueError(f"unknown transport {transport!r}; one of {TRANSPORTS}")


def make_websocket_session():
    """An aiohttp session for the Live API's WebSockets, trusting what
    make_http_client trusts. Must be called on the event loop that uses it."""
    import aiohttp
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls_verification()),
                                 trust_env=proxies_in_environment())


async def post_for_json(http: HttpClient, url: str, body: dict, headers: dict[str, str]) -> dict:
    """A JSON POST (the calls' fast path) and its answer, a JSON object."""
    return json_answer(await http.post_json(url, body, headers))


async def send_json(http: HttpClient, method: str, url: str, body: dict | None,
                    headers: dict[str, str], params: dict | None = None) -> dict:
    """Any other method (a resource's GET, PATCH, DELETE) and its answer,
    a JSON object ({} for an empty one)."""
    response = await http.request(method, url, json=body, params=params, headers=headers)
    return json_answer(response) if response.content or response.status_code >= 400 else {}


def json_answer(response: httpx.Response) -> dict:
    """An answer's JSON object; VertexApiError for an error status,
    MalformedResponseError for an answer that is not a JSON object."""
    if response.status_code >= 400:
        raise error_from_response(response.status_code, response.content, response.headers)
    try:
        data = response.json()
    except ValueError:
        raise MalformedResponseError(
            f"answer is not valid JSON ({len(response.content)} bytes)") from None
    if not isinstance(data, dict):
        raise MalformedResponseError("answer is not a JSON object")
    return data


async def stream_events(http: HttpClient, url: str, body: dict, headers: dict[str, str]):
    """A JSON POST answered with Server-Sent Events (?alt=sse): each event's
    JSON object; an error event mid-stream raises as an error status would."""
    async with http.stream("POST", url, params={"alt": "sse"}, json=body,
                           headers=headers) as response:
        if response.status_code >= 400:
            raise error_from_response(response.status_code, await response.aread(),
                                      response.headers)
        async for event in _sse_events(response.aiter_lines()):
            try:
                chunk = json.loads(event)
            except ValueError:
                raise MalformedResponseError("a streamed chunk is not valid JSON") from None
            if isinstance(chunk, dict) and isinstance(chunk.get("error"), dict):
                code = chunk["error"].get("code")  # an error in the middle of the stream
                raise error_from_response(code if isinstance(code, int) else 500,
                                          event.encode())
            yield chunk


async def _sse_events(lines):
    """The data of each Server-Sent Event (data lines joined, blank line ends it)."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    if data:
        yield "\n".join(data)
