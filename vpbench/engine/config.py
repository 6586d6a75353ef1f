"""RunConfig: every knob of a run in one place, with its default (the CLI only fills it in).

Defaults that depend on the machine (preset, budget, test size) are resolved once in `resolve_defaults`,
and the resolved values are what the record reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpbench.errors import VpbenchError

ALL_CONVENTIONS = ("vpbench", "openstl", "predrnn", "srvp-paper")
CPU_DEFAULT_TRAIN_SECONDS = 6 * 60  # leaves room for evaluation within ~10 minutes on a 2-core CPU
CUDA_DEFAULT_TRAIN_SECONDS = 60 * 60
CPU_DEFAULT_TEST_SIZE = 1_000


@dataclass
class RunConfig:
    model: str
    dataset: str
    preset: str | None = None  # None: "small" on CPU, "paper" on CUDA
    protocols: list[str] = field(default_factory=list)  # empty: the dataset's default protocols
    train_protocol: str | None = None  # default: the first protocol evaluated
    steps: int | None = None
    epochs: int | None = None
    time_budget_s: float | None = None  # converted to a step count by timing a few steps
    seed: int = 42
    device: str = "auto"
    results_dir: Path = Path("results")
    runs_dir: Path = Path("runs")
    data_root: Path | None = None
    data_options: dict[str, Any] = field(default_factory=dict)
    resume: bool = True
    batch_size: int | None = None  # default: the preset's
    learning_rate: float | None = None  # default: the preset's
    test_size: int | None = None  # None: whole test split (CPU default: 1,000 clips)
    val_size: int = 256
    val_every: int | None = None  # default: 10 validations per run
    checkpoint_every: int | None = None  # default: every validation
    eval_batch_size: int | None = None
    conventions: tuple[str, ...] = ALL_CONVENTIONS
    amp: bool = True  # bf16 autocast, CUDA only
    model_overrides: dict[str, Any] = field(default_factory=dict)
    log_every: int = 10
    write_records: bool = True
    checkpoint: Path | None = None  # evaluate this checkpoint instead of training (`vpbench eval`)
    command: str = ""


def parse_duration(text: str) -> float:
    """'10m' -> 600.0; accepts s, m, h and plain seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not match:
        raise VpbenchError(f"cannot read duration '{text}'; write e.g. 90s, 10m or 1.5h")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"s": 1, "m": 60, "h": 3600}[unit]
