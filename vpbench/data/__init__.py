"""Datasets: specs, splits of uint8 clips (T, C, H, W), downloads and preparation.

Importing this package registers every built-in dataset.
"""

from vpbench.data import human36m, kth, mmnist, synthetic  # noqa: F401  (registration)
from vpbench.data.base import (
    SPLITS,
    ArrayClips,
    ClipDataset,
    DataFile,
    DatasetSpec,
    data_root,
    get_dataset_spec,
    list_datasets,
    open_split,
    register_dataset,
)

__all__ = [
    "SPLITS",
    "ArrayClips",
    "ClipDataset",
    "DataFile",
    "DatasetSpec",
    "data_root",
    "get_dataset_spec",
    "list_datasets",
    "open_split",
    "register_dataset",
]
