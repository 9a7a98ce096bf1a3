"""Bulk speech and audio: the Live API (a session per record) and Gemini TTS,
end to end against the emulator, and the official SDK's Live client."""
import asyncio
import base64
import io
import os
import wave

import httpx
import numpy as np
import pytest

from tests.support.pipeline_runs import read_table, run_job, summary, write_jsonl
from vertex.audio import to_live_input, wav_bytes


def write_wav(path, seconds=1.0, rate=44_100, channels=2, width=2):
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    frames = np.repeat(samples[:, None], channels, axis=1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames.tobytes())
    return str(path)


def read_wav(path):
    with wave.open(str(path)) as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()


def test_texts_to_speech_and_recordings_to_transcripts(emulator, tmp_path):
    recording = write_wav(tmp_path / "call.wav", seconds=2.0, rate=44_100, channels=2)
    raw = tmp_path / "note.pcm"
    raw.write_bytes(to_live_input(open(recording, "rb").read(), "call.wav"))
    sample = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "speak", "task": "live", "prompt": "Welcome to the morning briefing.",
         "config": {"output_audio_transcription": {},
                    "speech_config": {"voice_config": {"prebuilt_voice_config": {
                        "voice_name": "Aoede"}}}}},
        {"id": "answer", "task": "live", "prompt": "What is a river?",
         "config": {"responseModalities": ["TEXT"]}},
        {"id": "hear", "task": "live", "audio_uri": recording,
         "config": {"response_modalities": ["TEXT"], "input_audio_transcription": {}}},
        {"id": "hear-raw", "task": "live", "audio_uri": str(raw),
         "config": {"input_audio_transcription": {}}},
        {"id": "missing", "task": "live", "audio_uri": str(tmp_path / "nope.wav")},
        {"id": "tts", "model": "gemini-2.5-flash-tts", "request": {
            "contents": [{"parts": [{"text": "Your order has shipped."}]}],
            "generationConfig": {"responseModalities": ["AUDIO"], "speechConfig": {
                "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}}}}},
        {"id": "text", "prompt": "Label this"},
        {"id": "image", "task": "image", "prompt": "a boat"},
        {"id": "bad-config", "task": "live", "prompt": "x", "config": {"voice": "Kore"}},
    ])
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url) == 3
    live = {r["id"]: r for r in read_table(out, "live")}
    assert set(live) == {"speak", "answer", "hear", "hear-raw", "missing"}
    speak = live["speak"]
    assert speak["status"] == "ok" and speak["output_transcript"]
    assert speak["audio_uri"].startswith(str(out / "audio"))
    assert read_wav(speak["audio_uri"])[:3] == (24_000, 1, 2)
    rate, _, _, frames = read_wav(speak["audio_uri"])
    assert frames / rate == pytest.approx(speak["audio_seconds"], abs=0.01)
    assert speak["sample_rate_hz"] == 24_000 and speak["first_audio_ms"] is not None
    assert speak["usage"]["candidates_token_count"] > 0 and speak["cost_usd"] > 0
    assert live["answer"]["text"] and live["answer"]["audio_uri"] is None
    assert live["hear"]["input_transcript"] and live["hear"]["text"]
    assert live["hear"]["input_audio_seconds"] == pytest.approx(2.0, abs=0.01)
    assert live["hear-raw"]["input_transcript"] == live["hear"]["input_transcript"]
    assert read_wav(live["hear-raw"]["audio_uri"])[0] == 24_000
    missing = live["missing"]
    assert (missing["status"], missing["error_code"]) == ("error", "INVALID_ARGUMENT")
    assert "nope.wav" in missing["error_message"] and missing["attempts"] == 0
    responses = {r["id"]: r for r in read_table(out, "responses")}
    tts = responses["tts"]
    assert tts["status"] == "ok" and len(tts["audio_uris"]) == 1
    assert read_wav(tts["audio_uris"][0])[:3] == (24_000, 1, 2)
    assert tts["audio_seconds"] > 1 and '"data"' not in tts["response_json"]
    assert responses["text"]["status"] == "ok"
    assert read_table(out, "images")[0]["status"] == "ok"
    [rejected] = read_table(out, "rejected")
    assert "config" in rejected["reason"] and "voice" in rejected["reason"]
    s = summary(out)
    assert s["all_lines_accounted_for"] and s["live"]["ok"] == 4 and s["live"]["error"] == 1
    assert s["audio_files_written"] == 3  # speak, hear-raw (AUDIO by default) and tts


def test_sessions_that_fail_before_the_turn_completes_are_retried(emulator, tmp_path):
    sample = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "dropped", "task": "live", "prompt": "x [[emulator: drop x1]]"},
        {"id": "away", "task": "live", "prompt": "x [[emulator: go_away x2]]"},
        {"id": "fine", "task": "live", "prompt": "x"},
        {"id": "gone", "task": "live", "prompt": "x", "model": "gemini-live-9"}])
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--initial_backoff_s", "0.05") == 3
    rows = {r["id"]: r for r in read_table(out, "live")}
    assert (rows["dropped"]["status"], rows["dropped"]["attempts"]) == ("ok", 2)
    assert (rows["away"]["status"], rows["away"]["attempts"]) == ("ok", 3)
    assert rows["fine"]["attempts"] == 1
    assert (rows["gone"]["status"], rows["gone"]["error_code"]) == ("error", "model_not_found")


def test_the_session_quota_is_kept_and_a_full_one_is_retried(start_emulator, tmp_path):
    emulator = start_emulator("--live_sessions", "2", "--token_latency_ms", "20")
    sample = write_jsonl(tmp_path / "in.jsonl", [
        {"id": f"s{i}", "task": "live", "prompt": f"Read item {i} aloud"} for i in range(8)])
    out = tmp_path / "kept"
    assert run_job(sample, out, emulator.url, "--live_sessions", "2") == 0
    rows = read_table(out, "live")
    assert all(r["status"] == "ok" and r["attempts"] == 1 for r in rows)
    assert "429" not in emulator.stats()["by_status"]
    emulator.reset()
    out = tmp_path / "over"
    assert run_job(sample, out, emulator.url, "--initial_backoff_s", "0.05",
                   "--max_attempts", "20") == 0
    rows = read_table(out, "live")
    assert all(r["status"] == "ok" for r in rows)
    assert sum(r["throttled_attempts"] for r in rows) == emulator.stats()["by_status"]["429"] > 0


def test_live_rows_resume_like_the_others(emulator, tmp_path):
    records = [{"id": f"s{i}", "task": "live", "prompt": f"line {i}"} for i in range(4)]
    sample = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url) == 0
    write_jsonl(sample, records + [{"id": "s4", "task": "live", "prompt": "line 4"}])
    emulator.reset()
    assert run_job(sample, out, emulator.url, "--skip_existing") == 0
    assert emulator.stats()["by_method"] == {"BidiGenerateContent": 1}
    assert summary(out)["skipped_existing"] == 4


def test_speech_only_from_models_that_speak(emulator):
    body = {"contents": [{"parts": [{"text": "x"}]}],
            "generationConfig": {"responseModalities": ["AUDIO"]}}
    url = emulator.url + "/v1/publishers/google/models/{}:generateContent"
    refused = httpx.post(url.format("gemini-3.5-flash"), json=body, timeout=30)
    assert refused.status_code == 400 and "audio" in refused.json()["error"]["message"]
    spoken = httpx.post(url.format("gemini-2.5-flash-tts"), json=body, timeout=30).json()
    blob = spoken["candidates"][0]["content"]["parts"][0]["inlineData"]
    assert blob["mimeType"] == "audio/L16;codec=pcm;rate=24000"
    assert len(base64.b64decode(blob["data"])) % 2 == 0
    assert spoken["usageMetadata"]["candidatesTokensDetails"][0]["modality"] == "AUDIO"


@pytest.fixture
def tls_emulator(start_emulator, tmp_path, monkeypatch):
    """The emulator on HTTPS/WSS; the SDK trusts its certificate through
    SSL_CERT_FILE, as a user's own code would."""
    cert = tmp_path / "emulator.pem"
    emulator = start_emulator("--tls", "--cert_file", str(cert))
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return emulator


def sdk_client(emulator):
    from google import genai
    from google.genai import types
    from google.oauth2.credentials import Credentials
    return genai.Client(vertexai=True, project="test-project", location="us-central1",
                        credentials=Credentials(token="test-token"),
                        http_options=types.HttpOptions(base_url=emulator.url))


def test_the_official_sdk_live_client_works_against_the_emulator(tls_emulator, tmp_path):
    from google.genai import types
    assert tls_emulator.url.startswith("https://")
    client = sdk_client(tls_emulator)

    async def speak():
        config = types.LiveConnectConfig(
            response_modalities=["AUDIO"],
            output_audio_transcription=types.AudioTranscriptionConfig(),
            speech_config=types.SpeechConfig(voice_config=types.VoiceConfig(
                prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name="Aoede"))))
        audio, said = bytearray(), []
        async with client.aio.live.connect(model="gemini-3.8-live", config=config) as s:
            await s.send_client_content(turns=types.Content(
                role="user", parts=[types.Part(text="Hello there")]), turn_complete=True)
            async for message in s.receive():
                if message.data:
                    audio += message.data
                content = message.server_content
                if content and content.output_transcription:
                    said.append(content.output_transcription.text)
                if content and content.turn_complete:
                    break
        return bytes(audio), "".join(said)

    async def write():
        config = types.LiveConnectConfig(response_modalities=["TEXT"])
        texts = []
        async with client.aio.live.connect(model="gemini-3.8-live", config=config) as s:
            await s.send_client_content(turns=types.Content(
                role="user", parts=[types.Part(text="What is a river?")]), turn_complete=True)
            async for message in s.receive():
                if message.text:
                    texts.append(message.text)
                if message.server_content and message.server_content.turn_complete:
                    break
        return "".join(texts)

    async def hear(pcm: bytes):
        config = types.LiveConnectConfig(
            response_modalities=["TEXT"],
            input_audio_transcription=types.AudioTranscriptionConfig())
        heard, usage = [], None
        async with client.aio.live.connect(model="gemini-3.8-live", config=config) as s:
            await s.send_realtime_input(audio=types.Blob(data=pcm,
                                                         mime_type="audio/pcm;rate=16000"))
            await s.send_realtime_input(audio_stream_end=True)
            async for message in s.receive():
                content = message.server_content
                if content and content.input_transcription:
                    heard.append(content.input_transcription.text)
                usage = message.usage_metadata or usage
                if content and content.turn_complete:
                    break
        return "".join(heard), usage

    audio, said = asyncio.run(speak())
    assert len(audio) > 24_000 and said
    assert asyncio.run(write())
    recording = write_wav(tmp_path / "in.wav", seconds=1.0, rate=16_000, channels=1)
    heard, usage = asyncio.run(hear(to_live_input(open(recording, "rb").read(), "in.wav")))
    assert heard and usage.prompt_token_count == 32
    # and the job itself over wss://
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "task": "live", "prompt": "hi"}])
    assert run_job(sample, tmp_path / "out", tls_emulator.url) == 0
    assert read_table(tmp_path / "out", "live")[0]["status"] == "ok"
    assert os.environ["SSL_CERT_FILE"].endswith("emulator.pem")
    with wave.open(io.BytesIO(wav_bytes(audio))) as w:  # the SDK's audio decodes
        assert (w.getframerate(), w.getnframes()) == (24_000, len(audio) // 2)


def test_live_sessions_carry_the_api_key_and_a_wrong_one_stops_the_job(start_emulator, tmp_path):
    emulator = start_emulator("--require_api_key", "key-live-123")
    sample = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "task": "live", "prompt": "hi"}])
    assert run_job(sample, tmp_path / "ok", emulator.url, "--api_key", "key-live-123") == 0
    assert read_table(tmp_path / "ok", "live")[0]["status"] == "ok"
    assert run_job(sample, tmp_path / "bad", emulator.url, "--api_key", "wrong-key") == 1


def test_recordings_that_could_hang_or_never_end_are_refused_quickly(emulator, tmp_path):
    """A FIFO (opening it would wait for a writer for good), /dev/zero (never
    ends), and recordings longer than a Live API session takes (15 minutes):
    each record's error row says why, nothing is read without bound, and the
    job ends."""
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    long_raw = tmp_path / "long.pcm"
    with open(long_raw, "wb") as f:  # 16 minutes at 16 kHz, sparse on disk
        f.truncate(16 * 60 * 16_000 * 2)
    long_wav = tmp_path / "long.wav"  # a header that says 20 minutes, then a little audio
    header = io.BytesIO()
    with wave.open(header, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframesraw(b"\0\0" * 100)
    data = bytearray(header.getvalue())
    data[40:44] = (20 * 60 * 16_000 * 2).to_bytes(4, "little")  # the data chunk's size
    long_wav.write_bytes(bytes(data))
    sample = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "fifo", "task": "live", "audio_uri": str(fifo)},
        {"id": "zero", "task": "live", "audio_uri": "/dev/zero"},
        {"id": "long-raw", "task": "live", "audio_uri": str(long_raw)},
        {"id": "long-wav", "task": "live", "audio_uri": str(long_wav)},
        {"id": "fine", "task": "live", "audio_uri": write_wav(tmp_path / "ok.wav", seconds=0.5)},
    ])
    out = tmp_path / "out"
    assert run_job(sample, out, emulator.url, "--progress_s", "0") == 3
    live = {r["id"]: r for r in read_table(out, "live")}
    assert live["fine"]["status"] == "ok"
    for record_id, reason in (("fifo", "not a regular file"), ("zero", "not a regular file"),
                              ("long-raw", "longer than the 15 minutes"),
                              ("long-wav", "20 minutes long")):
        row = live[record_id]
        assert (row["status"], row["attempts"]) == ("error", 0), row
        assert reason in row["error_message"], row["error_message"]
