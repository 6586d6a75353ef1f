"""RunConfig: what a user asked for, field by field; None means "not given".

Nothing here decides a default: `vpbench.engine.spec.resolve_spec` turns a RunConfig into the one frozen
RunSpec that every layer reads (and that records and checkpoints store). The fields that are not part of
the spec say where files go and how to report (results/runs/data folders, resume, the command line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpbench.errors import VpbenchError

ALL_CONVENTIONS = ("vpbench", "openstl", "predrnn", "srvp-paper")


@dataclass
class RunConfig:
    model: str
    dataset: str
    preset: str | None = None
    protocols: list[str] = field(default_factory=list)  # empty: the dataset's default protocols
    train_protocol: str | None = None
    steps: int | None = None
    epochs: int | None = None
    time_budget_s: float | None = None
    seed: int | None = None
    device: str | None = None
    threads: int | None = None  # torch intra-op threads on CPU (see spec.thread_policy)
    batch_size: int | None = None
    learning_rate: float | None = None
    schedule: str | None = None  # learning-rate schedule (vpbench.engine.optim.SCHEDULES); None: the preset's
    test_size: int | None = None
    val_size: int | None = None
    val_every: int | None = None
    checkpoint_every: int | None = None
    eval_batch_size: int | None = None
    conventions: tuple[str, ...] | None = None
    model_overrides: dict[str, Any] = field(default_factory=dict)
    data_options: dict[str, Any] = field(default_factory=dict)
    # Where and how, not what: never part of the spec.
    results_dir: Path = Path("results")
    runs_dir: Path = Path("runs")
    data_root: Path | None = None
    resume: bool = True
    amp: bool = True  # bf16 autocast, CUDA only
    log_every: int = 10
    write_records: bool = True
    checkpoint: Path | None = None  # evaluate this checkpoint instead of training (`vpbench eval`)
    checkpoint_source: str | None = None  # --from: a reference code base's state_dict layout (vpbench.interop)
    command: str = ""


def parse_duration(text: str) -> float:
    """'10m' -> 600.0; accepts s, m, h and plain seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not match:
        raise VpbenchError(f"cannot read duration '{text}'; write e.g. 90s, 10m or 1.5h")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"s": 1, "m": 60, "h": 3600}[unit]
