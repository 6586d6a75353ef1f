"""Cell-level tests for the PredRNN-family cells (baselines/_cells.py) against MODELS.md's equations.

Each cell gets hand-set (random, fixed) weights with 1x1 filters and one channel, so every convolution is
a scalar product; the expected output is the paper's equation evaluated with Python floats, pixel by
pixel. A wrong gate activation, a missing or extra +1 forget bias, a state read at the wrong time or a peephole
applied to the wrong cell makes these fail.
"""

from __future__ import annotations

import math

import pytest
import torch

from vpbench.baselines._cells import (
    CausalLSTMCell,
    ConvLSTMCell,
    GradientHighwayUnit,
    MIMBlock,
    PeepholeConvLSTMCell,
    SpatioTemporalLSTMCell,
)

WIDTH = 2  # two pixels in a 1x2 grid: the per-pixel peepholes must differ between them


def sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


tanh = math.tanh


def randomize(module: torch.nn.Module, seed: int) -> dict[str, list[float]]:
    """Fill every parameter with U(-1.5, 1.5) and return them flattened, by name."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.rand(parameter.shape, generator=generator) * 3 - 1.5)
    return {name: p.detach().reshape(-1).tolist() for name, p in module.named_parameters()}


def grid(*values: float) -> torch.Tensor:
    """A (1, 1, 1, WIDTH) tensor holding one value per pixel."""
    return torch.tensor(values, dtype=torch.float32).reshape(1, 1, 1, WIDTH)


def pixels(tensor: torch.Tensor) -> list[float]:
    return tensor.detach().reshape(-1).tolist()


def affine(weights: list[float], value: float, biases: list[float] | None = None) -> list[float]:
    """A 1-in-channel 1x1 conv with len(weights) outputs, applied to one pixel value."""
    biases = biases or [0.0] * len(weights)
    return [w * value + b for w, b in zip(weights, biases, strict=True)]


def assert_pixels(actual: torch.Tensor, expected: list[float]) -> None:
    assert pixels(actual) == pytest.approx(expected, abs=1e-5)


X, H, C, M = grid(0.9, -0.4), grid(-0.6, 0.8), grid(0.5, -1.1), grid(-0.7, 0.3)


@pytest.mark.parametrize("forget_bias", [None, 1.0], ids=["default", "plus-one"])
def test_convlstm_cell_matches_shi_et_al_without_peepholes(forget_bias):
    """Default: no constant on the forget gate (Shi et al.'s Eq. 3 and OpenSTL's cell, which made the
    published numbers); forget_bias=1.0 is the PredRNN code's +1."""
    cell = ConvLSTMCell(1, 1, filter_size=1) if forget_bias is None else ConvLSTMCell(1, 1, 1, forget_bias)
    offset = 0.0 if forget_bias is None else forget_bias
    w = randomize(cell, 1)
    # gates.weight is (4 gates, [x, h]); one bias per gate
    gate_weights = [w["gates.weight"][2 * k : 2 * k + 2] for k in range(4)]
    hidden, cell_state = [], []
    for x, h, c in zip(pixels(X), pixels(H), pixels(C), strict=True):
        i, f, g, o = (wx * x + wh * h + b for (wx, wh), b in zip(gate_weights, w["gates.bias"], strict=True))
        c_new = sigmoid(f + offset) * c + sigmoid(i) * tanh(g)
        hidden.append(sigmoid(o) * tanh(c_new))  # H = o ⊙ tanh(C), not old OpenSTL's o ⊙ g
        cell_state.append(c_new)
    h_out, c_out = cell(X, H, C)
    assert_pixels(h_out, hidden)
    assert_pixels(c_out, cell_state)


def test_st_lstm_matches_predrnn_equations():
    cell = SpatioTemporalLSTMCell(1, 1, filter_size=1)
    w = randomize(cell, 2)
    expected = {"hidden": [], "cell": [], "memory": []}
    for x, h, c, m in zip(pixels(X), pixels(H), pixels(C), pixels(M), strict=True):
        xi, xf, xg, xi2, xf2, xg2, xo = affine(w["input_conv.weight"], x, w["input_conv.bias"])
        hi, hf, hg, ho = affine(w["hidden_conv.weight"], h)
        mi, mf, mg = affine(w["memory_conv.weight"], m)
        c_new = sigmoid(xf + hf + 1) * c + sigmoid(xi + hi) * tanh(xg + hg)  # temporal memory
        m_new = sigmoid(xf2 + mf + 1) * m + sigmoid(xi2 + mi) * tanh(xg2 + mg)  # spatiotemporal memory
        wo_c, wo_m = w["output_conv.weight"]
        o = sigmoid(xo + ho + wo_c * c_new + wo_m * m_new)  # output gate sees the *new* C and M
        w1_c, w1_m = w["fuse.weight"]
        expected["hidden"].append(o * tanh(w1_c * c_new + w1_m * m_new))
        expected["cell"].append(c_new)
        expected["memory"].append(m_new)
    h_out, c_out, m_out = cell(X, H, C, M)
    assert_pixels(h_out, expected["hidden"])
    assert_pixels(c_out, expected["cell"])
    assert_pixels(m_out, expected["memory"])


def test_causal_lstm_matches_predrnn_pp_equations():
    cell = CausalLSTMCell(1, 1, filter_size=1)
    w = randomize(cell, 3)
    expected = {"hidden": [], "cell": [], "memory": []}
    for x, h, c, m in zip(pixels(X), pixels(H), pixels(C), pixels(M), strict=True):
        xi, xf, xg, xi2, xf2, xg2, xo = affine(w["input_conv.weight"], x, w["input_conv.bias"])
        hi, hf, hg, ho = affine(w["hidden_conv.weight"], h)
        ci, cf, cg = affine(w["cell_conv.weight"], c)
        mi, mf, mm = affine(w["memory_conv.weight"], m)
        c_new = sigmoid(xf + hf + cf + 1) * c + sigmoid(xi + hi + ci) * tanh(xg + hg + cg)
        # the cascade: the spatial memory's gates read the *new* temporal memory C_t
        ni, nf, ng, no = affine(w["new_cell_conv.weight"], c_new)
        m_new = sigmoid(xf2 + mf + nf + 1) * tanh(mm) + sigmoid(xi2 + mi + ni) * tanh(xg2 + ng)
        (wmo,) = w["new_memory_conv.weight"]
        o = tanh(xo + ho + no + wmo * m_new)  # tanh, not sigmoid, in the Causal LSTM
        w1_c, w1_m = w["fuse.weight"]
        expected["hidden"].append(o * tanh(w1_c * c_new + w1_m * m_new))
        expected["cell"].append(c_new)
        expected["memory"].append(m_new)
    h_out, c_out, m_out = cell(X, H, C, M)
    assert_pixels(h_out, expected["hidden"])
    assert_pixels(c_out, expected["cell"])
    assert_pixels(m_out, expected["memory"])


def test_gradient_highway_unit_matches_its_equation():
    unit = GradientHighwayUnit(1, 1, filter_size=1)
    w = randomize(unit, 4)
    expected = []
    for x, z in zip(pixels(X), pixels(H), strict=True):
        xp, xs = affine(w["input_conv.weight"], x, w["input_conv.bias"])
        zp, zs = affine(w["highway_conv.weight"], z)
        switch = sigmoid(xs + zs)
        expected.append(switch * tanh(xp + zp) + (1 - switch) * z)
    assert_pixels(unit(X, H), expected)


def peephole_by_hand(w: dict, prefix: str, pixel: int, x: float, h: float, c: float) -> tuple[float, float]:
    """MIM-N / MIM-S: ConvLSTM with per-pixel peepholes, evaluated at one pixel."""
    xi, xg, xf, xo = affine(w[f"{prefix}input_conv.weight"], x, w[f"{prefix}input_conv.bias"])
    hi, hg, hf, ho = affine(w[f"{prefix}hidden_conv.weight"], h)
    peep = w[f"{prefix}cell_peephole"]  # (2 channels [i, f], 1 x WIDTH) flattened
    peep_i, peep_f = peep[pixel], peep[WIDTH + pixel]
    c_new = sigmoid(xf + hf + peep_f * c + 1) * c + sigmoid(xi + hi + peep_i * c) * tanh(xg + hg)
    o = sigmoid(xo + ho + w[f"{prefix}output_peephole"][pixel] * c_new)
    return o * tanh(c_new), c_new


def test_peephole_cell_uses_per_pixel_peepholes():
    cell = PeepholeConvLSTMCell(1, 1, filter_size=1, height=1, width=WIDTH)
    w = randomize(cell, 5)
    assert w["cell_peephole"][0] != w["cell_peephole"][1]
    expected = [peephole_by_hand(w, "", j, pixels(X)[j], pixels(H)[j], pixels(C)[j]) for j in range(WIDTH)]
    h_out, c_out = cell(X, H, C)
    assert_pixels(h_out, [e[0] for e in expected])
    assert_pixels(c_out, [e[1] for e in expected])


@pytest.mark.parametrize("variant", ["code", "paper"])
def test_mim_block_matches_mim_equations(variant):
    """Both variants: the output gate reads the incoming M (authors' code, OpenSTL) or the new M_t (paper)."""
    block = MIMBlock(1, 1, filter_size=1, height=1, width=WIDTH, variant=variant)
    w = randomize(block, 6)
    difference, d_prev, n_prev, s_prev = grid(0.35, -0.25), grid(0.2, -0.45), grid(-0.3, 0.6), grid(0.4, 0.1)
    expected = {key: [] for key in ("hidden", "cell", "memory", "d", "n", "s")}
    for j in range(WIDTH):
        x, h, c, m = pixels(X)[j], pixels(H)[j], pixels(C)[j], pixels(M)[j]
        # MIM-N on the difference of the lower layer's hidden states, with its own (D, N) state
        d, n = peephole_by_hand(w, "non_stationary.", j, pixels(difference)[j], pixels(d_prev)[j], pixels(n_prev)[j])
        # MIM-S on D, with the block's C_{t-1} as its hidden state and its own cell S
        t, s = peephole_by_hand(w, "stationary.", j, d, c, pixels(s_prev)[j])
        xi, xg, xf2, xo = affine(w["input_conv.weight"], x)
        hi, hg, ho = affine(w["hidden_conv.weight"], h, w["hidden_conv.bias"])
        mi, mg, mf = affine(w["memory_conv.weight"], m, w["memory_conv.bias"])
        c_new = t + sigmoid(xi + hi) * tanh(xg + hg)  # no temporal forget gate: MIM-S replaces it
        m_new = sigmoid(xf2 + mf + 1) * m + sigmoid(xi + mi) * tanh(xg + mg)
        (wmo,) = w["memory_output_conv.weight"]
        o = sigmoid(xo + ho + wmo * (m if variant == "code" else m_new))
        w1_c, w1_m = w["fuse.weight"]
        for key, value in zip(expected, (o * tanh(w1_c * c_new + w1_m * m_new), c_new, m_new, d, n, s), strict=True):
            expected[key].append(value)
    h_out, c_out, m_out, (d_out, n_out), s_out = block(X, difference, H, C, M, (d_prev, n_prev), s_prev)
    for key, actual in zip(expected, (h_out, c_out, m_out, d_out, n_out, s_out), strict=True):
        assert_pixels(actual, expected[key])


def test_mim_block_refuses_an_unknown_variant():
    with pytest.raises(ValueError, match="code"):
        MIMBlock(1, 1, filter_size=1, height=1, width=WIDTH, variant="tf")


def test_mim_block_keeps_mim_n_state_when_there_is_no_previous_hidden_state():
    block = MIMBlock(1, 1, filter_size=1, height=1, width=WIDTH)
    randomize(block, 7)
    zeros = torch.zeros(1, 1, 1, WIDTH)
    *_, (d_out, n_out), _ = block(X, None, H, C, M, (zeros, zeros), zeros)
    assert torch.equal(d_out, zeros) and torch.equal(n_out, zeros)
    assert not any(isinstance(value, torch.Tensor) for value in vars(block).values()), "state kept on module"
