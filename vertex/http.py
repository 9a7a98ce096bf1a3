"""The HTTP client under the Vertex client: the httpx API on a chosen transport.

httpx's own transport tops out far below what a quota-bound job needs with
hundreds of requests in flight on a small machine; the aiohttp transport keeps
the httpx API and goes several times faster (bench/transport.py measures both).
"""
from __future__ import annotations

import httpx

TRANSPORTS = ("aiohttp", "httpx")


def make_http_client(max_connections: int, timeout_s: float,
                     transport: str = "aiohttp") -> httpx.AsyncClient:
    """Must be called on the event loop that will use the client."""
    limits = httpx.Limits(max_connections=max_connections,
                          max_keepalive_connections=max_connections)
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 30.0))
    if transport == "aiohttp":
        from httpx_aiohttp import AiohttpTransport
        return httpx.AsyncClient(transport=AiohttpTransport(limits=limits), timeout=timeout)
    if transport == "httpx":
        return httpx.AsyncClient(limits=limits, timeout=timeout)
    raise ValueError(f"unknown transport {transport!r}; one of {TRANSPORTS}")
