"""OpenSTL (github.com/chengtan9907/OpenSTL) checkpoints of the PredRNN family -> vpbench state_dicts.

Why a mapping rather than a rename: the two layouts hold the same weights differently.
  - OpenSTL's convolutions have no biases; ours hold one bias per gate (the papers' `b`). A converted
    model gets zero biases, which computes exactly what OpenSTL computes.
  - Some of our convolutions are OpenSTL's fused or split: ConvLSTM's W * [X, H] is OpenSTL's conv_x and
    conv_h concatenated along the input channels; MIM's conv_s_cc (M -> i', g', f', o) is our memory_conv
    (i', g', f') plus memory_output_conv (o).
  - Gate order differs in one place: PredRNN++'s conv_c2m splits (i, g, f, o), our new_cell_conv (i, f, g, o).
  - OpenSTL builds layers it never uses (ConvLSTM's conv_o and cell-level conv_last, Causal LSTM's conv_o,
    MIM-N's conv_last); they are dropped.
  - Patch channels: OpenSTL's reshape_patch orders a patch's channels (dy, dx, c), our pixel_unshuffle
    (c, dy, dx). Identical for grey frames; for colour frames the first layer's input and the read-out's
    output channels are permuted, which needs the frame channel count (`channels`).
MIM maps onto vpbench's `mim` (variant "code", the one OpenSTL implements), not `mim-paper`.
Checkpoints with layer_norm=1 have no vpbench equivalent and are refused.

This module's mapping is what the golden reference tests (tests/golden/) load OpenSTL weights through.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping

import torch

from vpbench.errors import VpbenchError

MODELS = frozenset({"convlstm", "predrnn", "predrnn++", "mim"})

# prefixes OpenSTL's wrappers add: its Lightning method holds the network as `model`; DDP adds `module`
WRAPPER_PREFIXES = ("model.", "module.")


class _Reference:
    """The OpenSTL state_dict being consumed: every key must be taken (mapped) or dropped (unused) once,
    with the shape the model's dimensions imply; anything else is an error naming the key."""

    def __init__(self, model_name: str, state_dict: Mapping[str, torch.Tensor]) -> None:
        self.model_name = model_name
        self.remaining = dict(state_dict)

    def take(self, key: str, shape: tuple[int, ...]) -> torch.Tensor:
        if key not in self.remaining:
            raise VpbenchError(
                f"OpenSTL {self.model_name} checkpoint lacks '{key}'; is it an OpenSTL {self.model_name} checkpoint?"
            )
        tensor = self.remaining.pop(key)
        if tuple(tensor.shape) != shape:
            raise VpbenchError(
                f"OpenSTL {self.model_name} checkpoint: '{key}' has shape {tuple(tensor.shape)}, expected {shape}; "
                f"is it a {self.model_name} with one hidden width and one filter size in every layer?"
            )
        return tensor

    def drop(self, key: str) -> None:
        """A layer OpenSTL builds but never uses."""
        self.remaining.pop(key, None)

    def finish(self) -> None:
        if self.remaining:
            key = next(iter(self.remaining))
            hint = (
                "OpenSTL models built with layer_norm=1 have no vpbench equivalent"
                if re.search(r"\.conv_\w+\.1\.(weight|bias)$", key)
                else f"it does not belong to an OpenSTL {self.model_name} of this layer count"
            )
            raise VpbenchError(f"OpenSTL {self.model_name} checkpoint: cannot map '{key}'; {hint}")


def _strip_wrappers(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Unwrap a Lightning checkpoint ({'state_dict': ...}) and the `model.` / `module.` key prefixes."""
    if isinstance(state_dict.get("state_dict"), Mapping):
        state_dict = state_dict["state_dict"]
    state = dict(state_dict)
    stripped = True
    while stripped and state:
        stripped = False
        for prefix in WRAPPER_PREFIXES:
            if all(key.startswith(prefix) for key in state):
                state = {key[len(prefix) :]: value for key, value in state.items()}
                stripped = True
    return state


def _count_layers(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    indices = {int(m.group(1)) for key in state if (m := re.match(rf"{re.escape(prefix)}\.(\d+)\.", key))}
    if not indices:
        raise VpbenchError(f"no '{prefix}.N.' keys: not an OpenSTL checkpoint of this model")
    return max(indices) + 1


def _patch_channel_permutation(patch_channels: int, channels: int | None) -> torch.Tensor | None:
    """Index i of our patch channels (c, dy, dx) -> OpenSTL's channel (dy, dx, c); None when identical."""
    if channels is None:
        root = math.isqrt(patch_channels)
        if root * root != patch_channels:
            raise VpbenchError(
                f"this OpenSTL checkpoint reads {patch_channels} patch channels, i.e. colour frames; pass "
                "channels=<frame channels> so that the patch channel order can be converted"
            )
        channels = 1
    if channels == 1:
        return None
    patch_area = patch_channels // channels
    if patch_area * channels != patch_channels or math.isqrt(patch_area) ** 2 != patch_area:
        raise VpbenchError(f"{patch_channels} patch channels are not p^2 x {channels} frame channels")
    c, position = torch.meshgrid(torch.arange(channels), torch.arange(patch_area), indexing="ij")
    return (position * channels + c).reshape(-1)


class _Converter:
    """Shared pieces: dimensions read off the checkpoint, the patch-channel order, zero biases."""

    def __init__(self, model_name: str, state: dict[str, torch.Tensor], layer_prefix: str, channels: int | None):
        self.reference = _Reference(model_name, state)
        self.num_layers = _count_layers(state, layer_prefix)
        readout = state.get("conv_last.weight")
        if readout is None or readout.ndim != 4:
            raise VpbenchError(f"OpenSTL {model_name} checkpoint lacks 'conv_last.weight' (the read-out conv)")
        self.patch_channels, self.hidden = readout.shape[:2]
        self.permutation = _patch_channel_permutation(self.patch_channels, channels)
        self.out: dict[str, torch.Tensor] = {}
        self.like = readout

    def conv(self, key: str, in_channels: int, out_channels: int, kernel: int) -> torch.Tensor:
        return self.reference.take(key, (out_channels, in_channels, kernel, kernel))

    def frame_input(self, weight: torch.Tensor) -> torch.Tensor:
        """The first layer's input conv: reorder its input (patch) channels."""
        return weight if self.permutation is None else weight[:, self.permutation]

    def zeros(self, size: int) -> torch.Tensor:
        return self.like.new_zeros(size)

    def readout(self) -> None:
        weight = self.reference.take("conv_last.weight", (self.patch_channels, self.hidden, 1, 1))
        self.out["readout.weight"] = weight if self.permutation is None else weight[self.permutation]
        self.out["readout.bias"] = self.zeros(self.patch_channels)

    def kernel_of(self, key: str) -> int:
        tensor = self.reference.remaining.get(key)
        if tensor is None or tensor.ndim != 4:
            raise VpbenchError(f"OpenSTL {self.reference.model_name} checkpoint lacks '{key}'")
        return tensor.shape[-1]

    def in_channels(self, layer: int) -> int:
        return self.patch_channels if layer == 0 else self.hidden

    def finish(self) -> dict[str, torch.Tensor]:
        self.reference.finish()
        return self.out


def _st_lstm(converter: _Converter, source: str, target: str, layer: int, kernel: int) -> None:
    """OpenSTL's SpatioTemporalLSTMCell -> ours; the same gate order in every conv."""
    h, c_in, out = converter.hidden, converter.in_channels(layer), converter.out
    x = converter.conv(f"{source}.conv_x.0.weight", c_in, 7 * h, kernel)
    out[f"{target}.input_conv.weight"] = converter.frame_input(x) if layer == 0 else x
    out[f"{target}.input_conv.bias"] = converter.zeros(7 * h)
    out[f"{target}.hidden_conv.weight"] = converter.conv(f"{source}.conv_h.0.weight", h, 4 * h, kernel)
    out[f"{target}.memory_conv.weight"] = converter.conv(f"{source}.conv_m.0.weight", h, 3 * h, kernel)
    out[f"{target}.output_conv.weight"] = converter.conv(f"{source}.conv_o.0.weight", 2 * h, h, kernel)
    out[f"{target}.fuse.weight"] = converter.conv(f"{source}.conv_last.weight", 2 * h, h, 1)


def _convlstm(converter: _Converter) -> None:
    h = converter.hidden
    kernel = converter.kernel_of("cell_list.0.conv_h.0.weight")
    for layer in range(converter.num_layers):
        source = f"cell_list.{layer}"
        x = converter.conv(f"{source}.conv_x.0.weight", converter.in_channels(layer), 4 * h, kernel)
        x = converter.frame_input(x) if layer == 0 else x
        hidden = converter.conv(f"{source}.conv_h.0.weight", h, 4 * h, kernel)
        converter.out[f"cells.{layer}.gates.weight"] = torch.cat([x, hidden], dim=1)  # W * [X, H]
        converter.out[f"cells.{layer}.gates.bias"] = converter.zeros(4 * h)
        converter.reference.drop(f"{source}.conv_o.0.weight")
        converter.reference.drop(f"{source}.conv_last.weight")


def _predrnn(converter: _Converter) -> None:
    kernel = converter.kernel_of("cell_list.0.conv_h.0.weight")
    for layer in range(converter.num_layers):
        _st_lstm(converter, f"cell_list.{layer}", f"cells.{layer}", layer, kernel)


def _predrnn_pp(converter: _Converter) -> None:
    h, out = converter.hidden, converter.out
    kernel = converter.kernel_of("cell_list.0.conv_h.0.weight")
    for layer in range(converter.num_layers):
        source, target = f"cell_list.{layer}", f"cells.{layer}"
        x = converter.conv(f"{source}.conv_x.0.weight", converter.in_channels(layer), 7 * h, kernel)
        out[f"{target}.input_conv.weight"] = converter.frame_input(x) if layer == 0 else x
        out[f"{target}.input_conv.bias"] = converter.zeros(7 * h)
        out[f"{target}.hidden_conv.weight"] = converter.conv(f"{source}.conv_h.0.weight", h, 4 * h, kernel)
        out[f"{target}.cell_conv.weight"] = converter.conv(f"{source}.conv_c.0.weight", h, 3 * h, kernel)
        out[f"{target}.memory_conv.weight"] = converter.conv(f"{source}.conv_m.0.weight", h, 3 * h, kernel)
        i, g, f, o = converter.conv(f"{source}.conv_c2m.0.weight", h, 4 * h, kernel).chunk(4, dim=0)
        out[f"{target}.new_cell_conv.weight"] = torch.cat([i, f, g, o], dim=0)  # ours: (i, f, g, o)
        out[f"{target}.new_memory_conv.weight"] = converter.conv(f"{source}.conv_om.0.weight", h, h, kernel)
        out[f"{target}.fuse.weight"] = converter.conv(f"{source}.conv_last.weight", 2 * h, h, 1)
        converter.reference.drop(f"{source}.conv_o.0.weight")
    out["highway.input_conv.weight"] = converter.conv("gradient_highway.x_concat.0.weight", h, 2 * h, kernel)
    out["highway.input_conv.bias"] = converter.zeros(2 * h)
    out["highway.highway_conv.weight"] = converter.conv("gradient_highway.z_concat.0.weight", h, 2 * h, kernel)


def _peephole_cell(converter: _Converter, source: str, target: str, kernel: int, grid: tuple[int, int]) -> None:
    """OpenSTL's MIMN / MIMBlock.MIMS (conv_x_concat, conv_h_concat, ct_weight, oc_weight) -> ours."""
    h, out = converter.hidden, converter.out
    out[f"{target}.input_conv.weight"] = converter.conv(f"{source}.conv_x_concat.0.weight", h, 4 * h, kernel)
    out[f"{target}.input_conv.bias"] = converter.zeros(4 * h)
    out[f"{target}.hidden_conv.weight"] = converter.conv(f"{source}.conv_h_concat.0.weight", h, 4 * h, kernel)
    out[f"{target}.cell_peephole"] = converter.reference.take(f"{source}.ct_weight", (2 * h, *grid))
    out[f"{target}.output_peephole"] = converter.reference.take(f"{source}.oc_weight", (h, *grid))


def _mim(converter: _Converter) -> None:
    h, out = converter.hidden, converter.out
    kernel = converter.kernel_of("stlstm_layer.0.conv_h.0.weight")
    peephole = converter.reference.remaining.get("stlstm_layer.1.oc_weight")
    if peephole is None or peephole.ndim != 3:
        raise VpbenchError("OpenSTL mim checkpoint lacks 'stlstm_layer.1.oc_weight'")
    grid = tuple(peephole.shape[1:])
    _st_lstm(converter, "stlstm_layer.0", "cells.0", 0, kernel)
    for layer in range(1, converter.num_layers):
        source, target = f"stlstm_layer.{layer}", f"cells.{layer}"
        out[f"{target}.input_conv.weight"] = converter.conv(f"{source}.conv_x_cc.0.weight", h, 4 * h, kernel)
        out[f"{target}.hidden_conv.weight"] = converter.conv(f"{source}.conv_t_cc.0.weight", h, 3 * h, kernel)
        out[f"{target}.hidden_conv.bias"] = converter.zeros(3 * h)
        memory = converter.conv(f"{source}.conv_s_cc.0.weight", h, 4 * h, kernel)  # i' g' f' o
        out[f"{target}.memory_conv.weight"] = memory[: 3 * h]
        out[f"{target}.memory_conv.bias"] = converter.zeros(3 * h)
        out[f"{target}.memory_output_conv.weight"] = memory[3 * h :]
        out[f"{target}.fuse.weight"] = converter.conv(f"{source}.conv_last.weight", 2 * h, h, 1)
        _peephole_cell(converter, source, f"{target}.stationary", kernel, grid)  # MIM-S lives in the block
        _peephole_cell(converter, f"stlstm_layer_diff.{layer - 1}", f"{target}.non_stationary", kernel, grid)
        converter.reference.drop(f"stlstm_layer_diff.{layer - 1}.conv_last.weight")


_LAYOUTS: dict[str, tuple[str, Callable[[_Converter], None]]] = {
    "convlstm": ("cell_list", _convlstm),
    "predrnn": ("cell_list", _predrnn),
    "predrnn++": ("cell_list", _predrnn_pp),
    "mim": ("stlstm_layer", _mim),
}


def convert(
    model_name: str, state_dict: Mapping[str, torch.Tensor], channels: int | None = None
) -> dict[str, torch.Tensor]:
    """The vpbench state_dict of `model_name` holding the weights of an OpenSTL checkpoint.

    `channels` is the frame channel count; it is needed only for colour frames (the patch channel order
    differs), and without it a checkpoint whose patch channel count is not a perfect square is refused.
    """
    if model_name not in _LAYOUTS:
        raise VpbenchError(f"--from openstl maps {', '.join(sorted(MODELS))}, not {model_name}")
    layer_prefix, build = _LAYOUTS[model_name]
    converter = _Converter(model_name, _strip_wrappers(state_dict), layer_prefix, channels)
    build(converter)
    converter.readout()
    return converter.finish()
