"""Image files under `{output}/images/{run_id}/`, written through Beam's
filesystems (local or gs://), named from the record id, the image's index and
the start of its sha256: a file is never replaced by different bytes, so every
row's uri keeps pointing at the bytes its sha256 describes, across any number
of runs into one output."""
from __future__ import annotations

import base64
import hashlib
import io
import re

from apache_beam.io.filesystems import FileSystems

from vertex.imagen import MIME_TYPES

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_stem(record_id: str) -> str:
    """The record id, made safe for any filesystem; ids that had to be changed
    get a short hash so that two of them cannot meet on one name."""
    safe = _UNSAFE.sub("_", record_id)[:100]
    if safe != record_id:
        safe += "-" + hashlib.sha256(record_id.encode()).hexdigest()[:8]
    return safe


def describe(data: bytes) -> dict:
    """Width, height, size and sha256 of an encoded image (Pillow reads only the header)."""
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception:  # noqa: BLE001 - an undecodable image is still stored and counted
        width = height = None
    return {"width": width, "height": height, "byte_size": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


class ImageFiles:
    def __init__(self, output: str, run_id: str):
        self.directory = FileSystems.join(output, "images", run_id)

    def path(self, record_id: str, index: int, mime_type: str, sha256: str) -> str:
        extension = MIME_TYPES.get(mime_type, mime_type.rpartition("/")[2] or "bin")
        return FileSystems.join(self.directory,
                                f"{file_stem(record_id)}-{index}-{sha256[:12]}.{extension}")

    def save(self, record_id: str, index: int, mime_type: str, data_base64: str) -> dict:
        """Decodes and writes one image; returns its uri, size, dimensions and
        sha256. Blocking I/O: call it from a thread, not the event loop."""
        data = base64.b64decode(data_base64)
        described = describe(data)
        path = self.path(record_id, index, mime_type, described["sha256"])
        with FileSystems.create(path, mime_type="application/octet-stream") as f:
            f.write(data)
        return {"uri": path, **described}
