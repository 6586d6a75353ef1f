"""Golden reference tests: srvp, its three ablations, convgru, simvp and mimo-vp against the authors' code.

Each tests/golden/<model>.npz was made by running the authors' implementation at a tiny configuration in
float64 (tests/golden/README.md, part 2: repository, commit, patches, how to regenerate). It holds the
reference's state_dict under the reference's own key names, a fixed input, the reference's prediction
(eval mode), and its training loss with the norm of that loss's gradient (train mode with every dropout
p = 0, so BatchNorm uses batch statistics and nothing is random). The test converts those weights with
vpbench.interop, the path a user's checkpoint takes, loads them strictly into vpbench's model and asks for
the same numbers to 1e-10: any change to an equation, a gate order, a scale or the weight mapping fails.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _golden import GOLDEN, load_golden
from torch import nn

from vpbench.interop import convert_state_dict
from vpbench.registry import create_model

MODELS = ["srvp", "srvp-wo-sa", "srvp-wo-rfa", "srvp-wo-crossatt", "convgru", "simvp", "mimo-vp"]
TOLERANCE = 1e-10  # float64 throughout; observed differences are below 1e-15


def _frames(pixels: np.ndarray) -> torch.Tensor:
    """uint8 pixels -> float64 frames in [0, 1], exactly as the generator made them."""
    return torch.from_numpy(pixels).double() / 255


def _model_from_reference(name: str) -> tuple[nn.Module, dict, dict[str, np.ndarray]]:
    config, reference_state, arrays = load_golden(name)
    assert config["model"] == name
    geometry = {key: value for key, value in config["geometry"].items() if key != "horizon"}
    model = create_model(name, "smoke", **geometry, **config["kwargs"])
    model.load_state_dict(convert_state_dict(config["source"], name, reference_state), strict=True)
    return model.double(), config, arrays


def _close(actual: float, expected: float) -> bool:
    return abs(actual - expected) <= TOLERANCE * max(1.0, abs(expected))


@pytest.mark.parametrize("name", MODELS)
def test_prediction_matches_the_authors_code(name):
    model, config, arrays = _model_from_reference(name)
    context = _frames(arrays["context_pixels"])
    with torch.no_grad():
        prediction = model.eval()(context, config["geometry"]["horizon"])
    expected = torch.from_numpy(arrays["prediction"])
    assert prediction.dtype == torch.float64 and prediction.shape == expected.shape
    difference = (prediction - expected).abs().max().item()
    assert difference <= TOLERANCE, f"{name}: prediction differs from the reference by up to {difference:.3e}"


@pytest.mark.parametrize("name", MODELS)
def test_training_loss_and_gradient_norm_match_the_authors_code(name):
    model, _, arrays = _model_from_reference(name)
    model.train()
    for module in model.modules():  # what the generator did to the reference: dropout off, BatchNorm live
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    context, target = _frames(arrays["context_pixels"]), _frames(arrays["target_pixels"])
    loss = model.training_loss(context, target, step=0)
    loss.backward()
    gradient_norm = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).norm().item()
    expected_loss, expected_norm = float(arrays["loss"]), float(arrays["grad_norm"])
    assert loss.dtype == torch.float64
    assert _close(loss.item(), expected_loss), f"{name}: loss {loss.item()!r} vs reference {expected_loss!r}"
    assert _close(gradient_norm, expected_norm), f"{name}: grad norm {gradient_norm!r} vs {expected_norm!r}"


def test_golden_files_are_small():
    sizes = {path.name: path.stat().st_size for path in GOLDEN.glob("*.npz") if path.stem in MODELS}
    assert sorted(sizes) == sorted(f"{name}.npz" for name in MODELS)
    assert max(sizes.values()) < 100_000, sizes
