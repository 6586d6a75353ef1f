"""The training loop: the preset's optimizer and schedule, exact resume, validation-based selection.

Exactness: the clips of every step are a pure function of (seed, epoch, position) and every random draw
comes from torch's RNG, whose state is checkpointed, so a run killed at any moment and resumed ends with
the same weights as an uninterrupted one (on CPU). The checkpoint used for testing is the best one on the
*validation* split; the test split is never opened here.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vpbench.data.base import ClipDataset
from vpbench.engine.checkpoint import load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from vpbench.engine.distributed import Distributed, all_reduce_mean
from vpbench.engine.optim import build_optimizer, build_scheduler, is_plateau
from vpbench.engine.provenance import code_version, kernels_or_gpu, machine_id
from vpbench.errors import RunFailed, RunInterrupted, VpbenchError
from vpbench.metrics import MetricAccumulator
from vpbench.precision import float32_exact
from vpbench.registry import TrainSettings

LAST, BEST, TRAIN_LOG = "last.pt", "best.pt", "train_log.jsonl"


@dataclass
class TrainPlan:
    """What to train: total steps, batch size (per process), learning rate and cadence."""

    total_steps: int
    batch_size: int
    lr: float
    settings: TrainSettings
    context_length: int
    horizon: int
    seed: int
    val_every: int
    checkpoint_every: int
    log_every: int
    amp: bool
    identity: dict  # must match to resume: {"spec_hash": ...}
    spec: dict = field(default_factory=dict)  # the run spec, stored whole in every checkpoint (for `eval`)


@dataclass
class TrainResult:
    steps: int
    selected_step: int
    best_validation_loss: float | None
    wall_time_s: float
    selected_checkpoint: Path | None
    curve: list[dict] = field(default_factory=list)  # one point per validation, see `validate`
    code_versions: list[str] = field(default_factory=list)  # of the processes that trained it, in order
    trained_on: list[str] = field(default_factory=list)  # their CPU kernel sets (or GPUs), in order
    continued_from: list[dict] = field(default_factory=list)  # shorter runs it continues (engine/continuation.py)


class LossModule(nn.Module):
    """Wraps `training_loss` in a forward() so DistributedDataParallel synchronises gradients."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, context: torch.Tensor, target: torch.Tensor, step: int) -> torch.Tensor:
        return self.model.training_loss(context, target, step)


def to_unit_float(clips: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 clips -> float in [0, 1] on the device (conversion happens here, not in the data layer)."""
    return clips.to(device, non_blocking=True).float().div_(255.0)


def epoch_batches(size: int, batch_size: int, seed: int, epoch: int, distributed: Distributed) -> list[list[int]]:
    """This rank's batches of one epoch: a seeded permutation cut into global batches (last partial dropped)."""
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)).tolist()
    global_batch = batch_size * distributed.world_size
    batches = []
    for start in range(0, size - global_batch + 1, global_batch):
        own = start + distributed.rank * batch_size
        batches.append(order[own : own + batch_size])
    if not batches:
        raise VpbenchError(f"the training split has {size} clips, fewer than one global batch of {global_batch}")
    return batches


def plateau_due(curve: list[dict], every_sequences: int | None) -> bool:
    """Whether a plateau schedule looks at the newest curve point: at every validation, or (as MIMO-VP's
    reference does, every 10 epochs) at the first validation after each multiple of `every_sequences`.
    A pure function of the curve, so a resumed run steps the schedule exactly where an uninterrupted one does."""
    if every_sequences is None:
        return True
    previous = curve[-2]["sequences"] if len(curve) > 1 else 0
    return curve[-1]["sequences"] // every_sequences > previous // every_sequences


def scheduled_sampling_stop(configured: int, steps: int) -> int:
    """The step at which the PredRNN family stops feeding ground truth in a run of `steps` steps.

    The papers stop after 50k of 80k iterations (62.5%); a shorter budget that kept the preset's stop would
    train mostly teacher-forced and be evaluated free-running. A pure function of the step count, so resumed
    runs agree, and the record reports it."""
    return min(configured, max(1, int(0.625 * steps)))


def load_clips(dataset: ClipDataset, count: int) -> torch.Tensor:
    return torch.stack([dataset[index] for index in range(min(count, len(dataset)))])


CURVE_METRICS = ("mse", "mse_sum", "mae", "psnr", "ssim")
# A resumed checkpoint written before checkpoints named their code (or kernels): its earlier segments' are unknown.
UNRECORDED = "unrecorded"


@float32_exact()  # the curve speaks the test evaluation's units (vpbench.precision)
@torch.inference_mode()
def validate(
    model: nn.Module, clips: torch.Tensor, context_length: int, device, batch_size: int, interrupted=None
) -> dict[str, float] | None:
    """Eval-mode predictions on the fixed validation clips: the selection loss and the learning-curve metrics.

    `loss` is the unclipped mean squared error (model-agnostic, what selection and plateau schedules use);
    the other values are the vpbench convention's overall metrics, exactly as the test evaluation computes
    them, so a learning curve and the leaderboard speak the same units. Returns None when `interrupted`
    (the trainer's signal flag) is raised between batches.
    """
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    accumulator = None
    for start in range(0, len(clips), batch_size):
        if interrupted is not None and interrupted["signal"] is not None:
            model.train(was_training)
            return None
        batch = to_unit_float(clips[start : start + batch_size], device)
        context, target = batch[:, :context_length], batch[:, context_length:]
        prediction = model(context, target.shape[1]).float()
        total += F.mse_loss(prediction, target, reduction="sum").item()
        count += target.numel()
        if accumulator is None:
            accumulator = MetricAccumulator(
                conventions=("vpbench",), horizon=target.shape[1], device=device, keep_per_sequence=False
            )
        accumulator.update(prediction.clamp(-15, 16), target, sequence_index=torch.arange(start, start + len(batch)))
    model.train(was_training)
    overall = accumulator.compute()["vpbench"]["overall"] if accumulator is not None else {}
    return {"loss": total / max(count, 1), **{name: float(overall[name]) for name in CURVE_METRICS if name in overall}}


@contextmanager
def interrupt_flag():
    """Turn SIGINT/SIGTERM into a flag checked between steps and between validation and evaluation batches
    (so a checkpoint can be written first); a second SIGINT (Ctrl-C twice) exits at once (exit code 130). A
    repeated SIGTERM asks for the same stop again and is not forced: `pkill -f "vpbench sweep"` reaches a sweep's
    jobs as well as the sweep, which passes its signal on, and forcing there lost the steps since the last
    checkpoint."""
    flag = {"signal": None}

    def handler(signum, frame):
        if flag["signal"] is not None and signum == signal.SIGINT:
            print("second interrupt: exiting now", file=sys.stderr, flush=True)
            os._exit(130)
        flag["signal"] = flag["signal"] or signum

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, handler)
    try:
        yield flag
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class JsonLog:
    """Append-only JSON-lines training log next to the checkpoints (survives resume)."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path, self.enabled = path, enabled
        if enabled:
            self._end_a_cut_line()

    def _end_a_cut_line(self) -> None:
        """The end of a session kills a run without a signal it can catch, possibly in mid-line. Only an earlier
        process can have left such a line, so it is ended once, here: otherwise the resumed run's first event
        is glued onto it and every reader skips both."""
        if not self.path.is_file():
            return
        with self.path.open("r+b") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size:
                handle.seek(size - 1)
                if handle.read(1) != b"\n":
                    handle.write(b"\n")

    def write(self, **event) -> None:
        if self.enabled:
            with self.path.open("a") as handle:
                handle.write(json.dumps(event) + "\n")


class PaceWindow:
    """The pace of the steps since the last training log line, with what the process got to run them: the CPU
    seconds it used per wall second (about its thread count when it had its cores, less when other work took
    them) and the machine's 1-minute load, so a slow stretch of a log can be told from a contended one."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        self.wall, self.cpu, self.steps = time.perf_counter(), time.process_time(), 0

    def close(self) -> dict[str, float]:
        """The window's figures for its log line; the next window starts now."""
        wall = max(time.perf_counter() - self.wall, 1e-9)
        figures = {"steps_per_s": self.steps / wall, "cpu_per_s": round((time.process_time() - self.cpu) / wall, 3)}
        if hasattr(os, "getloadavg"):  # not on Windows
            figures["load"] = round(os.getloadavg()[0], 2)
        self.restart()
        return figures


def set_aside_earlier_attempt(run_dir: Path) -> Path | None:
    """--no-resume starts the run over without destroying the earlier attempt: its checkpoints and log move
    to a dated subfolder (the fresh run overwrote `last.pt` at its first checkpoint and appended its steps to
    the old log, so the learning curve read from it went back to step 10 halfway). Returns that folder."""
    earlier = [run_dir / name for name in (LAST, BEST, TRAIN_LOG) if (run_dir / name).exists()]
    if not earlier:
        return None
    aside = run_dir / time.strftime("replaced-%Y%m%dT%H%M%SZ", time.gmtime())
    aside.mkdir(exist_ok=True)
    for path in earlier:
        path.replace(aside / path.name)
    print(f"--no-resume: the earlier checkpoints and log of this run are kept in {aside}", file=sys.stderr)
    return aside


def train(
    model: nn.Module,
    train_set: ClipDataset,
    val_clips: torch.Tensor,
    plan: TrainPlan,
    run_dir: Path,
    device: torch.device,
    distributed: Distributed,
    resume: bool = True,
    progress=None,
) -> TrainResult:
    """Train `model` for `plan.total_steps` optimizer steps, resuming from `run_dir/last.pt` if present."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume and distributed.is_main:
        set_aside_earlier_attempt(run_dir)
    log = JsonLog(run_dir / TRAIN_LOG, distributed.is_main)
    optimizer = build_optimizer(model, plan.settings, plan.lr)
    scheduler = build_scheduler(optimizer, plan.settings, plan.lr, plan.total_steps)
    step, epoch, position = 0, 0, 0
    best_loss, best_step, elapsed_before = math.inf, 0, 0.0
    curve: list[dict] = []
    code_versions: list[str] = []
    trained_on: list[str] = []
    continued_from: list[dict] = []
    last_path, best_path = run_dir / LAST, run_dir / BEST

    if resume and last_path.exists():
        state = load_checkpoint(last_path, map_location=device)
        if state["identity"] != plan.identity:
            raise VpbenchError(
                f"{last_path} belongs to a different run (spec {state['identity'].get('spec_hash')}); "
                "use --no-resume or another --runs-dir"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
        restore_rng_state(state["rng"])
        step, epoch, position = state["step"], state["epoch"], state["position"]
        best_loss, best_step, elapsed_before = state["best_loss"], state["best_step"], state["elapsed_s"]
        curve = list(state.get("curve", []))
        code_versions = list(state.get("code_versions") or [UNRECORDED])
        trained_on = list(state.get("trained_on") or [UNRECORDED])
        continued_from = list(state.get("continued_from", []))
        log.write(event="resume", step=step)
    if step < plan.total_steps:  # this process trains: name its code and kernels beside the earlier segments'
        where = kernels_or_gpu(device, autocast=plan.amp and device.type == "cuda")
        for segments, here in ((code_versions, code_version()), (trained_on, where)):
            if segments[-1:] != [here]:
                segments.append(here)
        # The paces logged from here on are this thread count's on this machine (`sweep --plan` says which).
        log.write(event="segment", step=step, threads=torch.get_num_threads(), machine=machine_id())

    def save(path: Path, *, resumable: bool = True) -> None:
        """`last.pt` holds everything a resume needs. `best.pt` is only ever evaluated, so it leaves out the
        optimizer, scheduler and RNG states: a third of the size with Adam, which matters for checkpoints
        carried between machines (tools/carry_runs.py)."""
        if distributed.is_main:
            payload = {
                "identity": plan.identity,
                "spec": plan.spec,
                "model": model.state_dict(),
                "step": step,
                "epoch": epoch,
                "position": position,
                "best_loss": best_loss,
                "best_step": best_step,
                "elapsed_s": elapsed_before + (time.perf_counter() - started),
                "curve": curve,
                "code_versions": code_versions,
                "trained_on": trained_on,
                "continued_from": continued_from,
            }
            if resumable:
                payload |= {
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "rng": rng_state(),
                }
            save_checkpoint(path, payload)
        distributed.barrier()

    wrapped: nn.Module = LossModule(model)
    if distributed.enabled:
        wrapped = nn.parallel.DistributedDataParallel(wrapped)
    autocast = (
        torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        if plan.amp and device.type == "cuda"
        else nullcontext()
    )
    model.train()
    started = time.perf_counter()
    window = PaceWindow()
    batches = epoch_batches(len(train_set), plan.batch_size, plan.seed, epoch, distributed)
    train_set.set_epoch(epoch)

    def validation_due(at: int) -> bool:
        return at > 0 and (at % plan.val_every == 0 or at == plan.total_steps)

    def stop_if_interrupted(interrupted) -> None:
        if interrupted["signal"] is not None:
            save(last_path)
            raise RunInterrupted(
                f"interrupted at step {step}/{plan.total_steps}; checkpoint saved to {last_path}; "
                "run the same command again to resume"
            )

    def validate_now(interrupted) -> None:
        """One curve point; selection and plateau schedules read its loss. An interrupted validation is
        redone on resume (the checkpoint holds the step, the curve does not hold the point yet)."""
        nonlocal best_loss, best_step
        metrics = validate(model, val_clips, plan.context_length, device, plan.batch_size, interrupted)
        if metrics is None:
            stop_if_interrupted(interrupted)
        point = {
            "step": step,
            "sequences": step * plan.batch_size * distributed.world_size,
            "wall_time_s": round(elapsed_before + (time.perf_counter() - started), 3),
            **metrics,
        }
        curve.append(point)
        log.write(event="validation", **point)
        every = plan.settings.plateau_every_sequences
        if scheduler is not None and is_plateau(scheduler) and plateau_due(curve, every):
            scheduler.step(point["loss"])
        if point["loss"] < best_loss:
            best_loss, best_step = point["loss"], step
            save(best_path, resumable=False)

    with interrupt_flag() as interrupted:
        if validation_due(step) and (not curve or curve[-1]["step"] != step):
            validate_now(interrupted)
            save(last_path)
        while step < plan.total_steps:
            if position >= len(batches):
                epoch, position = epoch + 1, 0
                batches = epoch_batches(len(train_set), plan.batch_size, plan.seed, epoch, distributed)
                train_set.set_epoch(epoch)
            clips = torch.stack([train_set[index] for index in batches[position]])
            clips = to_unit_float(clips, device)
            context, target = clips[:, : plan.context_length], clips[:, plan.context_length :]
            try:
                with autocast:
                    loss = wrapped(context, target, step)
                loss_value = all_reduce_mean(float(loss.detach()), distributed)
                if not math.isfinite(loss_value):
                    raise RunFailed(
                        f"training loss became {loss_value} at step {step}; the last good checkpoint "
                        f"({last_path if last_path.exists() else 'none yet'}) is kept; "
                        "try a lower learning rate (--lr) or a smaller batch"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
            except torch.cuda.OutOfMemoryError:
                raise RunFailed(
                    f"out of GPU memory at batch size {plan.batch_size}; "
                    f"try --batch-size {max(1, plan.batch_size // 2)}"
                ) from None
            if plan.settings.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), plan.settings.grad_clip)
            optimizer.step()
            if scheduler is not None and not is_plateau(scheduler):
                scheduler.step()
            step, position, window.steps = step + 1, position + 1, window.steps + 1

            lr = optimizer.param_groups[0]["lr"]
            if step % plan.log_every == 0 or step == plan.total_steps:
                log.write(event="train", step=step, epoch=epoch, loss=loss_value, lr=lr, **window.close())
            if progress is not None:
                progress(step, plan.total_steps, loss_value, lr)

            if validation_due(step):
                validate_now(interrupted)
            if step % plan.checkpoint_every == 0 or step == plan.total_steps:
                save(last_path)
            stop_if_interrupted(interrupted)

    wall = elapsed_before + (time.perf_counter() - started)
    log.write(event="done", step=step, best_step=best_step, best_loss=best_loss, wall_time_s=wall)
    selected = best_path if best_path.exists() else None
    return TrainResult(
        step, best_step, None if math.isinf(best_loss) else best_loss, wall, selected, curve, code_versions, trained_on,
        continued_from,
    )


def calibrate_seconds_per_step(
    model: nn.Module, train_set: ClipDataset, plan: TrainPlan, device: torch.device, trials: int = 3
) -> float:
    """Time a few training steps on a throwaway copy (RNG restored), to turn a time budget into steps."""
    import copy

    saved = torch.get_rng_state()
    probe = copy.deepcopy(model).train()
    optimizer = build_optimizer(probe, plan.settings, plan.lr)
    clips = to_unit_float(torch.stack([train_set[i] for i in range(plan.batch_size)]), device)
    context, target = clips[:, : plan.context_length], clips[:, plan.context_length :]
    timings = []
    for trial in range(trials):
        begin = time.perf_counter()
        loss = probe.training_loss(context, target, trial)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        timings.append(time.perf_counter() - begin)
    torch.set_rng_state(saved)
    del probe
    return sorted(timings[1:])[len(timings[1:]) // 2] if trials > 1 else timings[0]
