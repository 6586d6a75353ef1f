"""`run(config)`: resolve -> train (or resume) -> select on validation -> evaluate every protocol -> records.

This is the library function behind `vpbench run` (and what a notebook calls). Machine-dependent defaults
(preset, budget, test size) are resolved here once, announced in a banner, and written into the records.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vpbench.data import open_split
from vpbench.data.base import get_dataset_spec
from vpbench.efficiency import count_macs, count_parameters
from vpbench.engine import config as defaults
from vpbench.engine.checkpoint import load_checkpoint
from vpbench.engine.config import RunConfig
from vpbench.engine.distributed import Distributed, broadcast_object, from_environment
from vpbench.engine.evaluator import Evaluation, evaluate
from vpbench.engine.provenance import cpu_kernels, device_name, environment, now_utc, stable_hash
from vpbench.engine.trainer import TrainPlan, TrainResult, calibrate_seconds_per_step, load_clips, train
from vpbench.errors import VpbenchError
from vpbench.metrics import bootstrap_ci
from vpbench.protocols import Protocol, parse_protocol
from vpbench.registry import create_model, get_model_entry, get_preset, model_kwargs
from vpbench.results.schema import (
    DatasetInfo,
    EfficiencyInfo,
    ModelInfo,
    ProtocolInfo,
    Provenance,
    Record,
    TrainingInfo,
)
from vpbench.results.sequences import flatten_per_sequence
from vpbench.results.store import atomic_write, ensure_writable, write_record


@dataclass
class Resolved:
    """A RunConfig with every default decided."""

    config: RunConfig
    device: torch.device
    distributed: Distributed
    preset: str
    protocols: list[Protocol]
    train_protocol: Protocol
    frame_shape: tuple[int, int, int]
    batch_size: int  # per process
    lr: float
    test_size: int | None
    model_config: dict
    model_overrides: dict  # dataset-specific defaults (patch size) plus the user's overrides
    config_hash: str
    run_dir: Path


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise VpbenchError("--device cuda was asked for but no CUDA device is available; use --device cpu")
    if name.split(":")[0] not in ("cpu", "cuda"):
        raise VpbenchError(f"unknown device '{name}'; use auto, cpu or cuda")
    return torch.device(name)


def resolve(config: RunConfig) -> Resolved:
    entry = get_model_entry(config.model)
    spec = get_dataset_spec(config.dataset)
    device = resolve_device(config.device)
    distributed = from_environment(device.type)
    if device.type == "cuda" and distributed.enabled:
        device = torch.device("cuda", distributed.local_rank)
        torch.cuda.set_device(device)
    preset = config.preset or ("paper" if device.type == "cuda" else "small")
    if config.checkpoint is not None and config.preset is None:
        preset = load_checkpoint(Path(config.checkpoint))["identity"]["preset"]
    settings = get_preset(entry.name, preset).train
    protocols = [parse_protocol(p) for p in config.protocols] or spec.default_protocols
    train_protocol = parse_protocol(config.train_protocol) if config.train_protocol else protocols[0]
    if any(p.context != train_protocol.context for p in protocols):
        raise VpbenchError(
            f"all protocols of one run need the training protocol's context length ({train_protocol.context}); "
            "run the others separately with --protocol"
        )
    probe = open_split(spec.name, "val", train_protocol.clip_length, config.data_root, **config.data_options)[0]
    frame_shape = tuple(int(n) for n in probe.shape[1:])
    global_batch = config.batch_size or settings.batch_size
    if global_batch % distributed.world_size:
        raise VpbenchError(f"batch size {global_batch} does not split over {distributed.world_size} processes")
    test_size = config.test_size
    if test_size is None and device.type == "cpu":
        test_size = defaults.CPU_DEFAULT_TEST_SIZE
    dataset_overrides = {}
    if "patch_size" in get_preset(entry.name, preset).model:
        dataset_overrides["patch_size"] = spec.patch_size
    model_config = model_kwargs(entry.name, preset, **{**dataset_overrides, **config.model_overrides})
    identity = {
        "model": entry.name,
        "preset": preset,
        "model_config": model_config,
        "train": dataclasses.asdict(settings),
        "batch_size": global_batch,
        "lr": config.learning_rate or settings.lr,
        "dataset": spec.name,
        "data_options": config.data_options,
        "train_protocol": train_protocol.name,
        "frame_shape": frame_shape,
        "seed": config.seed,
    }
    config_hash = stable_hash(identity)
    run_name = f"{entry.name}__{preset}__{train_protocol.name.replace('->', '-')}__seed{config.seed}__{config_hash}"
    return Resolved(
        config=config,
        device=device,
        distributed=distributed,
        preset=preset,
        protocols=protocols,
        train_protocol=train_protocol,
        frame_shape=frame_shape,
        batch_size=global_batch // distributed.world_size,
        lr=config.learning_rate or settings.lr,
        test_size=test_size,
        model_config=model_config,
        model_overrides={**dataset_overrides, **config.model_overrides},
        config_hash=config_hash,
        run_dir=Path(config.runs_dir) / spec.name / run_name,
    )


def build_model(resolved: Resolved) -> torch.nn.Module:
    channels, height, width = resolved.frame_shape
    return create_model(
        resolved.config.model,
        resolved.preset,
        channels=channels,
        height=height,
        width=width,
        context_length=resolved.train_protocol.context,
        **resolved.model_overrides,
    )


def resolve_steps(resolved: Resolved, model, train_set, plan: TrainPlan) -> tuple[int, str]:
    """Turn --steps / --epochs / --time-budget (or the machine default) into a step count.

    A time budget is converted once, by timing a few steps, and remembered in the run's `run.json`, so
    resuming an interrupted run keeps the same step count (and so the same schedule).
    """
    config = resolved.config
    if config.steps is not None:
        return config.steps, f"--steps {config.steps}"
    if config.epochs is not None:
        per_epoch = len(train_set) // (plan.batch_size * resolved.distributed.world_size)
        return config.epochs * per_epoch, f"--epochs {config.epochs} ({per_epoch} steps each)"
    budget, origin = config.time_budget_s, "--time-budget"
    if budget is None:
        cuda = resolved.device.type == "cuda"
        budget = defaults.CUDA_DEFAULT_TRAIN_SECONDS if cuda else defaults.CPU_DEFAULT_TRAIN_SECONDS
        origin = f"default {resolved.device.type} budget"
    state_file = resolved.run_dir / "run.json"
    if config.resume and state_file.exists():
        stored = json.loads(state_file.read_text())
        if stored.get("time_budget_s") == budget:
            return stored["total_steps"], stored["budget"]
    seconds = calibrate_seconds_per_step(model, train_set, plan, resolved.device)
    seconds = broadcast_object(seconds, resolved.distributed)
    steps = max(1, int(0.9 * budget / seconds))
    description = f"{origin} {budget / 60:g} min (= {steps} steps at {seconds:.2f} s/step)"
    if resolved.distributed.is_main:
        resolved.run_dir.mkdir(parents=True, exist_ok=True)
        state = {"total_steps": steps, "budget": description, "time_budget_s": budget}
        atomic_write(state_file, lambda f: f.write(json.dumps(state, indent=1)))
    return steps, description


def banner(resolved: Resolved, budget: str, trainable: bool) -> None:
    if not resolved.distributed.is_main:
        return
    config = resolved.config
    protocols = ", ".join(p.name for p in resolved.protocols)
    test = f"first {resolved.test_size} test clips" if resolved.test_size else "the whole test split"
    training = (
        f"training: {budget}, batch {resolved.batch_size * resolved.distributed.world_size}"
        if trainable
        else ("no training (parameter-free predictor)")
    )
    log(
        f"vpbench run: {config.model} [{resolved.preset}] on {config.dataset} {protocols} "
        f"(trained on {resolved.train_protocol.name}) | device {resolved.device} "
        f"x{resolved.distributed.world_size} | {training} | evaluation on {test} | run dir {resolved.run_dir}"
    )


def run(config: RunConfig, progress=None) -> list[Record]:
    """Train (or resume) and evaluate; returns the records written (rank 0) or computed (other ranks)."""
    resolved = resolve(config)
    distributed, device = resolved.distributed, resolved.device
    if config.write_records and distributed.is_main:
        ensure_writable(Path(config.results_dir))
    torch.manual_seed(config.seed)
    model = build_model(resolved).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    trainable = getattr(model, "trainable", True) and count_parameters(model) > 0
    train_set = open_split(
        config.dataset, "train", resolved.train_protocol.clip_length, config.data_root, **config.data_options
    )
    val_set = open_split(
        config.dataset, "val", resolved.train_protocol.clip_length, config.data_root, **config.data_options
    )
    settings = get_preset(config.model, resolved.preset).train
    plan = TrainPlan(
        total_steps=0,
        batch_size=resolved.batch_size,
        lr=resolved.lr,
        settings=settings,
        context_length=resolved.train_protocol.context,
        horizon=resolved.train_protocol.horizon,
        seed=config.seed,
        val_every=1,
        checkpoint_every=1,
        log_every=config.log_every,
        amp=config.amp,
        identity=checkpoint_identity(resolved),
    )
    result = TrainResult(0, 0, None, 0.0, None)
    budget = "none"
    if config.checkpoint is not None:
        result, budget = load_for_evaluation(resolved, model, Path(config.checkpoint))
        banner(resolved, budget, trainable=False)
    elif trainable:
        steps, budget = resolve_steps(resolved, model, train_set, plan)
        plan.total_steps = steps
        scale_scheduled_sampling(model, steps)
        plan.val_every = config.val_every or max(1, steps // 10)
        plan.checkpoint_every = config.checkpoint_every or plan.val_every
        banner(resolved, budget, trainable)
        val_clips = load_clips(val_set, config.val_size)
        report = progress if distributed.is_main else None
        result = train(model, train_set, val_clips, plan, resolved.run_dir, device, distributed, config.resume, report)
        if result.selected_checkpoint is not None:
            model.load_state_dict(load_checkpoint(result.selected_checkpoint, map_location=device)["model"])
    else:
        banner(resolved, budget, trainable)

    records = []
    for protocol in resolved.protocols:
        records.append(evaluate_protocol(resolved, model, protocol, plan, result, budget, trainable))
    return records


def scale_scheduled_sampling(model, steps: int) -> None:
    """Fit the PredRNN family's scheduled sampling into the budget.

    The papers stop feeding ground truth after 50k of 80k iterations (62.5%); a shorter budget that kept
    the preset's stop would train mostly teacher-forced and be evaluated free-running. The stop is a pure
    function of the step count, so resumed runs agree, and the record reports it.
    """
    if hasattr(model, "sampling_stop_iter"):
        model.sampling_stop_iter = min(model.sampling_stop_iter, max(1, int(0.625 * steps)))


def checkpoint_identity(resolved: Resolved) -> dict:
    """What a checkpoint must match to be resumed or evaluated: the run's full configuration."""
    return {
        "config_hash": resolved.config_hash,
        "model": resolved.config.model,
        "preset": resolved.preset,
        "model_config": _jsonable(resolved.model_config),
        "frame_shape": list(resolved.frame_shape),
        "context_length": resolved.train_protocol.context,
    }


def load_for_evaluation(resolved: Resolved, model, path: Path) -> tuple[TrainResult, str]:
    """Load any stored vpbench checkpoint into `model` after checking it was made for this model and data."""
    state = load_checkpoint(path, map_location=resolved.device)
    identity = state["identity"]
    expected = checkpoint_identity(resolved)
    for key in ("model", "model_config", "frame_shape", "context_length"):
        if identity.get(key) != expected[key]:
            raise VpbenchError(
                f"checkpoint {path} was made for {key} = {identity.get(key)}, not {expected[key]}; "
                "pass the --model/--preset/--dataset it was trained with"
            )
    model.load_state_dict(state["model"])
    result = TrainResult(state["step"], state["step"], state.get("best_loss"), state.get("elapsed_s", 0.0), path)
    return result, f"checkpoint {path} (step {state['step']})"


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def evaluate_protocol(
    resolved: Resolved, model, protocol: Protocol, plan: TrainPlan, result: TrainResult, budget: str, trainable: bool
) -> Record:
    config, device = resolved.config, resolved.device
    test_set = open_split(config.dataset, "test", protocol.clip_length, config.data_root, **config.data_options)
    if len(test_set) and test_set[0].shape[0] < protocol.clip_length:
        raise VpbenchError(
            f"protocol {protocol.name} needs {protocol.clip_length} frames but {config.dataset} test clips have "
            f"{test_set[0].shape[0]}; choose a shorter protocol"
        )
    eval_batch = config.eval_batch_size or max(plan.batch_size, 8)
    started = time.perf_counter()
    evaluation = evaluate(
        model,
        test_set,
        protocol,
        tuple(config.conventions),
        device,
        eval_batch,
        resolved.distributed,
        resolved.test_size,
    )
    channels, height, width = resolved.frame_shape
    macs = count_macs(
        lambda: build_model(resolved),
        context_length=protocol.context,
        horizon=protocol.horizon,
        channels=channels,
        height=height,
        width=width,
    )
    record = make_record(resolved, model, protocol, test_set, evaluation, result, budget, trainable, macs)
    record.provenance.evaluation_wall_time_s = time.perf_counter() - started
    if config.write_records and resolved.distributed.is_main:
        per_sequence = flatten_per_sequence(evaluation.results.get("per_sequence") or {})
        path = write_record(Path(config.results_dir), record, per_sequence)
        if evaluation.samples:
            np.savez_compressed(path.with_name(path.stem + ".samples.npz"), **evaluation.samples)
        log(f"wrote {path}")
    return record


def confidence_intervals(evaluation: Evaluation) -> dict[str, dict[str, list[float]]]:
    """95% bootstrap intervals of each per-sequence metric (mean over sequences), per convention."""
    table = evaluation.results.get("per_sequence") or {}
    intervals: dict[str, dict[str, list[float]]] = {}
    for convention, metrics in table.items():
        if not isinstance(metrics, dict):
            continue
        for metric, values in metrics.items():
            finite = [v for v in values if isinstance(v, float) and np.isfinite(v)]
            if len(finite) == len(values) and len(values) > 1:
                interval = bootstrap_ci(values, resamples=2_000)
                intervals.setdefault(convention, {})[metric] = [interval["low"], interval["high"]]
    return intervals


def make_record(resolved, model, protocol, test_set, evaluation, result, budget, trainable, macs) -> Record:
    config = resolved.config
    entry = get_model_entry(config.model)
    settings = get_preset(entry.name, resolved.preset).train
    parameters = count_parameters(model)
    results = evaluation.results
    metrics = {c: results[c] for c in config.conventions}
    env = environment()
    return Record(
        model=ModelInfo(
            name=entry.name,
            preset=resolved.preset,
            config=_jsonable(resolved.model_config),
            config_hash=resolved.config_hash,
            family=entry.family,
            loss=entry.loss_name,
            parameters=parameters,
            macs_per_sequence=macs,
        ),
        dataset=DatasetInfo(
            name=config.dataset,
            source=test_set.source,
            test_checksum=test_set.checksum(limit=evaluation.sequences),
            test_size=evaluation.sequences,
            frame_shape=list(resolved.frame_shape),
            options=_jsonable(config.data_options),
        ),
        protocol=ProtocolInfo(protocol.name, protocol.context, protocol.horizon, resolved.train_protocol.name),
        training=TrainingInfo(
            steps=result.steps,
            batch_size=resolved.batch_size * resolved.distributed.world_size,
            budget=budget,
            optimizer={
                **dataclasses.asdict(settings),
                "lr": resolved.lr,
                **({"sampling_stop_iter": model.sampling_stop_iter} if hasattr(model, "sampling_stop_iter") else {}),
            },
            selected_step=result.selected_step,
            best_validation_loss=result.best_validation_loss,
            validation_metric=f"mse of eval-mode predictions on {config.val_size} validation clips",
            wall_time_s=result.wall_time_s,
            trained=trainable,
            curve=result.curve,
        ),
        efficiency=EfficiencyInfo(
            parameters=parameters,
            macs_per_sequence=macs,
            throughput_sequences_per_s=evaluation.throughput_sequences_per_s,
            peak_memory_mb=evaluation.peak_memory_mb,
            peak_memory_kind=evaluation.peak_memory_kind,
            device=device_name(resolved.device),
            eval_batch_size=evaluation.batch_size,
        ),
        provenance=Provenance(
            seed=config.seed,
            code_version=env["code_version"],
            vpbench_version=env["vpbench_version"],
            torch_version=env["torch_version"],
            python_version=env["python_version"],
            device=device_name(resolved.device),
            created_at=now_utc(),
            evaluation_wall_time_s=evaluation.wall_time_s,
            command=config.command,
            world_size=resolved.distributed.world_size,
            cpu_kernels=cpu_kernels(resolved.device),
        ),
        metrics=metrics,
        regions=results.get("regions", {}),
        confidence_intervals=confidence_intervals(evaluation),
    )
