"""SRVP authors' code (yuseonk/SRVP, `model.SRVP.EncoderDecoder`) -> vpbench's srvp, its ablations, convgru.

The reference builds one model, SRVP. Its three ablations and the ConvGRU baseline have no flag there
(MODELS.md); a checkpoint of one of them is the reference's model with the dropped modules never built,
so each maps the modules it keeps and refuses keys of the modules it lacks.

Layout of the reference (hidden h, L layers, emb = h/2):
- `encoder.cell{i}` / `forecast.cell{i}`: ConvGRU cells; i2h, h2h = gate convs from input / hidden with
  the update gate's channels first, xg, hg = candidate convs (same order as vpbench's cell).
- `step1`: standard attention; `sa` = self-attention, `ta_to_sa` = A(context, refined) ("spatial"),
  `sa_to_ta` = A(refined, context) ("temporal"); Wq, Wk, Wv are 1x1 convs.
- `enc_sc`: RFA's encoder side; `lpconv.layers.{t}` is ONE conv-BN-ReLU-conv-BN-ReLU module repeated
  once per context step (nn.ModuleList of the same object), so the state_dict holds T equal copies;
  `norm.norm` is the GroupNorm(T).
- `step2`: RFA's decoder side; `dec_sc.norm.norm` GroupNorm(L*h), `dec_sc.conv2d.0` conv L*h -> h,
  `sa`, `c_conv.0`, `r_conv.0` (h -> emb), `ta_to_sa`, `sa_to_ta`, `sf_conv.0`, `tf_conv.0` (emb -> emb/2).
- `output_layer.0`: the 3x3 head conv.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from vpbench.errors import VpbenchError
from vpbench.interop._rename import BATCH_NORM, CONV, NORM, Rename, apply_renames, layer_count, require_shape

SOURCE = "srvp-repo"
MODELS = {"srvp", "srvp-wo-sa", "srvp-wo-rfa", "srvp-wo-crossatt", "convgru"}

# What each name keeps: (standard attention, reinforced feature attention, cross attention).
_MODULES = {
    "srvp": (True, True, True),
    "srvp-wo-sa": (False, True, True),
    "srvp-wo-rfa": (True, False, True),
    "srvp-wo-crossatt": (True, True, False),
    "convgru": (False, False, False),
}
_CELL = {"i2h": "gates_from_input", "h2h": "gates_from_hidden", "xg": "candidate_from_input",
         "hg": "candidate_from_hidden"}
_FRAME_FEATURES = {"0": CONV, "1": BATCH_NORM, "3": CONV, "4": BATCH_NORM}  # conv, BN, (ReLU), conv, BN
_SHARED_PROJECTION = "enc_sc.lpconv.layers."


def _channel_attention(source: str, target: str) -> list[Rename]:
    return [Rename(f"{source}.W{letter}", f"{target}.{name}", CONV)
            for letter, name in (("q", "query"), ("k", "key"), ("v", "value"))]


def _backbone(layers: int) -> list[Rename]:
    return [
        Rename(f"{stack}.cell{layer}.{conv}", f"backbone.{target}.cells.{layer}.{name}", CONV)
        for stack, target in (("encoder", "encoder"), ("forecast", "forecaster"))
        for layer in range(layers)
        for conv, name in _CELL.items()
    ]


def _standard_attention(cross: bool) -> list[Rename]:
    renames = _channel_attention("step1.sa", "standard_attention.self_attention")
    if cross:
        renames += _channel_attention("step1.ta_to_sa", "standard_attention.spatial_attention")
        renames += _channel_attention("step1.sa_to_ta", "standard_attention.temporal_attention")
    return renames


def _reinforced_attention(cross: bool) -> list[Rename]:
    target = "reinforced_attention"
    renames = [Rename(f"{_SHARED_PROJECTION}0.{index}", f"{target}.frame_features.{index}", tensors)
               for index, tensors in _FRAME_FEATURES.items()]
    renames += [
        Rename("enc_sc.norm.norm", f"{target}.encoder_norm", NORM),
        Rename("step2.dec_sc.norm.norm", f"{target}.state_norm", NORM),
        Rename("step2.dec_sc.conv2d.0", f"{target}.state_projection.0", CONV),
        Rename("step2.c_conv.0", f"{target}.context_projection.0", CONV),
        Rename("step2.r_conv.0", f"{target}.refined_projection.0", CONV),
    ]
    renames += _channel_attention("step2.sa", f"{target}.self_attention")
    if cross:
        renames += _channel_attention("step2.ta_to_sa", f"{target}.spatial_attention")
        renames += _channel_attention("step2.sa_to_ta", f"{target}.temporal_attention")
        renames += [Rename("step2.sf_conv.0", f"{target}.spatial_projection.0", CONV),
                    Rename("step2.tf_conv.0", f"{target}.temporal_projection.0", CONV)]
    return renames


def _shared_projection_copies(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Keys of the repeated copies (t >= 1) of RFA's frame-feature module, checked equal to copy 0."""
    copies = []
    for key, value in state_dict.items():
        if not key.startswith(_SHARED_PROJECTION):
            continue
        step, _, rest = key[len(_SHARED_PROJECTION):].partition(".")
        if step == "0":
            continue
        first = state_dict.get(f"{_SHARED_PROJECTION}0.{rest}")
        if first is None or first.shape != value.shape or not torch.equal(first, value):
            raise VpbenchError(
                f"{SOURCE} checkpoint '{key}' differs from '{_SHARED_PROJECTION}0.{rest}'; the reference "
                "shares one frame-feature module across context steps, and so does vpbench"
            )
        copies.append(key)
    return copies


def _head_width(layers: int, hidden: int, standard: bool, reinforced: bool, cross: bool) -> int:
    embedding = hidden // 2
    width = layers * hidden
    if standard:
        width += 2 * hidden
    if reinforced:
        width += 2 * (embedding // 2 if cross else embedding)
    return width


def convert(model_name: str, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """vpbench state_dict of `model_name` from an `EncoderDecoder` state_dict of the SRVP reference."""
    standard, reinforced, cross = _MODULES[model_name]
    layers = layer_count(state_dict, r"encoder\.cell(\d+)\.")
    if layers == 0:
        raise VpbenchError(f"{SOURCE} checkpoint lacks 'encoder.cell0.i2h.weight'; is it an SRVP reference "
                           "checkpoint (model/SRVP.py's EncoderDecoder)?")
    renames = _backbone(layers) + [Rename("output_layer.0", "head.0", CONV)]
    if standard:
        renames += _standard_attention(cross)
    if reinforced:
        renames += _reinforced_attention(cross)
    if "encoder.cell0.h2h.weight" in state_dict:
        hidden = state_dict["encoder.cell0.h2h.weight"].shape[1]
        width = _head_width(layers, hidden, standard, reinforced, cross)
        require_shape(state_dict, "output_layer.0.weight", lambda shape: shape[1] == width,
                      f"{width} head input channels ({layers} layers x {hidden} hidden plus what it keeps)",
                      SOURCE, model_name)
    consumed = _shared_projection_copies(state_dict) if reinforced else []
    return apply_renames(state_dict, renames, source_name=SOURCE, model_name=model_name, consumed=consumed)
