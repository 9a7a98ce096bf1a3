"""Imagen predict: checking parameters before money is spent, and reading
the answer's predictions.

The checks follow the Imagen reference (sampleCount 1-4, the aspect ratios,
seed range and its conflict with the watermark, personGeneration and
safetySetting values, outputOptions). A parameter the reference does not
list is refused, since the API would answer 400 anyway.
"""
from __future__ import annotations

from dataclasses import dataclass

ASPECT_RATIOS = ("1:1", "3:4", "4:3", "16:9", "9:16")
MIME_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif",
              "image/bmp": "bmp", "image/tiff": "tiff", "image/vnd.microsoft.icon": "ico"}
PERSON_GENERATION = ("dont_allow", "allow_adult", "allow_all")
SAFETY_SETTINGS = ("block_low_and_above", "block_medium_and_above", "block_only_high",
                   "block_none", "block_most", "block_some", "block_few")
PARAMETERS = ("sampleCount", "aspectRatio", "seed", "addWatermark", "personGeneration",
              "safetySetting", "outputOptions", "negativePrompt", "enhancePrompt",
              "includeRaiReason", "includeSafetyAttributes", "storageUri", "language",
              "sampleImageSize")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_parameters(params: dict) -> None:
    """Raises ValueError naming the first parameter the API would refuse."""
    unknown = [name for name in params if name not in PARAMETERS]
    if unknown:
        raise ValueError(f"unknown Imagen parameter {unknown[0]!r}")
    count = params.get("sampleCount", 1)
    if not _is_int(count) or not 1 <= count <= 4:
        raise ValueError(f"sampleCount must be an integer from 1 to 4, got {count!r}")
    if params.get("aspectRatio", "1:1") not in ASPECT_RATIOS:
        raise ValueError(f"aspectRatio must be one of {', '.join(ASPECT_RATIOS)}, "
                         f"got {params['aspectRatio']!r}")
    if "seed" in params:
        if not _is_int(params["seed"]) or not 1 <= params["seed"] <= 2147483647:
            raise ValueError(f"seed must be an integer from 1 to 2147483647, got {params['seed']!r}")
        if params.get("addWatermark", True) is not False:
            raise ValueError("seed needs addWatermark set to false (a watermarked image "
                             "cannot be reproduced from a seed)")
    for name, allowed in (("personGeneration", PERSON_GENERATION),
                          ("safetySetting", SAFETY_SETTINGS)):
        if name in params and params[name] not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {params[name]!r}")
    for name in ("addWatermark", "enhancePrompt", "includeRaiReason", "includeSafetyAttributes"):
        if name in params and not isinstance(params[name], bool):
            raise ValueError(f"{name} must be true or false, got {params[name]!r}")
    options = params.get("outputOptions", {})
    if not isinstance(options, dict) or set(options) - {"mimeType", "compressionQuality"}:
        raise ValueError("outputOptions takes only mimeType and compressionQuality")
    if options.get("mimeType", "image/png") not in MIME_TYPES:
        raise ValueError(f"outputOptions.mimeType must be one of {', '.join(MIME_TYPES)}, "
                         f"got {options['mimeType']!r}")
    quality = options.get("compressionQuality", 75)
    if not _is_int(quality) or not 0 <= quality <= 100:
        raise ValueError(f"outputOptions.compressionQuality must be from 0 to 100, got {quality!r}")
    uri = params.get("storageUri")
    if uri is not None and (not isinstance(uri, str) or not uri.startswith("gs://")
                            or len(uri) <= len("gs://")):
        raise ValueError(f"storageUri must be a gs:// URI, got {uri!r}")
    if "negativePrompt" in params and not isinstance(params["negativePrompt"], str):
        raise ValueError("negativePrompt must be a string")


@dataclass
class Prediction:
    index: int
    mime_type: str
    data_base64: str | None      # the image, unless Imagen wrote it to storageUri
    gcs_uri: str | None
    enhanced_prompt: str | None
    safety_attributes: list[dict]


def read_predictions(response: dict) -> tuple[list[Prediction], str | None]:
    """The images of a predict answer, and the Responsible AI filter's reason
    for the ones it withheld (if any)."""
    images, reasons = [], []
    for item in response.get("predictions") or []:
        if not isinstance(item, dict):
            continue
        if item.get("raiFilteredReason") and not (item.get("bytesBase64Encoded") or item.get("gcsUri")):
            reasons.append(item["raiFilteredReason"])
            continue
        attributes = item.get("safetyAttributes") or {}
        images.append(Prediction(
            index=len(images), mime_type=item.get("mimeType") or "image/png",
            data_base64=item.get("bytesBase64Encoded"), gcs_uri=item.get("gcsUri"),
            enhanced_prompt=item.get("prompt"),
            safety_attributes=[{"category": c, "score": float(s)} for c, s in zip(
                attributes.get("categories") or [], attributes.get("scores") or [])]))
    return images, ("; ".join(reasons) or None)
