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
from collections.abc import Mapping

import torch

from vpbench.errors import VpbenchError, unknown_name

# --from NAME -> module under vpbench.interop that defines `convert` (and `MODELS`, the names it maps).
SOURCES: dict[str, str] = {
    "openstl": "vpbench.interop.openstl",
    "srvp-repo": "vpbench.interop.srvp_repo",
    "simvp-repo": "vpbench.interop.simvp_repo",
    "mimo-vp-repo": "vpbench.interop.mimo_vp_repo",
}


def convert_state_dict(source: str, model_name: str, state_dict: Mapping[str, torch.Tensor]) -> dict:
    """The vpbench state_dict of `model_name` from a `source`-layout one (see SOURCES)."""
    if source not in SOURCES:
        raise unknown_name("checkpoint source", source, list(SOURCES))
    module = importlib.import_module(SOURCES[source])
    if model_name not in module.MODELS:
        raise VpbenchError(
            f"--from {source} maps {', '.join(sorted(module.MODELS))}, not {model_name}; "
            "check --model or the checkpoint's origin"
        )
    return module.convert(model_name, dict(state_dict))
