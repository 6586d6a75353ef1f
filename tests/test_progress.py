"""Plain progress lines (CI logs, a sweep's job logs): what they say and how often."""

from __future__ import annotations

import itertools
import re

from vpbench import progress


def test_training_lines_come_every_tenth_with_the_pace_since_the_last_and_the_clock(monkeypatch, capsys):
    """A job log spans sessions: each line says when it was written and how fast the steps since the previous
    line went (none on the first line of a process: a resumed run has no previous line to measure from)."""
    clock = itertools.count(0.0, 4.0)  # four seconds between printed lines
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    report = progress.plain_training_progress("predrnn")
    for step in range(1, 21):
        report(step, 20, 0.125, 1e-3)
    lines = capsys.readouterr().err.splitlines()
    assert [int(re.search(r"step (\d+)/20", line)[1]) for line in lines] == list(range(2, 21, 2))
    assert lines[0].startswith("[predrnn] step 2/20 loss 0.12500 lr 1.00e-03, 20") and "s/step" not in lines[0]
    assert all(", 2.00 s/step, " in line for line in lines[1:])
    assert all(re.search(r", \d{4}-\d\d-\d\d \d\d:\d\d UTC$", line) for line in lines)
