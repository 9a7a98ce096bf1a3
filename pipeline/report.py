"""`python -m pipeline.report OUTPUT [--run_id ID]`, as before: the report
lives in pipeline/results/report.py (also `vertex-beam-batch report`)."""
import sys

from pipeline.results.report import main

if __name__ == "__main__":
    sys.exit(main())
