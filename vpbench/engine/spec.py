"""RunSpec: one run, every value decided once, validated once, stored whole.

A run is asked for in a `RunConfig` (from the CLI, the API, a suite entry, a stored record or a
checkpoint) whose unset fields are None; `resolve_spec` turns it into one frozen `RunSpec` that every
layer reads — the trainer, the evaluator, the record store, `check` and `eval`. Each default lives in
`DEFAULTS` below and nowhere else, and every value is validated here, with a one-line error.

The spec is stored whole (structured data) in records and checkpoints, so `check` re-runs a record and
`eval` re-scores a checkpoint from data, never from prose. Its hash (`spec_hash`) covers everything that
changes a number (model, preset and resolved arguments, data, protocols, budget, optimizer, seed, sizes,
conventions) and nothing that only says where it ran (device kind, thread count, processes, evaluation
batch, checkpoint cadence): it names run directories and is part of every record's identity, so two
budgets of one model give two records and a resumed run is always the same run.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from vpbench.engine.config import ALL_CONVENTIONS, RunConfig
from vpbench.engine.provenance import stable_hash
from vpbench.errors import VpbenchError

SPEC_VERSION = 1


@dataclass(frozen=True)
class Defaults:
    """Every default of a run, in one place (CLI options and the API default to "not given")."""

    preset_cpu: str = "small"
    preset_cuda: str = "paper"
    # CPU runs train a fixed number of steps (the same on any machine, however busy) and evaluate a fixed
    # prefix of the test split; a time budget is only used when asked for explicitly (--time-budget). Sized
    # so that the README's quick start (srvp, small preset) takes about ten minutes on an idle 2-core CPU:
    # a demonstration of the pipeline, not a result (the stored track uses 600 steps and 1,000 clips).
    steps_cpu: int = 40
    steps_cuda_seconds: float = 60 * 60  # CUDA default: a one-hour time budget (calibrated, recorded)
    test_size_cpu: int = 100
    seed: int = 42
    device: str = "auto"
    val_size_cpu: int = 32
    val_size_cuda: int = 256
    validations_per_run: int = 10
    eval_batch_min: int = 8
    conventions: tuple[str, ...] = ALL_CONVENTIONS
    threads_cpu: int = 1  # see thread_policy(): one intra-op thread never collapses on a shared machine


DEFAULTS = Defaults()

# Fields of RunSpec that say where a run was executed, not what it computes: they are recorded, not hashed.
EXECUTION_FIELDS = ("device_kind", "threads", "world_size", "eval_batch_size", "checkpoint_every", "budget")


@dataclass(frozen=True)
class RunSpec:
    """The resolved facts of one run. Plain JSON-able values only; `to_dict`/`from_dict` round-trip."""

    model: str
    preset: str
    model_config: dict[str, Any]  # constructor keyword arguments after preset, dataset and user overrides
    dataset: str
    data_source: str  # the test split's source, e.g. "offline-5k" or "standard"
    data_options: dict[str, Any]
    frame_shape: tuple[int, int, int]
    protocols: tuple[str, ...]  # evaluated, e.g. ("10->10", "10->30")
    train_protocol: str
    steps: int  # optimizer steps (0 for parameter-free predictors)
    batch_size: int  # global
    learning_rate: float
    optimizer: dict[str, Any]  # the preset's TrainSettings as a dict (optimizer, schedule, grad clip, ...)
    seed: int
    val_size: int
    val_every: int
    test_size: int | None  # first N test clips; None = the whole split
    conventions: tuple[str, ...]
    budget: str = ""  # how `steps` was decided, e.g. "--steps 600" or "--time-budget 10m (= 412 steps at 1.3 s)"
    device_kind: str = "cpu"  # execution: "cpu" | "cuda"
    threads: int | None = None  # execution: torch intra-op threads on CPU
    world_size: int = 1  # execution: processes
    eval_batch_size: int = 8  # execution
    checkpoint_every: int = 0  # execution
    version: int = SPEC_VERSION

    def __hash__(self) -> int:
        return hash(self.spec_hash)

    @property
    def spec_hash(self) -> str:
        """16 hex digits over every field that changes a number (not EXECUTION_FIELDS)."""
        payload = {k: v for k, v in self.to_dict().items() if k not in EXECUTION_FIELDS}
        return stable_hash(payload)

    @property
    def trained(self) -> bool:
        return self.steps > 0

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "spec") -> RunSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        try:
            values = {k: v for k, v in data.items() if k in known}
            values["frame_shape"] = tuple(values["frame_shape"])
            values["protocols"] = tuple(values["protocols"])
            values["conventions"] = tuple(values["conventions"])
            return cls(**values)
        except (KeyError, TypeError) as error:
            raise VpbenchError(f"{origin}: the stored run spec is incomplete ({error})") from None

    def run_name(self) -> str:
        """The run directory's name: readable prefix + the spec hash (another budget = another directory)."""
        protocol = self.train_protocol.replace("->", "-")
        return f"{self.model}__{self.preset}__{protocol}__seed{self.seed}__{self.spec_hash}"


def _positive_int(name: str, value, allow_zero: bool = False) -> None:
    if value is None:
        return
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise VpbenchError(f"{name} must be an integer >= {low}, got {value!r}")


def validate_request(config: RunConfig) -> None:
    """Reject impossible values before anything is built (one line each)."""
    _positive_int("--steps", config.steps)
    _positive_int("--epochs", config.epochs)
    _positive_int("--batch-size", config.batch_size)
    _positive_int("--test-size", config.test_size)
    _positive_int("--val-size", config.val_size)
    _positive_int("--val-every", config.val_every)
    _positive_int("--checkpoint-every", config.checkpoint_every)
    _positive_int("--eval-batch-size", config.eval_batch_size)
    _positive_int("--threads", config.threads)
    _positive_int("--seed", config.seed, allow_zero=True)
    if config.time_budget_s is not None and not (math.isfinite(config.time_budget_s) and config.time_budget_s > 0):
        raise VpbenchError(f"--time-budget must be a positive duration, e.g. 10m; got {config.time_budget_s!r}s")
    if config.learning_rate is not None and not (
        math.isfinite(config.learning_rate) and config.learning_rate > 0
    ):
        raise VpbenchError(f"--lr must be a positive number, got {config.learning_rate!r}")
    if config.schedule is not None:
        from vpbench.registry import SCHEDULES

        if config.schedule not in SCHEDULES:
            raise VpbenchError(f"unknown --schedule '{config.schedule}'; use {', '.join(SCHEDULES)}")
    budgets = [n for n, v in (("--steps", config.steps), ("--epochs", config.epochs),
                               ("--time-budget", config.time_budget_s)) if v is not None]
    if len(budgets) > 1:
        raise VpbenchError(f"give one training budget, not {' and '.join(budgets)}")
    if config.conventions is not None:
        from vpbench.metrics import get_convention

        for name in config.conventions:
            get_convention(name)


def thread_policy(device_kind: str, requested: int | None) -> int | None:
    """Intra-op threads for this process: what was asked for, else one on CPU.

    Why one: on a 2-core machine torch's default (one thread per core) collapses many times over as soon as
    anything else runs (measured: `vpbench score` on 200 sequences took 55 s with 2 threads on a busy
    machine, 5 s with 1), and two 1-thread processes out-run one 2-thread process. Use `--threads N` (or
    `sweep --jobs`) to spend more cores. GPUs: torch's choice (None).
    """
    if device_kind != "cpu":
        return requested
    return requested or DEFAULTS.threads_cpu


def resolve_spec(config: RunConfig, device_kind: str, world_size: int = 1, steps_resolver=None) -> RunSpec:
    """The one place where a RunConfig's unset values are decided.

    `steps_resolver(partial_spec) -> (steps, description)` turns an --epochs or --time-budget request
    into steps (it needs the training data or a timing); a plain --steps or the CPU default needs none.
    """
    from vpbench.data import open_split
    from vpbench.data.base import get_dataset_spec
    from vpbench.protocols import parse_protocol
    from vpbench.registry import create_model, get_model_entry, get_preset, model_kwargs

    validate_request(config)
    entry = get_model_entry(config.model)
    data_spec = get_dataset_spec(config.dataset)
    preset = config.preset or (DEFAULTS.preset_cuda if device_kind == "cuda" else DEFAULTS.preset_cpu)
    preset_entry = get_preset(entry.name, preset)
    settings = preset_entry.train
    if config.schedule is not None:
        settings = dataclasses.replace(settings, schedule=config.schedule)
    # Each protocol once: `--protocol 10->10 --protocol 10-10` is one evaluation (twice, its second record
    # found the first already stored and the run failed after writing it).
    protocols = list({p.name: p for p in map(parse_protocol, config.protocols)}.values())
    protocols = protocols or list(data_spec.default_protocols)
    train_protocol = parse_protocol(config.train_protocol) if config.train_protocol else protocols[0]
    others = [p.name for p in protocols if p.context != train_protocol.context]
    if others and config.checkpoint is not None and config.checkpoint_source is None:  # a vpbench checkpoint
        raise VpbenchError(
            f"the checkpoint was trained on {train_protocol.name} and sees {train_protocol.context} context frames; "
            f"{', '.join(others)} needs another count: evaluate protocols {train_protocol.context}->N "
            f"(e.g. {train_protocol.context}->{2 * train_protocol.horizon})"
        )
    if others:
        raise VpbenchError(
            f"all protocols of one run need the training protocol's context length ({train_protocol.context}); "
            "run the others separately with --protocol"
        )
    options = dict(config.data_options or {})
    probe = open_split(data_spec.name, "val", train_protocol.clip_length, config.data_root, **options)
    frame_shape = tuple(int(n) for n in probe[0].shape[1:])
    source = open_split(data_spec.name, "test", protocols[0].clip_length, config.data_root, **options).source
    overrides = dict(config.model_overrides or {})
    if getattr(entry.cls, "patch_size_from_dataset", False) and "patch_size" not in overrides:
        overrides = {"patch_size": data_spec.patch_size, **overrides}
    model_config = model_kwargs(entry.name, preset, **overrides)
    trainable = _is_trainable(create_model, entry.name, preset, frame_shape, train_protocol.context, overrides)
    global_batch = config.batch_size or settings.batch_size
    if global_batch % world_size:
        raise VpbenchError(f"batch size {global_batch} does not split over {world_size} processes")
    test_size = config.test_size
    if test_size is None and device_kind == "cpu":
        test_size = DEFAULTS.test_size_cpu
    conventions = tuple(config.conventions) if config.conventions else DEFAULTS.conventions
    spec = RunSpec(
        model=entry.name,
        preset=preset,
        model_config=json.loads(json.dumps(model_config, default=str)),
        dataset=data_spec.name,
        data_source=source,
        data_options=json.loads(json.dumps(options, default=str)),
        frame_shape=frame_shape,
        protocols=tuple(p.name for p in protocols),
        train_protocol=train_protocol.name,
        steps=0,
        batch_size=global_batch,
        learning_rate=float(config.learning_rate or settings.lr),
        optimizer={k: v for k, v in dataclasses.asdict(settings).items() if k != "paper_budget"},  # prose: not hashed
        seed=DEFAULTS.seed if config.seed is None else config.seed,
        val_size=config.val_size or (DEFAULTS.val_size_cpu if device_kind == "cpu" else DEFAULTS.val_size_cuda),
        val_every=1,
        test_size=test_size,
        conventions=conventions,
        budget="none (parameter-free predictor)",
        device_kind=device_kind,
        threads=thread_policy(device_kind, config.threads),
        world_size=world_size,
        eval_batch_size=config.eval_batch_size or max(global_batch // world_size, DEFAULTS.eval_batch_min),
    )
    if not trainable:
        return spec
    if config.steps is not None:
        steps, budget = config.steps, f"--steps {config.steps}"
    elif config.epochs is not None or config.time_budget_s is not None or device_kind != "cpu":
        if steps_resolver is None:
            raise VpbenchError("this budget needs the training data to resolve; use --steps N")
        steps, budget = steps_resolver(spec, config)
    else:
        steps, budget = DEFAULTS.steps_cpu, f"default CPU budget: {DEFAULTS.steps_cpu} steps"
    val_every = config.val_every or max(1, steps // DEFAULTS.validations_per_run)
    return dataclasses.replace(
        spec,
        steps=steps,
        budget=budget,
        val_every=val_every,
        checkpoint_every=config.checkpoint_every or val_every,
    )


def _is_trainable(create_model, name, preset, frame_shape, context, overrides) -> bool:
    """Parameter-free predictors (the sanity rows) have nothing to train. Built on the meta device: resolving
    allocates no weights (a paper preset has tens of millions)."""
    import torch

    channels, height, width = frame_shape
    with torch.device("meta"):
        model = create_model(
            name, preset, channels=channels, height=height, width=width, context_length=context, **overrides
        )
    return bool(getattr(model, "trainable", True)) and any(p.requires_grad for p in model.parameters())
