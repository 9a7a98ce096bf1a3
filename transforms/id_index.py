"""Which records need a look at others before they are called, from an index
of 8 bytes per id, so that the records themselves never wait in a shuffle.

Grouping every record by id (a CoGroupByKey) holds the whole input on a
runner that shuffles in memory, as Beam's in-process runner does: about 1.2 KB
a record, measured. PlanCalls groups only the records whose id *may* be
shared: one seen more than once in this input, or one an earlier run knows.
Ids are compared by a 64-bit fingerprint, so the index names a superset (two
ids may share a fingerprint): a record it names is decided exactly, by the
grouping; any other record has an id no other record and no earlier run has,
and is called straight away.
"""
from __future__ import annotations

import hashlib
from array import array

import apache_beam as beam
import numpy as np


def fingerprint(record_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(record_id.encode(), digest_size=8).digest(), "little")


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
        value = np.uint64(fingerprint(record_id))
        at = int(np.searchsorted(self.fingerprints, value))
        return at < len(self.fingerprints) and self.fingerprints[at] == value


def _sorted(fingerprints: array) -> np.ndarray:
    return np.sort(np.frombuffer(fingerprints, dtype=np.uint64))


class _Fingerprints(beam.CombineFn):
    """Ids to an IdIndex (which ids, the subclass says). Accumulators are
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


class RepeatedIds(_Fingerprints):
    """The ids seen more than once."""

    def extract_output(self, accumulator: array) -> IdIndex:
        ids = _sorted(accumulator)
        return IdIndex(np.unique(ids[1:][ids[1:] == ids[:-1]]))


class AllIds(_Fingerprints):
    """Every id seen."""

    def extract_output(self, accumulator: array) -> IdIndex:
        return IdIndex(np.unique(_sorted(accumulator)))
