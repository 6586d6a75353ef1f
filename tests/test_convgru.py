"""The ConvGRU backbone shared by `convgru` and SRVP: the cell against its equation, the
encoder-forecaster wiring, teacher forcing, the paper's parameter count and the BCE objective."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vpbench.efficiency import count_parameters
from vpbench.errors import VpbenchError
from vpbench.layers.convgru import ConvGRUCell, ConvGRUEncoderForecaster
from vpbench.registry import create_model, get_model_entry


def _sigmoid(value: float) -> float:
    return 1 / (1 + math.exp(-value))


def _hand_set_cell(dropout: float) -> ConvGRUCell:
    """1 input channel, 1 hidden channel, 1x1 kernels: every convolution is `weight * value + bias`."""
    cell = ConvGRUCell(input_channels=1, hidden_channels=1, kernel_size=1, dropout=dropout)
    with torch.no_grad():
        cell.gates_from_input.weight.copy_(torch.tensor([0.5, -1.0]).view(2, 1, 1, 1))  # W_z, W_r
        cell.gates_from_input.bias.copy_(torch.tensor([0.1, 0.2]))
        cell.gates_from_hidden.weight.copy_(torch.tensor([2.0, 0.3]).view(2, 1, 1, 1))  # U_z, U_r
        cell.gates_from_hidden.bias.copy_(torch.tensor([-0.4, 0.0]))
        cell.candidate_from_input.weight.fill_(1.5)  # W_g
        cell.candidate_from_input.bias.fill_(-0.2)
        cell.candidate_from_hidden.weight.fill_(-0.7)  # U_g
        cell.candidate_from_hidden.bias.fill_(0.05)
    return cell


def _cell_by_hand(x: float, h: float, x_seen_by_gates: float) -> float:
    """[z, r] = σ(W·x + U·h); g = tanh(W_g·x + U_g·(r·h)); h' = (1 − z)·g + z·h (MODELS.md, ConvGRU)."""
    z = _sigmoid(0.5 * x_seen_by_gates + 0.1 + 2.0 * h - 0.4)
    r = _sigmoid(-1.0 * x_seen_by_gates + 0.2 + 0.3 * h + 0.0)
    g = math.tanh(1.5 * x - 0.2 + (-0.7) * (r * h) + 0.05)
    return (1 - z) * g + z * h


def test_cell_matches_the_gru_equation_with_hand_set_weights():
    cell = _hand_set_cell(dropout=0.5).eval()
    inputs, hidden = [0.8, -0.3, 0.0], [0.25, 0.9, -0.6]
    result = cell(torch.tensor(inputs).view(1, 1, 1, 3), torch.tensor(hidden).view(1, 1, 1, 3))
    expected = [_cell_by_hand(x, h, x) for x, h in zip(inputs, hidden, strict=True)]
    torch.testing.assert_close(result.flatten(), torch.tensor(expected), atol=1e-6, rtol=1e-6)


def test_dropout_acts_on_the_gate_branch_input_only():
    # Dropout with p = 1 zeroes the gates' view of x; the candidate must still see x itself.
    cell = _hand_set_cell(dropout=1.0).train()
    result = cell(torch.tensor([0.8]).view(1, 1, 1, 1), torch.tensor([0.25]).view(1, 1, 1, 1))
    assert result.item() == pytest.approx(_cell_by_hand(0.8, 0.25, x_seen_by_gates=0.0), abs=1e-6)
    assert result.item() != pytest.approx(_cell_by_hand(0.8, 0.25, x_seen_by_gates=0.8), abs=1e-3)


def test_forecaster_starts_from_encoder_states_with_the_last_observed_frame():
    backbone = ConvGRUEncoderForecaster(channels=1, hidden_channels=4, num_layers=3, kernel_size=3, dropout=0.0)
    context = torch.rand(2, 5, 1, 8, 8)
    encoder_outputs, states = backbone.encode(context)
    assert encoder_outputs.shape == (2, 5, 4, 8, 8)
    torch.testing.assert_close(encoder_outputs[:, -1], states[-1])
    # Layer l+1 reads layer l's new state: re-running the encoder by hand gives the same states.
    manual = backbone.encoder.initial_states(context[:, 0])
    for time in range(5):
        manual = [
            cell(layer_input, state)
            for cell, state, layer_input in _layer_inputs(backbone.encoder.cells, manual, context[:, time])
        ]
    for ours, theirs in zip(states, manual, strict=True):
        torch.testing.assert_close(ours, theirs)

    seen = []
    frames = iter([torch.full((2, 1, 8, 8), 0.3), torch.full((2, 1, 8, 8), 0.7)])

    def readout(layer_states):
        seen.append([state.clone() for state in layer_states])
        return next(frames)

    backbone.forecast(list(states), context[:, -1], 2, readout)
    first = backbone.forecaster.step(context[:, -1], states)
    second = backbone.forecaster.step(torch.full((2, 1, 8, 8), 0.3), first)  # fed its own prediction
    for ours, theirs in zip(seen[0] + seen[1], first + second, strict=True):
        torch.testing.assert_close(ours, theirs)


def _layer_inputs(cells, states, frame):
    """Yield (cell, state, input) bottom-up, each input being the previous cell's output."""
    layer_input = frame
    for cell, state in zip(cells, states, strict=True):
        yield cell, state, layer_input
        layer_input = cell(layer_input, state)


def test_teacher_forcing_feeds_the_ground_truth_and_stays_causal():
    model = create_model("convgru", "smoke", height=16, width=16).eval()
    context, target = torch.rand(2, 10, 1, 16, 16), torch.rand(2, 6, 1, 16, 16)
    with torch.no_grad():
        forced = model(context, 6, target=target, teacher_forcing=1.0)
        free = model(context, 6)
        changed_later = target.clone()
        changed_later[:, 3:] = torch.rand_like(changed_later[:, 3:])
        forced_changed = model(context, 6, target=changed_later, teacher_forcing=1.0)
    torch.testing.assert_close(forced[:, 0], free[:, 0])  # the first step never sees the target
    assert not torch.allclose(forced[:, 1:], free[:, 1:])
    torch.testing.assert_close(forced[:, :4], forced_changed[:, :4])  # step k sees target frames < k only
    assert not torch.allclose(forced[:, 4:], forced_changed[:, 4:])


def test_paper_parameter_count():
    """4 layers x 128 hidden, kernel 5, in two stacks (encoder, forecaster); head 3x3, 512 -> 1.

    A cell with input width i (every conv 5x5 with bias):
      gates_from_input  i*256*25 + 256      gates_from_hidden  128*256*25 + 256 = 819,456
      candidate_from_input i*128*25 + 128   candidate_from_hidden 128*128*25 + 128 = 409,728
    layer 1 (i = 1): 6,656 + 819,456 + 3,328 + 409,728 = 1,239,168
    layers 2-4 (i = 128): 819,456 + 819,456 + 409,728 + 409,728 = 2,458,368 each
    one stack: 1,239,168 + 3 x 2,458,368 = 8,614,272; two stacks: 17,228,544
    head: 512*9 + 1 = 4,609  ->  17,233,153 (the SRVP reference's backbone is the same 17,228,544).
    """
    with torch.device("meta"):
        model = create_model("convgru", "paper")
    assert count_parameters(model.backbone.encoder.cells[0]) == 1_239_168
    assert count_parameters(model.backbone.encoder.cells[1]) == 2_458_368
    assert count_parameters(model.backbone) == 17_228_544
    assert count_parameters(model) == 17_233_153


def test_training_loss_is_bce_on_the_predicted_frames():
    model = create_model("convgru", "smoke", height=16, width=16).eval()
    context, target = torch.rand(2, 10, 1, 16, 16), torch.rand(2, 4, 1, 16, 16)
    with torch.no_grad():
        expected = F.binary_cross_entropy(model(context, 4), target)
        assert model.training_loss(context, target, step=0).item() == pytest.approx(expected.item(), rel=1e-6)
    assert get_model_entry("convgru").loss_name == "bce"
    paper = get_model_entry("convgru").presets["paper"]
    assert (paper.train.optimizer, paper.train.lr, paper.train.weight_decay, paper.train.momentum) == (
        "rmsprop",
        1e-5,
        1e-4,
        0.9,
    )
    assert paper.train.batch_size == 8


def test_even_kernel_is_a_one_line_error():
    with pytest.raises(VpbenchError, match="odd kernel_size"):
        create_model("convgru", "smoke", kernel_size=4)


def test_smoke_model_overfits_one_batch():
    clips = torch.zeros(2, 8, 1, 16, 16)
    for sequence, start in enumerate((0, 5)):
        for time in range(8):
            column = (start + time) % 12
            clips[sequence, time, 0, 5:9, column : column + 4] = 1.0  # a 4x4 square moving right
    context, target = clips[:, :4], clips[:, 4:]
    model = create_model("convgru", "smoke", height=16, width=16, context_length=4, dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    with torch.no_grad():
        initial = model.eval().training_loss(context, target, step=0).item()
    model.train()
    for step in range(100):
        optimizer.zero_grad()
        model.training_loss(context, target, step).backward()
        optimizer.step()
    with torch.no_grad():
        final = model.eval().training_loss(context, target, step=0).item()
        squared_error = (model(context, 4) - target).square().mean().item()
    assert final < 0.05 * initial
    assert squared_error < 0.01  # an all-black prediction has MSE 1/16
