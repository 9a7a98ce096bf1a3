"""The job: command line, graph assembly and the end-of-run summary.

    python -m pipeline --input PATTERN --output DIR_OR_GS_PREFIX [options]
"""
