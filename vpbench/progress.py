"""Progress of long phases (evaluation) for people watching: clips done, rate, time left.

Plain lines when stdout/stderr is not a terminal (CI logs, sweep job logs), a rich bar otherwise (the CLI
builds that one). Why a separate module: the engine calls a `progress(done, total)` callback and must not
know how it is shown.
"""

from __future__ import annotations

import sys
import time


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
