"""What a successful run removes of the checkpoints: its own parts, and the
parts of dead runs whose every row its final tables supersede; never a
part with an answer no final table holds."""
import pyarrow as pa

from transforms.checkpoints import remove_checkpoints, superseded_parts
from transforms.run_files import RunFiles
from transforms.write_parquet import write_parquet_file

KEYS = pa.schema([("id", pa.string()), ("status", pa.string())])


def name(n: int) -> str:
    """A checkpoint part's name, as RunFiles.new_checkpoint_part makes them."""
    return f"responses-part-{n:032x}.parquet"


def part(path, *rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_parquet_file(str(path), [{"id": i, "status": s} for i, s in rows], KEYS)
    return str(path)


def test_a_dead_runs_part_goes_only_when_the_final_tables_hold_every_answer(tmp_path):
    final = part(tmp_path / "responses-run2-00000-of-00001.parquet",
                 ("a", "ok"), ("b", "error"), ("c", "ok"), ("e", "error"))
    assert final
    dead = tmp_path / "_checkpoints" / "run1"
    answered = part(dead / name(1), ("a", "ok"), ("b", "error"))
    # "b" was an error and still is: any row supersedes an error; "c" answered now
    also = part(dead / name(2), ("c", "error"))
    # "d" is an answer the final tables do not have (a record of another input)
    kept = part(dead / name(3), ("d", "ok"))
    # an ok answer whose id the final table has only as an error is not superseded
    better = part(dead / name(4), ("e", "ok"))
    (dead / name(5)).write_bytes(b"not parquet")  # unreadable: stays
    broken = str(dead / name(5))
    parts = [answered, also, kept, better, broken]
    assert sorted(superseded_parts(str(tmp_path), ["responses"], parts)) == [answered, also]

    run2 = RunFiles(str(tmp_path), "run2")
    own = part(tmp_path / "_checkpoints" / "run2" / name(9), ("a", "ok"))
    left = remove_checkpoints(run2, ["responses"], parts)
    assert sorted(left) == sorted([kept, better, broken])
    assert not (tmp_path / "_checkpoints" / "run2").exists()  # its own parts, and the folder
    assert not any(p == own for p in left)
    assert (dead / name(3)).exists()
