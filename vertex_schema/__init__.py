"""Vertex AI's request schema, as Google defines it: the `aiplatform_v1` /
`aiplatform_v1beta1` protos (google-cloud-aiplatform), read with the API's
own leniencies, then the API's documented rules.

Both the client package (pre-flight, before any call is paid) and the
emulator (answering 400 where Vertex AI would) judge requests with this one
package; it imports nothing from either.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys

from vertex_schema.json_text import loads
from vertex_schema.live import check_live_setup
from vertex_schema.proto_json import InvalidRequest, parse_strictly, read_message
from vertex_schema.rules import generate_content_rules

__all__ = ["InvalidRequest", "check_generate_content", "check_count_tokens", "check_live_setup",
           "check_response", "judge_generate_content", "loads", "proto_module",
           "read_generate_content"]


def proto_module(version: str):
    """The proto types of an API version (v1, or v1beta1)."""
    return _types_without_services(
        "google.cloud.aiplatform_v1beta1" if version == "v1beta1" else "google.cloud.aiplatform_v1")


def _types_without_services(package: str):
    """`package.types`, Google's request and response messages, without
    running the package's __init__ first: it imports every service client
    with its gRPC and REST transports, about a second of every process's
    start-up (measured: 1.17 s against 0.16 s for the types alone). The
    package itself stays whole for anyone else: its first other use runs
    that __init__ (a PEP 562 module __getattr__)."""
    if package not in sys.modules:
        spec = importlib.util.find_spec(package)
        module = importlib.util.module_from_spec(spec)

        def load_the_rest(name: str):
            del module.__dict__["__getattr__"]
            spec.loader.exec_module(module)
            return getattr(module, name)
        module.__getattr__ = load_the_rest
        sys.modules[package] = module
        parent, _, child = package.rpartition(".")
        setattr(importlib.import_module(parent), child, module)
    return importlib.import_module(package + ".types")


def read_generate_content(body, version: str = "v1") -> dict:
    """A (possibly partial) GenerateContentRequest with the leniencies applied
    and names in camelCase; InvalidRequest for what the protos refuse. No
    rules: a job's defaults, say, have no contents of their own."""
    errors: list[str] = []
    request = read_message(proto_module(version).GenerateContentRequest.pb().DESCRIPTOR,
                           body, "", errors)
    if errors:
        raise InvalidRequest(errors)
    return request


def check_generate_content(body, version: str = "v1", streaming: bool = False) -> dict:
    """A GenerateContentRequest body as the API reads it (camelCase names, the
    leniencies applied), or InvalidRequest with every problem, as the API
    words it."""
    return judge_generate_content(read_generate_content(body, version), version, streaming)


def judge_generate_content(request: dict, version: str = "v1", streaming: bool = False) -> dict:
    """check_generate_content for a body read_generate_content has already
    read (say, merged with a job's defaults since): the strict parse and the
    rules, without reading it again."""
    parse_strictly(proto_module(version).GenerateContentRequest.pb(), request)
    problems = generate_content_rules(request, streaming)
    if problems:
        raise InvalidRequest(problems)
    return request


def check_count_tokens(body, version: str = "v1") -> dict:
    """A CountTokensRequest body (contents, systemInstruction, tools,
    generationConfig), judged like generateContent's."""
    return _check(proto_module(version).CountTokensRequest, body, generate_content_rules)


def check_response(answer: dict, version: str = "v1") -> None:
    """Raises InvalidRequest if an answer is not a strictly valid
    GenerateContentResponse (for checking what an emulator sends)."""
    parse_strictly(proto_module(version).GenerateContentResponse.pb(), answer)


def _check(message_class, body, rules) -> dict:
    errors: list[str] = []
    request = read_message(message_class.pb().DESCRIPTOR, body, "", errors)
    if errors:
        raise InvalidRequest(errors)
    parse_strictly(message_class.pb(), request)
    problems = rules(request)
    if problems:
        raise InvalidRequest(problems)
    return request
