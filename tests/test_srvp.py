"""SRVP and its ablations: parameter counts against the reference, what each ablation removes, the
attention primitives on hand-made tensors, the self-correlation maps, evaluation without stored
activations, and the smoke model overfitting one batch."""

from __future__ import annotations

import math

import pytest
import torch

from vpbench.efficiency import count_parameters
from vpbench.errors import VpbenchError
from vpbench.models._attention import (
    ChannelAttention,
    channel_self_correlation,
    l2_norm,
    temporal_attention,
    temporal_self_correlation,
)
from vpbench.registry import create_model, get_model_entry

VARIANTS = ["srvp", "srvp-wo-sa", "srvp-wo-rfa", "srvp-wo-crossatt"]


def _paper(name: str):
    with torch.device("meta"):
        return create_model(name, "paper")


# Per-block counts at the paper's sizes (hidden 128, 4 layers, kernel 5, 1 channel, T = 10).
BACKBONE = 17_228_544  # two stacks of 4 ConvGRU cells, see tests/test_convgru.py
CHANNEL_ATTENTION_128 = 3 * (128 * 128 + 128)  # Q, K, V 1x1 convs = 49,536
CHANNEL_ATTENTION_64 = 3 * (64 * 64 + 64)  # 12,480
SA = 3 * CHANNEL_ATTENTION_128  # self + spatial + temporal = 148,608
RFA_FRAME_FEATURES = (1 * 64 * 9 + 64) + 2 * 64 + (64 * 128 * 9 + 128) + 2 * 128  # conv-BN-conv-BN = 74,880
RFA_ENCODER_NORM = 2 * 10  # GroupNorm(T groups, T channels) affine
RFA_STATE_NORM = 2 * 512  # GroupNorm(512 groups, 512 channels) affine
RFA_STATE_PROJECTION = 512 * 128 * 9 + 128  # 589,952
RFA_CONTEXT_AND_REFINED = 2 * (128 * 64 * 9 + 64) + CHANNEL_ATTENTION_128  # 2 x 73,792 + 49,536
RFA_CROSS = 2 * CHANNEL_ATTENTION_64 + 2 * (64 * 32 * 9 + 32)  # 24,960 + 2 x 18,464
RFA = (
    RFA_FRAME_FEATURES + RFA_ENCODER_NORM + RFA_STATE_NORM + RFA_STATE_PROJECTION + RFA_CONTEXT_AND_REFINED + RFA_CROSS
)  # 924,884


def _head(width: int) -> int:
    return width * 9 + 1  # conv 3x3 -> 1 channel


def test_paper_parameter_count_matches_the_reference():
    """18,309,525 = the SRVP reference's EncoderDecoder at its Moving MNIST settings ("18.31M")."""
    model = _paper("srvp")
    assert count_parameters(model.backbone) == BACKBONE
    assert count_parameters(model.standard_attention) == SA == 148_608
    assert count_parameters(model.reinforced_attention) == RFA == 924_884
    assert count_parameters(model.head) == _head(832) == 7_489
    assert count_parameters(model) == BACKBONE + SA + RFA + _head(832) == 18_309_525
    assert model.head_channels == 832  # 512 states + 128 + 128 (SA) + 32 + 32 (RFA)


@pytest.mark.parametrize(
    "name, head_width, expected",
    [
        ("srvp-wo-sa", 576, BACKBONE + RFA + _head(576)),
        ("srvp-wo-rfa", 768, BACKBONE + SA + _head(768)),
        # Cross attention gone from both: SA loses 2 x A(128); RFA loses 2 x A(64) and its two 64->32 convs.
        ("srvp-wo-crossatt", 896, BACKBONE + (SA - 2 * CHANNEL_ATTENTION_128) + (RFA - RFA_CROSS) + _head(896)),
    ],
)
def test_each_ablation_removes_exactly_what_it_says(name, head_width, expected):
    model = _paper(name)
    assert model.head_channels == head_width
    assert model.head[0].in_channels == head_width
    assert count_parameters(model) == expected
    names = [parameter_name for parameter_name, _ in model.named_parameters()]
    if name == "srvp-wo-sa":
        assert model.standard_attention is None and not any(n.startswith("standard_attention") for n in names)
        assert any(n.startswith("reinforced_attention") for n in names)
    if name == "srvp-wo-rfa":
        assert model.reinforced_attention is None and not any(n.startswith("reinforced_attention") for n in names)
        assert any(n.startswith("standard_attention") for n in names)
    if name == "srvp-wo-crossatt":
        assert not any("spatial_attention" in n or "temporal_attention" in n for n in names)
        assert not any("spatial_projection" in n or "temporal_projection" in n for n in names)
    description = get_model_entry(name).description
    assert "without" in description.lower() and str(head_width) in description


@pytest.mark.parametrize("name", VARIANTS)
def test_every_variant_trains_one_step_with_gradients_everywhere(name):
    model = create_model(name, "smoke", height=16, width=16, context_length=4).train()
    context, target = torch.rand(2, 4, 1, 16, 16), torch.rand(2, 5, 1, 16, 16)
    loss = model.training_loss(context, target, step=0)
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not dead, f"parameters without gradient: {dead}"
    before = [p.detach().clone() for p in model.parameters()]
    torch.optim.RMSprop(model.parameters(), lr=1e-3, weight_decay=1e-4, momentum=0.9).step()
    assert all(not torch.equal(old, new) for old, new in zip(before, model.parameters(), strict=True))


def test_temporal_attention_picks_the_key_equal_to_a_single_query():
    keys = 10.0 * torch.eye(3, 16).view(1, 3, 1, 4, 4)  # three orthogonal frames, norm 10
    values = torch.arange(3.0).view(1, 3, 1, 1, 1).expand(1, 3, 1, 4, 4)  # frame k is filled with k
    query = keys[:, 2:3]  # equal to key 2: scores (0, 0, 100) / 4 -> softmax ~ (0, 0, 1)
    attended = temporal_attention(query, keys, values)
    assert attended.shape == (1, 1, 4, 4)
    torch.testing.assert_close(attended, torch.full((1, 1, 4, 4), 2.0), atol=1e-9, rtol=0)


def test_temporal_attention_l2_norms_several_queries_into_one_row():
    # Frames of c=1, h=1, w=2: keys (1, 0), (0, 1), (1, 1); queries (2, 0), (0, 3).
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]).view(1, 3, 1, 1, 2)
    queries = torch.tensor([[2.0, 0.0], [0.0, 3.0]]).view(1, 2, 1, 1, 2)
    values = torch.tensor([[1.0, -1.0], [4.0, 2.0], [0.5, 8.0]]).view(1, 3, 1, 1, 2)
    # scores / sqrt(2): query 1 -> (2, 0, 2), query 2 -> (0, 3, 3); L2 over queries -> (2, 3, sqrt(13)).
    row = [2 / math.sqrt(2), 3 / math.sqrt(2), math.sqrt(13) / math.sqrt(2)]
    total = sum(math.exp(score) for score in row)
    weights = [math.exp(score) / total for score in row]
    expected = [sum(w * v for w, v in zip(weights, column, strict=True)) for column in ([1, 4, 0.5], [-1, 2, 8])]
    attended = temporal_attention(queries, keys, values)
    torch.testing.assert_close(attended.flatten(), torch.tensor(expected), atol=1e-6, rtol=1e-6)


def test_channel_attention_shape_and_a_hand_computed_two_channel_case():
    attention = ChannelAttention(2)
    assert attention(torch.rand(3, 2, 5, 7), torch.rand(3, 2, 5, 7)).shape == (3, 2, 5, 7)
    with torch.no_grad():
        for projection in (attention.query, attention.key, attention.value):
            projection.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
            projection.bias.zero_()
        attention.value.weight.mul_(2.0)  # V = 2 * kv, to see that V (not K) is what gets mixed
    query = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).view(1, 2, 1, 2)  # channels x pixels
    key_value = torch.tensor([[1.0, 1.0], [2.0, 0.0]]).view(1, 2, 1, 2)
    # Q·Kᵀ = [[1, 2], [1, 0]], scaled by 1/sqrt(h·w) = 1/sqrt(2), softmax per row, times V = 2·kv.
    affinity = []
    for row in ([1.0, 2.0], [1.0, 0.0]):
        exps = [math.exp(value / math.sqrt(2)) for value in row]
        affinity.append([value / sum(exps) for value in exps])
    values = [[2.0, 2.0], [4.0, 0.0]]
    expected = [[sum(affinity[i][k] * values[k][p] for k in range(2)) for p in range(2)] for i in range(2)]
    result = attention(query, key_value)
    torch.testing.assert_close(result.view(2, 2), torch.tensor(expected), atol=1e-6, rtol=1e-6)


def test_fast_l2_norm_equals_vector_norm_and_keeps_a_finite_gradient_at_zero():
    tensor = torch.randn(3, 4, 5)
    torch.testing.assert_close(l2_norm(tensor, dim=1), torch.linalg.vector_norm(tensor, dim=1))
    zero = torch.zeros(2, 3, requires_grad=True)
    l2_norm(zero, dim=1).sum().backward()
    assert torch.equal(zero.grad, torch.zeros(2, 3))


def _correlation_by_hand(features: torch.Tensor) -> torch.Tensor:
    """One sequence, features (N, F): the rank-1 map written element by element, in float64."""
    count, size = features.shape
    soft = torch.softmax(features, dim=0)
    product = [
        [sum(features[i, f] * soft[j, f] for f in range(size)) / size for j in range(count)] for i in range(count)
    ]
    column_norm = [math.sqrt(sum(product[i][j] ** 2 for i in range(count))) for j in range(count)]
    position_norm = [math.sqrt(sum(features[i, f] ** 2 for i in range(count))) for f in range(size)]
    return torch.tensor([[column_norm[j] * position_norm[f] for f in range(size)] for j in range(count)])


def test_temporal_self_correlation_is_the_specified_rank_one_map():
    features = torch.randn(2, 4, 3, 2, 2, dtype=torch.float64)  # (B, T, c, h, w)
    corr = temporal_self_correlation(features)
    assert corr.shape == features.shape
    for sequence in range(2):
        flat = corr[sequence].reshape(4, -1)
        torch.testing.assert_close(flat, _correlation_by_hand(features[sequence].reshape(4, -1)).double())
        singular = torch.linalg.svdvals(flat)
        assert singular[1] < 1e-10 * singular[0]  # an outer product: rank 1


def test_channel_self_correlation_is_the_specified_rank_one_map():
    features = torch.randn(2, 5, 3, 3, dtype=torch.float64)  # (B, c, h, w)
    corr = channel_self_correlation(features)
    assert corr.shape == features.shape
    for sequence in range(2):
        flat = corr[sequence].reshape(5, -1)
        torch.testing.assert_close(flat, _correlation_by_hand(features[sequence].reshape(5, -1)).double())
        singular = torch.linalg.svdvals(flat)
        assert singular[1] < 1e-10 * singular[0]


def test_rfa_groupnorm_follows_the_context_length_and_rejects_another():
    model = create_model("srvp", "smoke", height=16, width=16, context_length=4)
    assert model.reinforced_attention.encoder_norm.num_groups == 4
    assert model.reinforced_attention.state_norm.num_groups == 2 * 8  # one group per layer-state channel
    with pytest.raises(VpbenchError, match="built for 4 context frames"):
        model(torch.rand(1, 6, 1, 16, 16), 2)


@pytest.mark.parametrize("name", ["srvp", "convgru"])
def test_evaluation_keeps_no_tensors_on_the_model(name):
    model = create_model(name, "smoke", height=16, width=16).eval()
    with torch.inference_mode():
        prediction = model(torch.rand(2, 10, 1, 16, 16), 3)
    assert prediction.shape == (2, 3, 1, 16, 16) and prediction.is_inference()
    for module in model.modules():
        stored = [key for key, value in vars(module).items() if isinstance(value, torch.Tensor | list | dict)]
        stored = [key for key in stored if not key.startswith("_") and key != "training"]
        assert not stored, f"{type(module).__name__} keeps {stored}"


def test_ten_to_thirty_rolls_out_thirty_steps_in_training():
    model = create_model("srvp", "smoke", height=16, width=16).train()
    loss = model.training_loss(torch.rand(1, 10, 1, 16, 16), torch.rand(1, 30, 1, 16, 16), step=0)
    assert torch.isfinite(loss)


def _moving_square(frames: int, start: int, size: int = 16) -> torch.Tensor:
    video = torch.zeros(frames, 1, size, size)
    for time in range(frames):
        column = (start + time) % (size - 4)
        video[time, 0, 5:9, column : column + 4] = 1.0
    return video


def test_smoke_model_overfits_one_batch():
    torch.manual_seed(0)
    model = create_model("srvp", "smoke", height=16, width=16, context_length=4, dropout=0.0, attention_dropout=0.0)
    clips = torch.stack([_moving_square(8, start) for start in (0, 5)])
    context, target = clips[:, :4], clips[:, 4:]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.eval()
    with torch.no_grad():
        initial = model.training_loss(context, target, step=0).item()
    model.train()
    for step in range(100):
        optimizer.zero_grad()
        model.training_loss(context, target, step).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        final = model.training_loss(context, target, step=0).item()
        squared_error = (model(context, 4) - target).square().mean().item()
    # The squares cover 1/16 of each frame: an all-black prediction has MSE 0.0625.
    assert final < 0.05 * initial
    assert squared_error < 0.005


@pytest.mark.parametrize("name", [*VARIANTS, "convgru"])
def test_paper_preset_keeps_the_papers_dropout_and_small_builds_none(name):
    """The small presets dropped dropout (it slowed the 4 x 16 models in a CPU budget; see their notes); the
    paper presets must keep 0.5 on the ConvGRU gate inputs and 0.2 in SRVP's RFA. Read from the built
    modules, so a preset value that never reaches a layer fails too."""
    def rates(preset: str) -> set[float]:
        with torch.device("meta"):
            model = create_model(name, preset)
        return {module.p for module in model.modules() if isinstance(module, torch.nn.Dropout)}

    attention = name not in ("convgru", "srvp-wo-rfa")  # the attention dropout sits in RFA
    assert rates("paper") == ({0.5, 0.2} if attention else {0.5})
    assert rates("small") == {0.0}
