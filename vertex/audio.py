"""Audio as the Live API and Gemini TTS speak it: raw 16-bit little-endian
PCM, mono; 16 kHz in, 24 kHz out. WAV files in and out."""
from __future__ import annotations

import io
import re
import wave

import numpy as np

INPUT_RATE = 16_000    # what the Live API takes
OUTPUT_RATE = 24_000   # what the Live API and TTS models give
SAMPLE_WIDTH = 2       # 16-bit
TOKENS_PER_SECOND = 32  # what Gemini counts for a second of audio (for estimates)
# The Live API ends an audio-only session after 15 minutes (Live API limits,
# reference/service-tiers.md): no recording longer than that can be sent.
MAX_INPUT_SECONDS = 15 * 60
_RATE = re.compile(r"rate=(\d+)")


class AudioError(ValueError):
    """A file that cannot be read as audio; the message says why."""
    error_code = "INVALID_ARGUMENT"


def wav_bytes(pcm: bytes, rate: int = OUTPUT_RATE) -> bytes:
    """Raw 16-bit mono PCM as a WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(SAMPLE_WIDTH)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def pcm_seconds(pcm: bytes, rate: int = OUTPUT_RATE) -> float:
    return len(pcm) / (SAMPLE_WIDTH * rate)


def rate_of(mime_type: str, default: int = OUTPUT_RATE) -> int:
    """The sample rate a MIME type names (audio/pcm;rate=24000, audio/L16;codec=pcm;rate=24000)."""
    match = _RATE.search(mime_type or "")
    return int(match.group(1)) if match else default


def read_live_input(stream, name: str) -> bytes:
    """A recording's audio as the Live API takes it (16 kHz mono 16-bit PCM),
    read from a binary stream no further than a session can take: a WAV
    file's header is read first and says how long it is; a .pcm or .raw
    file (taken as already in that form) is read to that length at most.
    WAV at any rate, channel count and 8/16/24/32-bit width is converted."""
    head = stream.read(4)
    if head != b"RIFF":
        if name.lower().endswith((".pcm", ".raw")):
            limit = MAX_INPUT_SECONDS * INPUT_RATE * SAMPLE_WIDTH
            data = head + stream.read(limit + 1 - len(head))
            if len(data) > limit:
                raise AudioError(f"{name}: longer than the {MAX_INPUT_SECONDS // 60} minutes a "
                                 "Live API session takes")
            if len(data) % SAMPLE_WIDTH:
                raise AudioError(f"{name}: raw PCM of an odd number of bytes is not 16-bit")
            return data
        raise AudioError(f"{name}: not a WAV file (no RIFF header) and not .pcm/.raw")
    try:
        with wave.open(_Prepended(head, stream)) as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            if width not in (1, 2, 3, 4) or not channels or not rate:
                raise AudioError(f"{name}: unsupported WAV ({width * 8}-bit, {channels} channels)")
            if w.getnframes() > MAX_INPUT_SECONDS * rate:
                raise AudioError(f"{name}: {w.getnframes() / rate / 60:.0f} minutes long; a Live "
                                 f"API session takes {MAX_INPUT_SECONDS // 60} minutes at most")
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as error:
        raise AudioError(f"{name}: not a readable WAV file ({error})") from None
    samples = _samples(frames[:len(frames) - len(frames) % (width * channels)], width) \
        .reshape(-1, channels).mean(axis=1)
    if rate != INPUT_RATE and len(samples):
        count = max(1, round(len(samples) * INPUT_RATE / rate))
        positions = np.linspace(0, len(samples) - 1, count)
        samples = np.interp(positions, np.arange(len(samples)), samples)
    return np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes()


def to_live_input(data: bytes, name: str) -> bytes:
    """read_live_input for a recording already in memory."""
    return read_live_input(io.BytesIO(data), name)


class _Prepended(io.RawIOBase):
    """A stream with the bytes already read from it put back in front."""

    def __init__(self, head: bytes, stream):
        self.head, self.stream = head, stream

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            data, self.head = self.head + self.stream.read(), b""
            return data
        data, self.head = self.head[:n], self.head[n:]
        return data + (self.stream.read(n - len(data)) if len(data) < n else b"")


def _samples(frames: bytes, width: int) -> np.ndarray:
    """Samples scaled to the 16-bit range, as floats."""
    if width == 1:  # 8-bit WAV is unsigned
        return (np.frombuffer(frames, np.uint8).astype(np.float64) - 128) * 256
    if width == 3:
        raw = np.frombuffer(frames, np.uint8).reshape(-1, 3)
        values = (raw[:, 0].astype(np.int32) | (raw[:, 1].astype(np.int32) << 8)
                  | (raw[:, 2].astype(np.int32) << 16))
        values = np.where(values & 0x800000, values - (1 << 24), values)
        return values.astype(np.float64) / 256
    dtype = {2: "<i2", 4: "<i4"}[width]
    return np.frombuffer(frames, dtype).astype(np.float64) / (1 << (8 * width - 16))
