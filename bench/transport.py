"""Which HTTP transport under httpx: the same requests, concurrency and server,
side by side in one run.

    python -m bench.transport [--requests 3000] [--concurrency 100] [--latency_ms 200]

Ideal throughput is concurrency / latency (500/s with the defaults).
"""
from __future__ import annotations

import argparse
import asyncio
import time

from bench.common import Emulator, report
from vertex.http import TRANSPORTS, make_http_client

BODY = {"contents": [{"role": "user", "parts": [{"text": "ping"}]}],
        "generationConfig": {"maxOutputTokens": 4}}


async def load(url: str, transport: str, requests: int, concurrency: int) -> dict:
    client = make_http_client(concurrency, 60.0, transport)
    target = f"{url}/v1/publishers/google/models/gemini-3.5-flash:generateContent"
    errors: dict[str, int] = {}
    ok = 0
    queue = iter(range(requests))

    async def worker():
        nonlocal ok
        for _ in queue:
            try:
                response = await client.post(target, json=BODY)
                response.json()
                ok += response.status_code == 200
            except Exception as error:  # noqa: BLE001 - counted and reported
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await client.aclose()
    return {"transport": transport, "requests": requests, "ok": ok,
            "errors": sum(errors.values()), "error_kinds": ",".join(sorted(errors)) or None,
            "requests_per_s": ok / elapsed}


def run(requests: int = 3000, concurrency: int = 100, latency_ms: float = 200) -> list[dict]:
    ideal = concurrency / (latency_ms / 1000.0)
    rows = []
    with Emulator("--latency_ms", str(latency_ms)) as emulator:
        for transport in TRANSPORTS:
            result = asyncio.run(load(emulator.url, transport, requests, concurrency))
            rows.append({"section": "transport", "case": f"httpx on the {transport} transport",
                         "records": requests, "records_per_s": result["requests_per_s"],
                         "ratio": result["requests_per_s"] / ideal, "ratio_of": "ideal",
                         "lost": result["errors"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--latency_ms", type=float, default=200)
    args = parser.parse_args()
    report("transport", run(args.requests, args.concurrency, args.latency_ms),
           {"args": vars(args)})


if __name__ == "__main__":
    main()
