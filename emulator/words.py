"""The emulator's made-up prose: words and sentences drawn from a seeded
random source, shared by the text answers, the Live API and speech."""
from __future__ import annotations

import random

WORDS = (
    "the data shows a clear pattern across each sample and label set with strong signal "
    "model answer record value field result quality review customer product order item "
    "price return delivery support team issue update report summary insight trend growth "
    "risk score rating positive negative neutral mixed clearly likely often rarely mostly "
    "because while although however therefore overall in short note that this suggests "
    "we can see the main point is simple fast reliable useful careful balanced accurate "
    "river mountain city garden ocean forest morning evening light color shape texture "
    "small large bright calm quiet busy early late new old first last next best key"
).split()


def sentence_text(rng: random.Random, words: int) -> str:
    sentences, current = [], []
    for _ in range(words):
        current.append(rng.choice(WORDS))
        if len(current) >= rng.randint(6, 14):
            sentences.append(" ".join(current).capitalize() + ".")
            current = []
    if current:
        sentences.append(" ".join(current).capitalize() + ".")
    return " ".join(sentences)
