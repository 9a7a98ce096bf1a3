"""The Dataflow Flex Template: metadata.json names every option a user sets
(with its help text and check), and the container's entry point turns the
launcher's --name=value parameters into a command line the job accepts.
The image itself cannot be built here (no registry but PyPI, npm and
Debian's): the Dockerfile is checked for what the launcher needs."""
import json
import re
import subprocess
import sys
from pathlib import Path

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import flex_template
from pipeline.options import check_known_options, job_config

ROOT = Path(__file__).parents[3]


def test_the_metadata_is_generated_from_the_options_and_up_to_date():
    committed = json.loads((ROOT / "flex_template" / "metadata.json").read_text())
    assert committed == flex_template.metadata(), \
        "regenerate: python -m pipeline.flex_template > flex_template/metadata.json"
    names = {p["name"] for p in committed["parameters"]}
    for option in ("input", "output", "model", "output_schema", "max_cost_usd",
                   "allowed_error_rate", "skip_existing", "service_tier", "api_key_secret"):
        assert option in names
    assert "api_key" not in names  # a secret never becomes a parameter
    by_name = {p["name"]: p for p in committed["parameters"]}
    assert not by_name["input"]["isOptional"] and by_name["model"]["isOptional"]
    assert "gemini-3.5-flash" in by_name["model"]["helpText"]  # defaults filled in
    assert by_name["skip_existing"]["regexes"] == ["^(true|false)$"]
    assert re.fullmatch(by_name["service_tier"]["regexes"][0], "flex")
    assert re.fullmatch(by_name["max_cost_usd"]["regexes"][0], "25.5")


def test_the_entry_point_parses_every_parameter_as_the_launcher_passes_it(tmp_path):
    values = {"input": str(tmp_path / "in.jsonl"), "output": str(tmp_path / "out"),
              "endpoint": "http://127.0.0.1:9", "skip_existing": "true", "stream": "false",
              "max_cost_usd": "25", "output_schema": "sentiment STRING, confidence FLOAT64",
              "prompt_template": "Label {review}", "service_tier": "standard", "rpm": "600"}
    launcher_args = [f"--{k}={v}" for k, v in values.items()] + [
        "--runner=DataflowRunner", "--project=p", "--region=us-central1",
        "--temp_location=gs://b/tmp", "--setup_file=/template/setup.py"]
    argv = flex_template.command_line(launcher_args)
    assert "--skip_existing" in argv and not any(a.startswith("--stream") for a in argv)
    check_known_options(argv)  # every parameter is an option the job knows
    config = job_config(PipelineOptions(argv))
    assert config.max_cost_usd == 25 and config.defaults.prompt_template == "Label {review}"


def test_the_dockerfile_sets_what_the_launcher_runs():
    dockerfile = (ROOT / "flex_template" / "Dockerfile").read_text()
    assert "template-launcher-base" in dockerfile
    assert "FLEX_TEMPLATE_PYTHON_PY_FILE=/template/flex_template/main.py" in dockerfile
    for folder in ("pipeline", "transforms", "vertex", "vertex_schema", "vertex_catalog"):
        assert f"COPY {folder} " in dockerfile
    done = subprocess.run([sys.executable, "flex_template/main.py", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0 and "--max_cost_usd" in done.stdout
