"""Model cost: parameters and multiply-accumulates per sequence, measured with torch's flop counter.

MACs are counted on the `meta` device, so even the paper presets cost no real compute: the model is
built without storage and run on shape-only tensors. (torch's FlopCounterMode counts 2 FLOPs per MAC.)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(
    build: Callable[[], nn.Module],
    *,
    batch: int = 1,
    context_length: int,
    horizon: int,
    channels: int,
    height: int,
    width: int,
) -> int:
    """MACs of one forward pass of `build()` over a (batch, context_length, C, H, W) input, per sequence."""
    with torch.device("meta"):
        model = build()
    model.eval()
    context = torch.empty(batch, context_length, channels, height, width, device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(context, horizon)
    return counter.get_total_flops() // 2 // batch
