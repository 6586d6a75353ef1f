"""What `vpbench sweep --plan` says: where each run of a campaign stands and how much training is left, from the
run folders, training logs and stored records alone (it reads files only, so it is safe beside a running sweep).

A pace comes from the best of three sources:
- the run's own training log (`LogTail`);
- for a run that has not started, a stored run of the same step cost, scaled to the campaign's own paces
  (`PaceScale`);
- to compare thread layouts, the ratio of a step's time at fewer threads to its time at more, where the logs
  hold segments at both (`ThreadCost`).
A pace logged at two threads alone and one logged at one thread beside another job differ about twofold on a
2-core machine, so the campaign total converts each run's pace to the layout it states. Log lines whose process
got under CONTENDED_SHARE of its threads' CPU (a test suite ran beside it) are set aside: the estimate is the
pace a run keeps when it has its cores, not the pace of whatever else ran that hour.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vpbench.files import read_json_lines

if TYPE_CHECKING:
    from vpbench.engine.spec import RunSpec
    from vpbench.engine.sweep import SweepItem

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
    threads: int | None = None  # the thread count it was measured at, where known
    contended: int = 0  # recent log lines set aside because their process did not get its CPU

    def describe(self) -> str:
        text = f"{self.seconds_per_step:.1f} s per step"
        if self.threads:
            text += f" ({_threads(self.threads)})"
        if self.stored_run:
            text += f" (the pace of {self.stored_run})"
        if self.contended:
            text += f" ({self.contended} contended log line{'s' if self.contended > 1 else ''} set aside)"
        return text


SEGMENT_PACES = 3  # log lines of a segment that make its pace trustworthy (and outweigh the earlier segments')
# A log line whose process used less CPU per wall second than this share of its thread count was contended:
# one thread beside another one-thread job logs 0.97-1.0 on the 2-core machine, and 0.5-0.7 while a test
# suite runs beside both.
CONTENDED_SHARE = 0.8


@dataclass(frozen=True)
class LogTail:
    """What a run's training log says about where it is and how fast it goes."""

    step: int  # the last logged training step
    steps_per_second: float | None  # the median pace of the recent log lines
    validation: dict | None  # the last validation point (vpbench convention)
    threads: int | None  # the thread count of the segment those paces come from, where the log names it
    # {threads: median steps per second} over the segments logged on `machine` (each count with at least
    # SEGMENT_PACES log lines): what ThreadCost compares. Segments that do not name their machine (logs before
    # 2026-12-06) are left out: their paces may come from several machines.
    paces_by_threads: dict[int, float] = field(default_factory=dict)
    contended: int = 0  # log lines among the recent ones set aside from the pace (see CONTENDED_SHARE)
    machine: str | None = None  # the machine of the log's last segment that named one (provenance.machine_id)


def _contended(event: dict, threads: int | None) -> bool:
    """Whether a training log line's process got less than its share of CPU (unknown: not contended; logs
    before the trainer recorded cpu_per_s, or segments that did not name their thread count)."""
    cpu = event.get("cpu_per_s")
    return cpu is not None and threads is not None and cpu < CONTENDED_SHARE * threads


def _uncontended(lines: list[tuple[float, bool]], last: int) -> tuple[list[float], int]:
    """The paces of the last `last` lines that got their CPU, and how many were set aside; all of them when
    none did (a pace measured under contention beats none)."""
    recent = lines[-last:]
    kept = [pace for pace, contended in recent if not contended]
    return (kept, len(recent) - len(kept)) if kept else ([pace for pace, _ in recent], 0)


def _training_log_tail(log_path: Path, last: int = 30) -> LogTail:
    """Where a run is, from its log. The pace is the median of the last `last` log lines (the trainer's own
    measurement over 300 steps at the default log interval), less those whose process did not get its CPU.
    Once the segment since the last resume has logged SEGMENT_PACES paces, only its lines count: a resume can
    change the threads or the machine (`sweep --jobs 1 --threads 2` halves a step), and the run goes on at the
    new pace, not at the old one's. Before that, the lines that earlier segments logged on the same machine at
    the same thread count stand in for it (a kept machine resuming its run); failing those, the recent lines of
    the whole log count, and their thread count is named only where all of them were logged at one."""
    # pace_lines: (steps_per_s, contended) per training log line; line_threads, line_machines: its segment's
    # thread count and machine
    steps, pace_lines, line_threads, line_machines, segment, validation = [0], [], [], [], [], None
    segment_threads = segment_machine = machine = None
    for event in read_json_lines(log_path):
        if event.get("event") == "train" and event.get("steps_per_s"):
            steps.append(int(event["step"]))
            pace_lines.append((float(event["steps_per_s"]), _contended(event, segment_threads)))
            line_threads.append(segment_threads)
            line_machines.append(segment_machine)
            segment.append(pace_lines[-1])
        elif event.get("event") == "resume":
            segment, segment_threads, segment_machine = [], None, None
        elif event.get("event") == "segment":  # written after any resume, by the process that trains on
            segment, segment_threads, segment_machine = [], event.get("threads"), event.get("machine")
            machine = segment_machine or machine
        elif event.get("event") == "validation" and {"mse", "ssim"} <= set(event):
            validation = event
    by_threads = {}  # the lines logged on the log's latest named machine, by their segment's thread count
    for line, count, where in zip(pace_lines, line_threads, line_machines, strict=True):
        if count and where is not None and where == machine:
            by_threads.setdefault(count, []).append(line)
    # The current segment's lines and those earlier segments logged under its machine and thread count (the
    # latest named machine is the current segment's whenever that segment names one).
    alike = by_threads.get(segment_threads, []) if segment_machine is not None else []
    if len(segment) >= SEGMENT_PACES:
        recent, threads = segment, segment_threads
    elif len(alike) >= SEGMENT_PACES:
        recent, threads = alike, segment_threads
    else:
        recent, counts = pace_lines, set(line_threads[-last:])
        threads = counts.pop() if len(counts) == 1 else None
    kept, contended = _uncontended(recent, last)
    pace = statistics.median(kept) if kept else None
    paces_by_threads = {
        count: statistics.median(_uncontended(lines, last)[0])
        for count, lines in by_threads.items()
        if len(lines) >= SEGMENT_PACES
    }
    return LogTail(steps[-1], pace, validation, threads, paces_by_threads, contended, machine)


def _unfinished_tails(items: list[SweepItem]) -> list[tuple[SweepItem, LogTail]]:
    """The training logs of the runs that are neither stored nor without a checkpoint."""
    return [
        (item, _training_log_tail(item.run_dir / "train_log.jsonl"))
        for item in items
        if not item.stored and (item.run_dir / "last.pt").exists()
    ]


@dataclass(frozen=True)
class ThreadCost:
    """How much longer a training step takes at `fewer` threads than at `more`: the median, over runs whose logs
    hold segments at both thread counts on one machine, of the one pace over the other. On the 2-core machine
    these are the two layouts: one thread each beside another job (`--jobs 2`), and two threads alone (`--jobs
    1 --threads 2`). It converts a pace logged in one layout into the other. Machines drawn here differ up to
    twofold in speed, so the two paces must come from one machine, and this machine's runs decide it where
    there are any."""

    fewer: int
    more: int
    factor: float  # seconds per step at `fewer` threads over seconds per step at `more`
    ratios: tuple[tuple[str, float], ...]  # (model, its ratio), the median's inputs
    here: bool = True  # measured on this machine; False: only other machines' logs hold both counts

    def seconds_at(self, seconds: float, threads: int | None, target: int) -> float:
        """`seconds` measured at `threads`, converted to `target` threads (unchanged when either is not one of
        the two counts this measured)."""
        if threads == target or {threads, target} != {self.fewer, self.more}:
            return seconds
        return seconds * self.factor if target == self.fewer else seconds / self.factor

    def describe(self) -> str:
        each = ", ".join(f"{model} {ratio:.2f}" for model, ratio in self.ratios)
        where = "on this machine" if self.here else "on another machine (none here yet)"
        return (
            f"a step at {_threads(self.fewer)} takes {self.factor:.2f}x its time at {_threads(self.more)}: the "
            f"median over the runs that logged both {where} ({each})"
        )


def _threads(count: int) -> str:
    return f"{count} thread{'s' if count > 1 else ''}"


def thread_cost(items: list[SweepItem]) -> ThreadCost | None:
    """The campaign's ThreadCost, or None while no run has logged paces at two thread counts on one machine.
    Finished runs count too (their logs stay in the runs folder), so the cost outlives the run that measured
    it; runs that measured it on this machine outrank the others. Runs logged at more than two counts compare
    their fewest with their most; the pair most runs share is used."""
    from vpbench.engine.provenance import machine_id

    measured = []  # ((fewer, more), model, ratio, whether this machine logged it)
    for item in items:
        log = item.run_dir / "train_log.jsonl"
        tail = _training_log_tail(log) if log.is_file() else None
        if tail and len(tail.paces_by_threads) >= 2:
            fewer, more = min(tail.paces_by_threads), max(tail.paces_by_threads)
            ratio = tail.paces_by_threads[more] / tail.paces_by_threads[fewer]
            measured.append(((fewer, more), item.spec.model, ratio, tail.machine == machine_id()))
    here = any(this_machine for *_, this_machine in measured)
    pairs = {}
    for pair, model, ratio, this_machine in measured:
        if this_machine or not here:
            pairs.setdefault(pair, []).append((model, ratio))
    if not pairs:
        return None
    fewer, more = max(pairs, key=lambda pair: len(pairs[pair]))  # the first of the most shared, on a tie
    ratios = tuple(pairs[fewer, more])
    return ThreadCost(fewer, more, statistics.median(ratio for _, ratio in ratios), ratios, here)


@dataclass(frozen=True)
class PaceScale:
    """How fast the campaign's own runs go against the stored runs that pace them: the median, over runs that
    have logged a pace, of that pace over their stored run's. The stored short runs were measured elsewhere and
    otherwise (the Moving MNIST track's 600-step runs at one thread beside another job: 3-5x slower than two
    threads alone on the machine that trains the long runs), so unscaled they overstate a campaign several
    times over; a run not started is paced by its stored run scaled by this. With a ThreadCost, every logged
    pace is first converted to its larger thread count, so the scale does not change with the layout the
    runs happen to train in now."""

    factor: float
    ratios: tuple[tuple[str, float], ...]  # (model, its logged pace over its stored run's), the median's inputs
    threads: int | None = None  # the thread count the scaled paces are at, where every input agrees

    def describe(self) -> str:
        each = ", ".join(f"{model} {ratio:.2f}" for model, ratio in self.ratios)
        at = f" at {_threads(self.threads)}" if self.threads else ""
        return (
            f"runs not started are paced by their stored run scaled by {self.factor:.2f}: the median of the "
            f"logged paces here{at} over their stored runs' ({each})"
        )


def pace_scale(items: list[SweepItem], records: list, cost: ThreadCost | None = None) -> PaceScale | None:
    """The campaign's PaceScale, or None while no unfinished run has both a logged pace and a stored run."""
    ratios, counts = [], set()
    for item, tail in _unfinished_tails(items):
        stored = stored_pace(item.spec, records)
        if not (tail.steps_per_second and stored):
            continue
        seconds, threads = 1 / tail.steps_per_second, tail.threads
        if cost and threads in (cost.fewer, cost.more):
            seconds, threads = cost.seconds_at(seconds, threads, cost.more), cost.more
        ratios.append((item.spec.model, seconds / stored.seconds_per_step))
        counts.add(threads)
    if not ratios:
        return None
    common = counts.pop() if len(counts) == 1 else None
    return PaceScale(statistics.median(ratio for _, ratio in ratios), tuple(ratios), common)


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
    return Pace(
        seconds_per_step * scale.factor,
        f"{source}, {seconds_per_step:.1f} s, scaled by {scale.factor:.2f}",
        scale.threads,
    )


def checkpoint_step(path: Path) -> int:
    """The step a checkpoint holds (read once per file version: `checkpoint_position`)."""
    from vpbench.engine.checkpoint import checkpoint_position

    return checkpoint_position(path)[1]


def continuation_source(item: SweepItem) -> Path | None:
    """The finished shorter run this run will start from (engine/continuation.py), if it has not started."""
    if (item.run_dir / "last.pt").exists() or not item.config.resume or not item.spec.trained:
        return None
    from vpbench.engine.continuation import find_shorter_run

    return find_shorter_run(Path(item.config.runs_dir), item.spec)[0]


def training_left(
    item: SweepItem, records: list, scale: PaceScale | None = None
) -> tuple[float | None, Pace | None]:
    """Seconds of training a (resumed or continued) run still needs and the pace behind the estimate: the
    run's own logged pace once it has a checkpoint, else a stored run's (times `scale`); (None, None) when
    nothing measures it."""
    if item.stored or not item.spec.trained:
        return 0.0, None
    last = item.run_dir / "last.pt"
    steps_left, pace = item.spec.steps, None
    source = continuation_source(item)
    if source is not None:
        steps_left = item.spec.steps - checkpoint_step(source / "last.pt")
    if last.exists():
        steps_left = max(item.spec.steps - checkpoint_step(last), 0)
        tail = _training_log_tail(item.run_dir / "train_log.jsonl")
        if tail.steps_per_second:
            pace = Pace(1 / tail.steps_per_second, threads=tail.threads, contended=tail.contended)
    pace = pace or stored_pace(item.spec, records, scale)
    return (None, None) if pace is None else (steps_left * pace.seconds_per_step, pace)


def wall_seconds(durations: list[float], jobs: int) -> float:
    """When the last of `durations` ends if each starts, in order, on the first of `jobs` free workers
    (what `run_sweep`'s pool does)."""
    workers = [0.0] * max(jobs, 1)
    for seconds in durations:
        workers[workers.index(min(workers))] += seconds
    return max(workers)


def campaign_estimate(
    items: list[SweepItem],
    records: list,
    jobs: int,
    scale: PaceScale | None = None,
    cost: ThreadCost | None = None,
) -> str:
    """One line: the training still to do, in one job and in wall time with `jobs` side by side (with one job
    those are the same hours, so the line shows what `--jobs 2` would take instead); evaluation not included.

    With a ThreadCost the two layouts are priced apart: one job at `cost.more` threads, every pace converted
    to that count, and the jobs at `cost.fewer` threads each, every pace converted to that. Without one, each
    run goes at the pace it logged, whatever layout that was in (right for that layout only)."""
    left = [(item.spec.model, *training_left(item, records, scale)) for item in items]
    known = [(seconds, pace.threads) for _, seconds, pace in left if seconds]
    side_by_side = max(jobs, 2)
    if cost is None:
        alone = sum(seconds for seconds, _ in known)
        together = wall_seconds([seconds for seconds, _ in known], side_by_side)
        layouts = ("in one job", f"with --jobs {side_by_side}")
    else:
        alone = sum(cost.seconds_at(seconds, threads, cost.more) for seconds, threads in known)
        together = wall_seconds([cost.seconds_at(s, threads, cost.fewer) for s, threads in known], side_by_side)
        each = _threads(cost.fewer)
        layouts = (f"in one job at {_threads(cost.more)}", f"with --jobs {side_by_side} at {each} each")
    line = (
        f"training left: about {alone / 3600:.1f} h {layouts[0]}; about {together / 3600:.1f} h of wall time "
        f"{layouts[1]} (evaluation not included)"
    )
    unknown = sorted({model for model, seconds, _ in left if seconds is None})
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
        source = continuation_source(item)
        state = "not started" if source is None else f"not started; continues the finished run {source.name}"
        seconds, pace = training_left(item, records or [], scale)
        if seconds and pace:
            return f"{state}; about {seconds / 60:.0f} min of training at {pace.describe()}"
        return state
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
            state += f", about {seconds / 60:.0f} min of training left at {pace.describe()}"
    if validation:
        state += (
            f"; last validation (step {validation['step']}, {validation['sequences']:,} sequences): "
            f"MSE {validation['mse']:.4f}, SSIM {validation['ssim']:.3f}"
        )
    return f"{state}; {activity}"
