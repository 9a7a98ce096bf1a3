"""Room kept on a local output's disk for the answers a run has in hand when
the disk fills up: a file of zeros beside the run's checkpoints, taken at
the start and given back when the disk is found full, so that the rows
still in memory can be saved as checkpoint parts a rerun finds. (An object
store does not fill up: no reserve there.)"""
from __future__ import annotations

import errno
import os


from transforms.output_files import is_local_path, remove_empty_folders
from transforms.run_files import RunFiles

# A checkpoint part is at most 5,000 rows (about a megabyte of Parquet at
# 200 bytes a row); this holds several, from every table in flight.
RESERVE_BYTES = 16 << 20


class SpaceReserve:
    def __init__(self, files: RunFiles, size: int = RESERVE_BYTES):
        self.folder = files.checkpoints.removeprefix("file://")
        self.path = files.reserve.removeprefix("file://")
        self.size = size if is_local_path(files.output) else 0

    def take(self) -> None:
        """OSError (ENOSPC) when the disk cannot hold even the reserve."""
        if not self.size:
            return
        os.makedirs(self.folder, exist_ok=True)
        try:
            with open(self.path, "wb") as f:
                f.write(bytes(self.size))  # written, not sparse: the blocks are really held
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            self.release()
            raise

    def release(self) -> None:
        if self.size and os.path.exists(self.path):
            os.remove(self.path)
        remove_empty_folders([self.folder])


def disk_full(error: BaseException | None) -> bool:
    """Whether a failure, however a runner passed it on, was a full disk."""
    for _ in range(20):
        if error is None:
            return False
        if isinstance(error, OSError) and error.errno == errno.ENOSPC or \
                "No space left on device" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False
