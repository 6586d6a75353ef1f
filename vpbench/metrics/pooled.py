"""srvp-paper: metrics pooled over the whole test set, per horizon, from uint8 buffers.

Why this module exists: SRVP's reference code does not average per-frame values. For each horizon it
takes the uint8 predictions of *all* test sequences as one (N, H, W, C) array and computes scikit-image's
MSE, PSNR with data_range = max - min of those predictions, and SSIM on that array treated as a 3-D
volume with channels — so the 7x7x7 window runs across neighbouring sequences (see conventions.py for
the source). Reproducing its numbers needs the whole set, so this is the only convention that keeps
buffers (uint8, in sequence-index order); everything here runs once, at `compute()`.

The volume SSIM is computed channel by channel in slabs of sequences (each slab carries the 6 extra
sequences its windows reach into), with exact integer window sums (the data are integers) and the SSIM
map averaged in fixed point, so the result does not depend on the slab size.
"""

from __future__ import annotations

import numpy as np
import torch

from vpbench.metrics.functional import UNIFORM_WINDOW, fixed_point_bits, ssim_maps, to_fixed_point

_SLAB_VOXELS = 1 << 18


def srvp_paper_horizon(
    prediction: np.ndarray, target: np.ndarray, device: torch.device
) -> tuple[dict[str, float], str | None]:
    """MSE, PSNR and SSIM of one horizon, SRVP's way, from (N, C, H, W) uint8 arrays in test-set order.

    Returns the metrics (possibly inf or nan, exactly as numpy's arithmetic gives them) and a note when
    SSIM could not be computed (fewer than 7 sequences, or frames smaller than 7x7).
    """
    difference = prediction.astype(np.int64) - target.astype(np.int64)
    mse = int(np.square(difference).sum()) / difference.size
    data_range = int(prediction.max()) - int(prediction.min())
    with np.errstate(divide="ignore", invalid="ignore"):
        psnr = float(10.0 * np.log10(np.float64(data_range) ** 2 / np.float64(mse)))
    note = None
    if min(prediction.shape[0], prediction.shape[2], prediction.shape[3]) < UNIFORM_WINDOW.size:
        ssim = float("nan")
        note = (
            "srvp-paper SSIM needs at least 7 sequences and 7x7 frames (its 7x7x7 window spans "
            f"sequences); got {prediction.shape[0]} sequences of {prediction.shape[2]}x{prediction.shape[3]}"
        )
    else:
        ssim = volume_ssim(prediction, target, data_range, device)
    return {"mse": mse, "psnr": psnr, "ssim": ssim}, note


def volume_ssim(prediction: np.ndarray, target: np.ndarray, data_range: int, device: torch.device) -> float:
    """skimage structural_similarity(target, prediction, channel_axis=channel, data_range=data_range) of
    (N, C, H, W) uint8 arrays seen as C volumes (N, H, W): mean over channels of the mean over the
    valid region of the 3-D SSIM map (7x7x7 uniform window, sample covariance 343/342).

    data_range 0 gives C1 = C2 = 0 and, as in scikit-image, nan wherever a window is flat in both."""
    count, channels, height, width = prediction.shape
    margin = UNIFORM_WINDOW.margin
    valid = (count - 2 * margin) * (height - 2 * margin) * (width - 2 * margin)
    bits = fixed_point_bits(2.0, valid)
    outputs_per_slab = max(1, _SLAB_VOXELS // (height * width))
    channel_means = []
    for channel in range(channels):
        total_fixed, total_float = 0, 0.0
        for start in range(0, count - 2 * margin, outputs_per_slab):
            stop = min(count, start + outputs_per_slab + 2 * margin)
            first = _volume(target, channel, start, stop, device)
            second = _volume(prediction, channel, start, stop, device)
            (ssim_map,) = ssim_maps(first, second, (float(data_range),), UNIFORM_WINDOW, dims=(0, 1, 2))
            if data_range > 0:
                total_fixed += int(to_fixed_point(ssim_map, bits).sum())
            else:
                total_float += float(ssim_map.sum())
        channel_means.append(total_fixed / (2**bits * valid) if data_range > 0 else total_float / valid)
    return float(np.mean(channel_means))


def _volume(frames: np.ndarray, channel: int, start: int, stop: int, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames[start:stop, channel])).to(device, torch.float64)
