"""A run's results as people and schedulers read them, from the files it
wrote: summary.json with the outcome and exit code (summary.py), report.html
(report.py), both from one reader of a run's tables (run_tables.py)."""
