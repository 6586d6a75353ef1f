"""What vpbench knows, as plain data: the models (with the cost of each preset) and the datasets.

`vpbench models` and `vpbench datasets` print these; other tools (docs, the leaderboard) reuse them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from vpbench.data import data_root, get_dataset_spec, list_datasets
from vpbench.efficiency import count_macs, count_parameters
from vpbench.files import atomic_write, cache_dir
from vpbench.registry import create_model, get_model_entry, list_models, preset_as_dict

# Costs are quoted for the standard Moving MNIST 10->10 setting (1x64x64 frames).
COST_SETTING = {"channels": 1, "height": 64, "width": 64, "context_length": 10, "horizon": 10}


def cost_cache_path() -> Path:
    """Counted costs, one JSON file in vpbench's cache folder."""
    return cache_dir() / "costs.json"


def _cost_key(name: str, preset: str) -> str | None:
    """What a count depends on: model, preset arguments, frame shape, code and torch version. None (do not
    cache) for a checkout with uncommitted changes, where the code version does not name the code."""
    from vpbench.engine.provenance import code_version, stable_hash

    version = code_version()
    if version.endswith("-dirty"):
        return None
    entry = get_model_entry(name)
    payload = {
        "model": name,
        "source": entry.source,
        "preset": preset_as_dict(entry.presets[preset])["model"],
        "setting": COST_SETTING,
        "code": version,
        "torch": torch.__version__,
    }
    return stable_hash(payload, length=24)


def preset_cost(name: str, preset: str, cache: dict | None = None) -> dict[str, int]:
    """Parameters and MACs per 10->10 Moving MNIST sequence, measured on the meta device (no compute);
    taken from `cache` (key: `_cost_key`) when it holds them — counting every preset takes tens of seconds."""
    key = _cost_key(name, preset) if cache is not None else None
    if key is not None and key in cache:
        return {"parameters": cache[key]["parameters"], "macs_per_sequence": cache[key]["macs_per_sequence"]}
    geometry = {k: COST_SETTING[k] for k in ("channels", "height", "width", "context_length")}

    def build():
        return create_model(name, preset, **geometry)

    with torch.device("meta"):
        parameters = count_parameters(build())
    macs = count_macs(build, horizon=COST_SETTING["horizon"], **geometry)
    cost = {"parameters": parameters, "macs_per_sequence": macs}
    if key is not None:
        cache[key] = cost
    return cost


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}  # absent or damaged: counted again and rewritten


def _write_cache(cache: dict) -> None:
    try:
        atomic_write(cost_cache_path(), lambda f: f.write(json.dumps(cache, indent=0, sort_keys=True)))
    except OSError:
        pass  # a read-only home: counting again next time is the only cost


def cached_preset_cost(name: str, preset: str) -> dict[str, int]:
    """`preset_cost` through the on-disk cache `vpbench models` keeps, for callers that need a few presets
    (the README's paper-preset comparison) rather than the whole listing."""
    cache = _read_cache(cost_cache_path())
    before = dict(cache)
    cost = preset_cost(name, preset, cache)
    if cache != before:
        _write_cache(cache)
    return cost


def describe_models(with_costs: bool = True, use_cache: bool = True) -> list[dict[str, Any]]:
    cache = _read_cache(cost_cache_path()) if with_costs and use_cache else None
    before = dict(cache) if cache is not None else None
    rows = []
    for name in list_models():
        entry = get_model_entry(name)
        presets = {}
        for preset_name, preset in entry.presets.items():
            presets[preset_name] = preset_as_dict(preset)
            if with_costs:
                presets[preset_name].update(preset_cost(name, preset_name, cache))
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
    if cache is not None and cache != before:
        _write_cache(cache)
    return rows


def describe_datasets(root=None) -> list[dict[str, Any]]:
    return [get_dataset_spec(name).status(data_root(root)) for name in list_datasets()]
