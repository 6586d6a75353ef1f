"""What vpbench knows, as plain data: the models (with the cost of each preset) and the datasets.

`vpbench models` and `vpbench datasets` print these; other tools (docs, the leaderboard) reuse them.
"""

from __future__ import annotations

from typing import Any

import torch

from vpbench.data import data_root, get_dataset_spec, list_datasets
from vpbench.efficiency import count_macs, count_parameters
from vpbench.registry import create_model, get_model_entry, list_models, preset_as_dict

# Costs are quoted for the standard Moving MNIST 10->10 setting (1x64x64 frames).
COST_SETTING = {"channels": 1, "height": 64, "width": 64, "context_length": 10, "horizon": 10}


def preset_cost(name: str, preset: str) -> dict[str, int]:
    """Parameters and MACs per 10->10 Moving MNIST sequence, measured on the meta device (no compute)."""
    geometry = {k: COST_SETTING[k] for k in ("channels", "height", "width", "context_length")}

    def build():
        return create_model(name, preset, **geometry)

    with torch.device("meta"):
        parameters = count_parameters(build())
    macs = count_macs(build, horizon=COST_SETTING["horizon"], **geometry)
    return {"parameters": parameters, "macs_per_sequence": macs}


def describe_models(with_costs: bool = True) -> list[dict[str, Any]]:
    rows = []
    for name in list_models():
        entry = get_model_entry(name)
        presets = {}
        for preset_name, preset in entry.presets.items():
            presets[preset_name] = preset_as_dict(preset)
            if with_costs:
                presets[preset_name].update(preset_cost(name, preset_name))
        rows.append(
            {
                "name": name,
                "family": entry.family,
                "paper": entry.paper,
                "description": entry.description,
                "loss": entry.loss_name,
                "source": entry.source,
                "presets": presets,
            }
        )
    return rows


def describe_datasets(root=None) -> list[dict[str, Any]]:
    return [get_dataset_spec(name).status(data_root(root)) for name in list_datasets()]
