"""Errors on static versus moving pixels: where does a model go wrong?

Why this module exists: the SRVP poster observes that baselines make "errors even in static regions";
this makes that measurable for every model. A pixel (channel, row, column) of a sequence is *static* when
its ground truth is identical in every frame of the target window, and *moving* otherwise. For each
horizon we report the per-pixel MSE and MAE (vpbench's scale: [0, 1], prediction clipped) pooled over the
static pixels of all sequences, and the same over the moving pixels, plus the fraction of static pixels.
With a horizon of 1 every pixel is static by this definition.

Sums are exact integers (the fixed-point per-pixel errors of `PreparedChunk`), so they merge exactly.
"""

from __future__ import annotations

import torch

from vpbench.metrics.functional import exact_sum
from vpbench.metrics.prepared import PreparedChunk

_FRAME_DIMS = (-3, -2, -1)

REGIONS_DEFINITION = (
    "static pixels: ground truth identical in every target frame of the sequence; moving: all others. "
    "Per-pixel MSE and MAE on [0, 1] with the prediction clipped, pooled over the region's pixels."
)


def static_mask(target: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) bool: the target pixel never changes over the T frames of (B, T, C, H, W) `target`."""
    return target.amax(dim=1) == target.amin(dim=1)


def region_sums(chunk: PreparedChunk) -> dict[str, torch.Tensor]:
    """Per-sequence integer sums for the static region of one chunk.

    Returns (B, T) int64 static squared/absolute error sums (fixed point at `geometry.unit_bits`) and the
    (B,) number of static pixels. Moving-region sums are the frame totals minus these. The per-pixel
    errors are integer-valued float64 (`to_fixed_point`), so the masked sums are exact.
    """
    mask = static_mask(chunk.target)
    weights = mask.unsqueeze(1).to(torch.float64)
    squared, absolute = chunk.clipped_pixel_errors
    masked = chunk.scratch.get("regions/masked", squared.shape, squared.dtype, squared.device)
    return {
        "static_squared": exact_sum(torch.mul(squared, weights, out=masked), _FRAME_DIMS),
        "static_absolute": exact_sum(torch.mul(absolute, weights, out=masked), _FRAME_DIMS),
        "static_pixels": mask.sum(dim=(-3, -2, -1)),
    }
