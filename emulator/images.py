"""Imagen predict: real images (requests are judged by vertex_schema.imagen).

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

ASPECT_SIZES = {"1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896),
                "9:16": (768, 1408), "16:9": (1408, 768)}
MIME_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP",
                "image/gif": "GIF", "image/bmp": "BMP", "image/tiff": "TIFF",
                "image/vnd.microsoft.icon": "ICO"}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif",
              "image/bmp": "bmp", "image/tiff": "tiff", "image/vnd.microsoft.icon": "ico"}
SAFETY_ATTRIBUTE_CATEGORIES = ("Death, Harm & Tragedy", "Firearms & Weapons", "Hate", "Health",
                               "Illicit Drugs", "Politics", "Porn", "Religion & Belief",
                               "Toxic", "Violence", "Vulgarity", "War & Conflict")


def image_size(params: dict, scale: float) -> tuple[int, int]:
    width, height = ASPECT_SIZES[params.get("aspectRatio", "1:1")]
    if params.get("sampleImageSize") == "2K":
        width, height = width * 2, height * 2
    return max(8, round(width * scale)), max(8, round(height * scale))


def render_image(prompt: str, params: dict, index: int, scale: float = 1.0,
                 size: tuple[int, int] | None = None) -> tuple[bytes, str]:
    """Encodes one image; returns (bytes, mime type). As with Imagen, the same
    seed gives the same bytes, and without a seed every call draws anew.
    The size is Imagen's for the aspect ratio times scale, unless given."""
    from PIL import Image, ImageDraw

    options = params.get("outputOptions") or {}
    mime = options.get("mimeType", "image/png")
    seed = params.get("seed") or os.urandom(8).hex()
    key = json.dumps([strip_markers(prompt), seed, params.get("aspectRatio"),
                      params.get("negativePrompt"), index], sort_keys=True)
    rng = random.Random(hashlib.sha256(key.encode()).digest())
    width, height = size or image_size(params, scale)
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
        options["quality"] = max(1, 100 - options.get("compressionQuality", 75))
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
