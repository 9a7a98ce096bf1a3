"""A page rendered in real headless Chromium (Debian's `chromium`, which
`./run_local.sh test` installs when missing), driven over the DevTools
protocol with aiohttp (no new dependency). The network is cut: every host
resolves to nothing, and any request that is not file: or data: is listed.

    python -m tests.browser PAGE.html [SCREENSHOT.png]
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
_PROBE = """JSON.stringify({
  charts: [...document.querySelectorAll('.chart svg')].map(e => {
    const r = e.getBoundingClientRect(); return [r.width, r.height]; }),
  images: [...document.images].map(i => [i.complete, i.naturalWidth]),
  audio: document.querySelectorAll('audio').length,
  sections: [...document.querySelectorAll('h2')].map(h => h.textContent),
  height: document.documentElement.scrollHeight})"""


def chromium() -> str | None:
    return next((path for path in map(shutil.which, CHROMIUM) if path), None)


async def render(page: Path, screenshot: Path | None = None, width: int = 1200) -> dict:
    """Loads the page; returns what it showed, the errors it raised and the
    network requests it tried."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    process = subprocess.Popen(
        [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--remote-debugging-port=0", f"--user-data-dir={profile}",
         "--host-resolver-rules=MAP * ~NOTFOUND", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port = await asyncio.to_thread(_devtools_port, process)
        async with aiohttp.ClientSession() as http:
            async with http.put(f"http://127.0.0.1:{port}/json/new?about:blank") as response:
                target = json.loads(await response.text())
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                return await _drive(ws, page, screenshot, width)
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _devtools_port(process) -> int:
    for line in iter(process.stderr.readline, b""):
        text = line.decode(errors="replace")
        if "DevTools listening on ws://" in text:
            return int(text.split("ws://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    raise RuntimeError("Chromium did not start")


async def _drive(ws, page: Path, screenshot: Path | None, width: int) -> dict:
    ids, errors, requests, loaded = iter(range(1, 10_000)), [], [], asyncio.Event()
    pending: dict[int, asyncio.Future] = {}

    async def reader():
        async for message in ws:
            event = json.loads(message.data)
            if "id" in event and event["id"] in pending:
                pending.pop(event["id"]).set_result(event.get("result", event.get("error")))
            method = event.get("method")
            if method == "Runtime.exceptionThrown":
                errors.append(event["params"]["exceptionDetails"].get("text"))
            elif method == "Log.entryAdded" and event["params"]["entry"]["level"] == "error":
                errors.append(event["params"]["entry"].get("text"))
            elif method == "Network.requestWillBeSent":
                url = event["params"]["request"]["url"]
                if not url.startswith(("file:", "data:", "about:")):
                    requests.append(url)
            elif method == "Page.loadEventFired":
                loaded.set()

    async def call(method: str, **params):
        number = next(ids)
        pending[number] = asyncio.get_running_loop().create_future()
        await ws.send_str(json.dumps({"id": number, "method": method, "params": params}))
        return await asyncio.wait_for(pending[number], 60)

    task = asyncio.create_task(reader())
    try:
        for domain in ("Page", "Runtime", "Log", "Network"):
            await call(f"{domain}.enable")
        await call("Emulation.setDeviceMetricsOverride", width=width, height=900,
                   deviceScaleFactor=1, mobile=False)
        await call("Page.navigate", url=page.resolve().as_uri())
        await asyncio.wait_for(loaded.wait(), 60)
        result = await call("Runtime.evaluate", expression=_PROBE, returnByValue=True)
        shown = json.loads(result["result"]["value"])
        if screenshot is not None:
            await call("Emulation.setDeviceMetricsOverride", width=width,
                       height=min(shown["height"], 6000), deviceScaleFactor=1, mobile=False)
            shot = await call("Page.captureScreenshot", format="png")
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        return {**shown, "errors": errors, "network_requests": requests}
    finally:
        task.cancel()


if __name__ == "__main__":
    if not chromium():
        sys.exit("no chromium: install Debian's chromium (./run_local.sh test does)")
    out = asyncio.run(render(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None))
    print(json.dumps({k: v for k, v in out.items() if k != "images"}, indent=2))
    os._exit(0)
