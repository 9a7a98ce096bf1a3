"""The README's "Use the transforms in your own pipeline" example, run as
written against the emulator: plain dict records, windowed input, results in
the right windows, failures apart."""
import json
import re
from pathlib import Path

from tests.conftest import ROOT


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    return re.search(r"<!-- example: windowed -->\n```python\n(.*?)```", text, re.S).group(1)


def test_the_readme_example_runs_with_results_in_the_right_windows(emulator, tmp_path, capsys):
    code = readme_example()
    code = code.replace('"http://127.0.0.1:8090"', repr(emulator.url))
    code = code.replace('"out/windowed"', repr(str(tmp_path)))
    exec(compile(code, "README example", "exec"), {"__name__": "readme_example"})

    def lines(name):
        return [json.loads(line) for f in sorted(Path(tmp_path).glob(f"{name}-*.jsonl"))
                for line in f.read_text().splitlines()]
    rows = {row["id"]: row for row in lines("rows")}
    assert set(rows) == {"t1", "t2", "t3", "t4"}
    assert rows["t4"]["status"] == "error" and rows["t4"]["error_code"] == "INVALID_ARGUMENT"
    counts = sorted((c["window_start"], c["status"], c["records"]) for c in lines("counts"))
    assert counts == [(0, "ok", 2), (15, "error", 1), (15, "ok", 1)]
    assert "failed: t4" in capsys.readouterr().out
    assert emulator.stats()["requests"] == 4
