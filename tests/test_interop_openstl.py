"""The OpenSTL -> vpbench state_dict converter (vpbench/interop/openstl.py) beyond the golden tests:
one-line errors for checkpoints it cannot map, the wrappers OpenSTL's checkpoints come in, and the patch
channel order of colour frames (the golden files are grey, where both orders coincide).
"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from test_golden_rnn import MODELS, load_golden, reference_state_dict

from vpbench.baselines._patches import patchify, unpatchify
from vpbench.errors import VpbenchError
from vpbench.interop import convert_state_dict
from vpbench.interop.openstl import convert


def golden_state(name: str) -> dict[str, torch.Tensor]:
    return reference_state_dict(load_golden(name))


def refused(name: str, state: dict, match: str) -> str:
    with pytest.raises(VpbenchError, match=match) as error:
        convert_state_dict("openstl", name, state)
    assert "\n" not in str(error.value)
    return str(error.value)


# reference keys of layers OpenSTL builds but never calls (their gradients are None in OpenSTL)
UNUSED = {
    "convlstm": r"cell_list\.\d+\.(conv_o\.0|conv_last)\.weight",
    "predrnn": r"$^",
    "predrnn++": r"cell_list\.\d+\.conv_o\.0\.weight",
    "mim": r"stlstm_layer_diff\.\d+\.conv_last\.weight",
}


@pytest.mark.parametrize("name", MODELS)
def test_every_reference_weight_is_used_except_the_layers_openstl_never_calls(name):
    state = golden_state(name)
    converted = convert_state_dict("openstl", name, state)
    used = sum(t.numel() for key, t in state.items() if not re.fullmatch(UNUSED[name], key))
    biases = {key: t for key, t in converted.items() if key.endswith(".bias")}
    assert sum(t.numel() for t in converted.values()) == used + sum(t.numel() for t in biases.values())
    assert biases and not any(t.any() for t in biases.values())  # OpenSTL's convolutions have no biases


def test_a_missing_key_is_named():
    state = golden_state("predrnn")
    del state["cell_list.1.conv_m.0.weight"]
    refused("predrnn", state, "lacks 'cell_list.1.conv_m.0.weight'")


def test_a_key_of_another_model_is_named():
    state = golden_state("predrnn")
    state["cell_list.1.conv_c2m.0.weight"] = torch.zeros(16, 4, 3, 3)
    refused("predrnn", state, "cannot map 'cell_list.1.conv_c2m.0.weight'")
    # an ST-LSTM layer read as a ConvLSTM one: the first key both have fails on its 7 vs 4 gates
    refused("convlstm", golden_state("predrnn"), r"'cell_list.0.conv_x.0.weight' has shape \(28, 16, 3, 3\), expected")


def test_layer_norm_checkpoints_are_refused_with_the_reason():
    state = golden_state("convlstm")
    state["cell_list.0.conv_x.1.weight"] = torch.ones(16, 4, 4)
    refused("convlstm", state, "cannot map 'cell_list.0.conv_x.1.weight'; OpenSTL models built with layer_norm=1")


def test_a_shape_mismatch_is_named_with_both_shapes():
    state = golden_state("mim")
    state["stlstm_layer.2.conv_t_cc.0.weight"] = torch.zeros(12, 4, 5, 5)  # another filter size in one layer
    refused("mim", state, r"'stlstm_layer.2.conv_t_cc.0.weight' has shape \(12, 4, 5, 5\), expected \(12, 4, 3, 3\)")


def test_models_openstl_does_not_have_are_refused():
    refused("mim-paper", golden_state("mim"), "maps convlstm, mim, predrnn, predrnn\\+\\+, not mim-paper")


def test_lightning_and_ddp_wrappers_are_unwrapped():
    state = golden_state("predrnn++")
    wrapped = {"state_dict": {f"model.module.{key}": value for key, value in state.items()}, "epoch": 3}
    plain, unwrapped = convert_state_dict("openstl", "predrnn++", state), convert("predrnn++", wrapped)
    assert plain.keys() == unwrapped.keys()
    assert all(torch.equal(plain[key], unwrapped[key]) for key in plain)


# ---- colour frames: OpenSTL orders a patch's channels (dy, dx, c), pixel_unshuffle (c, dy, dx) -------------
def openstl_patchify(frames: torch.Tensor, patch: int) -> torch.Tensor:
    """(C, H, W) -> (p^2 C, H/p, W/p), channel (dy * p + dx) * C + c: OpenSTL's reshape_patch layout."""
    channels, height, width = frames.shape
    blocks = frames.reshape(channels, height // patch, patch, width // patch, patch)
    return blocks.permute(2, 4, 0, 1, 3).reshape(patch * patch * channels, height // patch, width // patch)


def openstl_unpatchify(patches: torch.Tensor, patch: int, channels: int) -> torch.Tensor:
    _, rows, columns = patches.shape
    blocks = patches.reshape(patch, patch, channels, rows, columns).permute(2, 3, 0, 4, 1)
    return blocks.reshape(channels, rows * patch, columns * patch)


def colour_convlstm_state(channels: int, patch: int, hidden: int = 4) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    patch_channels = channels * patch * patch

    def weight(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    state = {"conv_last.weight": weight(patch_channels, hidden, 1, 1)}
    for layer, in_channels in enumerate((patch_channels, hidden)):
        state[f"cell_list.{layer}.conv_x.0.weight"] = weight(4 * hidden, in_channels, 3, 3)
        state[f"cell_list.{layer}.conv_h.0.weight"] = weight(4 * hidden, hidden, 3, 3)
        state[f"cell_list.{layer}.conv_o.0.weight"] = weight(hidden, 2 * hidden, 3, 3)
        state[f"cell_list.{layer}.conv_last.weight"] = weight(hidden, 2 * hidden, 1, 1)
    return state


def test_colour_patch_channels_are_reordered_for_the_first_layer_and_the_read_out():
    channels, patch = 3, 2
    state = colour_convlstm_state(channels, patch)
    converted = convert("convlstm", state, channels=channels)
    frames = torch.rand(channels, 8, 8, dtype=torch.float64)
    input_weight = converted["cells.0.gates.weight"][:, : channels * patch * patch]  # W_x of W * [X, H]
    ours = F.conv2d(patchify(frames, patch)[None], input_weight, padding=1)
    theirs = F.conv2d(openstl_patchify(frames, patch)[None], state["cell_list.0.conv_x.0.weight"], padding=1)
    torch.testing.assert_close(ours, theirs, atol=1e-12, rtol=0)
    hidden = torch.rand(1, 4, 4, 4, dtype=torch.float64)
    our_frame = unpatchify(F.conv2d(hidden, converted["readout.weight"]), patch)[0]
    their_frame = openstl_unpatchify(F.conv2d(hidden, state["conv_last.weight"])[0], patch, channels)
    torch.testing.assert_close(our_frame, their_frame, atol=1e-12, rtol=0)
    assert not torch.equal(converted["readout.weight"], state["conv_last.weight"])  # reordered, not copied


def test_colour_checkpoints_need_the_channel_count():
    refused("convlstm", colour_convlstm_state(3, 2), "12 patch channels, i.e. colour frames; pass channels=")
