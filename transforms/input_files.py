"""The input as one run sees it: the files a pattern matches when the run
starts, each with its size then. Every read of the input (the ids for the
duplicate index, then the records) reads exactly that view, so lines
appended to a growing file meanwhile wait for the next run instead of
slipping past the duplicate check.

Files a local pattern matches but that cannot be read (a dangling symlink, a
symlink loop), which Beam's own match leaves out without a word, are part
of the view: their read says why, and the run counts them as unreadable.
"""
from __future__ import annotations

import glob
import os
from typing import NamedTuple

from apache_beam.io.filesystems import FileSystems

from transforms.output_files import is_local_path


class InputFile(NamedTuple):
    path: str          # as the filesystem names it (a local name may hold undecodable bytes)
    size: int | None   # its bytes when the run started; None: it could not be looked at


def snapshot(pattern: str) -> list[InputFile]:
    """The files `pattern` matches now, with their sizes (folders left out)."""
    if not is_local_path(pattern):
        return sorted(InputFile(m.path, m.size_in_bytes)
                      for m in FileSystems.match([pattern])[0].metadata_list)
    local = pattern[len("file://"):] if pattern.startswith("file://") else pattern
    files = []
    for path in sorted(glob.glob(local)) if glob.has_magic(local) else [local]:
        try:
            if os.path.isdir(path):
                continue  # a pattern such as data/* also matches folders
            files.append(InputFile(path, os.stat(path).st_size))
        except OSError:
            if os.path.lexists(path):  # a link to nothing, or to itself
                files.append(InputFile(path, None))
    return files


def source_name(path: str) -> str:
    """A file's name as text for rows and messages: bytes of a local name
    that are not UTF-8 are shown escaped (caf\\xe9.jsonl), so the name can be
    written to Parquet and JSON; the file itself is opened by its real name."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class BoundedReader:
    """A binary stream that ends where the file ended when the run started.
    `grew` says, once the view is read, whether the file went on past it
    (lines appended since); a last line that the start cut in two is left
    for the next run, whole."""

    def __init__(self, raw, size: int):
        self.raw, self.left = raw, size
        self.grew = False

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.raw.read(n) if n else b""
        self.left -= len(data)
        if not data:
            self._look_past_the_end()
        return data

    def readline(self, limit: int = -1) -> bytes:
        n = self.left if limit is None or limit < 0 else min(limit, self.left)
        line = self.raw.readline(n) if n else b""
        self.left -= len(line)
        if self.left == 0 and not line.endswith(b"\n") and self._look_past_the_end():
            return b""  # the rest of this line came after the start: not in the view
        return line

    def _look_past_the_end(self) -> bool:
        if self.left == 0 and not self.grew:
            self.grew = bool(self.raw.read(1))
        return self.grew

    def close(self) -> None:
        self.raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def count_lines(pattern: str, limit_bytes: int = 256 << 20) -> int | None:
    """Input lines, for progress lines' ETA and Flex by deadline's share; None
    when reading the input a second time would cost noticeable time (remote
    or large files)."""
    files = FileSystems.match([pattern])[0].metadata_list
    if any(not is_local_path(f.path) for f in files) \
            or sum(f.size_in_bytes for f in files) > limit_bytes:
        return None
    total = 0
    try:
        for f in files:
            if not os.path.isdir(f.path):
                with FileSystems.open(f.path) as stream:
                    total += sum(1 for line in iter(stream.readline, b"") if line.strip())
    except Exception:  # noqa: BLE001 - an unreadable file is reported by the job itself
        return None
    return total
