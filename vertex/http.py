"""The HTTP client under the Vertex client: the httpx API on a chosen transport.

httpx's own transport tops out far below what a quota-bound job needs with
hundreds of requests in flight on a small machine; the aiohttp transport keeps
the httpx API and goes several times faster (bench/transport.py measures both).
"""
from __future__ import annotations

import os
import ssl

import httpx

TRANSPORTS = ("aiohttp", "httpx")


def tls_verification() -> ssl.SSLContext | bool:
    """The certificates to trust: SSL_CERT_FILE / SSL_CERT_DIR when set (for
    example the emulator's --cert_file), else the default bundle (True)."""
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if not (cafile or capath):
        return True
    return ssl.create_default_context(cafile=cafile, capath=capath)


def make_http_client(max_connections: int, timeout_s: float,
                     transport: str = "aiohttp") -> httpx.AsyncClient:
    """Must be called on the event loop that will use the client."""
    limits = httpx.Limits(max_connections=max_connections,
                          max_keepalive_connections=max_connections)
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 30.0))
    verify = tls_verification()
    if transport == "aiohttp":
        from httpx_aiohttp import AiohttpTransport
        return httpx.AsyncClient(transport=AiohttpTransport(limits=limits, verify=verify),
                                 timeout=timeout)
    if transport == "httpx":
        return httpx.AsyncClient(limits=limits, timeout=timeout, verify=verify)
    raise ValueError(f"unknown transport {transport!r}; one of {TRANSPORTS}")


def make_websocket_session():
    """An aiohttp session for the Live API's WebSockets, trusting what
    make_http_client trusts. Must be called on the event loop that uses it."""
    import aiohttp
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls_verification()))
