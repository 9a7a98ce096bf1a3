"""The Beam metrics the job reports; summary.json is made from these."""
from apache_beam.metrics import Metrics

NAMESPACE = "vertex_batch"


def counter(name: str):
    return Metrics.counter(NAMESPACE, name)


def distribution(name: str):
    return Metrics.distribution(NAMESPACE, name)


def string_set(name: str):
    return Metrics.string_set(NAMESPACE, name)
