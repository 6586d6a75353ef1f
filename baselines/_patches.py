"""Space-to-depth "patchify" shared by the PredRNN family (ConvLSTM, PredRNN, PredRNN++, MIM).

These models never see full-resolution frames: each p x p block of pixels becomes p^2 channels,
(C, H, W) -> (p^2 C, H/p, W/p), which cuts the cost of every recurrent convolution by p^2 and widens the
receptive field (Wang et al. use p = 4 on Moving MNIST, giving 16 x 16 x 16 patch frames). The channel
order inside a patch is torch's pixel_unshuffle order (c, dy, dx); any fixed order is equivalent, since
the first convolution sees all p^2 C channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vpbench.errors import VpbenchError


def require_divisible(model_name: str, height: int, width: int, patch_size: int) -> None:
    """Refuse frame sizes the patch grid cannot tile, in one actionable line."""
    if patch_size < 1:
        raise VpbenchError(f"model '{model_name}' needs patch_size >= 1 (got {patch_size})")
    if height % patch_size or width % patch_size:
        raise VpbenchError(
            f"model '{model_name}' needs height and width divisible by its patch size {patch_size} "
            f"(got {height}x{width}); resize the frames or pass another patch_size"
        )


def patchify(frames: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(..., C, H, W) -> (..., p^2 C, H/p, W/p)."""
    if patch_size == 1:
        return frames
    leading = frames.shape[:-3]
    flat = frames.reshape(-1, *frames.shape[-3:])
    patches = F.pixel_unshuffle(flat, patch_size)
    return patches.reshape(*leading, *patches.shape[-3:])


def unpatchify(patches: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(..., p^2 C, H/p, W/p) -> (..., C, H, W); the inverse of `patchify`."""
    if patch_size == 1:
        return patches
    leading = patches.shape[:-3]
    flat = patches.reshape(-1, *patches.shape[-3:])
    frames = F.pixel_shuffle(flat, patch_size)
    return frames.reshape(*leading, *frames.shape[-3:])
