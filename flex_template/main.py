"""The Flex Template's entry point (FLEX_TEMPLATE_PYTHON_PY_FILE): the
launcher's parameters as the job's command line, then the job itself, whose
exit code the launcher reports (docs/exit-codes.md)."""
import sys

from pipeline.flex_template import command_line
from pipeline.job import main

if __name__ == "__main__":
    sys.exit(main(command_line(sys.argv[1:])))
