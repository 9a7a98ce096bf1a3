"""python -m pipeline --input PATTERN --output DIR [options]; --help lists them."""
import sys

from pipeline.job import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
