"""The shared model contract, run over every registered model at its `smoke` preset (STYLE.md: tests
driven by the registry). A model is covered the moment it is registered."""

from __future__ import annotations

import pytest
import torch

from vpbench.registry import create_model, get_model_entry, list_models

ALL_MODELS = list_models()
TRAINABLE = [name for name in ALL_MODELS if getattr(get_model_entry(name).cls, "trainable", True)]

# (channels, height, width, context, horizon): Moving MNIST 10->10 and 10->30, Human3.6M 4->4, KTH 128x128.
SHAPES = [(1, 64, 64, 10, 10), (1, 64, 64, 10, 30), (3, 64, 64, 4, 4), (1, 128, 128, 10, 20)]


def _build(name, channels=1, height=64, width=64, context_length=10):
    return create_model(name, "smoke", channels=channels, height=height, width=width, context_length=context_length)


@pytest.mark.parametrize("name", ALL_MODELS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}x{s[2]}_{s[3]}to{s[4]}")
def test_output_shape_and_range(name, shape):
    channels, height, width, context_length, horizon = shape
    model = _build(name, channels, height, width, context_length).eval()
    context = torch.rand(2, context_length, channels, height, width)
    with torch.no_grad():
        prediction = model(context, horizon)
    assert prediction.shape == (2, horizon, channels, height, width)
    assert torch.isfinite(prediction).all()


@pytest.mark.parametrize("name", ALL_MODELS)
def test_prediction_ignores_target_without_teacher_forcing(name):
    model = _build(name).eval()
    context, target = torch.rand(2, 10, 1, 64, 64), torch.rand(2, 10, 1, 64, 64)
    with torch.no_grad():
        first = model(context, 10, target=target, teacher_forcing=0.0)
        second = model(context, 10, target=torch.rand_like(target), teacher_forcing=0.0)
    torch.testing.assert_close(first, second)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_early_steps_do_not_depend_on_the_requested_horizon(name):
    model = _build(name).eval()
    context = torch.rand(2, 10, 1, 64, 64)
    with torch.no_grad():
        short, long = model(context, 5), model(context, 20)
    torch.testing.assert_close(short, long[:, :5], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_sequence_prediction_is_independent_of_batch_and_history(name):
    """Catches state that leaks across sequences or batches (MIM's persistent MIM-S cell in OpenSTL)."""
    model = _build(name).eval()
    sequence, other_a, other_b = (torch.rand(1, 10, 1, 64, 64) for _ in range(3))
    with torch.no_grad():
        alone = model(sequence, 10)
        with_a = model(torch.cat([sequence, other_a]), 10)[:1]
        with_b = model(torch.cat([other_b, sequence]), 10)[1:]
        again = model(sequence, 10)
    torch.testing.assert_close(alone, with_a, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone, with_b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone, again, atol=0, rtol=0)


@pytest.mark.parametrize("name", TRAINABLE)
def test_every_parameter_receives_a_gradient(name):
    model = _build(name).train()
    context, target = torch.rand(2, 10, 1, 64, 64), torch.rand(2, 10, 1, 64, 64)
    loss = model.training_loss(context, target, step=0)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not dead, f"parameters without gradient: {dead}"


@pytest.mark.parametrize("name", ALL_MODELS)
def test_a_size_below_one_is_refused_in_one_line_when_the_model_is_built(name):
    """`--model-option hidden_channels=0` (or heads, groups, a kernel size; 0 or -1) ended in torch's
    "expected weight to be at least 1" at the first forward pass, or a ZeroDivisionError, for six models."""
    from vpbench.errors import VpbenchError
    from vpbench.registry import get_preset

    sizes = {k: v for k, v in get_preset(name, "smoke").model.items() if type(v) is int and v >= 1}
    for argument in sizes:
        for value in (0, -1):
            try:
                shape = {"channels": 1, "height": 16, "width": 16, "context_length": 4}
                model = create_model(name, "smoke", **shape, **{argument: value})
                with torch.no_grad():
                    model(torch.rand(2, 4, 1, 16, 16), 4)
            except VpbenchError as error:
                assert f"model '{name}'" in str(error) and "\n" not in str(error)
