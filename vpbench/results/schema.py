"""The result record: one JSON document per (model, preset, dataset, source, protocol, seed).

Everything a reviewer needs to trust a number sits in the record: what was evaluated (model + config hash,
dataset source + checksum, protocol, metric conventions), how it was trained (budget, selected step, seed),
and where (code version, torch version, device, wall time). Per-sequence values live beside the record in a
compressed `.npz` so the JSON stays small (well under 1 MB) while confidence intervals stay computable.

Schema version history: 1 — first version. 2 — the resolved run spec is stored whole (`spec`, structured
data: what `check` and `eval` rebuild a run from) and its hash is part of the record's identity, so records of
two budgets or test sizes of one model never replace each other; learning curves (`training.curve`);
companion files (per-sequence values, samples) are named with their SHA-256 so a damaged one is detected.
Version-1 records are upgraded on read by `upgrade_v1` when the run they describe can be resolved.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from vpbench.errors import VpbenchError

SCHEMA_VERSION = 2


@dataclass
class ModelInfo:
    name: str  # registry name, e.g. "srvp"
    preset: str  # "paper" | "small" | "smoke"
    config: dict[str, Any]  # constructor arguments after overrides
    config_hash: str  # SHA-256 (16 hex) of model name + config (the architecture; training is in spec_hash)
    family: str
    loss: str  # the training objective, e.g. "bce"
    parameters: int
    macs_per_sequence: int  # for this record's protocol and frame shape


@dataclass
class DatasetInfo:
    name: str
    source: str  # e.g. "standard", "offline-5k", "kth-avi"
    test_checksum: str  # SHA-256 over the evaluated test clips, in order
    test_size: int  # number of test sequences evaluated
    frame_shape: list[int]  # [C, H, W]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProtocolInfo:
    name: str  # "10->10"
    context: int
    horizon: int
    train_protocol: str  # the protocol the model was trained on (may differ: 10->10 rolled out to 30)


@dataclass
class TrainingInfo:
    steps: int  # optimizer steps taken
    batch_size: int  # global batch size
    budget: str  # what the user asked for, e.g. "--steps 300" or "--time-budget 10m (= 412 steps)"
    optimizer: dict[str, Any]  # TrainSettings as a dict
    selected_step: int  # checkpoint chosen on the validation split
    best_validation_loss: float | None
    validation_metric: str  # e.g. "mse on 256 validation clips"
    wall_time_s: float  # training wall time
    trained: bool = True  # False for parameter-free predictors
    # Learning curve: one point per validation, {"step", "sequences" (seen so far), "wall_time_s", "loss"
    # (the selection MSE), and the vpbench convention's "mse", "mse_sum", "mae", "psnr", "ssim"}. A parameter-free
    # predictor has one point, at step 0: its score on the same validation clips, which curves are read against.
    curve: list[dict[str, float]] = field(default_factory=list)
    # Code versions of the processes that trained it, in order (a resumed run adds one when the code changed
    # between segments); empty for parameter-free predictors and records older than this field.
    trained_by: list[str] = field(default_factory=list)
    # Where those segments ran, in order: torch's CPU kernel set ("AVX2", "AVX512") or the GPU's name, one entry
    # per change. A run resumed on a machine with other kernels is not bit-reproducible on either machine.
    trained_on: list[str] = field(default_factory=list)
    # The shorter runs this one continues, oldest first: {"run", "spec_hash", "step"} for each; the steps up to
    # there were trained as that run (exactly this run's first steps: vpbench/engine/continuation.py).
    continued_from: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class EfficiencyInfo:
    parameters: int
    macs_per_sequence: int
    throughput_sequences_per_s: float  # inference, after warm-up, on `device`
    peak_memory_mb: float  # CUDA: max allocated; CPU: peak resident set size of the process
    peak_memory_kind: str  # "cuda-max-allocated" | "cpu-max-rss"
    device: str
    eval_batch_size: int


@dataclass
class Provenance:
    seed: int
    code_version: str  # git commit (+ "-dirty") or package version
    vpbench_version: str
    torch_version: str
    python_version: str
    device: str
    created_at: str  # ISO 8601 UTC
    evaluation_wall_time_s: float
    command: str
    world_size: int = 1
    cpu_kernels: str = ""  # torch's CPU kernel set (AVX2, AVX512, ...); empty on GPU and in older records


@dataclass
class Record:
    """A stored result. `metrics[convention]` = {"overall": {metric: v}, "per_horizon": {metric: [v...]}}."""

    model: ModelInfo
    dataset: DatasetInfo
    protocol: ProtocolInfo
    training: TrainingInfo
    efficiency: EfficiencyInfo
    provenance: Provenance
    metrics: dict[str, Any]
    regions: dict[str, Any] = field(default_factory=dict)  # static vs moving pixel errors
    confidence_intervals: dict[str, Any] = field(default_factory=dict)  # convention -> metric -> [lo, hi]
    per_sequence_file: str | None = None  # .npz beside the record
    spec: dict[str, Any] = field(default_factory=dict)  # the resolved RunSpec (vpbench.engine.spec), whole
    spec_hash: str = ""  # RunSpec.spec_hash: part of the identity
    files: dict[str, str] = field(default_factory=dict)  # companion file name -> SHA-256
    schema_version: int = SCHEMA_VERSION

    @property
    def record_id(self) -> str:
        return record_id(
            self.model.name,
            self.model.preset,
            self.dataset.name,
            self.dataset.source,
            self.protocol.name,
            self.provenance.seed,
            self.spec_hash,
        )

    @property
    def budget_label(self) -> str:
        """'600 steps x 8' for trained models, '' for parameter-free ones: what a leaderboard section shares."""
        if not self.training.trained:
            return ""
        return f"{self.training.steps} steps x {self.training.batch_size}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "record") -> Record:
        """Validate and build; a malformed record names its file and the first problem found."""
        if not isinstance(data, dict):
            raise VpbenchError(f"{origin}: not a JSON object; it is not a vpbench record")
        version = data.get("schema_version")
        if version == 1:
            raise VpbenchError(
                f"{origin}: schema version 1 (no run spec); upgrade it with `vpbench check --upgrade` or re-run it"
            )
        if version != SCHEMA_VERSION:
            raise VpbenchError(f"{origin}: schema version {version!r}, this vpbench reads {SCHEMA_VERSION}")
        parts = {
            "model": ModelInfo,
            "dataset": DatasetInfo,
            "protocol": ProtocolInfo,
            "training": TrainingInfo,
            "efficiency": EfficiencyInfo,
            "provenance": Provenance,
        }
        built: dict[str, Any] = {}
        for key, part in parts.items():
            try:
                built[key] = part(**data[key])
            except (KeyError, TypeError) as error:
                raise VpbenchError(f"{origin}: section '{key}' is missing or malformed ({error})") from None
        if not isinstance(data.get("metrics"), dict) or not data["metrics"]:
            raise VpbenchError(f"{origin}: section 'metrics' is missing or empty")
        for convention, values in data["metrics"].items():
            if not isinstance(values, dict) or not {"overall", "per_horizon"} <= set(values):
                raise VpbenchError(f"{origin}: metrics of convention '{convention}' lack overall/per_horizon")
            _check_metric_values(values, f"{origin}: metrics of convention '{convention}'")
        return cls(
            **built,
            metrics=data["metrics"],
            regions=data.get("regions", {}),
            confidence_intervals=data.get("confidence_intervals", {}),
            per_sequence_file=data.get("per_sequence_file"),
            spec=data.get("spec") or {},
            spec_hash=data.get("spec_hash") or "",
            files=data.get("files") or {},
        )


STORED_NON_FINITE = ("inf", "-inf", "nan")  # how JSON (which has no infinities) holds them


def _is_metric_value(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) or value in STORED_NON_FINITE


def _check_metric_values(values: dict, where: str) -> None:
    """Every metric value a number (or "inf"/"-inf"/"nan"): a hand-edited "x" failed deep inside the table,
    `compare` or `check` with a traceback instead of naming the record."""
    overall, per_horizon = values["overall"], values["per_horizon"]
    if not isinstance(overall, dict) or not isinstance(per_horizon, dict):
        raise VpbenchError(f"{where}: overall and per_horizon must be objects of metric values")
    for metric, value in overall.items():
        if not _is_metric_value(value):
            raise VpbenchError(f"{where}: overall {metric} is {value!r}, not a number; restore the record")
    for metric, series in per_horizon.items():
        if not isinstance(series, list) or not all(_is_metric_value(value) for value in series):
            raise VpbenchError(f"{where}: per-horizon {metric} is not a list of numbers; restore the record")


def record_id(model: str, preset: str, dataset: str, source: str, protocol: str, seed: int, spec_hash: str) -> str:
    """A file-name-safe id: 'srvp__small__mmnist__offline-5k__10-10__seed42__1a2b3c4d' (8 digits of the spec hash)."""
    raw = f"{model}__{preset}__{dataset}__{source}__{protocol}__seed{seed}__{spec_hash[:8]}"
    return re.sub(r"[^A-Za-z0-9_.+-]", "-", raw.replace("->", "-"))
