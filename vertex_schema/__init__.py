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
import pkgutil
import sys
import threading

from vertex_schema.json_text import loads
from vertex_schema.live import check_live_setup
from vertex_schema.proto_json import (InvalidRequest, decode_base64, parse_strictly, read_message,
                                      translate_legacy_spellings)
from vertex_schema.rules import generate_content_rules

__all__ = ["InvalidRequest", "decode_base64", "check_generate_content", "check_count_tokens", "check_live_setup",
           "check_response", "judge_generate_content", "loads", "proto_module",
           "read_generate_content", "read_generate_content_response"]


def proto_module(version: str):
    """The proto types of an API version (v1, or v1beta1): Google's request
    and response messages as attributes (GenerateContentRequest, Content,
    Tool, ...), as `google.cloud.aiplatform_vN.types` has them."""
    types = _TYPES.get(version)
    if types is None:
        package = ("google.cloud.aiplatform_v1beta1" if version == "v1beta1"
                   else "google.cloud.aiplatform_v1")
        with _LOCK:
            _without_init(package)
            types = _without_init(package + ".types")
            # generateContent's messages, and those they are made of
            importlib.import_module(package + ".types.prediction_service")
            _TYPES[version] = types
    return types


_TYPES: dict = {}
_LOCK = threading.Lock()


def _without_init(name: str):
    """The package `name`, usable before its __init__ has run (a PEP 562
    module __getattr__): a submodule asked for is imported alone, and a
    message or enum is taken from the loaded submodule that defines it; any
    other name runs the __init__ first.

    The aiplatform package's __init__ imports every service client with its
    gRPC and REST transports (about a second), and its `types` imports some
    120 modules (0.2 to 0.4 s here) where a generateContent request needs
    12: every process's start-up paid for both. Anyone else in the process
    still finds both packages whole."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    module = importlib.util.module_from_spec(spec)
    submodules = {m.name for m in pkgutil.iter_modules(spec.submodule_search_locations)}

    def attribute(attr: str):
        if attr in submodules:
            return importlib.import_module(f"{name}.{attr}")
        if not attr.startswith("__"):
            for key, loaded in list(sys.modules.items()):
                value = vars(loaded).get(attr) if key.rpartition(".")[0] == name else None
                if isinstance(value, type) and value.__module__ == key:  # defined there
                    setattr(module, attr, value)
                    return value
        del module.__dict__["__getattr__"]  # the whole package, as it would have loaded
        spec.loader.exec_module(module)
        return getattr(module, attr)
    module.__getattr__ = attribute
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    setattr(importlib.import_module(parent), child, module)
    return module


def read_generate_content(body, version: str = "v1", legacy: bool = True) -> dict:
    """A (possibly partial) GenerateContentRequest with the leniencies applied
    and names in camelCase; InvalidRequest for what the protos refuse. No
    rules: a job's defaults, say, have no contents of their own.
    legacy: the legacy v1 dialect's spellings are read as today's (the job
    translates them before it sends; Vertex AI takes them only from the
    legacy models)."""
    errors: list[str] = []
    if legacy:
        body = translate_legacy_spellings(body)
    request = read_message(proto_module(version).GenerateContentRequest.pb().DESCRIPTOR,
                           body, "", errors)
    if errors:
        raise InvalidRequest(errors)
    return request


def check_generate_content(body, version: str = "v1", streaming: bool = False,
                           legacy: bool = True) -> dict:
    """A GenerateContentRequest body as the API reads it (camelCase names, the
    leniencies applied), or InvalidRequest with every problem, as the API
    words it."""
    return judge_generate_content(read_generate_content(body, version, legacy), version,
                                  streaming)


def judge_generate_content(request: dict, version: str = "v1", streaming: bool = False) -> dict:
    """check_generate_content for a body read_generate_content has already
    read (say, merged with a job's defaults since): the strict parse and the
    rules, without reading it again."""
    parse_strictly(proto_module(version).GenerateContentRequest.pb(), request)
    problems = generate_content_rules(request, streaming)
    if problems:
        raise InvalidRequest(problems)
    return request


def check_count_tokens(body, version: str = "v1", legacy: bool = True) -> dict:
    """A CountTokensRequest body (contents, systemInstruction, tools,
    generationConfig), judged like generateContent's."""
    return _check(proto_module(version).CountTokensRequest,
                  translate_legacy_spellings(body) if legacy else body, generate_content_rules)


def check_response(answer: dict, version: str = "v1") -> None:
    """Raises InvalidRequest if an answer is not a strictly valid
    GenerateContentResponse (for checking what an emulator sends)."""
    parse_strictly(proto_module(version).GenerateContentResponse.pb(), answer)


def read_generate_content_response(answer, version: str = "v1") -> dict:
    """A GenerateContentResponse as Google's own parsers read it: enums given
    by number become their names, numbers given as strings become numbers, a
    single object stands for a list; a field or enum value the protos do not
    know yet is kept as it is. InvalidRequest (its messages say where) for
    what no reading makes a GenerateContentResponse: a candidate that is
    null, a promptFeedback that is a string, a token count beyond int32,
    bytes that are not base64."""
    errors: list[str] = []
    response = read_message(proto_module(version).GenerateContentResponse.pb().DESCRIPTOR,
                            answer, "", errors, keep_unknown=True)
    if errors:
        raise InvalidRequest(errors)
    return response


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
