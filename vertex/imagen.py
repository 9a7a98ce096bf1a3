"""Imagen predict answers: the images and why any were withheld.
(Requests are judged by vertex_schema.imagen, before money is spent.)"""
from __future__ import annotations

from dataclasses import dataclass

from vertex_schema import decode_base64
from vertex_schema.imagen import MAX_SAMPLE_COUNT

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


# Imagen's parameters and their equivalents on Gemini image models, which draw
# through generateContent asked for IMAGE output (GenerationConfig.imageConfig
# in aiplatform_v1; the migration guide: firebase.google.com/docs/ai-logic/
# imagen-models-migration, read 2026-12-04). Anything else has none.
PERSON_GENERATION = {"dont_allow": "ALLOW_NONE", "allow_adult": "ALLOW_ADULT",
                     "allow_all": "ALLOW_ALL"}
GEMINI_OUTPUT_MIME_TYPES = ("image/png", "image/jpeg")


def gemini_image_body(prompt: str, parameters: dict, model) -> dict:
    """The generateContent body that asks a Gemini image model (a
    vertex_catalog.Model) for what Imagen parameters ask; ValueError naming
    the first parameter with no equivalent there, or a value it does not take."""
    image = model.image or {}
    config: dict = {}
    generation: dict = {"responseModalities": ["IMAGE"]}
    for name, value in parameters.items():
        if name == "sampleCount":  # Imagen's range, kept: N images are N calls
            if not isinstance(value, int) or isinstance(value, bool) \
                    or not 1 <= value <= MAX_SAMPLE_COUNT:
                raise ValueError(f"sampleCount {value!r}: an integer from 1 to {MAX_SAMPLE_COUNT}")
        elif name == "includeRaiReason":  # Gemini always says why it drew nothing
            continue
        elif name == "aspectRatio":
            if value not in image.get("aspect_ratios", ()):
                raise ValueError(f"aspectRatio {value!r}: {model.id} draws "
                                 f"{', '.join(image.get('aspect_ratios', ()))}")
            config["aspectRatio"] = value
        elif name == "sampleImageSize":
            sizes = image.get("sizes", ())
            if value not in sizes:
                raise ValueError(f"sampleImageSize {value!r}: {model.id} draws "
                                 f"{', '.join(sizes)}")
            if len(sizes) > 1:  # a model of one size takes no imageSize
                config["imageSize"] = value
        elif name == "personGeneration":
            if value not in PERSON_GENERATION:
                raise ValueError(f"personGeneration {value!r}: one of "
                                 f"{', '.join(PERSON_GENERATION)}")
            config["personGeneration"] = PERSON_GENERATION[value]
        elif name == "outputOptions":
            if not isinstance(value, dict):
                raise ValueError("outputOptions: an object of mimeType and compressionQuality")
            if value.get("mimeType", "image/png") not in GEMINI_OUTPUT_MIME_TYPES:
                raise ValueError(f"outputOptions.mimeType {value['mimeType']!r}: {model.id} "
                                 f"writes {', '.join(GEMINI_OUTPUT_MIME_TYPES)}")
            config["imageOutputOptions"] = value
        elif name == "seed":
            generation["seed"] = value
        else:
            raise ValueError(f"parameter {name} has no equivalent on {model.id} (a Gemini "
                             "image model, called through generateContent): remove it")
    if config:
        generation["imageConfig"] = config
    return {"contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "generationConfig": generation}


def read_gemini_images(answers: list[dict]) -> tuple[list[Prediction], str | None]:
    """The images of generateContent answers (one a call), and why the model
    drew none in a call that has none (its block or finish reason)."""
    images, reasons = [], []
    for answer in answers:
        drawn = 0
        for candidate in answer.get("candidates") or []:
            for part in (candidate.get("content") or {}).get("parts") or []:
                blob = part.get("inlineData") or {}
                if part.get("thought") or not str(blob.get("mimeType", "")).startswith("image/"):
                    continue
                decode_base64(blob.get("data") or "")  # ValueError: not base64
                images.append(Prediction(index=len(images), mime_type=blob["mimeType"],
                                         data_base64=blob["data"], gcs_uri=None,
                                         enhanced_prompt=None, safety_attributes=[]))
                drawn += 1
        if not drawn:
            feedback = answer.get("promptFeedback") or {}
            finish = [c.get("finishReason") for c in answer.get("candidates") or []]
            reasons.append(feedback.get("blockReasonMessage") or feedback.get("blockReason")
                           or ", ".join(f for f in finish if f) or "no image in the answer")
    return images, ("; ".join(reasons) or None)
