"""Progress of long phases (training, evaluation) for people watching: steps or clips done, pace, time left.

Plain lines when stdout/stderr is not a terminal (CI logs, sweep job logs), a rich bar otherwise (the CLI
builds that one). Why a separate module: the engine calls a `progress(done, total)` callback and must not
know how it is shown.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timezone


def plain_training_progress(label: str):
    """`report(step, total, loss, lr)` printing '[label] step 5000/10000 loss 0.01650 lr 4.06e-04, 3.91 s/step,
    01:12 UTC' to stderr every tenth of the run. The pace is since this process's previous line; the clock says
    when, so a job log that spans several sessions shows where each one stopped."""
    last = {}

    def report(step: int, total: int, loss: float, lr: float) -> None:
        if step != total and step % max(1, total // 10):
            return
        now = time.perf_counter()
        pace = f", {(now - last['time']) / (step - last['step']):.2f} s/step" if last and step > last["step"] else ""
        last.update(step=step, time=now)
        clock = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        print(f"[{label}] step {step}/{total} loss {loss:.5f} lr {lr:.2e}{pace}, {clock}", file=sys.stderr, flush=True)

    return report


def plain_evaluation_progress(label: str, every_s: float = 30.0):
    """`report(done, total)` printing '[label] evaluated 240/1000 clips, 3.1 clips/s, ETA 4m05s' to stderr
    at the first batch, then at most every `every_s` seconds and at the end."""
    state = {"start": None, "last": 0.0, "total": None}

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if state["start"] is None or state["total"] != total or done < 1:
            state.update(start=now, last=0.0, total=total)
            return
        elapsed = max(now - state["start"], 1e-9)
        if done != total and now - state["last"] < every_s and state["last"]:
            return
        state["last"] = now
        rate = done / elapsed
        left = (total - done) / rate if rate > 0 else float("inf")
        eta = f"{int(left // 60)}m{int(left % 60):02d}s" if left != float("inf") else "?"
        print(f"[{label}] evaluated {done}/{total} clips, {rate:.1f} clips/s, ETA {eta}", file=sys.stderr, flush=True)

    return report
