"""MIMO-VP authors' code (ningshuliang/MIMO-VP at HEAD, `Models.Transformer`) -> vpbench's mimo-vp.

vpbench's default variant ("code") is that network layer for layer, so the mapping is a renaming plus
one transposition:
- `encoder.conv.{0,1}` -> `stem`; `conv.{0,1}` (the decoder input's second stem) -> `query_stem`.
- `{encoder,decoder}.layers.{i}`: `attn_1` (`attn_2` in the decoder: cross attention) with `q_Conv`,
  `k_Conv`, `v_Conv`, `v_post_f` -> `to_query`, `to_key`, `to_value`, `project`; `ff.ff1` / `ff.ff2`
  -> the local block's `expand` / `reduce`; `norm_{1,2,3}` -> the post-norm of the sublayer before it.
- `decoder.conv.{0,1}` -> `head.0`; `decoder.conv.3`, a 1x1 *transposed* conv (weight in x out x 1 x 1),
  -> `head.1`, a 1x1 conv (out x in x 1 x 1): the same map with the weight's first two axes swapped.
main.py wraps the model in nn.DataParallel, so its checkpoints (`stats['net_param']`) carry "module.".

The reference patchifies with channel order (dy, dx, c) where vpbench uses pixel_unshuffle's (c, dy, dx);
the two agree for one channel, and the reference builds only one-channel models (its stem reads p*p
channels) with p = 2 (sizes hard-coded for 64x64 frames), which is checked.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from vpbench.errors import VpbenchError
from vpbench.interop._rename import (
    CONV_NO_BIAS,
    NORM,
    Rename,
    apply_renames,
    layer_count,
    require_shape,
    strip_prefix,
)

SOURCE = "mimo-vp-repo"
MODELS = {"mimo-vp"}
_PATCH_CHANNELS = 4  # p*p*C with p = 2, C = 1: the only input the reference code builds


def _conv_norm(source: str, target: str) -> list[Rename]:
    return [Rename(f"{source}.0", f"{target}.0", CONV_NO_BIAS), Rename(f"{source}.1", f"{target}.1", NORM)]


def _attention(source: str, target: str) -> list[Rename]:
    pairs = (("q_Conv", "to_query"), ("k_Conv", "to_key"), ("v_Conv", "to_value"), ("v_post_f", "project"))
    return [rename for ref, ours in pairs for rename in _conv_norm(f"{source}.{ref}", f"{target}.sublayer.{ours}")]


def _local_block(source: str, target: str) -> list[Rename]:
    return _conv_norm(f"{source}.ff1", f"{target}.sublayer.expand") + _conv_norm(
        f"{source}.ff2", f"{target}.sublayer.reduce")


def _encoder_layer(index: int) -> list[Rename]:
    source, target = f"encoder.layers.{index}", f"encoder_layers.{index}"
    return (_attention(f"{source}.attn_1", f"{target}.self_attention")
            + [Rename(f"{source}.norm_1", f"{target}.self_attention.norm", NORM)]
            + _local_block(f"{source}.ff", f"{target}.local_block")
            + [Rename(f"{source}.norm_2", f"{target}.local_block.norm", NORM)])


def _decoder_layer(index: int) -> list[Rename]:
    source, target = f"decoder.layers.{index}", f"decoder_layers.{index}"
    return (_attention(f"{source}.attn_1", f"{target}.self_attention")
            + [Rename(f"{source}.norm_1", f"{target}.self_attention.norm", NORM)]
            + _attention(f"{source}.attn_2", f"{target}.cross_attention")
            + [Rename(f"{source}.norm_2", f"{target}.cross_attention.norm", NORM)]
            + _local_block(f"{source}.ff", f"{target}.local_block")
            + [Rename(f"{source}.norm_3", f"{target}.local_block.norm", NORM)])


def _swap_in_out(weight: torch.Tensor) -> torch.Tensor:
    """ConvTranspose2d weight (in, out, 1, 1) -> the equal Conv2d weight (out, in, 1, 1)."""
    return weight.transpose(0, 1).contiguous()


def convert(model_name: str, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """vpbench mimo-vp (variant "code") state_dict from a reference `Transformer` state_dict."""
    state_dict = strip_prefix(state_dict, "module.")
    encoder_layers = layer_count(state_dict, r"encoder\.layers\.(\d+)\.")
    decoder_layers = layer_count(state_dict, r"decoder\.layers\.(\d+)\.")
    if encoder_layers == 0 or decoder_layers == 0:
        raise VpbenchError(f"{SOURCE} checkpoint lacks 'encoder.layers.0.*' or 'decoder.layers.0.*'; is it a "
                           "MIMO-VP checkpoint of the authors' code (Models.py's Transformer)?")
    for key in ("encoder.conv.0.weight", "conv.0.weight"):
        require_shape(state_dict, key, lambda shape: shape[1] == _PATCH_CHANNELS,
                      f"{_PATCH_CHANNELS} input channels (1-channel frames, patch size 2, as the reference builds)",
                      SOURCE, model_name)
    require_shape(state_dict, "decoder.conv.3.weight", lambda shape: tuple(shape[1:]) == (_PATCH_CHANNELS, 1, 1),
                  f"a 1x1 transposed conv to {_PATCH_CHANNELS} channels", SOURCE, model_name)
    renames = (
        _conv_norm("encoder.conv", "stem")
        + _conv_norm("conv", "query_stem")
        + [rename for index in range(encoder_layers) for rename in _encoder_layer(index)]
        + [rename for index in range(decoder_layers) for rename in _decoder_layer(index)]
        + _conv_norm("decoder.conv", "head.0")
        + [Rename("decoder.conv.3", "head.1", CONV_NO_BIAS, transform=_swap_in_out)]
    )
    return apply_renames(state_dict, renames, source_name=SOURCE, model_name=model_name)
