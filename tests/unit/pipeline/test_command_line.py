"""The command: `vertex-beam-batch` (and `python -m pipeline`), its
`--version`, its subcommands, and a `--help` of the job's own options in
their groups, short enough to read (Beam's runner options behind
`--help_beam`)."""
import subprocess
import sys
from pathlib import Path

from pipeline import cli
from tests.support.servers import ROOT


def run(*args):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_help_is_the_jobs_own_options_in_their_groups_and_short():
    shown = run("--help")
    assert shown.returncode == 0
    lines = shown.stdout.splitlines()
    assert len(lines) <= 150, len(lines)
    assert lines[0].startswith("usage: vertex-beam-batch [run] --input PATTERN --output DIR")
    headings = [line.rstrip(":") for line in lines if line and not line[0].isspace()
                and line.endswith(":")]
    assert headings == ["options", "Input and output", "Models and requests",
                        "Where to call, and credentials", "Quota, concurrency and retries",
                        "Cost and service tiers", "Resume"]
    for option in ("--input", "--model", "--rpm", "--max_cost_usd", "--dry_run",
                   "--allowed_error_rate", "--skip_existing", "--summary_json"):
        assert option in shown.stdout, option
    assert "--help_beam" in shown.stdout and "Beam StandardOptions" not in shown.stdout
    assert "--runner RUNNER" not in shown.stdout  # named in the epilog, not listed


def test_help_beam_adds_beams_runner_options_which_are_still_accepted():
    shown = run("--help_beam").stdout
    first_beam = shown.index("Beam StandardOptions:")
    assert shown.index("--max_cost_usd") < first_beam and "--runner" in shown[first_beam:]


def test_version_and_the_subcommands(capsys, tmp_path):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("vertex-beam-batch ")
    assert cli.main(["models", "--check", "--today", "2026-12-07"]) == 0
    assert cli.main(["models"]) == 0
    assert "gemini-3.5-flash" in capsys.readouterr().out
    assert cli.main(["report", str(tmp_path)]) == 2  # no runs there: one line, no traceback
    assert "no tables" in capsys.readouterr().err


def test_the_console_script_is_installed_with_the_package():
    from importlib import metadata
    [script] = [e for e in metadata.entry_points(group="console_scripts")
                if e.name == "vertex-beam-batch"]
    assert script.value == "pipeline.cli:main"
    command = Path(sys.executable).parent / "vertex-beam-batch"  # beside this virtualenv's python
    done = subprocess.run([str(command), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("vertex-beam-batch 0.")
