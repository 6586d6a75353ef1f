"""Reading a golden reference file (tests/golden/<model>.npz, see tests/golden/README.md, part 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

GOLDEN = Path(__file__).parent / "golden"


def load_golden(name: str) -> tuple[dict, dict[str, torch.Tensor], dict[str, np.ndarray]]:
    """(configuration, the reference's state_dict under its own key names, the other arrays).

    The state_dict is stored as one float32 vector (the weights are float32-exact) and a JSON index of
    (key, dtype, shape) in state_dict order, which keeps the zip small.
    """
    with np.load(GOLDEN / f"{name}.npz") as stored:
        arrays = {key: stored[key] for key in stored.files}
    config = json.loads(str(arrays.pop("config_json")))
    values = torch.from_numpy(arrays.pop("state_values"))
    state, offset = {}, 0
    for key, dtype, shape in json.loads(str(arrays.pop("state_index_json"))):
        count = int(np.prod(shape, dtype=np.int64))
        state[key] = values[offset:offset + count].reshape(shape).to(getattr(torch, dtype))
        offset += count
    assert offset == len(values)
    return config, state, arrays
