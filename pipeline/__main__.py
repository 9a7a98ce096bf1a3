"""python -m pipeline --input PATTERN --output DIR [options]: the job, as
`vertex-beam-batch run` (pipeline/cli.py); --help lists the options."""
import gc
import sys

# Python's cyclic collector would traverse every object the imports create
# (Beam, protobuf, pyarrow: millions), again and again while they load, during
# the run, and several times while the interpreter shuts down: about a second
# of a short job (measured in bench/overhead). Modules live for the whole
# process, so they are loaded with the collector off and then frozen: never
# traversed again. The job's own objects are still collected as usual.
gc.disable()
from pipeline.job import main  # noqa: E402

gc.freeze()
gc.enable()

if __name__ == "__main__":
    status = main(sys.argv[1:])
    gc.freeze()  # exiting: the interpreter frees everything without collecting it
    sys.exit(status)
