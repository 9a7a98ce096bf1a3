"""What a rerun reads of earlier runs' files in each worker (earlier_verdicts):
real Parquet files, as a finished run and a dead run's checkpoints leave them."""
import logging
import pickle

import pyarrow as pa
import pyarrow.parquet as pq

from transforms.id_index import LargestCodes
from transforms.plan_calls import EarlierFile, Verdict, earlier_verdicts


def table(path, rows):
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema(
        [("id", pa.string()), ("status", pa.string())])), path)
    return EarlierFile(str(path), path.stat().st_size, "_checkpoints" in str(path))


def test_each_id_gets_the_strongest_verdict_of_its_rows(tmp_path):
    (tmp_path / "_checkpoints").mkdir()
    final = table(tmp_path / "responses-r1-00000-of-00001.parquet", [
        {"id": "a", "status": "ok"}, {"id": "b", "status": "error"},
        {"id": "c", "status": "blocked"}, {"id": "d", "status": "error"},
        {"id": None, "status": "ok"}])
    saved = table(tmp_path / "_checkpoints" / "responses-part-1.parquet", [
        {"id": "d", "status": "ok"}, {"id": "a", "status": "ok"}, {"id": "e", "status": None}])
    codes = earlier_verdicts([final, saved])
    assert [codes.get(i) for i in "abcdef"] == [
        Verdict.ANSWERED, Verdict.FAILED, Verdict.ANSWERED, Verdict.SAVED, Verdict.FAILED, 0]
    assert earlier_verdicts([saved, final]) is codes  # one read a process for one set of files


def test_a_damaged_file_counts_not_at_all_and_is_named(tmp_path, caplog):
    good = table(tmp_path / "responses-r1-00000-of-00001.parquet", [{"id": "a", "status": "ok"}])
    cut = tmp_path / "responses-r2-00000-of-00001.parquet"
    cut.write_bytes((tmp_path / "responses-r1-00000-of-00001.parquet").read_bytes()[:-20])
    with caplog.at_level(logging.WARNING):
        codes = earlier_verdicts([good, EarlierFile(str(cut), cut.stat().st_size, False)])
    assert codes.get("a") == Verdict.ANSWERED and len(codes) == 1
    assert f"skipped {cut} while reading earlier results" in caplog.text


def test_the_index_travels_without_its_fingerprints_and_finds_the_same_ids():
    combine = LargestCodes()
    accumulator = combine.create_accumulator()
    for i in range(1000):
        combine.add_input(accumulator, (f"id-{i}", 1 + i % 3))
    combine.add_input(accumulator, ("é", 2))
    codes = combine.extract_output(accumulator)
    sent = pickle.dumps(codes)
    assert len(sent) < len(pickle.dumps((codes.fingerprints, codes.ids, codes.codes)))
    arrived = pickle.loads(sent)
    assert (arrived.fingerprints == codes.fingerprints).all()
    assert [arrived.get(f"id-{i}") for i in range(1000)] == [1 + i % 3 for i in range(1000)]
    assert arrived.get("é") == 2 and arrived.get("id-1000") == 0
