"""`python -m pipeline --help`: the job's own options first, grouped by
purpose, then Beam's apart (they once filled some 80 lines of the usage
before ours began)."""
import subprocess
import sys

from tests.support.servers import ROOT


def test_help_shows_the_jobs_options_first_grouped_and_beams_after():
    shown = subprocess.run([sys.executable, "-m", "pipeline", "--help"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout
    lines = shown.splitlines()
    assert lines[0] == "usage: python -m pipeline --input PATTERN --output DIR [options]  " \
                       "(-h: this help)"
    headings = [line.rstrip(":") for line in lines if line and not line[0].isspace()
                and line.endswith(":")]
    ours = ["Input and output", "Models and requests", "Where to call, and credentials",
            "Quota, concurrency and retries", "Cost and service tiers", "Resume"]
    assert headings[:len(ours) + 1] == ["options", *ours]
    assert all(h.startswith("Beam ") for h in headings[len(ours) + 1:]) and \
        len(headings) > len(ours) + 1
    first_beam = shown.index("Beam StandardOptions:")
    for option in ("--input", "--model", "--rpm", "--max_cost_usd", "--skip_existing"):
        assert shown.index(option) < first_beam, option
