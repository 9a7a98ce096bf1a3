"""The outcome a scheduler reads, worked out from a summary's counts alone
(in seconds, not by the ten-minute job suite)."""
import pytest

from pipeline.results.summary import outcome, outcome_line, short_summary

TASKS = ("responses", "image_records", "live")


def summary(ok=10, error=0, rejected=0, not_called=0, lines=None, state="DONE",
            accounted=True, unreadable=()):
    counts = {key: {"ok": 0, "blocked": 0, "error": 0, "total": 0} for key in TASKS}
    counts["responses"] = {"ok": ok, "blocked": 0, "error": error + not_called,
                           "total": ok + error + not_called}
    return {**counts, "rejected": rejected, "input_lines":
            lines if lines is not None else ok + error + not_called + rejected,
            "cost": {"not_called": not_called}, "state": state,
            "all_lines_accounted_for": accounted, "unreadable_files": list(unreadable)}


@pytest.mark.parametrize("given, allowed, state, code", [
    (dict(), 0.0, "complete", 0),
    (dict(error=3, ok=7), 0.0, "partial", 3),
    (dict(error=3, ok=7), 0.3, "partial", 0),          # within --allowed_error_rate
    (dict(error=3, ok=7), 0.2, "partial", 3),
    (dict(rejected=2), 0.0, "partial", 3),
    (dict(ok=0, rejected=4), 1.0, "partial", 3),         # every line rejected: never 0
    (dict(not_called=5), 1.0, "partial", 3),             # the budget stopped it: never 0
    (dict(unreadable=("a.gz",), accounted=False), 0.0, "failed", 1),
    (dict(state="FAILED"), 0.0, "failed", 1),
    (dict(ok=0, lines=0), 0.0, "complete", 0),           # an empty input
])
def test_the_outcome_and_its_exit_code(given, allowed, state, code):
    result = outcome(summary(**given), allowed)
    assert (result["outcome"], result["exit_code"]) == (state, code)


def test_the_last_line_says_why():
    s = summary(error=3, ok=6, rejected=1)
    line = outcome_line({**s, **outcome(s)})
    assert line == ("partial: 3 error rows, 1 rejected lines; rerun with --skip_existing to "
                    "call what is missing; exit 3")
    s = summary(error=1, ok=9)
    assert "(within --allowed_error_rate 0.5)" in outcome_line({**s, **outcome(s, 0.5)})


def test_the_short_summary_is_a_few_lines_for_a_person():
    s = {**summary(error=1, ok=9), "run_id": "r1", "wall_time_s": 3.2, "carried_over": 0,
         "skipped_existing": 0, "output": "out", "images_written": 0, "audio_files_written": 0,
         "files": {"responses": ["out/responses-r1-0.parquet"]},
         "tokens": {"total": 100, "prompt": 40, "cached": 0, "thinking": 30, "answer": 30},
         "cost": {"not_called": 0, "total_usd": 0.0123, "max_cost_usd": 1.0,
                  "rows_without_price": 0}}
    text = short_summary({**s, **outcome(s)}, "out/summary-r1.json", "out/report.html")
    lines = text.splitlines()
    assert lines[0] == "run r1: partial (exit 3) in 3.2 s"
    assert "responses: 9 ok, 1 error" in lines[1]
    assert "$0.0123 of --max_cost_usd 1" in text and lines[-1].endswith("out/report.html")
