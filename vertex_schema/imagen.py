"""Imagen predict bodies, judged by the Imagen reference's rules.

The predict API takes `instances` and `parameters` as free JSON
(google.protobuf.Value), so no proto describes them: the rules are the
reference's (sampleCount 1-4, the aspect ratios, seed range and its conflict
with the watermark, personGeneration and safetySetting values, outputOptions).
A parameter the reference does not list is refused, as the API refuses it.
Names may be camelCase or snake_case; the result is camelCase.
"""
from __future__ import annotations

import re

from vertex_schema.proto_json import InvalidRequest

ASPECT_RATIOS = ("1:1", "3:4", "4:3", "16:9", "9:16")
MAX_SAMPLE_COUNT = 4
MIME_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff",
              "image/vnd.microsoft.icon")
PERSON_GENERATION = ("dont_allow", "allow_adult", "allow_all")
SAFETY_SETTINGS = ("block_low_and_above", "block_medium_and_above", "block_only_high",
                   "block_none", "block_most", "block_some", "block_few")
PARAMETERS = ("sampleCount", "aspectRatio", "seed", "addWatermark", "personGeneration",
              "safetySetting", "outputOptions", "negativePrompt", "enhancePrompt",
              "includeRaiReason", "includeSafetyAttributes", "storageUri", "language",
              "sampleImageSize")
_BOOLEANS = ("addWatermark", "enhancePrompt", "includeRaiReason", "includeSafetyAttributes")
_SNAKE = re.compile(r"_([a-z0-9])")


def camel(name: str) -> str:
    return _SNAKE.sub(lambda m: m.group(1).upper(), name)


def check_predict(body) -> tuple[str, dict]:
    """(prompt, parameters in camelCase) of an Imagen predict body, or
    InvalidRequest naming every problem."""
    if not isinstance(body, dict):
        raise InvalidRequest(["Invalid JSON payload received. Expected an object."])
    problems = [f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
                for key in body if key not in ("instances", "parameters")]
    instances = body.get("instances")
    prompt = None
    if not isinstance(instances, list) or len(instances) != 1 \
            or not isinstance(instances[0], dict):
        problems.append("Invalid value at 'instances': exactly one instance is supported.")
    else:
        prompt = instances[0].get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            problems.append("Invalid value at 'instances[0].prompt': the prompt is required and "
                            "must not be empty.")
    raw = body.get("parameters") or {}
    params: dict = {}
    if not isinstance(raw, dict):
        problems.append("Invalid value at 'parameters': expected an object.")
    else:
        params = {camel(k): v for k, v in raw.items()}
        if isinstance(params.get("outputOptions"), dict):
            params["outputOptions"] = {camel(k): v for k, v in params["outputOptions"].items()}
        problems += parameter_problems(params)
    if problems:
        raise InvalidRequest(problems)
    return prompt, params


def parameter_problems(params: dict) -> list[str]:
    """Every rule of the reference that camelCase parameters break."""
    problems = [f'Invalid JSON payload received. Unknown name "{name}" at \'parameters\': '
                "Cannot find field." for name in params if name not in PARAMETERS]
    count = params.get("sampleCount", 1)
    if not _is_int(count) or not 1 <= count <= MAX_SAMPLE_COUNT:
        problems.append(f"Invalid value at 'parameters.sampleCount', {count!r}: sampleCount must "
                        f"be an integer from 1 to {MAX_SAMPLE_COUNT}.")
    if params.get("aspectRatio", "1:1") not in ASPECT_RATIOS:
        problems.append(f"Invalid value at 'parameters.aspectRatio', {params['aspectRatio']!r}: "
                        f"supported aspect ratios are {', '.join(ASPECT_RATIOS)}.")
    if "seed" in params:
        if not _is_int(params["seed"]) or not 1 <= params["seed"] <= 2147483647:
            problems.append(f"Invalid value at 'parameters.seed', {params['seed']!r}: seed must "
                            "be an integer from 1 to 2147483647.")
        if params.get("addWatermark", True) is not False:
            problems.append("Invalid value at 'parameters.seed': Seed is not supported when "
                            "watermark is enabled; set addWatermark to false to use a seed.")
    for name, allowed in (("personGeneration", PERSON_GENERATION),
                          ("safetySetting", SAFETY_SETTINGS)):
        if name in params and params[name] not in allowed:
            problems.append(f"Invalid value at 'parameters.{name}', {params[name]!r}: one of "
                            f"{', '.join(allowed)}.")
    for name in _BOOLEANS:
        if name in params and not isinstance(params[name], bool):
            problems.append(f"Invalid value at 'parameters.{name}', {params[name]!r}: true or "
                            "false.")
    options = params.get("outputOptions", {})
    if not isinstance(options, dict) or set(options) - {"mimeType", "compressionQuality"}:
        problems.append("Invalid value at 'parameters.outputOptions': it takes only mimeType "
                        "and compressionQuality.")
        options = {}
    if options.get("mimeType", "image/png") not in MIME_TYPES:
        problems.append(f"Invalid value at 'parameters.outputOptions.mimeType', "
                        f"{options['mimeType']!r}: one of {', '.join(MIME_TYPES)}.")
    quality = options.get("compressionQuality", 75)
    if not _is_int(quality) or not 0 <= quality <= 100:
        problems.append(f"Invalid value at 'parameters.outputOptions.compressionQuality', "
                        f"{quality!r}: from 0 to 100.")
    uri = params.get("storageUri")
    if uri is not None and (not isinstance(uri, str) or not uri.startswith("gs://")
                            or len(uri) <= len("gs://")):
        problems.append(f"Invalid value at 'parameters.storageUri', {uri!r}: a gs:// URI.")
    for name in ("negativePrompt", "language", "sampleImageSize"):
        if name in params and not isinstance(params[name], str):
            problems.append(f"Invalid value at 'parameters.{name}', {params[name]!r}: a string.")
    return problems


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
