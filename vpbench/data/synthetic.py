"""Synthetic moving shapes: tiny, deterministic, any size, channels and length — for tests and smoke runs.

Each clip holds one or two filled squares of random intensity (per channel) moving at a constant velocity
and bouncing off the borders. Like Moving MNIST, clip i of split s is a pure function of (seed, epoch, i).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vpbench.data.base import ClipDataset, DatasetSpec, int_option, register_dataset

SPLIT_SEEDS = {"train": 11, "val": 12, "test": 13}
DEFAULT_SIZES = {"train": 256, "val": 32, "test": 64}
DEFAULT_SIDE = 16


def shapes_clip(length: int, channels: int, height: int, width: int, seed: tuple[int, ...]) -> np.ndarray:
    """One clip (length, channels, height, width) uint8 determined by `seed`."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(seed))))
    clip = np.zeros((length, channels, height, width), dtype=np.uint8)
    for _ in range(int(rng.integers(1, 3))):
        side = int(rng.integers(max(2, min(height, width) // 6), max(3, min(height, width) // 3) + 1))
        color = rng.integers(96, 256, channels).astype(np.uint8)
        position = rng.random(2) * [height - side, width - side]
        velocity = (rng.random(2) - 0.5) * 2 * max(1.0, min(height, width) / 16)
        limits = np.array([height - side, width - side], dtype=float)
        for t in range(length):
            row, col = position.astype(int)
            region = clip[t, :, row : row + side, col : col + side]
            np.maximum(region, color[:, None, None], out=region)
            position = position + velocity
            bounced = (position < 0) | (position > limits)
            position = np.clip(
                np.where(position < 0, -position, np.where(position > limits, 2 * limits - position, position)),
                0,
                limits,
            )
            velocity = np.where(bounced, -velocity, velocity)
    return clip


class SyntheticShapes(ClipDataset):
    def __init__(self, split: str, size: int, clip_length: int, channels: int, height: int, width: int):
        self.seed, self.size, self.clip_length = SPLIT_SEEDS[split], size, clip_length
        self.channels, self.height, self.width = channels, height, width
        self.epoch = 0
        self.source = "synthetic-shapes"

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.size:
            raise IndexError(index)
        epoch = self.epoch if self.seed == SPLIT_SEEDS["train"] else 0
        return torch.from_numpy(
            shapes_clip(self.clip_length, self.channels, self.height, self.width, (self.seed, epoch, index))
        )


def open_synthetic(
    split: str,
    clip_length: int,
    root: Path,
    size: int | None = None,
    channels: int = 1,
    height: int = DEFAULT_SIDE,
    width: int = DEFAULT_SIDE,
) -> ClipDataset:
    channels = int_option("synthetic", "channels", channels, 1)
    height, width = (int_option("synthetic", name, value, 4) for name, value in (("height", height), ("width", width)))
    count = DEFAULT_SIZES[split] if size is None else int_option("synthetic", "size", size, 1)
    return SyntheticShapes(split, count, clip_length, channels, height, width)


SPEC = register_dataset(
    DatasetSpec(
        name="synthetic",
        channels=1,
        height=DEFAULT_SIDE,
        width=DEFAULT_SIDE,
        protocols=("10->10",),
        description="moving squares, generated deterministically; for tests and smoke runs",
        open=open_synthetic,
        options={"size": "clips in the split", "channels": "1 or more", "height": "pixels", "width": "pixels"},
        source_note=lambda root: "generated (no files)",
    )
)
