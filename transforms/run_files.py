"""The layout of an output, in one place: every path a run writes, and the
exact matches that tell one run's files from another's.

    {table}-{run_id}[-{part}]-SSSSS-of-NNNNN.parquet   final tables (Beam's shard names)
    beam-temp-{table}-{run_id}[-{part}]-{hex}/          Beam's temporary folders
    summary[-{run_id}].json, estimate[...].json, report[...].html
    images/{run_id}/, audio/{run_id}/                   the files answers carried
    _checkpoints/{run_id}/{table}-part-{hex}.parquet    answers saved while the run goes on
    _checkpoints/{run_id}/_lease.json, _reserve         the live run's lease and disk reserve

Run ids may contain '-': the pattern `responses-nightly-*` also matches run
`nightly-2`'s files, so a run's files are always told by an exact match.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from apache_beam.io.filesystems import FileSystems

from transforms.output_files import matching_paths

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # a name, never a path
CHECKPOINTS = "_checkpoints"
LEASE_NAME = "_lease.json"
RESERVE_NAME = "_reserve"
# Second sets of files of a table and run, named {table}-{run_id}-{part}-*:
# rows carried from dead runs, the calls PlanCalls grouped by id with the
# others, the duplicate ids it rejected.
PARTS = ("carried", "grouped", "duplicates")
_PART = "(-(?:" + "|".join(PARTS) + "))?"
_CHECKPOINT_PART = re.compile(r"([a-z_]+)-part-[0-9a-f]{32}\.parquet")


def _name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class RunFiles:
    """One run's files under an output."""
    output: str
    run_id: str

    # Final tables

    def table_prefix(self, table: str, part: str | None = None) -> str:
        """What Beam's sink names a table's files from (it adds the shard)."""
        if part is not None and part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, not {part!r}")
        return FileSystems.join(self.output, f"{table}-{self.run_id}" + (f"-{part}" if part else ""))

    def table_files(self, table: str) -> list[str]:
        """The run's files of a table, every part, and no other run's."""
        name = re.compile(rf"{re.escape(table)}-{re.escape(self.run_id)}{_PART}"
                          rf"-\d{{5}}-of-\d{{5}}\.parquet")
        return [p for p in matching_paths(FileSystems.join(
            self.output, f"{table}-{self.run_id}-*.parquet")) if name.fullmatch(_name(p))]

    def is_beam_temp_folder(self, name: str, tables) -> bool:
        """Beam's temporary folder of one of this run's tables."""
        return bool(re.fullmatch(
            rf"beam-temp-({'|'.join(map(re.escape, tables))})-{re.escape(self.run_id)}"
            rf"{_PART}-[0-9a-f]{{32}}", name))

    # Files beside the tables

    def run_file(self, stem: str, extension: str) -> str:
        """summary-RUNID.json, estimate-RUNID.json, report-RUNID.html."""
        return FileSystems.join(self.output, f"{stem}-{self.run_id}.{extension}")

    def media_folder(self, kind: str) -> str:
        """images/RUNID or audio/RUNID."""
        return FileSystems.join(self.output, kind, self.run_id)

    # While the run goes on

    @property
    def checkpoints(self) -> str:
        return FileSystems.join(self.output, CHECKPOINTS, self.run_id)

    def new_checkpoint_part(self, table: str) -> str:
        return FileSystems.join(self.checkpoints, f"{table}-part-{uuid.uuid4().hex}.parquet")

    def checkpoint_parts(self) -> list[str]:
        return checkpoint_parts(self.output, self.run_id)

    @property
    def lease(self) -> str:
        return FileSystems.join(self.checkpoints, LEASE_NAME)

    @property
    def reserve(self) -> str:
        return FileSystems.join(self.checkpoints, RESERVE_NAME)


# Every run's files under an output

def latest_file(output: str, stem: str, extension: str) -> str:
    """summary.json, estimate.json, report.html: the latest run's."""
    return FileSystems.join(output, f"{stem}.{extension}")


def table_files(output: str, table: str) -> list[str]:
    """Every run's files of a table."""
    return matching_paths(table_pattern(output, table))


def table_pattern(output: str, table: str) -> str:
    return FileSystems.join(output, f"{table}-*.parquet")


def checkpoints_folder(output: str) -> str:
    return FileSystems.join(output, CHECKPOINTS)


def checkpoint_pattern(output: str, table: str) -> str:
    return FileSystems.join(output, CHECKPOINTS, "*", f"{table}-part-*.parquet")


def is_checkpoint_part(path: str) -> bool:
    """Only files with exactly the name of a checkpoint part are ever read as
    checkpoints, or deleted."""
    return bool(_CHECKPOINT_PART.fullmatch(_name(path)))


def checkpoint_table(path: str) -> str:
    """The table a checkpoint part (or a final table's file) holds rows of."""
    return _name(path).split("-", 1)[0]


def checkpoint_parts(output: str, run_id: str = "*") -> list[str]:
    """The checkpoint parts under an output (of one run, or of all)."""
    return [p for p in matching_paths(FileSystems.join(output, CHECKPOINTS, run_id, "*"))
            if is_checkpoint_part(p)]


def is_written_by_job(inside: list[str], tables) -> bool:
    """Whether a path under the output (its parts, `inside`) is one the job
    writes there: a table's file, a run's file, or something in the folders
    of checkpoints, images, audio or Beam's temporary files."""
    if len(inside) > 1:
        return bool(re.fullmatch(r"(_checkpoints|images|audio|beam-temp-.*)", inside[0]))
    return bool(re.fullmatch(rf"(({'|'.join(map(re.escape, tables))})-.*\.parquet|"
                             r"(summary|estimate)(-.*)?\.json|report(-.*)?\.html|"
                             r"\.write-check-.*)", inside[0]))


def leases(output: str) -> list[str]:
    return matching_paths(FileSystems.join(output, CHECKPOINTS, "*", LEASE_NAME))


def summaries(output: str) -> list[str]:
    """Every run's summary-RUNID.json."""
    return matching_paths(FileSystems.join(output, "summary-*.json"))
