"""Speech, made up but real: decodable 16-bit PCM whose length follows the
text (about 15 characters a second), and transcripts of audio that are
deterministic from its bytes (about 2.5 words a second)."""
from __future__ import annotations

import hashlib
import random

import numpy as np

from emulator.words import sentence_text

OUTPUT_RATE = 24_000
SECONDS_PER_CHARACTER = 0.065
TOKENS_PER_SECOND = 32  # what Gemini counts for a second of audio


def synthesize(text: str, rate: int = OUTPUT_RATE) -> bytes:
    """A tone per character (silence for spaces), with soft edges."""
    step = int(rate * SECONDS_PER_CHARACTER)
    t = np.arange(step) / rate
    envelope = np.minimum(1.0, np.minimum(t, t[::-1]) * 200)
    tones = []
    for character in text or " ":
        if character.isspace():
            tones.append(np.zeros(step))
        else:
            frequency = 180 + (ord(character) % 48) * 12
            tones.append(0.3 * np.sin(2 * np.pi * frequency * t) * envelope)
    return (np.concatenate(tones) * 32767).astype("<i2").tobytes()


def seconds(pcm: bytes | None, rate: int = OUTPUT_RATE) -> float:
    return len(pcm or b"") / (2 * rate)


def tokens(pcm: bytes | None, rate: int = OUTPUT_RATE) -> int:
    return round(seconds(pcm, rate) * TOKENS_PER_SECOND)


def transcript(pcm_16k: bytes) -> str:
    """What was said in 16 kHz audio: the same bytes always give the same words."""
    rng = random.Random(hashlib.sha256(pcm_16k).digest())
    return sentence_text(rng, max(1, round(seconds(pcm_16k, 16_000) * 2.5)))
