"""`vpbench sweep`: a grid of models (or a suite) run with one budget, skipping what is stored.

The whole grid is resolved first — every model name, preset and option validated, every spec hashed —
so a typo in the last model is reported before the first one trains. Finished specs (every protocol's
record stored) are skipped; unfinished ones resume from their checkpoint, because `run` resumes.

`--jobs N` runs N models side by side in separate processes with one torch thread each (or `--threads`):
on a small CPU two 1-thread processes out-run one 2-thread process, and torch's multi-threaded kernels
collapse when processes compete for cores (benchmarks/bench_threads.py measures both). Each job's output
goes to `<runs dir>/sweep-logs/<model>__seed<seed>__<spec hash>.log`, appended to when a job resumes.
Ctrl-C (or SIGTERM to the sweep) stops every job at its next step, checkpoint written, and starts no other;
so does a signal that reaches one job directly.
`--emit slurm` writes a job-array script instead. `--plan` (sweep_plan.py) says where a campaign stands.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vpbench.engine.config import RunConfig
from vpbench.engine.spec import RunSpec
from vpbench.errors import RunInterrupted, VpbenchError, interrupted_outside_training
from vpbench.files import prepare_output
from vpbench.registry import get_model_entry, list_models


def expand_models(names: list[str]) -> list[str]:
    """'all' means every registered model; every other name must be registered (checked here, up front)."""
    if not names or names == ["all"]:
        return list_models()
    return [get_model_entry(name).name for name in names]


@dataclass
class SweepItem:
    config: RunConfig
    spec: RunSpec
    stored: bool
    run_dir: Path  # where its checkpoints are (they make a resumed run the same run)


def plan_sweep(configs: list[RunConfig]) -> list[SweepItem]:
    """Resolve every run of the grid before anything runs; which ones are already stored."""
    from vpbench.engine.run import prepare, stored_records

    items = []
    for config in configs:
        execution = prepare(config)
        spec = execution.spec
        stored = len(stored_records(config.results_dir, spec)) == len(spec.protocols)
        items.append(SweepItem(config, spec, stored, execution.run_dir))
    return items


def grid(template: RunConfig, models: list[str]) -> list[RunConfig]:
    return [dataclasses.replace(template, model=model) for model in expand_models(models)]


def config_to_json(config: RunConfig) -> str:
    return json.dumps(dataclasses.asdict(config), default=str)


def config_from_json(text: str) -> RunConfig:
    values = json.loads(text)
    for key in ("results_dir", "runs_dir", "data_root", "checkpoint"):
        if values.get(key) is not None:
            values[key] = Path(values[key])
    if values.get("conventions") is not None:
        values["conventions"] = tuple(values["conventions"])
    return RunConfig(**values)


def run_sweep(
    items: list[SweepItem],
    runner: Callable[[RunConfig], object],
    jobs: int = 1,
    log: Callable[[str], None] = print,
) -> list[tuple[str, str]]:
    """Run the unstored items: in this process (jobs=1) or in `jobs` worker processes; (model, outcome)."""
    outcome: dict[int, tuple[str, str]] = {}
    todo = []
    for index, item in enumerate(items):
        if item.stored:
            spec = item.spec
            log(f"sweep: {spec.model} (seed {spec.seed}) already stored for spec {spec.spec_hash}, skipped")
            outcome[index] = (item.spec.model, "skipped")
        else:
            todo.append((index, item))
    if jobs <= 1:
        for index, item in todo:
            log(f"sweep: running {item.spec.model} (spec {item.spec.spec_hash})")
            runner(item.config)
            outcome[index] = (item.spec.model, "done")
    else:
        outcome.update(_run_workers(todo, jobs, log))
    return [outcome[index] for index in sorted(outcome)]


@dataclass
class _Worker:
    """One model's job: its process, its log file and when it started."""

    item: SweepItem
    process: subprocess.Popen
    log_file: object
    log_path: Path
    started: float

    def finish(self, log: Callable[[str], None]) -> str:
        self.log_file.close()
        code = self.process.returncode
        minutes = (time.perf_counter() - self.started) / 60
        if code == 0:
            state = "done"
        elif code == RunInterrupted.exit_code:
            state = f"interrupted, checkpoint kept (see {self.log_path})"
        else:
            state = f"failed (exit {code}; see {self.log_path})"
        log(f"sweep: {self.item.spec.model} {state} after {minutes:.1f} min")
        return state


def _run_workers(todo: list[tuple[int, SweepItem]], jobs: int, log: Callable[[str], None]) -> dict:
    """Run `todo` in order, at most `jobs` worker processes at a time; {index: (model, outcome)}.

    A SIGINT or SIGTERM here starts no further model and is passed on, once, to every running job as a
    SIGTERM: each checkpoints at its next step and exits, then this raises RunInterrupted. A second one is
    passed on as a SIGINT, and the jobs exit at once (a job takes a repeated SIGTERM, e.g. from a `pkill -f` that
    matched it and this sweep, for the same request). The jobs run in their own sessions so that a terminal's
    Ctrl-C reaches them through here only: reaching them twice (from the terminal and from here) would be their
    "second interrupt" and lose the steps since their last checkpoint.

    A job that ends interrupted while this sweep heard nothing was signalled directly, and that too starts no
    further model: `pkill -f "vpbench sweep"` matches the jobs (their command line carries the sweep's) and,
    with SIGINT, not a sweep started in the background (`cmd &` ignores SIGINT, and a caller's SIG_IGN is
    kept), which then filled the freed places from its queue. The other jobs train on to their end."""
    queue, running, outcome, signals, forwarded = list(todo), {}, {}, [], 0

    def stopping() -> bool:  # a signal here, or one that reached a job directly
        return bool(signals) or any(state.startswith("interrupted") for _, state in outcome.values())

    with _recording_signals(signals):
        while running or (queue and not stopping()):
            while queue and len(running) < jobs and not stopping():
                index, item = queue.pop(0)
                running[index] = _start_worker(item, log)
            for count in range(forwarded, len(signals)):
                for worker in running.values():
                    worker.process.send_signal(signal.SIGTERM if count == 0 else signal.SIGINT)
            forwarded = len(signals)
            for index, worker in list(running.items()):
                if worker.process.poll() is not None:
                    outcome[index] = (worker.item.spec.model, worker.finish(log))
                    del running[index]
            time.sleep(0.1)
    if stopping():
        for index, item in queue:
            outcome[index] = (item.spec.model, "not started")
        stopped = [model for model, state in outcome.values() if state.startswith("interrupted")]
        waiting = [item.spec.model for _, item in queue]
        raise RunInterrupted(
            f"sweep interrupted: stopped {', '.join(stopped) or 'no job'} (checkpoints kept), did not start "
            f"{', '.join(waiting) or 'any other model'}; run the same command again to resume"
        )
    return outcome


@contextmanager
def _recording_signals(signals: list):
    """Append every SIGINT/SIGTERM to `signals` instead of raising or exiting (main thread only; a signal
    the caller ignores stays ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    record = lambda number, frame: signals.append(number)  # noqa: E731
    previous = {
        signum: signal.signal(signum, record)
        for signum in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(signum) is not signal.SIG_IGN  # `nohup`, `cmd &`: what the caller chose to ignore
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _start_worker(item: SweepItem, log: Callable[[str], None]) -> _Worker:
    """One model in its own process and session, with the spec's thread count; output to a per-model log."""
    threads = item.spec.threads or 1
    log_name = f"{item.spec.model}__seed{item.spec.seed}__{item.spec.spec_hash}.log"
    log_path = prepare_output(Path(item.config.runs_dir) / "sweep-logs" / log_name, "--runs-dir")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    config = dataclasses.replace(item.config, threads=threads)
    log(f"sweep: started {item.spec.model} ({threads} thread(s)); log: {log_path}")
    handle = log_path.open("a")
    process = subprocess.Popen(
        [sys.executable, "-m", "vpbench.engine.sweep", config_to_json(config)],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    return _Worker(item, process, handle, log_path, time.perf_counter())


def slurm_script(models: list[str], run_arguments: list[str], job_name: str = "vpbench-sweep") -> str:
    """A Slurm job-array script: task i runs `vpbench run --model MODELS[i] <run_arguments>`."""
    names = expand_models(models)
    arguments = " ".join(shlex.quote(a) for a in run_arguments)
    return "\n".join(
        [
            "#!/bin/bash",
            f"#SBATCH --job-name={job_name}",
            f"#SBATCH --array=0-{len(names) - 1}",
            "#SBATCH --gpus=1",
            "#SBATCH --output=%x-%A_%a.out",
            "# Generated by `vpbench sweep --emit slurm`; each task resumes its own run if requeued.",
            "set -euo pipefail",
            f"MODELS=({' '.join(shlex.quote(n) for n in names)})",
            f'vpbench run --model "${{MODELS[$SLURM_ARRAY_TASK_ID]}}" {arguments}',
            "",
        ]
    )


def _worker_main(argv: list[str]) -> int:
    """`python -m vpbench.engine.sweep CONFIG_JSON`: one sweep job (plain progress lines for the log)."""
    from vpbench.engine.run import run
    from vpbench.progress import plain_evaluation_progress, plain_training_progress

    config = config_from_json(argv[0])
    signal.signal(signal.SIGTERM, interrupted_outside_training)
    try:
        label = config.model
        run(config, progress=plain_training_progress(label), eval_progress=plain_evaluation_progress(label))
    except VpbenchError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
