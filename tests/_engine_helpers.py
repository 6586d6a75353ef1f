"""Small shared helpers for the engine tests: a fast smoke run configuration on synthetic data."""

from __future__ import annotations

from pathlib import Path

import torch

from vpbench.engine.checkpoint import load_checkpoint
from vpbench.engine.config import RunConfig

SMOKE_MODEL = "convgru"  # recurrent, with dropout: exercises the RNG state of resume


def smoke_config(tmp_path: Path, **changes) -> RunConfig:
    base = dict(
        model=SMOKE_MODEL,
        dataset="synthetic",
        preset="smoke",
        protocols=["4->4"],
        steps=12,
        batch_size=4,
        test_size=16,
        val_size=8,
        val_every=4,
        checkpoint_every=2,
        device="cpu",
        results_dir=tmp_path / "results",
        runs_dir=tmp_path / "runs",
        data_options={"size": 64},
    )
    base.update(changes)
    return RunConfig(**base)


def run_dir(tmp_path: Path) -> Path:
    (directory,) = (tmp_path / "runs" / "synthetic").iterdir()
    return directory


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]
