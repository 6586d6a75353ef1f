"""`run(config)`: resolve the spec -> train (or resume) -> select on validation -> evaluate -> records.

This is the library function behind `vpbench run` and `vpbench eval` (and what a notebook calls). Every
value is decided once, in `vpbench.engine.spec.resolve_spec`; this module only executes the resolved
`RunSpec`. A spec whose records are all stored is not run again (runs are idempotent); another spec gets
its own run directory and its own records.
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
from filelock import FileLock, Timeout

from vpbench.data import open_split
from vpbench.efficiency import count_macs, count_parameters
from vpbench.engine.checkpoint import check_torch_file, load_checkpoint
from vpbench.engine.config import RunConfig
from vpbench.engine.continuation import continue_from, find_shorter_run
from vpbench.engine.distributed import Distributed, broadcast_object, from_environment
from vpbench.engine.evaluator import Evaluation, evaluate_protocols
from vpbench.engine.provenance import code_version, cpu_kernels, device_name, environment, now_utc, stable_hash
from vpbench.engine.spec import DEFAULTS, RunSpec, resolve_spec
from vpbench.engine.trainer import (
    LAST,
    TrainPlan,
    TrainResult,
    calibrate_seconds_per_step,
    load_clips,
    scheduled_sampling_stop,
    train,
    validate,
)
from vpbench.errors import VpbenchError
from vpbench.files import atomic_write, remove_partial_writes
from vpbench.metrics import bootstrap_ci
from vpbench.protocols import Protocol, parse_protocol
from vpbench.registry import create_model, get_model_entry, preset_overrides
from vpbench.results.schema import (
    DatasetInfo,
    EfficiencyInfo,
    ModelInfo,
    ProtocolInfo,
    Provenance,
    Record,
    TrainingInfo,
    record_id,
)
from vpbench.results.sequences import flatten_per_sequence
from vpbench.results.store import ensure_writable, load_record, write_record

RUN_LOCK = ".lock"  # in a run directory: held by the one process that trains it


@dataclass
class Execution:
    """Where a spec runs: the device, the process group, the folders (not part of the spec)."""

    config: RunConfig
    spec: RunSpec
    device: torch.device
    distributed: Distributed

    @property
    def run_dir(self) -> Path:
        return Path(self.config.runs_dir) / self.spec.dataset / self.spec.run_name()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def resolve_device(name: str | None) -> torch.device:
    name = name or DEFAULTS.device
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise VpbenchError("--device cuda was asked for but no CUDA device is available; use --device cpu")
    if name.split(":")[0] not in ("cpu", "cuda"):
        raise VpbenchError(f"unknown device '{name}'; use auto, cpu or cuda")
    return torch.device(name)


def prepare(config: RunConfig) -> Execution:
    """Device, process group and the resolved spec (from the config, or from the checkpoint for `eval`)."""
    device = resolve_device(config.device)
    distributed = from_environment(device.type)
    if device.type == "cuda" and distributed.enabled:
        device = torch.device("cuda", distributed.local_rank)
        torch.cuda.set_device(device)
    if config.checkpoint is not None and config.checkpoint_source is None:
        spec = spec_for_checkpoint(config, device.type, distributed.world_size)
    else:
        spec = resolve_spec(config, device.type, distributed.world_size, steps_resolver=_steps_resolver(config))
    if config.checkpoint_source is not None:  # weights trained elsewhere: no vpbench budget to speak of
        from vpbench.interop import EXPECTED_FILE, converter

        converter(config.checkpoint_source, spec.model)  # an unknown source or model fails before any work
        check_torch_file(config.checkpoint, expect=EXPECTED_FILE)
        name = Path(config.checkpoint).name
        spec = dataclasses.replace(
            spec, steps=0, val_every=0, checkpoint_every=0,
            budget=f"external checkpoint {name} (--from {config.checkpoint_source}; trained by that code base)",
        )
    return Execution(config, spec, device, distributed)


def spec_for_checkpoint(config: RunConfig, device_kind: str, world_size: int) -> RunSpec:
    """A vpbench checkpoint's own training spec, with this evaluation's protocols, test size and conventions.

    Training facts (seed, batch size, learning rate, steps, model arguments) come from the checkpoint, not
    from CLI defaults; options the user names that contradict them are errors, not silently ignored.
    """
    state = load_checkpoint(Path(config.checkpoint))
    trained = RunSpec.from_dict(state["spec"], origin=str(config.checkpoint))
    for name, asked, stored in (
        ("--model", config.model, trained.model),
        ("--dataset", config.dataset, trained.dataset),
        ("--preset", config.preset, trained.preset),
    ):
        if asked is not None and get_name(name, asked) != stored:
            raise VpbenchError(
                f"checkpoint {config.checkpoint} was trained as {name} {stored}, not {asked}; "
                f"pass {name} {stored} (or leave it out)"
            )
    request = dataclasses.replace(
        config,
        model=trained.model,
        dataset=trained.dataset,
        preset=trained.preset,
        train_protocol=trained.train_protocol,
        steps=None,
        epochs=None,
        time_budget_s=None,
        seed=trained.seed,
        batch_size=trained.batch_size,
        learning_rate=trained.learning_rate,
        schedule=trained.optimizer.get("schedule"),
        val_size=trained.val_size,
        model_overrides={**trained.model_config},
        data_options={**trained.data_options, **(config.data_options or {})},
        protocols=list(config.protocols) or list(trained.protocols),
    )
    evaluation = resolve_spec(request, device_kind, world_size, steps_resolver=lambda spec, _: (0, ""))
    return dataclasses.replace(
        evaluation,
        steps=trained.steps,
        budget=f"{trained.budget} (checkpoint {Path(config.checkpoint).name}, step {state['step']})",
        val_every=trained.val_every,
        optimizer=trained.optimizer,
        model_config=trained.model_config,
    )


def get_name(option: str, value: str) -> str:
    """Canonical spelling of a model name (deprecated aliases resolve) for comparisons."""
    return get_model_entry(value).name if option == "--model" else value


def _steps_resolver(config: RunConfig):
    """--epochs / --time-budget (and the CUDA default budget) -> steps, calibrated once per run."""

    def resolve(spec: RunSpec, request: RunConfig) -> tuple[int, str]:
        train_set = open_split(
            spec.dataset, "train", parse_protocol(spec.train_protocol).clip_length, request.data_root,
            **spec.data_options,
        )
        if request.epochs is not None:
            per_epoch = len(train_set) // spec.batch_size
            return request.epochs * per_epoch, f"--epochs {request.epochs} ({per_epoch} steps each)"
        budget = request.time_budget_s or DEFAULTS.steps_cuda_seconds
        origin = "--time-budget" if request.time_budget_s else f"default {spec.device_kind} budget"
        # One calibration per (spec without steps, budget): a resumed run keeps its step count and schedule.
        key = stable_hash({"spec": {k: v for k, v in spec.to_dict().items() if k != "budget"}, "seconds": budget})
        state_file = Path(request.runs_dir) / spec.dataset / "calibrations" / f"{key}.json"
        ensure_writable(Path(request.runs_dir), "--runs-dir")  # before calibrating, not at writing its result
        if request.resume and state_file.exists():
            stored = json.loads(state_file.read_text())
            return stored["steps"], stored["budget"]
        torch.manual_seed(spec.seed)
        model = _build(spec, parse_protocol(spec.train_protocol).context)
        plan = _plan(spec, 0, {})
        seconds = calibrate_seconds_per_step(model, train_set, plan, torch.device(spec.device_kind))
        seconds = broadcast_object(seconds, from_environment(spec.device_kind))
        steps = max(1, int(0.9 * budget / seconds))
        description = f"{origin} {budget / 60:g} min (= {steps} steps at {seconds:.2f} s/step, calibrated)"
        atomic_write(state_file, lambda f: f.write(json.dumps({"steps": steps, "budget": description})))
        return steps, description

    return resolve


def _build(spec: RunSpec, context_length: int) -> torch.nn.Module:
    channels, height, width = spec.frame_shape
    return create_model(
        spec.model,
        spec.preset,
        channels=channels,
        height=height,
        width=width,
        context_length=context_length,
        **_overrides(spec),
    )


def _overrides(spec: RunSpec) -> dict:
    return preset_overrides(spec.model, spec.preset, spec.model_config)


def _plan(spec: RunSpec, world_size: int, checkpoint_identity: dict) -> TrainPlan:
    from vpbench.registry import TrainSettings

    protocol = parse_protocol(spec.train_protocol)
    return TrainPlan(
        total_steps=spec.steps,
        batch_size=spec.batch_size // max(world_size, 1),
        lr=spec.learning_rate,
        settings=TrainSettings(**spec.optimizer),
        context_length=protocol.context,
        horizon=protocol.horizon,
        seed=spec.seed,
        val_every=spec.val_every,
        checkpoint_every=spec.checkpoint_every or spec.val_every,
        log_every=10,
        amp=True,
        identity=checkpoint_identity,
    )


def stored_records(results_dir: Path, spec: RunSpec) -> dict[str, Path]:
    """protocol name -> path of the stored record of `spec` for that protocol (only those that exist)."""
    found = {}
    for protocol in spec.protocols:
        rid = record_id(spec.model, spec.preset, spec.dataset, spec.data_source, protocol, spec.seed, spec.spec_hash)
        path = Path(results_dir) / spec.dataset / f"{rid}.json"
        if path.exists():
            found[protocol] = path
    return found


def banner(execution: Execution, missing: list[str]) -> None:
    if not execution.distributed.is_main:
        return
    spec, config = execution.spec, execution.config
    first = parse_protocol(spec.protocols[0])
    available = len(open_split(spec.dataset, "test", first.clip_length, config.data_root, **spec.data_options))
    count = min(spec.test_size or available, available)
    test = f"the first {count} of {available} test clips" if count < available else f"all {available} test clips"
    if config.checkpoint is not None:
        origin = f"--from {config.checkpoint_source}" if config.checkpoint_source else "vpbench checkpoint"
        training = f"no training: evaluating {config.checkpoint} ({origin}; {spec.budget})"
        if config.checkpoint_source is not None:
            training = f"no training: evaluating {spec.budget}"
    elif spec.trained:
        recipe = f"{spec.optimizer['optimizer']} lr {spec.learning_rate:g} {spec.optimizer['schedule']}"
        training = f"training: {spec.budget}, batch {spec.batch_size}, {recipe}, run dir {execution.run_dir}"
    else:
        training = "no training (parameter-free predictor)"
    threads = f", {spec.threads} thread(s)" if spec.threads else ""
    log(
        f"vpbench run: {spec.model} [{spec.preset}] on {spec.dataset} ({spec.data_source}) {', '.join(missing)} "
        f"(trained on {spec.train_protocol}) | device {execution.device}{threads} x{spec.world_size} | "
        f"{training} | evaluation on {test} | spec {spec.spec_hash} | started {now_utc()}"
    )


def run(config: RunConfig, progress=None, eval_progress=None) -> list[Record]:
    """Train (or resume) and evaluate; returns the records of every protocol of the spec.

    Records already stored for this exact spec are returned as they are (nothing is recomputed or
    rewritten); only missing protocols are evaluated.
    """
    execution = prepare(config)
    code_version()  # pinned before any work: the record names the code this process loaded
    spec, distributed, device = execution.spec, execution.distributed, execution.device
    if spec.threads is not None and device.type == "cpu":
        torch.set_num_threads(spec.threads)  # the thread policy, applied when running (resolving has no effects)
    existing = stored_records(config.results_dir, spec) if config.write_records else {}
    missing = [p for p in spec.protocols if p not in existing]
    if not missing:
        if distributed.is_main:
            log(f"vpbench run: already stored for this spec ({spec.spec_hash}), nothing to do:")
            for path in existing.values():
                log(f"  {path}")
        return [load_record(existing[p]) for p in spec.protocols]
    if config.write_records and distributed.is_main:
        ensure_writable(Path(config.results_dir))
    if spec.trained and config.checkpoint is None and distributed.is_main:
        ensure_writable(Path(config.runs_dir), "--runs-dir")  # before the model is built, as results
    torch.manual_seed(spec.seed)
    model = _build(spec, parse_protocol(spec.train_protocol).context).to(device)
    if device.type == "cuda":
        channels_last(model)
    banner(execution, missing)
    result = TrainResult(0, 0, None, 0.0, None)
    if config.checkpoint is not None:
        result = load_for_evaluation(execution, model)
    elif spec.trained:
        result = train_spec(execution, model, progress)
    else:
        result = validate_untrained(execution, model)
    records = [load_record(existing[p]) for p in spec.protocols if p in existing]
    records += evaluate_missing(execution, model, [parse_protocol(name) for name in missing], result, eval_progress)
    order = {name: index for index, name in enumerate(spec.protocols)}
    return sorted(records, key=lambda record: order[record.protocol.name])


def channels_last(model: torch.nn.Module) -> torch.nn.Module:
    """Store every 4-D weight channels-last (cuDNN's fastest layout for 2-D convolutions), in place.

    Not `model.to(memory_format=...)`: that also converts 5-D weights, which have no channels-last layout and
    raise (MIMO-VP's 3-D convolutions did, on the first CUDA run). A layout changes no value."""
    for parameter in model.parameters():
        if parameter.dim() == 4:
            parameter.data = parameter.data.contiguous(memory_format=torch.channels_last)
    return model


def train_spec(execution: Execution, model, progress) -> TrainResult:
    """Train under an exclusive lock on the run directory (two identical commands cannot interleave)."""
    spec, config, device = execution.spec, execution.config, execution.device
    run_dir = execution.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    scale_scheduled_sampling(model, spec.steps)
    lock = FileLock(str(run_dir / RUN_LOCK)) if execution.distributed.is_main else _SharedLock()
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise VpbenchError(
            f"another vpbench process is running this exact run ({run_dir}); wait for it, or stop it first"
        ) from None
    try:
        if execution.distributed.is_main:
            for partial in remove_partial_writes(run_dir):
                log(f"vpbench run: removed {partial.name}, a write that a killed process left unfinished")
            atomic_write(run_dir / "spec.json", lambda f: f.write(json.dumps(spec.to_dict(), indent=1)))
            if config.resume and not (run_dir / LAST).exists():
                start_from_shorter_run(execution)
        execution.distributed.barrier()  # the other ranks resume from what rank 0 may just have written
        val_set = open_split(
            spec.dataset, "val", parse_protocol(spec.train_protocol).clip_length, config.data_root, **spec.data_options
        )
        train_set = open_split(
            spec.dataset, "train", parse_protocol(spec.train_protocol).clip_length, config.data_root,
            **spec.data_options,
        )
        plan = _plan(spec, execution.distributed.world_size, {"spec_hash": spec.spec_hash})
        plan.log_every, plan.amp, plan.spec = config.log_every, config.amp, spec.to_dict()
        val_clips = load_clips(val_set, spec.val_size)
        report = progress if execution.distributed.is_main else None
        result = train(
            model, train_set, val_clips, plan, run_dir, device, execution.distributed, config.resume, report
        )
    finally:
        lock.release()
    if result.selected_checkpoint is not None:
        model.load_state_dict(load_checkpoint(result.selected_checkpoint, map_location=device)["model"])
    return result


def start_from_shorter_run(execution: Execution) -> None:
    """A new run whose spec differs from a finished run's only in its budget starts where that run ended, when
    that is exactly the longer run (engine/continuation.py); the log says which, or why not."""
    source, refused = find_shorter_run(Path(execution.config.runs_dir), execution.spec)
    for line in refused:
        log(f"vpbench run: {line}; training from step 0")
    if source is not None:
        step = continue_from(source, execution.run_dir, execution.spec)
        log(
            f"vpbench run: continuing the finished run {source} from step {step:,} (nothing in its training reads "
            f"the budget, so its {step:,} steps are this run's first {step:,}; --no-resume starts over)"
        )


def validate_untrained(execution: Execution, model) -> TrainResult:
    """A parameter-free predictor's score on the validation clips, stored as its curve's one point (step 0).

    Why: learning curves are measured on the validation clips, so where a curve meets a sanity row must be read
    against the row's score on those same clips, not on the test clips. They differ by more than the margins in
    question: on the Moving MNIST long track `zeros` scores SSIM 0.777 on the 128 validation clips and 0.771 on
    the 1,000 test clips, and trained models score ~0.005 higher in validation too."""
    spec, config = execution.spec, execution.config
    protocol = parse_protocol(spec.train_protocol)
    val_set = open_split(spec.dataset, "val", protocol.clip_length, config.data_root, **spec.data_options)
    metrics = validate(model, load_clips(val_set, spec.val_size), protocol.context, execution.device, spec.batch_size)
    return TrainResult(0, 0, metrics["loss"], 0.0, None, [{"step": 0, "sequences": 0, "wall_time_s": 0.0, **metrics}])


def is_training(run_dir: Path) -> bool:
    """Whether a process trains this run directory now (holds its lock), told at once and without reading
    times: a run folder just restored or copied is as fresh as one being written. The probe holds the free lock
    for an instant; a run started in that same instant stops with the "another vpbench process" error."""
    lock = run_dir / RUN_LOCK
    if not lock.exists():
        return False
    try:
        with FileLock(str(lock), timeout=0):
            return False
    except Timeout:
        return True


class _SharedLock:
    """The other ranks of a DDP run share rank 0's lock on the run directory."""

    def acquire(self, timeout: float = 0) -> None:
        pass

    def release(self) -> None:
        pass


def scale_scheduled_sampling(model, steps: int) -> None:
    """Fit the PredRNN family's scheduled sampling into the budget (see `scheduled_sampling_stop`)."""
    if hasattr(model, "sampling_stop_iter"):
        model.sampling_stop_iter = scheduled_sampling_stop(model.sampling_stop_iter, steps)


def load_for_evaluation(execution: Execution, model) -> TrainResult:
    """Load the checkpoint to evaluate: a vpbench one (checked against the spec) or a reference code base's."""
    config, spec = execution.config, execution.spec
    path = Path(config.checkpoint)
    if config.checkpoint_source is not None:
        from vpbench.interop import convert_state_dict, load_foreign_state_dict

        state_dict = convert_state_dict(
            config.checkpoint_source, spec.model, load_foreign_state_dict(path), channels=spec.frame_shape[0]
        )
        try:
            model.load_state_dict(state_dict)
        except RuntimeError as error:
            first = str(error).strip().splitlines()[1].strip() if "\n" in str(error) else str(error)[:160]
            raise VpbenchError(
                f"checkpoint {path} does not fit {spec.model} [{spec.preset}] ({first}); "
                "pass the --preset (or model options) it was trained with"
            ) from None
        return TrainResult(0, 0, None, 0.0, path)
    state = load_checkpoint(path, map_location=execution.device)
    model.load_state_dict(state["model"])
    return TrainResult(
        state["step"], state["step"], state.get("best_loss"), state.get("elapsed_s", 0.0), path,
        state.get("curve", []), state.get("code_versions", []), state.get("trained_on", []),
        state.get("continued_from", []),
    )


def evaluate_missing(execution: Execution, model, protocols: list[Protocol], result: TrainResult, progress):
    """Evaluate `protocols` (one context length; see `evaluate_protocols`) and write one record for each."""
    spec, config, device = execution.spec, execution.config, execution.device
    test_sets = {}
    for protocol in protocols:
        test_set = open_split(spec.dataset, "test", protocol.clip_length, config.data_root, **spec.data_options)
        if len(test_set) and test_set[0].shape[0] < protocol.clip_length:
            raise VpbenchError(
                f"protocol {protocol.name} needs {protocol.clip_length} frames but {spec.dataset} test clips have "
                f"{test_set[0].shape[0]}; choose a shorter protocol"
            )
        test_sets[protocol] = test_set
    started = time.perf_counter()
    evaluations = evaluate_protocols(
        model,
        test_sets,
        spec.conventions,
        device,
        spec.eval_batch_size,
        execution.distributed,
        spec.test_size,
        progress=progress if execution.distributed.is_main else None,
    )
    wall = time.perf_counter() - started
    records = []
    for protocol in protocols:
        channels, height, width = spec.frame_shape
        macs = count_macs(
            lambda protocol=protocol: _build(spec, protocol.context),
            context_length=protocol.context,
            horizon=protocol.horizon,
            channels=channels,
            height=height,
            width=width,
        )
        evaluation = evaluations[protocol]
        record = make_record(execution, model, protocol, test_sets[protocol], evaluation, result, macs)
        record.provenance.evaluation_wall_time_s = wall
        if config.write_records and execution.distributed.is_main:
            per_sequence = flatten_per_sequence(evaluation.results.get("per_sequence") or {})
            path = write_record(Path(config.results_dir), record, per_sequence, evaluation.samples or None)
            log(f"wrote {path}")
        records.append(record)
    return records


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


def make_record(execution: Execution, model, protocol, test_set, evaluation, result, macs) -> Record:
    spec, config = execution.spec, execution.config
    entry = get_model_entry(spec.model)
    parameters = count_parameters(model)
    results = evaluation.results
    trained = spec.trained or config.checkpoint is not None
    env = environment()
    optimizer = {**spec.optimizer, "lr": spec.learning_rate}
    if hasattr(model, "sampling_stop_iter"):
        optimizer["sampling_stop_iter"] = model.sampling_stop_iter
    return Record(
        model=ModelInfo(
            name=entry.name,
            preset=spec.preset,
            config=spec.model_config,
            config_hash=stable_hash({"model": spec.model, "config": spec.model_config}),
            family=entry.family,
            loss=entry.loss_name,
            parameters=parameters,
            macs_per_sequence=macs,
        ),
        dataset=DatasetInfo(
            name=spec.dataset,
            source=test_set.source,
            test_checksum=test_set.checksum(limit=evaluation.sequences),
            test_size=evaluation.sequences,
            frame_shape=list(spec.frame_shape),
            options=spec.data_options,
        ),
        protocol=ProtocolInfo(protocol.name, protocol.context, protocol.horizon, spec.train_protocol),
        training=TrainingInfo(
            steps=result.steps if config.checkpoint is None else spec.steps,
            batch_size=spec.batch_size,
            budget=spec.budget,
            optimizer=optimizer,
            selected_step=result.selected_step,
            best_validation_loss=result.best_validation_loss,
            validation_metric=f"mse of eval-mode predictions on {spec.val_size} validation clips",
            wall_time_s=result.wall_time_s,
            trained=trained,
            curve=result.curve,
            trained_by=result.code_versions,
            trained_on=result.trained_on,
            continued_from=result.continued_from,
        ),
        efficiency=EfficiencyInfo(
            parameters=parameters,
            macs_per_sequence=macs,
            throughput_sequences_per_s=evaluation.throughput_sequences_per_s,
            peak_memory_mb=evaluation.peak_memory_mb,
            peak_memory_kind=evaluation.peak_memory_kind,
            device=device_name(execution.device),
            eval_batch_size=evaluation.batch_size,
        ),
        provenance=Provenance(
            seed=spec.seed,
            code_version=env["code_version"],
            vpbench_version=env["vpbench_version"],
            torch_version=env["torch_version"],
            python_version=env["python_version"],
            device=device_name(execution.device),
            created_at=now_utc(),
            evaluation_wall_time_s=evaluation.wall_time_s,
            command=config.command,
            world_size=execution.distributed.world_size,
            cpu_kernels=cpu_kernels(execution.device),
        ),
        metrics={c: results[c] for c in spec.conventions},
        regions=results.get("regions", {}),
        confidence_intervals=confidence_intervals(evaluation),
        spec=spec.to_dict(),
        spec_hash=spec.spec_hash,
    )
