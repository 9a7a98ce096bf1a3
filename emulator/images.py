"""Imagen predict: parameter checks as the API does them, and real images.

Images are decodable files of the requested type whose shape follows the
aspect ratio (the real output sizes times --image_scale, to keep a shared
machine fast). They are deterministic: the same prompt, parameters and seed
give identical bytes.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import random

from emulator.markers import Markers, strip_markers
from emulator.validation import InvalidArgument, camel

ASPECT_SIZES = {"1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896),
                "9:16": (768, 1408), "16:9": (1408, 768)}
MIME_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP",
                "image/gif": "GIF", "image/bmp": "BMP", "image/tiff": "TIFF",
                "image/vnd.microsoft.icon": "ICO"}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif",
              "image/bmp": "bmp", "image/tiff": "tiff", "image/vnd.microsoft.icon": "ico"}
PERSON_GENERATION = {"dont_allow", "allow_adult", "allow_all"}
SAFETY_SETTINGS = {"block_low_and_above", "block_medium_and_above", "block_only_high",
                   "block_none", "block_most", "block_some", "block_few"}
PARAMETERS = {"sampleCount", "aspectRatio", "seed", "addWatermark", "personGeneration",
              "safetySetting", "outputOptions", "negativePrompt", "enhancePrompt",
              "includeRaiReason", "includeSafetyAttributes", "storageUri", "language",
              "sampleImageSize"}
SAFETY_ATTRIBUTE_CATEGORIES = ("Death, Harm & Tragedy", "Firearms & Weapons", "Hate", "Health",
                               "Illicit Drugs", "Politics", "Porn", "Religion & Belief",
                               "Toxic", "Violence", "Vulgarity", "War & Conflict")


def validate_predict(body) -> tuple[str, dict]:
    """Returns (prompt, parameters in camelCase) or raises InvalidArgument."""
    if not isinstance(body, dict):
        raise InvalidArgument("Invalid JSON payload received: expected an object")
    unknown = set(body) - {"instances", "parameters"}
    if unknown:
        raise InvalidArgument(f'Invalid JSON payload received. Unknown name "{unknown.pop()}"')
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        raise InvalidArgument("instances must hold exactly one instance")
    prompt = instances[0].get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidArgument("The prompt is required and must not be empty.")
    raw = body.get("parameters") or {}
    if not isinstance(raw, dict):
        raise InvalidArgument("parameters must be an object")
    params = {camel(k): v for k, v in raw.items()}
    for name in params:
        if name not in PARAMETERS:
            raise InvalidArgument(f'Invalid JSON payload received. Unknown name "{name}" at '
                                  "'parameters': Cannot find field.")
    count = params.get("sampleCount", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 4:
        raise InvalidArgument(f"sampleCount must be between 1 and 4, got {count!r}")
    if params.get("aspectRatio", "1:1") not in ASPECT_SIZES:
        raise InvalidArgument(f"Unsupported aspect ratio {params['aspectRatio']!r}; use one of "
                              + ", ".join(ASPECT_SIZES))
    if "seed" in params:
        seed = params["seed"]
        if not isinstance(seed, int) or isinstance(seed, bool) or not 1 <= seed <= 2147483647:
            raise InvalidArgument(f"seed must be an integer from 1 to 2147483647, got {seed!r}")
        if params.get("addWatermark", True):
            raise InvalidArgument("Seed is not supported when watermark is enabled; "
                                  "set addWatermark to false to use a seed.")
    if params.get("personGeneration", "allow_adult") not in PERSON_GENERATION:
        raise InvalidArgument(f"Unsupported personGeneration {params['personGeneration']!r}")
    if params.get("safetySetting", "block_medium_and_above") not in SAFETY_SETTINGS:
        raise InvalidArgument(f"Unsupported safetySetting {params['safetySetting']!r}")
    options = {camel(k): v for k, v in (params.get("outputOptions") or {}).items()}
    if set(options) - {"mimeType", "compressionQuality"}:
        raise InvalidArgument("outputOptions takes mimeType and compressionQuality")
    if options.get("mimeType", "image/png") not in MIME_FORMATS:
        raise InvalidArgument(f"Unsupported outputOptions.mimeType {options['mimeType']!r}")
    quality = options.get("compressionQuality", 75)
    if not isinstance(quality, int) or isinstance(quality, bool) or not 0 <= quality <= 100:
        raise InvalidArgument(f"compressionQuality must be from 0 to 100, got {quality!r}")
    params["outputOptions"] = options
    uri = params.get("storageUri")
    if uri is not None and (not isinstance(uri, str) or not uri.startswith("gs://")
                            or len(uri) <= len("gs://")):
        raise InvalidArgument(f"storageUri must be a gs:// URI, got {uri!r}")
    return prompt, params


def image_size(params: dict, scale: float) -> tuple[int, int]:
    width, height = ASPECT_SIZES[params.get("aspectRatio", "1:1")]
    if params.get("sampleImageSize") == "2K":
        width, height = width * 2, height * 2
    return max(8, round(width * scale)), max(8, round(height * scale))


def render_image(prompt: str, params: dict, index: int, scale: float) -> tuple[bytes, str]:
    """Encodes one image; returns (bytes, mime type). As with Imagen, the same
    seed gives the same bytes, and without a seed every call draws anew."""
    from PIL import Image, ImageDraw

    mime = params["outputOptions"].get("mimeType", "image/png")
    seed = params.get("seed") or os.urandom(8).hex()
    key = json.dumps([strip_markers(prompt), seed, params.get("aspectRatio"),
                      params.get("negativePrompt"), index], sort_keys=True)
    rng = random.Random(hashlib.sha256(key.encode()).digest())
    width, height = image_size(params, scale)
    if mime == "image/vnd.microsoft.icon":
        width, height = min(width, 256), min(height, 256)
    image = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = x0 + rng.randrange(1, width // 2 + 2), y0 + rng.randrange(1, height // 2 + 2)
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x1, y1), fill=tuple(rng.randrange(256) for _ in range(3)))
    out = io.BytesIO()
    options = {}
    if mime == "image/jpeg":
        # compressionQuality: higher means more compression, the reverse of Pillow's quality
        options["quality"] = max(1, 100 - params["outputOptions"].get("compressionQuality", 75))
    image.save(out, format=MIME_FORMATS[mime], **options)
    return out.getvalue(), mime


def enhanced_prompt(prompt: str, model: str, params: dict) -> str | None:
    default = "-fast-" not in model
    if not params.get("enhancePrompt", default):
        return None
    return (f"{strip_markers(prompt)}, highly detailed, natural light, "
            "sharp focus, balanced composition")


def safety_attributes(prompt: str, index: int) -> dict:
    rng = random.Random(hashlib.sha256(f"{prompt}|{index}".encode()).digest())
    return {"categories": list(SAFETY_ATTRIBUTE_CATEGORIES),
            "scores": [round(rng.random() * 0.2, 2) for _ in SAFETY_ATTRIBUTE_CATEGORIES]}


def rai_reason(filtered: int) -> str:
    return (f"Your current safety filter threshold filtered out {filtered} generated "
            "images. You will not be charged for blocked images. Try rephrasing the "
            "prompt. If you think this was an error, send feedback. Support codes: 56562880")


def blocked_prompt_reason() -> str:
    return ("The prompt could not be submitted. This prompt contains sensitive words that "
            "violate Google's Responsible AI practices. Try rephrasing the prompt. "
            "Support codes: 42876398")


def predictions(model: str, prompt: str, params: dict, markers: Markers, scale: float,
                store=None) -> list[dict]:
    """The `predictions` of a predict answer. `store(name, data, mime)` writes
    an image to storageUri and returns its gs:// URI."""
    include_reason = params.get("includeRaiReason", True)
    if markers.block:
        return [{"raiFilteredReason": blocked_prompt_reason()}] if include_reason else []
    count = params.get("sampleCount", 1)
    kept = max(0, count - markers.filter_images)
    enhanced = enhanced_prompt(prompt, model, params)
    result = []
    for index in range(kept):
        data, mime = render_image(prompt, params, index, scale)
        prediction: dict = {"mimeType": mime}
        if store is not None:
            prediction["gcsUri"] = store(f"sample_{index}.{EXTENSIONS[mime]}", data, mime)
        else:
            import base64
            prediction["bytesBase64Encoded"] = base64.b64encode(data).decode()
        if enhanced:
            prediction["prompt"] = enhanced
        if params.get("includeSafetyAttributes"):
            prediction["safetyAttributes"] = safety_attributes(prompt, index)
        result.append(prediction)
    if kept < count and include_reason:
        result.append({"raiFilteredReason": rai_reason(count - kept)})
    return result
