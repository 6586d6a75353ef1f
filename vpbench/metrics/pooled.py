"""srvp-paper: metrics pooled over the whole test set, per horizon, from uint8 buffers.

Why this module exists: SRVP's reference code does not average per-frame values. For each horizon it
takes the uint8 predictions of *all* test sequences as one (N, H, W, C) array and computes scikit-image's
MSE, PSNR with data_range = max - min of those predictions, and SSIM on that array treated as a 3-D
volume with channels — so the 7x7x7 window runs across neighbouring sequences (see conventions.py for
the source). Reproducing its numbers needs the whole set, so this is the only convention that keeps
buffers (uint8, in sequence-index order); everything here runs once, at `compute()`.

The volume SSIM is computed channel by channel, streaming through the sequences in chunks, with exact
integer window sums (the data are integers) and the SSIM map summed in fixed point, so the result does
not depend on the chunk size.
"""

from __future__ import annotations

import numpy as np
import torch

from vpbench.metrics.functional import (
    UNIFORM_WINDOW,
    Scratch,
    fixed_point_bits,
    moment_stack,
    ssim_from_means,
    to_fixed_point,
    window_sums,
)

_CHUNK_PIXELS = 1 << 15  # frames per chunk x H x W: cache-sized


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

    Separable: each frame's 7x7 window sums of the five moments, then 7-frame sums along N, streaming
    through the sequences in chunks that carry the last 6 frames' sums forward. data_range 0 gives
    C1 = C2 = 0 and, as in scikit-image, nan wherever a window is flat in both volumes."""
    count, channels, height, width = prediction.shape
    window, margin = UNIFORM_WINDOW, UNIFORM_WINDOW.margin
    plane = (height - 2 * margin) * (width - 2 * margin)
    frames_per_chunk = max(1, _CHUNK_PIXELS // (height * width))
    bits = fixed_point_bits(2.0, frames_per_chunk * plane)
    factor = window.covariance_factor(3)
    channel_means, scratch = [], Scratch()
    for channel in range(channels):
        total_fixed, total_float, carried = 0, 0.0, None
        for start in range(0, count, frames_per_chunk):
            stop = min(count, start + frames_per_chunk)
            pair = _frames(target, channel, start, stop, device), _frames(prediction, channel, start, stop, device)
            sums = window_sums(moment_stack(*pair, scratch), window, (-2, -1), scratch)  # exact integers
            if carried is not None:
                sums = torch.cat((carried, sums), dim=1)
            carried = sums[:, -(window.size - 1) :].clone()  # `sums` may live in a reused buffer
            if sums.shape[1] < window.size:
                continue
            means = window_sums(sums, window, (1,)) / float(window.size**3)
            (ssim_map,) = ssim_from_means(means, (float(data_range),), factor, scratch)
            if data_range > 0:
                total_fixed += int(to_fixed_point(ssim_map, bits, in_place=True).sum())
            else:
                total_float += float(ssim_map.sum())
        valid = (count - 2 * margin) * plane
        channel_means.append(total_fixed / (2**bits * valid) if data_range > 0 else total_float / valid)
    return float(np.mean(channel_means))


def _frames(frames: np.ndarray, channel: int, start: int, stop: int, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames[start:stop, channel])).to(device, torch.float64)
