"""What every dataset provides: a spec (shape, protocols, files) and splits that yield uint8 clips.

Datasets yield uint8 tensors (T, C, H, W); conversion to float happens on the device, in the engine, so
data loading stays cheap and exact. Every split names its `source` (e.g. "standard files" or the offline
5k digit pool) and can hash its content, so result records never mix data sources silently.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from vpbench.errors import VpbenchError, unknown_name
from vpbench.protocols import Protocol, parse_protocol

SPLITS = ("train", "val", "test")


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """--data-root, else $VPBENCH_DATA, else the user cache (~/.cache/vpbench)."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("VPBENCH_DATA"):
        return Path(os.environ["VPBENCH_DATA"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "vpbench"


class ClipDataset(Dataset):
    """A split of a dataset: `len()` clips of `clip_length` frames, each uint8 (T, C, H, W).

    `source` names where the frames come from; `checksum()` is a SHA-256 over the clips' bytes (in index
    order), the data identity written into result records.
    """

    source: str = ""
    clip_length: int = 0

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, index: int) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Generated training splits draw fresh clips each epoch; stored splits ignore this."""

    def checksum(self, limit: int | None = None) -> str:
        digest = hashlib.sha256()
        for index in range(len(self) if limit is None else min(limit, len(self))):
            digest.update(np.ascontiguousarray(self[index].numpy()).tobytes())
        return digest.hexdigest()


class ArrayClips(ClipDataset):
    """Clips cut from one uint8 array of videos, (N, T, C, H, W), e.g. a prepared cache or a test file."""

    def __init__(self, videos: np.ndarray, clip_length: int, source: str) -> None:
        if videos.ndim != 5 or videos.dtype != np.uint8:
            raise ValueError(f"expected uint8 (N, T, C, H, W) videos, got {videos.dtype} {videos.shape}")
        if videos.shape[1] < clip_length:
            raise VpbenchError(
                f"{source}: clips have {videos.shape[1]} frames but the protocol needs {clip_length}; "
                "choose a shorter protocol"
            )
        self.videos = videos
        self.clip_length = clip_length
        self.source = source

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.videos[index, : self.clip_length]))


@dataclass(frozen=True)
class DataFile:
    """A file a dataset needs: where it goes under the data root and how to get it."""

    relative_path: str
    description: str
    url: str | None = None
    sha256: str | None = None
    md5: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """Static facts about a dataset plus the function that opens its splits.

    `open(split, clip_length, root, **options) -> ClipDataset`. `files` are the raw or prepared files it
    can use; `status(root)` reports which are present.
    """

    name: str
    channels: int
    height: int
    width: int
    protocols: tuple[str, ...]
    description: str
    open: Callable[..., ClipDataset]
    files: tuple[DataFile, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    source_note: Callable[[Path], str] | None = None
    # Space-to-depth factor of the PredRNN family on this dataset (MODELS.md: 4 MMNIST, 2 KTH, 4 H3.6M); models
    # with `patch_size_from_dataset = False` (MIMO-VP: p = 2 in its paper) keep their preset's.
    patch_size: int = 4

    @property
    def default_protocols(self) -> list[Protocol]:
        return [parse_protocol(p) for p in self.protocols]

    def status(self, root: Path) -> dict[str, Any]:
        files = [
            {
                "path": str(root / f.relative_path),
                "description": f.description,
                "present": (root / f.relative_path).exists(),
            }
            for f in self.files
        ]
        return {
            "name": self.name,
            "shape": [self.channels, self.height, self.width],
            "protocols": list(self.protocols),
            "description": self.description,
            "data_root": str(root),
            "files": files,
            "source": self.source_note(root) if self.source_note else "",
            "options": dict(self.options),
        }


_DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    if spec.name in _DATASETS:
        raise ValueError(f"dataset '{spec.name}' registered twice")
    _DATASETS[spec.name] = spec
    return spec


def int_option(dataset: str, option: str, value: Any, minimum: int) -> int:
    """A dataset option as a whole number; on the command line it arrives as text (`--data-option size=64`)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number < minimum:
        raise VpbenchError(f"{dataset} option {option} must be a whole number >= {minimum}, got {value!r}")
    return number


def list_datasets() -> list[str]:
    return sorted(_DATASETS)


def get_dataset_spec(name: str) -> DatasetSpec:
    if name not in _DATASETS:
        raise unknown_name("dataset", name, _DATASETS)
    return _DATASETS[name]


def open_split(
    name: str,
    split: str,
    clip_length: int,
    root: str | os.PathLike | None = None,
    **options: Any,
) -> ClipDataset:
    """Open `split` ("train", "val" or "test") of dataset `name` with clips of `clip_length` frames."""
    spec = get_dataset_spec(name)
    if split not in SPLITS:
        raise unknown_name("split", split, SPLITS)
    unknown = set(options) - set(spec.options)
    if unknown:
        raise VpbenchError(
            f"dataset '{name}' has no option(s) {sorted(unknown)}; valid options: {sorted(spec.options) or 'none'}"
        )
    return spec.open(split, clip_length, data_root(root), **options)
