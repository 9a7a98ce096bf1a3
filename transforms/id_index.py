"""Which records need a look at others before they are called, from indexes
a few bytes an id, so that the records themselves never wait in a shuffle.

Grouping every record by id (a CoGroupByKey) holds the whole input on a
runner that shuffles in memory, as Beam's in-process runner does: about 1.2 KB
a record, measured (2.5 KB on a rerun, with the earlier rows). PlanCalls
groups only the records whose id *may* be shared with another record of this
input (IdIndex of RepeatedIds: 64-bit fingerprints, 8 bytes an id, so it names
a superset, decided exactly by the grouping), and those whose answer a dead
run saved (to carry it over). What earlier runs said of every other id is an
IdCodes (LargestCodes): ids told apart exactly, a verdict each, so a record
they answered is skipped, and one they failed is called, without a look at
their rows.
"""
from __future__ import annotations

import hashlib
from array import array

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def fingerprint(record_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(record_id.encode(), digest_size=8).digest(), "little")


def _first_at(fingerprints: np.ndarray, record_id: str) -> tuple[int, np.uint64]:
    """Where the id's fingerprint is, or would be, in sorted fingerprints."""
    value = np.uint64(fingerprint(record_id))
    return int(np.searchsorted(fingerprints, value)), value


class IdIndex:
    """A sorted set of id fingerprints."""

    def __init__(self, fingerprints: np.ndarray):
        self.fingerprints = fingerprints

    @classmethod
    def empty(cls) -> "IdIndex":
        return cls(np.empty(0, dtype=np.uint64))

    def __len__(self) -> int:
        return len(self.fingerprints)

    def __contains__(self, record_id: str) -> bool:
        if not len(self.fingerprints):  # the usual case: nothing to look at
            return False
        at, value = _first_at(self.fingerprints, record_id)
        return at < len(self.fingerprints) and self.fingerprints[at] == value


class RepeatedIds(beam.CombineFn):
    """Ids to an IdIndex of those seen more than once. Accumulators are
    arrays of 8-byte fingerprints, merged by concatenation; Beam lifts the
    combine, so each bundle adds its own ids before anything is shuffled."""

    def create_accumulator(self) -> array:
        return array("Q")

    def add_input(self, accumulator: array, record_id: str) -> array:
        accumulator.append(fingerprint(record_id))
        return accumulator

    def merge_accumulators(self, accumulators) -> array:
        merged = array("Q")
        for accumulator in accumulators:
            merged.extend(accumulator)
        return merged

    def extract_output(self, accumulator: array) -> IdIndex:
        ids = np.sort(np.frombuffer(accumulator, dtype=np.uint64))
        return IdIndex(np.unique(ids[1:][ids[1:] == ids[:-1]]))


class IdCodes:
    """Ids, each with a small code, told apart exactly: found by fingerprint
    (sorted, numpy), then compared as text (Arrow): some 13 bytes an id
    beside its own, 5 of them when it is sent."""

    def __init__(self, fingerprints: np.ndarray, ids: pa.Array, codes: np.ndarray):
        self.fingerprints, self.ids, self.codes = fingerprints, ids, codes

    @classmethod
    def empty(cls) -> "IdCodes":
        return cls(np.empty(0, dtype=np.uint64), pa.array([], pa.string()),
                   np.empty(0, dtype=np.uint8))

    # What crosses to the workers (a side input) is the ids and their codes;
    # the fingerprints are made again from the ids on arrival. The in-process
    # runner holds a side input several times over while it hands it on
    # (encoded, buffered, committed to its state): at a million ids, the
    # fingerprints' 8 bytes an id were a third of each copy, and the copies
    # were most of a rerun's peak memory.
    def __getstate__(self):
        return self.ids, self.codes

    def __setstate__(self, state) -> None:
        self.ids, self.codes = state
        self.fingerprints = np.empty(len(self.ids), dtype=np.uint64)
        for start in range(0, len(self.ids), 65_536):  # a slice of Python strings at a time
            chunk = self.ids.slice(start, 65_536).to_pylist()
            self.fingerprints[start:start + len(chunk)] = [fingerprint(i) for i in chunk]

    def __len__(self) -> int:
        return len(self.fingerprints)

    def get(self, record_id: str) -> int:
        """The id's code; 0 for an id not here."""
        if not len(self.fingerprints):  # the usual case: a first run
            return 0
        at, value = _first_at(self.fingerprints, record_id)
        while at < len(self.fingerprints) and self.fingerprints[at] == value:
            if self.ids[at].as_py() == record_id:
                return int(self.codes[at])
            at += 1  # another id with the same fingerprint
        return 0


class LargestCodes(beam.CombineFn):
    """(id, code) pairs to an IdCodes, each id with the largest code given
    for it. Accumulators hold what came as it came, compactly (fingerprints,
    the ids' UTF-8 bytes and lengths, codes: some 13 bytes an id beside its
    own), merged by concatenation (Beam lifts the combine); the ids are told
    apart once, at the end, by sorting (Arrow's hash grouping would take
    several times their size)."""

    def create_accumulator(self):
        return array("Q"), array("I"), bytearray(), bytearray()

    def add_input(self, accumulator, id_and_code: tuple[str, int]):
        fingerprints, lengths, text, codes = accumulator
        record_id, code = id_and_code
        encoded = record_id.encode()
        fingerprints.append(fingerprint(record_id))
        lengths.append(len(encoded))
        text += encoded
        codes.append(code)
        return accumulator

    def merge_accumulators(self, accumulators):
        merged = self.create_accumulator()
        for accumulator in accumulators:
            for into, part in zip(merged, accumulator):
                into += part
        return merged

    def extract_output(self, accumulator) -> IdCodes:
        fingerprints, lengths, text, codes = accumulator
        small = len(text) < 2**31  # 32-bit offsets, as Arrow's string type has
        offsets = np.zeros(len(lengths) + 1, dtype=np.int32 if small else np.int64)
        np.cumsum(np.frombuffer(lengths, dtype=np.uint32), out=offsets[1:])
        ids = (pa.StringArray if small else pa.LargeStringArray).from_buffers(
            len(lengths), pa.py_buffer(offsets), pa.py_buffer(text))
        fingerprints = np.frombuffer(fingerprints, dtype=np.uint64)
        order = pc.sort_indices(pa.table({"fingerprint": fingerprints, "id": ids}),
                                [("fingerprint", "ascending"), ("id", "ascending")])
        ids, at = ids.take(order), order.to_numpy()
        fingerprints, codes = fingerprints[at], np.frombuffer(codes, dtype=np.uint8)[at]
        first = np.ones(len(ids), dtype=bool)  # where each id's rows start, once sorted
        first[1:] = (fingerprints[1:] != fingerprints[:-1]) | ~pc.equal(
            ids[1:], ids[:-1]).to_numpy(zero_copy_only=False)
        starts = np.flatnonzero(first)
        return IdCodes(fingerprints[starts], ids.take(pa.array(starts)),
                       np.maximum.reduceat(codes, starts) if len(starts) else codes)
