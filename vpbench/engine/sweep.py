"""`vpbench sweep`: a grid of models (or a suite) run with one budget, skipping what is stored.

The whole grid is resolved first — every model name, preset and option validated, every spec hashed —
so a typo in the last model is reported before the first one trains. Finished specs (every protocol's
record stored) are skipped; unfinished ones resume from their checkpoint, because `run` resumes.

`--jobs N` runs N models side by side in separate processes with one torch thread each (or `--threads`):
on a small CPU two 1-thread processes out-run one 2-thread process, and torch's multi-threaded kernels
collapse when processes compete for cores (benchmarks/bench_threads.py measures both). Each job's output
goes to `<runs dir>/sweep-logs/<model>__seed<seed>__<spec hash>.log`, appended to when a job resumes.
Ctrl-C (or SIGTERM to the sweep) stops every job at its next step, checkpoint written, and starts no other.
`--emit slurm` writes a job-array script instead.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shlex
import signal
import statistics
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
from vpbench.files import prepare_output, read_json_lines
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


# The spec fields that set what one training step costs: a stored run agreeing on all of them (any budget)
# paces a run that has not started.
STEP_COST_FIELDS = (
    "model",
    "model_config",
    "dataset",
    "frame_shape",
    "train_protocol",
    "batch_size",
    "device_kind",
    "threads",
    "world_size",
)


@dataclass
class Pace:
    seconds_per_step: float
    stored_run: str | None = None  # the stored run that measured it; None: the run's own training log
    threads: int | None = None  # the thread count of the logged segment it comes from, where the log says


@dataclass(frozen=True)
class PaceScale:
    """How fast the campaign's own runs go against the stored runs that pace them: the median, over runs that
    have logged a pace, of that pace over their stored run's. The stored short runs were measured elsewhere and
    otherwise (the Moving MNIST track's 600-step runs at one thread beside another job: 3-5x slower than two
    threads alone on the machine that trains the long runs), so unscaled they overstate a campaign several
    times over; a run not started is paced by its stored run scaled by this."""

    factor: float
    ratios: tuple[tuple[str, float], ...]  # (model, its logged pace over its stored run's), the median's inputs

    def describe(self) -> str:
        each = ", ".join(f"{model} {ratio:.2f}" for model, ratio in self.ratios)
        return (
            f"runs not started are paced by their stored run scaled by {self.factor:.2f}: the median of the "
            f"logged paces here over their stored runs' ({each})"
        )


def pace_scale(items: list[SweepItem], records: list) -> PaceScale | None:
    """The campaign's PaceScale, or None while no unfinished run has both a logged pace and a stored run."""
    ratios = []
    for item in items:
        if item.stored or not (item.run_dir / "last.pt").exists():
            continue
        logged = _training_log_tail(item.run_dir / "train_log.jsonl").steps_per_second
        stored = stored_pace(item.spec, records)
        if logged and stored:
            ratios.append((item.spec.model, 1 / logged / stored.seconds_per_step))
    if not ratios:
        return None
    return PaceScale(statistics.median(ratio for _, ratio in ratios), tuple(ratios))


def stored_pace(spec: RunSpec, records: list, scale: PaceScale | None = None) -> Pace | None:
    """Seconds per step of the longest stored trained run that costs the same per step (wall time over steps,
    validation included), times `scale` when given, or None."""
    wanted = {name: value for name, value in spec.to_dict().items() if name in STEP_COST_FIELDS}
    matches = [
        record
        for record in records
        if record.training.trained
        and record.training.steps > 0
        and record.training.wall_time_s
        and all(record.spec.get(name) == value for name, value in wanted.items())
    ]
    if not matches:
        return None
    longest = max(matches, key=lambda record: (record.training.steps, record.spec_hash))
    seconds_per_step = longest.training.wall_time_s / longest.training.steps
    source = f"its stored {longest.training.steps:,}-step run {longest.spec_hash[:8]}"
    if scale is None:
        return Pace(seconds_per_step, source)
    return Pace(seconds_per_step * scale.factor, f"{source}, {seconds_per_step:.1f} s, scaled by {scale.factor:.2f}")


def checkpoint_step(path: Path) -> int:
    """The step a checkpoint holds. Loading one reads and hashes every tensor (0.4 s for simvp's 195 MB), and
    one `--plan` asks twice per run (its line and the campaign total): each file version is read once."""
    stat = path.stat()
    return _checkpoint_step(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _checkpoint_step(path: Path, modified_ns: int, size: int) -> int:
    from vpbench.engine.checkpoint import load_checkpoint

    return load_checkpoint(path)["step"]


def training_left(
    item: SweepItem, records: list, scale: PaceScale | None = None
) -> tuple[float | None, Pace | None]:
    """Seconds of training a (resumed) run still needs and the pace behind the estimate: the run's own
    logged pace once it has a checkpoint, else a stored run's (times `scale`); (None, None) when nothing
    measures it."""
    if item.stored or not item.spec.trained:
        return 0.0, None
    last = item.run_dir / "last.pt"
    steps_left, pace = item.spec.steps, None
    if last.exists():
        steps_left = max(item.spec.steps - checkpoint_step(last), 0)
        tail = _training_log_tail(item.run_dir / "train_log.jsonl")
        if tail.steps_per_second:
            pace = Pace(1 / tail.steps_per_second, threads=tail.threads)
    pace = pace or stored_pace(item.spec, records, scale)
    return (None, None) if pace is None else (steps_left * pace.seconds_per_step, pace)


def wall_seconds(durations: list[float], jobs: int) -> float:
    """When the last of `durations` ends if each starts, in order, on the first of `jobs` free workers
    (what `run_sweep`'s pool does)."""
    workers = [0.0] * max(jobs, 1)
    for seconds in durations:
        workers[workers.index(min(workers))] += seconds
    return max(workers)


def campaign_estimate(items: list[SweepItem], records: list, jobs: int, scale: PaceScale | None = None) -> str:
    """One line: the training still to do, in single-job hours and in wall hours with `jobs` side by side
    (with one job those are the same hours, so the line shows what `--jobs 2` would take instead); evaluation
    not included."""
    left = [(item.spec.model, training_left(item, records, scale)[0]) for item in items]
    known = [seconds for _, seconds in left if seconds]
    side_by_side = max(jobs, 2)
    line = (
        f"training left: about {sum(known) / 3600:.1f} h in one job; about "
        f"{wall_seconds(known, side_by_side) / 3600:.1f} h of wall time with --jobs {side_by_side} "
        "(evaluation not included)"
    )
    unknown = sorted({model for model, seconds in left if seconds is None})
    if unknown:
        line += f"; no pace measured for {', '.join(unknown)} (not counted)"
    return line


def progress(
    item: SweepItem, now: float | None = None, records: list | None = None, scale: PaceScale | None = None
) -> str:
    """Where one run of a sweep stands, from its files alone (read-only, safe beside a running campaign):
    stored, trained and awaiting evaluation, at step k of N, started without a checkpoint yet, or not
    started — whether a process trains it now (holds its lock) and when its folder last changed; an
    unfinished run also shows its latest validation point, which answers "is the budget enough" hours before
    the record does. `records` (the results folder's), times `scale`, pace a run that has not started."""
    if item.stored:
        return "stored"
    last = item.run_dir / "last.pt"
    files = [path for path in item.run_dir.iterdir() if path.is_file()] if item.run_dir.is_dir() else []
    if not files:
        seconds, pace = training_left(item, records or [], scale)
        if seconds and pace:
            return (
                f"not started; about {seconds / 60:.0f} min of training at {pace.seconds_per_step:.1f} s per "
                f"step (the pace of {pace.stored_run})"
            )
        return "not started"
    from vpbench.engine.run import is_training

    minutes = ((now if now is not None else time.time()) - max(path.stat().st_mtime for path in files)) / 60
    running = "training now" if is_training(item.run_dir) else "not running"
    activity = f"{running}, run folder last written {minutes:.0f} min ago ({item.run_dir})"
    if not last.exists():
        return f"started, no checkpoint yet; {activity}"
    step = checkpoint_step(last)
    total = item.spec.steps
    tail = _training_log_tail(item.run_dir / "train_log.jsonl")
    logged, validation = tail.step, tail.validation
    if step >= total:
        state = f"trained ({step} of {total} steps); evaluation next"
    else:
        state = f"checkpointed at step {step} of {total}"
        if logged > step:
            state += f" (logged step {logged})"
        seconds, pace = training_left(item, records or [], scale)  # from the checkpoint: what a resume trains
        if seconds and pace:
            state += f", about {seconds / 60:.0f} min of training left at {pace.seconds_per_step:.1f} s per step"
            if pace.threads:
                state += f" ({pace.threads} thread{'s' if pace.threads > 1 else ''})"
            if pace.stored_run:
                state += f" (the pace of {pace.stored_run})"
    if validation:
        state += (
            f"; last validation (step {validation['step']}, {validation['sequences']:,} sequences): "
            f"MSE {validation['mse']:.4f}, SSIM {validation['ssim']:.3f}"
        )
    return f"{state}; {activity}"


SEGMENT_PACES = 3  # log lines of the current segment that outweigh the earlier ones in a pace estimate


@dataclass(frozen=True)
class LogTail:
    """What a run's training log says about where it is and how fast it goes."""

    step: int  # the last logged training step
    steps_per_second: float | None  # the median pace of the recent log lines
    validation: dict | None  # the last validation point (vpbench convention)
    threads: int | None  # the thread count of the segment those paces come from, where the log names it


def _training_log_tail(log_path: Path, last: int = 30) -> LogTail:
    """Where a run is, from its log. The pace is the median of the last `last` log lines (the trainer's own
    measurement over 300 steps at the default log interval, so a test run beside the job moves it little).
    Once the segment since the last resume has logged SEGMENT_PACES paces, only its lines count: a resume can
    change the threads or the machine (`sweep --jobs 1 --threads 2` halves a step), and the run goes on at the
    new pace, not at the old one's."""
    steps, paces, segment, validation = [0], [], [], None
    segment_threads = None
    for event in read_json_lines(log_path):
        if event.get("event") == "train" and event.get("steps_per_s"):
            steps.append(int(event["step"]))
            paces.append(float(event["steps_per_s"]))
            segment.append(paces[-1])
        elif event.get("event") == "resume":
            segment, segment_threads = [], None
        elif event.get("event") == "segment":  # written after any resume, by the process that trains on
            segment, segment_threads = [], event.get("threads")
        elif event.get("event") == "validation" and {"mse", "ssim"} <= set(event):
            validation = event
    in_segment = len(segment) >= SEGMENT_PACES
    recent = segment if in_segment else paces
    pace = statistics.median(recent[-last:]) if recent else None
    return LogTail(steps[-1], pace, validation, segment_threads if in_segment else None)


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
    "second interrupt" and lose the steps since their last checkpoint."""
    queue, running, outcome, signals, forwarded = list(todo), {}, {}, [], 0
    with _recording_signals(signals):
        while running or (queue and not signals):
            while queue and len(running) < jobs and not signals:
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
    if signals:
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
