"""Checkpoints from other code bases: map a reference implementation's state_dict onto a vpbench model.

Why: a researcher with a published OpenSTL or authors' checkpoint should be able to score it under every
metric convention without retraining (`vpbench eval --checkpoint their.pth --from openstl`). Each source
lives in its own module with one function, `convert(model_name, state_dict) -> state_dict` (vpbench
layout), and raises VpbenchError naming the first key it cannot map. The golden reference tests
(tests/golden/) load reference-layout weights through these same functions, so the mapping is tested
against the reference's own outputs.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping

import torch

from vpbench.engine.checkpoint import load_torch_file
from vpbench.errors import VpbenchError, unknown_name

# --from NAME -> module under vpbench.interop that defines `convert` (and `MODELS`, the names it maps).
SOURCES: dict[str, str] = {
    "openstl": "vpbench.interop.openstl",
    "srvp-repo": "vpbench.interop.srvp_repo",
    "simvp-repo": "vpbench.interop.simvp_repo",
    "mimo-vp-repo": "vpbench.interop.mimo_vp_repo",
}


def converter(source: str, model_name: str):
    """The interop module that maps `source` checkpoints of `model_name`; one-line errors otherwise (checked
    before any file is read)."""
    if source not in SOURCES:
        raise unknown_name("checkpoint source", source, list(SOURCES))
    module = importlib.import_module(SOURCES[source])
    if model_name not in module.MODELS:
        raise VpbenchError(
            f"--from {source} maps {', '.join(sorted(module.MODELS))}, not {model_name}; "
            "check --model or the checkpoint's origin"
        )
    return module


def convert_state_dict(
    source: str, model_name: str, state_dict: Mapping[str, torch.Tensor], channels: int | None = None
) -> dict:
    """The vpbench state_dict of `model_name` from a `source`-layout one (see SOURCES).

    `channels` (the frame channel count) is passed to converters that need it (OpenSTL's patch channel
    order differs from ours for colour frames)."""
    module = converter(source, model_name)
    if "channels" in inspect.signature(module.convert).parameters:
        return module.convert(model_name, dict(state_dict), channels=channels)
    return module.convert(model_name, dict(state_dict))


# What to pass instead of a foreign checkpoint that cannot be read (see engine.checkpoint.load_torch_file).
EXPECTED_FILE = "pass the reference code base's .pt/.pth file holding the model's state_dict"


def load_foreign_state_dict(path) -> dict[str, torch.Tensor]:
    """A reference code base's checkpoint as a flat state_dict, loaded safely (`weights_only=True`).

    Accepts a bare state_dict or the usual wrappers ({"state_dict": ...}, {"model": ...}); DataParallel's
    "module." prefixes are removed.
    """
    document = load_torch_file(path, expect=EXPECTED_FILE, if_corrupt="download it again")
    for wrapper in ("state_dict", "model", "model_state_dict"):
        if isinstance(document, dict) and isinstance(document.get(wrapper), dict):
            document = document[wrapper]
            break
    if not isinstance(document, dict) or not all(isinstance(v, torch.Tensor) for v in document.values()):
        raise VpbenchError(f"checkpoint {path} is not a state_dict (a mapping of names to tensors)")
    return {key.removeprefix("module."): value for key, value in document.items()}
