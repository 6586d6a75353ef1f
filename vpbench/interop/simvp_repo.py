"""SimVP authors' code (gaozhangyang/SimVP-Simpler-yet-Better-Video-Prediction, `model.SimVP`) -> vpbench's simvp.

The two implementations are the same network module for module (baselines/simvp.py follows that code),
so the mapping is a renaming:
- `enc.enc.{i}.conv.{conv,norm}`, `dec.dec.{i}.conv.{conv,norm}` (ConvSC -> BasicConv2d) -> the spatial
  blocks `encoder.blocks.{i}` / `decoder.blocks.{i}` (conv at index 0, GroupNorm(2) at 1);
  `dec.readout` -> `decoder.readout`.
- `hid.enc.{i}` / `hid.dec.{i}` (Mid_Xnet's Inception modules) -> `translator.down.{i}` / `translator.up.{i}`:
  `conv1` -> `reduce`, `layers.{j}.{conv,norm}` -> `branches.{j}.{0,1}`, kernels 3, 5, 7, 11 in that order.

OpenSTL's SimVP (its `simvp` method, IncepU) is not this layout: its decoder up-samples by conv +
pixel shuffle and adds the skip, so it has no counterpart in vpbench's simvp and is not mapped here.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from vpbench.baselines.simvp import INCEPTION_KERNELS
from vpbench.errors import VpbenchError
from vpbench.interop._rename import CONV, NORM, Rename, apply_renames, layer_count, require_shape

SOURCE = "simvp-repo"
MODELS = {"simvp"}


def _spatial_blocks(source: str, target: str, count: int) -> list[Rename]:
    return [
        rename
        for index in range(count)
        for rename in (Rename(f"{source}.{index}.conv.conv", f"{target}.{index}.0", CONV),
                       Rename(f"{source}.{index}.conv.norm", f"{target}.{index}.1", NORM))
    ]


def _inception_modules(source: str, target: str, count: int) -> list[Rename]:
    renames = []
    for index in range(count):
        renames.append(Rename(f"{source}.{index}.conv1", f"{target}.{index}.reduce", CONV))
        for branch in range(len(INCEPTION_KERNELS)):
            renames += [Rename(f"{source}.{index}.layers.{branch}.conv", f"{target}.{index}.branches.{branch}.0", CONV),
                        Rename(f"{source}.{index}.layers.{branch}.norm", f"{target}.{index}.branches.{branch}.1", NORM)]
    return renames


def convert(model_name: str, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """vpbench simvp state_dict from a reference `SimVP` state_dict (exp.py saves `model.state_dict()`)."""
    spatial_blocks = layer_count(state_dict, r"enc\.enc\.(\d+)\.")
    translator_depth = layer_count(state_dict, r"hid\.enc\.(\d+)\.")
    if spatial_blocks == 0 or translator_depth == 0:
        raise VpbenchError(f"{SOURCE} checkpoint lacks 'enc.enc.0.conv.conv.weight' or 'hid.enc.0.conv1.weight'; "
                           "is it a SimVP checkpoint of the authors' code (model.py's SimVP)?")
    for module in ("enc", "dec"):
        for branch, kernel in enumerate(INCEPTION_KERNELS):
            for index in range(translator_depth):
                require_shape(state_dict, f"hid.{module}.{index}.layers.{branch}.conv.weight",
                              lambda shape, kernel=kernel: tuple(shape[-2:]) == (kernel, kernel),
                              f"a {kernel}x{kernel} kernel in Inception branch {branch}", SOURCE, model_name)
    renames = (
        _spatial_blocks("enc.enc", "encoder.blocks", spatial_blocks)
        + _spatial_blocks("dec.dec", "decoder.blocks", spatial_blocks)
        + [Rename("dec.readout", "decoder.readout", CONV)]
        + _inception_modules("hid.enc", "translator.down", translator_depth)
        + _inception_modules("hid.dec", "translator.up", translator_depth)
    )
    return apply_renames(state_dict, renames, source_name=SOURCE, model_name=model_name)
