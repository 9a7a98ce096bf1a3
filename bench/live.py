"""Live API: sessions/s and audio seconds/s against the emulator's
concurrent-session quota, the pipeline next to a minimal asyncio loop that
drives the same client with the same cap."""
from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

from bench.common import Emulator
from bench.jobs import run_pipeline, table_rows


def write_live_records(path: Path, count: int) -> Path:
    with open(path, "w") as f:
        for i in range(count):
            f.write(json.dumps({"id": f"l{i}", "task": "live",
                                "prompt": f"Item {i}: your parcel is on its way today.",
                                "config": {"output_audio_transcription": {}}}) + "\n")
    return path


async def minimal_loop(url: str, count: int, sessions: int) -> tuple[float, float]:
    """The same client, sessions and records, no Beam: (wall seconds, audio seconds)."""
    from vertex.auth import NoAuth
    from vertex.call_policy import CallSettings
    from vertex.client import VertexClient
    from vertex.endpoints import Endpoint
    from vertex.http import make_http_client
    from vertex.live import setup_from_config
    client = VertexClient(Endpoint(base_url=url), NoAuth(), make_http_client(sessions, 60),
                          CallSettings(live_sessions=sessions, max_in_flight=sessions))
    setup = setup_from_config({"output_audio_transcription": {}})
    started = time.perf_counter()
    results = await asyncio.gather(*(
        client.live("gemini-3.8-live", setup,
                    text=f"Item {i}: your parcel is on its way today.") for i in range(count)))
    wall = time.perf_counter() - started
    await client.aclose()
    audio = sum(len(r.response["audio"]) / 48_000 for r in results if r.ok)
    return wall, audio


def run(records: int = 400, sessions: int = 16) -> list[dict]:
    rows = []
    flags = ("--live_sessions", str(sessions), "--token_latency_ms", "10")
    with Emulator(*flags) as emulator, tempfile.TemporaryDirectory() as tmp:
        source = write_live_records(Path(tmp) / "in.jsonl", records)
        wall, audio = asyncio.run(minimal_loop(emulator.url, records, sessions))
        loop_rate = records / wall
        rows.append({"section": "live", "case": f"minimal loop, {sessions} sessions",
                     "records": records, "records_per_s": loop_rate,
                     "ratio": audio / wall, "ratio_of": "audio s per s", "lost": 0})
        emulator.reset()
        job = run_pipeline(source, Path(tmp) / "out", emulator.url,
                           "--live_sessions", str(sessions), "--max_attempts", "20")
        got = table_rows(Path(tmp) / "out", "live", ["id", "status", "audio_seconds"])
        job_audio = sum(r["audio_seconds"] or 0 for r in got)
        stats = emulator.stats()
        share = stats["by_status"].get("429", 0) / max(1, stats["requests"])
        rate = records / job["wall_s"]
        rows.append({"section": "live", "case": f"pipeline, --live_sessions {sessions}",
                     "records": records, "records_per_s": rate,
                     "ratio": rate / loop_rate, "ratio_of": "minimal loop",
                     "share_429": share, "lost": records - len({r["id"] for r in got}),
                     "peak_mib": job["peak_mib"],
                     "target": "no session refused, none lost",
                     "met": share == 0 and len(got) == records
                     and job_audio >= 0.99 * audio})
    return rows


if __name__ == "__main__":
    from bench.common import report
    report("live", run())
