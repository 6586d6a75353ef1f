"""SIGINT/SIGTERM are honoured within seconds in every phase — training, validation, evaluation — with the
training checkpoint kept; a second SIGINT exits at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vpbench.engine import trainer
from vpbench.engine.checkpoint import load_checkpoint


def _start(tmp_path: Path, *arguments: str) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "vpbench", "run", "--dataset", "synthetic", "--preset", "smoke", "--protocol", "4->4",
        "--device", "cpu", "--results-dir", str(tmp_path / "results"), "--runs-dir", str(tmp_path / "runs"),
        "--no-table", *arguments,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(process: subprocess.Popen, text: str, timeout: float = 180) -> list[str]:
    seen, deadline = [], time.time() + timeout
    while time.time() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"never saw {text!r}; stderr: {''.join(seen)[-2000:]}")


def _stop(process: subprocess.Popen, signum: int) -> tuple[float, str]:
    sent = time.perf_counter()
    process.send_signal(signum)
    _, rest = process.communicate(timeout=60)
    return time.perf_counter() - sent, rest


def test_sigterm_during_evaluation_stops_between_batches(tmp_path):
    process = _start(tmp_path, "--model", "zeros", "--data-option", "size=400000", "--test-size", "400000")
    _wait_for(process, "evaluated")
    seconds, stderr = _stop(process, signal.SIGTERM)
    assert process.returncode == 130 and seconds < 10, stderr
    assert "interrupted while evaluating 4->4" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.json"))


def test_sigint_during_validation_keeps_the_step_and_the_resumed_run_validates_it(tmp_path):
    arguments = ["--model", "convgru", "--steps", "2", "--val-every", "1", "--val-size", "20000", "--batch-size", "2",
                 "--data-option", "size=20000", "--test-size", "4"]
    process = _start(tmp_path, *arguments)
    _wait_for(process, "step 1/2")  # the step is done; validation over 20,000 clips starts now
    seconds, stderr = _stop(process, signal.SIGINT)
    assert process.returncode == 130 and seconds < 10, stderr
    (checkpoint,) = (tmp_path / "runs").glob("synthetic/*/last.pt")
    state = load_checkpoint(checkpoint)
    assert state["step"] == 1 and state["curve"] == []  # the interrupted validation is not half-recorded


def test_a_second_interrupt_exits_at_once(monkeypatch):
    exits = []

    def fake_exit(code):
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(trainer.os, "_exit", fake_exit)
    with trainer.interrupt_flag() as flag:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert flag["signal"] == signal.SIGINT and exits == []
        with pytest.raises(SystemExit):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
    assert exits == [130]
