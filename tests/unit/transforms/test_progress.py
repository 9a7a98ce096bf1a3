from transforms.progress import Progress, ProgressSettings


def test_progress_line_shows_done_rate_429_share_and_eta(capsys):
    progress = Progress(ProgressSettings(every_s=1e-9, expected_records=100))
    progress.started -= 10.0       # ten seconds into the run
    for throttled in (0, 1, 0, 0):
        progress.record(attempts=1 + throttled, throttled=throttled)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("progress: 4 of ~100 records, 0.4/s, 429s 20.0% of requests, $0.0000, ETA 24")


def test_no_progress_lines_when_off(capsys):
    progress = Progress(ProgressSettings(every_s=0))
    progress.record(1, 0)
    assert capsys.readouterr().err == ""
