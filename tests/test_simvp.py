"""SimVP (baselines/simvp.py): parameter counts derived by hand, the Inception module and U-Net wiring
against their equations, the rollout, the objective, and an overfit check. Shapes, causality, batch
independence and gradients are covered by tests/test_model_contract.py (`-k simvp`)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vpbench.baselines.simvp import Inception, InceptionUNet, SimVP
from vpbench.efficiency import count_macs, count_parameters
from vpbench.errors import VpbenchError
from vpbench.registry import create_model


def _meta_model(**overrides) -> SimVP:
    with torch.device("meta"):
        return create_model("simvp", "paper", **overrides)


def test_paper_preset_parameter_count_is_the_authors_moving_mnist_model():
    """Moving MNIST (T=10, C=1), hid_S 64, hid_T 256, N_S 4, N_T 8, groups 8: 15,778,433 parameters.

    groups 8 because the authors' exp.py builds SimVP(in_shape, hid_S, hid_T, N_S, N_T) without `groups`,
    so main.py's `--groups 4` never reached the model and the constructor default 8 trained.
    Spatial block (3x3 conv + bias, GroupNorm(2) weight+bias): 9*c_in*c_out + c_out + 2*c_out.
      encoder: 9*1*64 + 64 + 128 = 768, then 3 x (9*64*64 + 64 + 128) = 3 x 37,056 -> 111,936
      decoder: 3 x 37,056 (transposed 3x3 has the same count) + (9*128*64 + 64 + 128) = 73,920
               + readout 64*1 + 1 = 65 -> 185,153
    Inception(c_in, 128, c_out), groups g=8: 1x1 conv c_in*128 + 128; four grouped branches with
      (128/8)*c_out*k^2 weights + c_out bias + 2*c_out GroupNorm, sum k^2 = 9+25+49+121 = 204:
      16*204*c_out + 12*c_out = 3,276*c_out.
      down: [640->256] 82,048 + 838,656 = 920,704; 7 x [256->256] 32,896 + 838,656 = 871,552
      up:   [256->256] 871,552; 6 x [512->256] 65,664 + 838,656 = 904,320;
            [512->640] 65,664 + 3,276*640 = 2,162,304
      translator: 920,704 + 7*871,552 + 871,552 + 6*904,320 + 2,162,304 = 15,481,344
    total: 111,936 + 185,153 + 15,481,344 = 15,778,433
    """
    assert count_parameters(_meta_model()) == 15_778_433


def test_parameter_counts_of_other_configurations_are_explained():
    # main.py's --groups 4, had it reached the model: each branch has twice the weights,
    # 32*204*c_out + 12*c_out = 6,540*c_out, and the translator grows to 30,104,064.
    assert count_parameters(_meta_model(groups=4)) == 111_936 + 185_153 + 30_104_064 == 30_401_153
    # OpenSTL's SimVP-IncepU at the same sizes (hid_T 256, groups 8) has 15,963,137: same encoder and
    # translator, but its decoder up-samples with 3x3 convs to 4*64 channels + pixel shuffle (2 x 147,840)
    # and adds the skip instead of concatenating it (last block 37,056): 2*147,840 + 2*37,056 + 65 =
    # 369,857 against our 185,153, i.e. 184,704 more.
    assert count_parameters(_meta_model()) == 15_963_137 - 184_704
    # OpenSTL's Moving MNIST config (hid_T 512, groups 8) reports 58.0M = 57,946,113, the same decoder gap.
    assert count_parameters(_meta_model(hid_T=512)) == 57_946_113 - 184_704


def test_paper_preset_macs_match_hand_arithmetic():
    """MACs per 10->10 sequence = weights x output positions (input positions for transposed convs,
    as torch's flop counter counts them); biases and norms are not counted.

    per frame, encoder: 576*64^2 + 36,864*32^2 + 36,864*32^2 + 36,864*16^2 = 87,293,952
    per frame, decoder: 36,864*16^2 + 36,864*32^2 + 36,864*32^2 + 73,728*64^2 + 64*64^2 = 387,186,688
    translator weights (c_in*128 + 16*204*c_out per module, groups 8): 917,504 + 7*868,352 + 868,352
      + 6*901,120 + 2,154,496 = 15,425,536, at 16*16 positions = 3,948,937,216
    total: 10*87,293,952 + 10*387,186,688 + 3,948,937,216 = 8,693,743,616
    (groups 4 would give 12,437,159,936; OpenSTL's hid_T 512 / groups 8 config gives 19.43G here;
    OpenSTL reports 19.4G "FLOPs".)
    """
    macs = count_macs(lambda: create_model("simvp", "paper"), context_length=10, horizon=10, channels=1,
                      height=64, width=64)
    assert macs == 8_693_743_616

def _reference_inception(module: Inception, features: torch.Tensor, groups: int) -> torch.Tensor:
    """Paper Sec. 3: sum over kernels k of LeakyReLU_0.2(GroupNorm_g(GroupConv_k(Conv1x1(x))))."""
    reduced = F.conv2d(features, module.reduce.weight, module.reduce.bias)
    total = torch.zeros(())
    for branch in module.branches:
        conv, norm = branch[0], branch[1]
        kernel = conv.weight.shape[-1]
        response = F.conv2d(reduced, conv.weight, conv.bias, padding=kernel // 2, groups=groups)
        total = total + F.leaky_relu(F.group_norm(response, groups, norm.weight, norm.bias), 0.2)
    return total


def test_inception_module_is_the_sum_of_normalised_grouped_branches():
    module = Inception(6, 4, 8, groups=2)
    with torch.no_grad():  # non-trivial affine GroupNorm so a missing or misplaced norm shows
        for parameter in module.parameters():
            parameter.copy_(torch.randn_like(parameter))
    assert [branch[0].weight.shape for branch in module.branches] == [(8, 2, k, k) for k in (3, 5, 7, 11)]
    features = torch.randn(2, 6, 12, 12)
    torch.testing.assert_close(module(features), _reference_inception(module, features, groups=2))


def test_translator_is_a_unet_with_skips_between_mirrored_modules():
    unet = InceptionUNet(channels=8, hidden=8, depth=3, groups=2).eval()
    stacked = torch.randn(1, 8, 6, 6)
    down0 = unet.down[0](stacked)
    down1 = unet.down[1](down0)
    up = unet.up[0](unet.down[2](down1))
    up = unet.up[1](torch.cat([up, down1], dim=1))
    expected = unet.up[2](torch.cat([up, down0], dim=1))
    torch.testing.assert_close(unet(stacked), expected)
    assert [m.reduce.in_channels for m in unet.up] == [8, 16, 16]


def test_encoder_keeps_first_block_as_skip_and_downsamples_by_four():
    model = create_model("simvp", "smoke", height=32, width=48).eval()
    frames = torch.rand(3, 1, 32, 48)
    latent, skip = model.encoder(frames)
    assert latent.shape == (3, 4, 8, 12)
    torch.testing.assert_close(skip, model.encoder.blocks[0](frames))
    assert [block[0].stride for block in model.encoder.blocks] == [(1, 1), (2, 2), (1, 1), (2, 2)]
    # The decoder mirrors it: transposed stride-2 blocks, and the last block reads [features, skip].
    kinds = [type(block[0]).__name__ for block in model.decoder.blocks]
    assert kinds == ["ConvTranspose2d", "Conv2d", "ConvTranspose2d", "Conv2d"]
    assert model.decoder.blocks[-1][0].in_channels == 2 * 4


def test_readout_is_linear_and_uses_the_skip():
    model = create_model("simvp", "smoke").eval()
    latent, skip = torch.randn(2, 4, 16, 16), torch.randn(2, 4, 64, 64)
    with torch.no_grad():
        base = model.decoder(latent, skip)
        assert not torch.equal(base, model.decoder(latent, skip + 1.0))
        model.decoder.readout.bias.add_(5.0)  # a linear readout shifts by exactly its bias
        torch.testing.assert_close(model.decoder(latent, skip), base + 5.0)


def test_rollout_10_to_30_equals_three_chained_blocks():
    model = create_model("simvp", "smoke").eval()
    context = torch.rand(2, 10, 1, 64, 64)
    with torch.no_grad():
        first = model.predict_block(context)
        second = model.predict_block(first)
        third = model.predict_block(second)
        torch.testing.assert_close(model(context, 30), torch.cat([first, second, third], dim=1))
        torch.testing.assert_close(model(context, 14), torch.cat([first, second[:, :4]], dim=1))
    assert model.native_horizon == 10


def test_training_loss_is_mse_of_the_rolled_out_prediction():
    model = create_model("simvp", "smoke", context_length=4).eval()
    context, target = torch.rand(2, 4, 1, 64, 64), torch.rand(2, 9, 1, 64, 64)
    loss = model.training_loss(context, target, step=0)
    torch.testing.assert_close(loss, ((model(context, 9) - target) ** 2).mean())
    assert model.loss_name == "mse"


@pytest.mark.parametrize("size", [(62, 64), (64, 30)])
def test_frames_not_divisible_by_four_are_a_one_line_error(size):
    with pytest.raises(VpbenchError, match="divisible by 4") as error:
        create_model("simvp", "smoke", height=size[0], width=size[1])
    assert "\n" not in str(error.value)


def test_incompatible_group_count_is_a_one_line_error():
    with pytest.raises(VpbenchError, match="groups"):
        create_model("simvp", "smoke", groups=3)


def test_context_of_another_length_is_a_one_line_error():
    model = create_model("simvp", "smoke", context_length=10)
    with pytest.raises(VpbenchError, match="built for 10 context frames but got 4"):
        model(torch.rand(1, 4, 1, 64, 64), 10)

def test_smoke_model_overfits_one_batch():
    torch.manual_seed(0)
    model = create_model("simvp", "smoke", height=16, width=16, context_length=4).train()
    # A bright square moving one pixel per frame: the future is a function of the context.
    frames = torch.zeros(2, 8, 1, 16, 16)
    for step in range(8):
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
