"""Paths under an output, through Beam's filesystems: listing by pattern,
telling local folders from object stores, and removing folders left empty
(object stores have none)."""
from __future__ import annotations

import os
from typing import Iterable

from apache_beam.io.filesystems import FileSystems


def matching_paths(pattern: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def is_local_path(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file")


def remove_empty_folders(folders: Iterable[str]) -> None:
    """Removes the given local folders that are empty, deepest first."""
    for folder in sorted(set(folders), key=len, reverse=True):
        if is_local_path(folder) and os.path.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)
