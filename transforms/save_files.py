"""SaveFiles: the files a call produced (Imagen images, images and speech in
Gemini answers, Live API audio) written to storage, and their rows pointed
at them.

A handler leaves a row's files under its `_files` key (base64 data); this step
decodes each, writes it through Beam's filesystems (local or gs://) to
`{output}/{images|audio}/{run_id}/{id}-{index}-{sha256 prefix}.{ext}`, and
fills the row: an images row gets the file's uri, size, dimensions and
sha256; a live row its audio_uri; a responses row lists it in image_uris or
audio_uris. A file is never replaced by different
bytes, so every row's uri keeps pointing at the bytes its sha256 describes,
across any number of runs into one output. Writes run on worker threads,
many at a time, each as soon as its row arrives.
"""
from __future__ import annotations

import asyncio
import collections
import hashlib
import io
import re
from typing import Any, Dict

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms import metrics
from transforms.call_vertex import CallHandler, CallVertexAI
from transforms.concurrent_calls import ConcurrentDoFn
from transforms.progress import ProgressSettings
from transforms.run_files import RunFiles
from transforms.vertex_connection import VertexConnection
from vertex.imagen import MIME_TYPES
from vertex_schema import decode_base64

EXTENSIONS = {**MIME_TYPES, "audio/wav": "wav"}

FILES = "_files"  # a row's files waiting to be saved: [{index, mime_type, data_base64}]
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_stem(record_id: str) -> str:
    """The record id, made safe for any filesystem; ids that had to be changed
    get a short hash so that two of them cannot meet on one name."""
    safe = _UNSAFE.sub("_", record_id)[:100]
    if safe != record_id:
        safe += "-" + hashlib.sha256(record_id.encode()).hexdigest()[:8]
    return safe


def describe(data: bytes, mime_type: str = "image/png") -> dict:
    """Width, height (of an image: Pillow reads only the header), size and sha256."""
    from PIL import Image
    width = height = None
    try:
        if not mime_type.startswith("image/"):
            raise ValueError("not an image")
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception:  # noqa: BLE001 - an undecodable image is still stored and counted
        pass
    return {"width": width, "height": height, "byte_size": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}


class GeneratedFiles:
    """Where a run's files go: images/RUNID/ and audio/RUNID/ under the output."""

    def __init__(self, output: str, run_id: str | None):
        self.output, self.run_id = output, run_id

    def path(self, record_id: str, index: int, mime_type: str, sha256: str) -> str:
        kind = "audio" if mime_type.startswith("audio/") else "images"
        folder = (RunFiles(self.output, self.run_id).media_folder(kind) if self.run_id
                  else FileSystems.join(self.output, kind))
        extension = EXTENSIONS.get(mime_type, mime_type.rpartition("/")[2] or "bin")
        return FileSystems.join(folder, f"{file_stem(record_id)}-{index}-{sha256[:12]}.{extension}")

    def save(self, record_id: str, index: int, mime_type: str, data_base64: str) -> dict:
        """Decodes and writes one file; returns its uri, size, dimensions (of
        an image) and sha256. Blocking I/O: call it from a thread, not the
        event loop."""
        data = decode_base64(data_base64)  # as the answer's protos read it
        described = describe(data, mime_type)
        path = self.path(record_id, index, mime_type, described["sha256"])
        with FileSystems.create(path, mime_type="application/octet-stream") as f:
            f.write(data)
        return {"uri": path, **described}


class _SaveFilesFn(ConcurrentDoFn):
    def __init__(self, output: str, run_id: str | None, handler: CallHandler, max_running: int,
                 namespace: str):
        super().__init__(max_running)
        self.output, self.run_id, self.handler, self.namespace = output, run_id, handler, namespace

    def setup(self):
        super().setup()
        self._files = GeneratedFiles(self.output, self.run_id)
        self._written = metrics.counter(metrics.IMAGES_WRITTEN, self.namespace)
        self._bytes = metrics.counter(metrics.IMAGE_BYTES, self.namespace)
        self._audio = metrics.counter(metrics.AUDIO_FILES_WRITTEN, self.namespace)
        # (mime type, bytes) of each file stored on the event loop's thread,
        # counted on the bundle's (where Beam's metrics live)
        self._stored: collections.deque = collections.deque()

    def process(self, row: dict, window=beam.DoFn.WindowParam,
                timestamp=beam.DoFn.TimestampParam):
        if FILES in row:
            yield from super().process(row, window, timestamp)
        else:  # nothing to write: straight through, without a trip to the event loop
            yield row
            yield from self._emit_finished()

    async def outputs(self, row: dict):
        files = row[FILES]
        row = {key: value for key, value in row.items() if key != FILES}
        for file in files:
            stored = await asyncio.to_thread(self._files.save, row["id"], file["index"],
                                             file["mime_type"], file["data_base64"])
            self.handler.place_file(row, file["mime_type"], stored)
            self._stored.append((file["mime_type"], stored["byte_size"]))
        return [row]

    def count(self, outputs: list) -> None:
        while self._stored:
            mime_type, size = self._stored.popleft()
            if mime_type.startswith("audio/"):
                self._audio.inc()
            else:
                self._written.inc()
                self._bytes.inc(size)


class SaveFiles(beam.PTransform):
    """Rows with files (from a handler) to rows pointing at the saved files.

    Args:
      output: the folder or gs:// prefix under which `images/` and `audio/` are written.
      run_id: names a folder per run (optional).
      handler: the CallHandler that made the rows: its place_file points a
        row at each file stored (an images row describes its one image, a live
        row points at its audio, a responses row lists its files).
      max_running: files written at once.
    """

    def __init__(self, output: str, run_id: str | None, handler: CallHandler,
                 max_running: int = 64, metrics_namespace: str = metrics.NAMESPACE):
        super().__init__()
        self.fn = _SaveFilesFn(output, run_id, handler, max_running, metrics_namespace)

    def expand(self, rows):
        return rows | beam.ParDo(self.fn).with_input_types(Dict[str, Any]) \
            .with_output_types(Dict[str, Any])


class CallAndSaveFiles(beam.PTransform):
    """CallVertexAI(handler), then SaveFiles under `output` for the handler's
    table (without an output, rows keep their files inline): what
    GenerateContent, GenerateImages and GenerateLive are."""

    def __init__(self, handler: CallHandler, connection: VertexConnection, output: str | None,
                 run_id: str | None = None, progress: ProgressSettings = ProgressSettings(),
                 metrics_namespace: str = metrics.NAMESPACE):
        super().__init__()
        self.call = CallVertexAI(handler, connection, progress=progress,
                                 metrics_namespace=metrics_namespace)
        self.save = SaveFiles(output, run_id, handler, connection.settings.max_in_flight,
                              metrics_namespace) if output else None

    def expand(self, records):
        rows = records | "Call" >> self.call
        return rows | "SaveFiles" >> self.save if self.save else rows
