"""Imagen predict answers: the images and why any were withheld.
(Requests are judged by vertex_schema.imagen, before money is spent.)"""
from __future__ import annotations

from dataclasses import dataclass

from vertex_schema import decode_base64

# File extensions of the image types Imagen returns (what it may return:
# vertex_schema.imagen.MIME_TYPES).
MIME_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif",
              "image/bmp": "bmp", "image/tiff": "tiff", "image/vnd.microsoft.icon": "ico"}


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
    predictions = response.get("predictions") or []
    if not isinstance(predictions, list):
        raise ValueError("predictions is not a list")
    for position, item in enumerate(predictions):
        if not isinstance(item, dict):
            continue
        data = item.get("bytesBase64Encoded")
        if data is not None:
            try:
                decode_base64(data)
            except ValueError:
                raise ValueError(f"predictions[{position}].bytesBase64Encoded is not base64") \
                    from None
        if item.get("raiFilteredReason") and not (item.get("bytesBase64Encoded") or item.get("gcsUri")):
            reasons.append(item["raiFilteredReason"])
            continue
        attributes = item.get("safetyAttributes") or {}
        images.append(Prediction(
            index=len(images), mime_type=item.get("mimeType") or "image/png",
            data_base64=data, gcs_uri=item.get("gcsUri"),
            enhanced_prompt=item.get("prompt"),
            safety_attributes=[{"category": c, "score": float(s)} for c, s in zip(
                attributes.get("categories") or [], attributes.get("scores") or [])]))
    return images, ("; ".join(reasons) or None)
