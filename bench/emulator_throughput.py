"""How many minimal generateContent requests per second the emulator serves
on this machine, with a lean aiohttp load generator in another process.

    python -m bench.emulator_throughput [--seconds 10] [--concurrency 64]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time

from bench.common import Emulator, report

BODY = json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                   "generationConfig": {"maxOutputTokens": 1}})


def _load(url: str, seconds: float, concurrency: int, results) -> None:
    import aiohttp

    async def run():
        target = f"{url}/v1/publishers/google/models/gemini-3.5-flash:generateContent"
        done = errors = 0
        deadline = time.perf_counter() + seconds
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
            async def worker():
                nonlocal done, errors
                while time.perf_counter() < deadline:
                    async with s.post(target, data=BODY,
                                      headers={"content-type": "application/json"}) as r:
                        await r.read()
                        done += r.status == 200
                        errors += r.status != 200
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return done, errors, time.perf_counter() - started
    results.put(asyncio.run(run()))


def run(seconds: float = 10, concurrency: int = 64) -> list[dict]:
    with Emulator() as emulator:
        results = multiprocessing.Queue()
        loader = multiprocessing.Process(target=_load, args=(emulator.url, seconds,
                                                             concurrency, results))
        loader.start()
        done, errors, elapsed = results.get()
        loader.join()
    rate = done / elapsed
    return [{"section": "emulator", "case": "minimal generateContent, served alone",
             "records": done, "records_per_s": rate, "lost": errors,
             "target": "> 1000/s", "met": rate > 1000 and errors == 0}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    report("emulator_throughput", run(args.seconds, args.concurrency), {"args": vars(args)})


if __name__ == "__main__":
    main()
