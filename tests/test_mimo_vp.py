"""MIMO-VP (baselines/mimo_vp.py): parameter counts derived by hand and tied to the reference code's
logged count, both variants' decoder input, attention over time on hand-made tensors, the paper variant's
position encoding, deep supervision, the rollout and an overfit check. Shapes, causality, batch
independence and gradients are covered by tests/test_model_contract.py (`-k mimo`)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vpbench.baselines.mimo_vp import MIMOVP, attend_over_time, sinusoid_position_encoding
from vpbench.efficiency import count_macs, count_parameters
from vpbench.errors import VpbenchError
from vpbench.registry import create_model


def _meta_model(**overrides) -> MIMOVP:
    with torch.device("meta"):
        return create_model("mimo-vp", "paper", **overrides)


def test_paper_preset_parameter_count_is_the_authors_code_at_six_plus_ten_layers():
    """Moving MNIST (T=10, 1x64x64), p=2, C=128, 6 encoder and 10 decoder layers; convs are bias-free.

    stem: 3x3 conv 4->128 = 4,608 + GroupNorm 256 = 4,864
    attention: Q, K, V, output projection, each 1x1 conv 128*128 = 16,384 + GroupNorm 256 -> 4 x 16,640
               = 66,560
    local block: Conv3d 128->256 3x3x3 = 884,736 + GN 512; Conv3d 256->128 = 884,736 + GN 256 -> 1,770,240
    encoder layer: 66,560 + 1,770,240 + 2 residual GroupNorms 512 = 1,837,312; x 6 = 11,023,872
    decoder layer: 2 x 66,560 + 1,770,240 + 3 x 256 = 1,904,128; x 10 = 19,041,280
    head: 3x3 transposed conv 128->128 = 147,456 + GN 256 + 1x1 conv 128->4 = 512 -> 148,224
    decoder input, variant "code": a second stem, 4,864
    total: 4,864 + 11,023,872 + 19,041,280 + 148,224 + 4,864 = 30,223,104 (MODELS.md: the authors' code)
    """
    assert count_parameters(_meta_model()) == 30_223_104


def test_six_six_model_matches_the_reference_codes_logged_count():
    # ningshuliang/MIMO-VP's training log (0222.txt, commit 66dfe25) prints 22,606,592 for its default 6+6.
    assert count_parameters(_meta_model(decoder_layers=6)) == 22_606_592


def test_paper_variant_swaps_the_second_stem_for_learned_queries():
    # Learned queries: 10 frames x 128 x 16 x 16 = 327,680 in place of the second stem's 4,864; the
    # sine/cosine encoding is a fixed, non-persistent buffer (no parameters, not in the state_dict).
    model = _meta_model(variant="paper")
    assert count_parameters(model) == 30_223_104 - 4_864 + 327_680 == 30_545_920
    assert model.query_stem is None and model.future_queries.shape == (10, 128, 16, 16)
    assert "position_encoding" not in model.state_dict()
    code = _meta_model()
    assert code.future_queries is None and code.position_encoding is None
    assert not any("future_queries" in name or "position" in name for name in code.state_dict())


def test_unknown_variant_is_a_one_line_error():
    with pytest.raises(VpbenchError, match="variants code, paper"):
        create_model("mimo-vp", "smoke", variant="pape")


def test_paper_preset_macs_match_hand_arithmetic():
    """MACs per 10->10 sequence (weights x output positions; 10 frames x 16x16 tokens = 2,560 positions).

    stem, and the second stem of the decoder input: 2 x 4,608 * 2,560 = 23,592,960
    attention: 4 projections 16,384 * 2,560 = 167,772,160; scores and weighted sum, 8 heads x 10 x 10
      frames x d = 16*256: 2 x 3,276,800 -> 174,325,760
    local block: 2 x 884,736 * 2,560 = 4,529,848,320
    encoder: 6 x (174,325,760 + 4,529,848,320) = 28,225,044,480
    decoder: 10 x (2 x 174,325,760 + 4,529,848,320) = 48,784,998,400
    head, last layer only at test time: transposed 3x3 147,456 * 2,560 (input positions, as torch's flop
      counter counts transposed convs) + 1x1 512 * 10 * 32*32 = 377,487,360 + 5,242,880
    total: 77,416,366,080
    """
    macs = count_macs(lambda: create_model("mimo-vp", "paper"), context_length=10, horizon=10, channels=1,
                      height=64, width=64)
    assert macs == 77_416_366_080


def test_attention_weights_frames_by_scaled_dot_product():
    # One head, 2 channels, 1x1 tokens: the scale is 1/sqrt(2 * 1 * 1).
    query = torch.tensor([1.0, 0.0]).reshape(1, 1, 2, 1, 1)
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]]).reshape(1, 3, 2, 1, 1)
    values = torch.tensor([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0]]).reshape(1, 3, 2, 1, 1)
    scores = [1 / math.sqrt(2), 0.0, 2 / math.sqrt(2)]
    weights = [math.exp(s) / sum(math.exp(t) for t in scores) for s in scores]
    expected = torch.tensor([weights[0] + 3 * weights[2], weights[1] + 3 * weights[2]]).reshape(1, 1, 2, 1, 1)
    torch.testing.assert_close(attend_over_time(query, keys, values, heads=1), expected)


def test_heads_split_channels_and_flatten_space():
    # 2 heads x 1 channel x 2x2 tokens: d = 4 per head. Head 0 (channel 0) matches key frame 0,
    # head 1 (channel 1) matches key frame 1, strongly enough that softmax is one-hot to float precision.
    query = torch.zeros(1, 1, 2, 2, 2)
    query[0, 0, 0] = 20.0
    query[0, 0, 1] = 20.0
    keys = torch.zeros(1, 2, 2, 2, 2)
    keys[0, 0, 0] = 1.0  # frame 0 carries head 0's pattern
    keys[0, 1, 1] = 1.0  # frame 1 carries head 1's pattern
    values = torch.arange(16.0).reshape(1, 2, 2, 2, 2)
    out = attend_over_time(query, keys, values, heads=2)
    torch.testing.assert_close(out[0, 0, 0], values[0, 0, 0])
    torch.testing.assert_close(out[0, 0, 1], values[0, 1, 1])


def test_attention_has_no_causal_mask_and_no_order_of_its_own():
    query, keys, values = torch.randn(1, 3, 4, 2, 2), torch.randn(1, 5, 4, 2, 2), torch.randn(1, 5, 4, 2, 2)
    base = attend_over_time(query, keys, values, heads=2)
    later = keys.clone()
    later[:, 4] += 1.0  # the first query frame still sees the last key frame
    assert not torch.allclose(base[:, 0], attend_over_time(query, later, values, heads=2)[:, 0])
    order = torch.tensor([3, 0, 4, 1, 2])  # permuting key/value frames together changes nothing
    torch.testing.assert_close(attend_over_time(query, keys[:, order], values[:, order], heads=2), base)


def test_position_encoding_is_sine_cosine_over_time_rows_and_columns():
    encoding = sinusoid_position_encoding(steps=10, channels=128, height=16, width=16)
    assert encoding.shape == (10, 128, 16, 16)
    # time takes 128 - 2*42 = 44 channels, rows and columns 42 each; the first pair of each axis is
    # (sin p, cos p), the second (sin, cos)(p / 10000^(2/n)).
    steps = torch.arange(10.0)
    torch.testing.assert_close(encoding[:, 0, 3, 5], steps.sin())
    torch.testing.assert_close(encoding[:, 1, 3, 5], steps.cos())
    torch.testing.assert_close(encoding[:, 2, 0, 0], (steps / 10000 ** (2 / 44)).sin())
    rows = torch.arange(16.0)
    torch.testing.assert_close(encoding[7, 44, :, 2], rows.sin())
    torch.testing.assert_close(encoding[7, 86 + 1, 9, :], rows.cos())
    codes = encoding.permute(0, 2, 3, 1).reshape(-1, 128)
    assert torch.cdist(codes, codes).add(torch.eye(len(codes))).min() > 0.1  # every (t, y, x) is distinct


def test_deep_supervision_loss_is_mean_over_layers_of_ten_mse_plus_l1():
    model = create_model("mimo-vp", "smoke", decoder_layers=3).eval()
    context, target = torch.rand(2, 10, 1, 64, 64), torch.rand(2, 30, 1, 64, 64)
    layers = model.rollout_layers(context, 30)
    assert layers.shape == (3, 2, 30, 1, 64, 64)
    per_layer = [10 * ((frames - target) ** 2).mean() + (frames - target).abs().mean() for frames in layers]
    torch.testing.assert_close(model.training_loss(context, target, step=0), sum(per_layer) / 3)
    # Evaluation uses the last layer; the heads of the earlier layers give different frames.
    torch.testing.assert_close(layers[-1], model(context, 30))
    assert not torch.allclose(layers[0], layers[-1])
    assert 0.0 <= layers.min() and layers.max() <= 1.0


def test_rollout_10_to_30_equals_three_chained_blocks():
    model = create_model("mimo-vp", "smoke").eval()
    context = torch.rand(2, 10, 1, 64, 64)
    with torch.no_grad():
        first = model.predict_block(context)
        second = model.predict_block(first)
        third = model.predict_block(second)
        torch.testing.assert_close(model(context, 30), torch.cat([first, second, third], dim=1))
        # The deep-supervised rollout feeds back the same (last-layer) frames.
        block_layers = model.predict_layers(second)
        torch.testing.assert_close(model.rollout_layers(context, 30)[:, :, 20:], torch.stack(block_layers))
    assert model.native_horizon == 10


def _silence_cross_attention(model: MIMOVP) -> None:
    for layer in model.decoder_layers:
        layer.cross_attention.sublayer.project[1].weight.zero_()
        layer.cross_attention.sublayer.project[1].bias.zero_()


def test_code_variant_reads_the_context_through_cross_attention_and_the_second_stem():
    model = create_model("mimo-vp", "smoke").eval()
    context, other = torch.rand(1, 10, 1, 64, 64), torch.rand(1, 10, 1, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(model(context, 10), model(context.flip(1), 10))  # frame order matters
        _silence_cross_attention(model)
        assert not torch.allclose(model(context, 10), model(other, 10))  # the decoder input is the context's
        model.query_stem[1].weight.zero_()  # second stem outputs SiLU(0) = 0 whatever the context
        model.query_stem[1].bias.zero_()
        torch.testing.assert_close(model(context, 10), model(other, 10))


def test_paper_variant_reads_the_context_only_through_cross_attention():
    model = create_model("mimo-vp", "smoke", variant="paper").eval()
    context = torch.rand(1, 10, 1, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(model(context, 10), model(context.flip(1), 10))
        _silence_cross_attention(model)
        torch.testing.assert_close(model(context, 10), model(torch.rand_like(context), 10))


@pytest.mark.parametrize("size", [(62, 64), (64, 66)])
def test_frames_not_divisible_by_four_are_a_one_line_error(size):
    with pytest.raises(VpbenchError, match="divisible by 4") as error:
        create_model("mimo-vp", "smoke", height=size[0], width=size[1])
    assert "\n" not in str(error.value)


def test_heads_must_divide_channels():
    with pytest.raises(VpbenchError, match="divisible by heads"):
        create_model("mimo-vp", "smoke", heads=3)


def test_context_of_another_length_is_a_one_line_error():
    model = create_model("mimo-vp", "smoke", context_length=10)
    with pytest.raises(VpbenchError, match="built for 10 context frames but got 4"):
        model(torch.rand(1, 4, 1, 64, 64), 10)

def test_smoke_model_overfits_one_batch():
    torch.manual_seed(0)
    model = create_model("mimo-vp", "smoke", height=16, width=16, context_length=4).train()
    frames = torch.zeros(2, 8, 1, 16, 16)
    for step in range(8):  # a bright square moving one pixel per frame
        frames[0, step, 0, 4:8, 1 + step:5 + step] = 1.0
        frames[1, step, 0, 1 + step:5 + step, 9:13] = 1.0
    context, target = frames[:, :4], frames[:, 4:]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    initial = model.training_loss(context, target, step=0).item()
    for step in range(200):
        optimizer.zero_grad()
        loss = model.training_loss(context, target, step=step)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1 * initial
    last_layer_mse = F.mse_loss(model(context, 4), target).item()
    assert last_layer_mse < 0.02


def test_plateau_schedule_is_the_references_patience_3_looked_at_every_100k_sequences():
    """The reference steps ReduceLROnPlateau(factor 0.5, patience 3) once every 10 epochs of 10,000 sequences."""
    import torch

    from vpbench.engine.optim import build_scheduler
    from vpbench.engine.trainer import plateau_due
    from vpbench.registry import get_preset

    for preset in ("paper", "small"):
        settings = get_preset("mimo-vp", preset).train
        assert (settings.plateau_factor, settings.plateau_patience, settings.plateau_every_sequences) == (
            0.5, 3, 100_000
        )
        scheduler = build_scheduler(torch.optim.Adam([torch.zeros(1, requires_grad=True)], 5e-4), settings, 5e-4, 10)
        assert scheduler.patience == 3 and scheduler.factor == 0.5
    points = [{"sequences": n} for n in (40_000, 80_000, 120_000, 160_000, 210_000)]
    due = [plateau_due(points[: i + 1], 100_000) for i in range(len(points))]
    assert due == [False, False, True, False, True]
    assert all(plateau_due(points[: i + 1], None) for i in range(len(points)))
