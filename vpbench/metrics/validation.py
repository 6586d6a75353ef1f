"""Checks on frames entering the metric engine: one actionable line instead of a silent wrong number.

Why this module exists: a NaN in a prediction would otherwise become a NaN mean (or, after clipping and
uint8 casts, a plausible-looking value), and 0-255 floats passed as [0, 1] frames give nonsense at every
scale. Everything is checked here, once, before any metric is computed.
"""

from __future__ import annotations

import numpy as np
import torch

from vpbench.errors import VpbenchError
from vpbench.metrics.prepared import PREDICTION_RANGE

_FRAME_AXES = "(batch, horizon, channels, height, width)"


def as_tensor(frames: object, name: str) -> torch.Tensor:
    if isinstance(frames, torch.Tensor):
        return frames.detach()
    if isinstance(frames, np.ndarray):
        if frames.dtype == np.uint8 or np.issubdtype(frames.dtype, np.floating):
            return torch.from_numpy(np.ascontiguousarray(frames))
        raise VpbenchError(f"{name} has dtype {frames.dtype}; expected uint8, or float with values in [0, 1]")
    raise VpbenchError(f"{name} must be a torch tensor or numpy array; got {type(frames).__name__}")


def validate_layout(prediction: torch.Tensor, target: torch.Tensor) -> None:
    """Raise VpbenchError unless both are (B, T, C, H, W) of equal shape and uint8 or float."""
    if prediction.shape != target.shape:
        raise VpbenchError(
            f"prediction shape {tuple(prediction.shape)} does not match target shape {tuple(target.shape)}"
        )
    if prediction.ndim != 5:
        raise VpbenchError(f"expected frames shaped {_FRAME_AXES}; got shape {tuple(prediction.shape)}")
    for name, frames in (("prediction", prediction), ("target", target)):
        if frames.dtype != torch.uint8 and not frames.dtype.is_floating_point:
            raise VpbenchError(f"{name} has dtype {frames.dtype}; expected uint8, or float with values in [0, 1]")


def validate_values(prediction: torch.Tensor, target: torch.Tensor, sequence_index: torch.Tensor) -> None:
    """Raise VpbenchError unless float frames are finite, targets in [0, 1], predictions in
    PREDICTION_RANGE. `sequence_index` names the sequences in the message."""
    _check_float_values(prediction, "prediction", PREDICTION_RANGE, sequence_index)
    _check_float_values(target, "target", (0.0, 1.0), sequence_index)


def _check_float_values(
    frames: torch.Tensor, name: str, allowed: tuple[float, float], sequence_index: torch.Tensor
) -> None:
    if frames.dtype == torch.uint8 or frames.numel() == 0:
        return
    values = frames if frames.dtype in (torch.float32, torch.float64) else frames.float()
    low, high = (float(v) for v in torch.aminmax(values))
    if not (np.isfinite(low) and np.isfinite(high)):
        bad = ~torch.isfinite(values)
        first = [int(i) for i in torch.nonzero(bad)[0]]
        sequence = int(sequence_index[first[0]])
        raise VpbenchError(
            f"{name} contains {int(bad.sum())} non-finite values (NaN or Inf); the first is at sequence "
            f"{sequence}, frame {first[1]}, channel {first[2]}, row {first[3]}, column {first[4]}"
        )
    if low < allowed[0] or high > allowed[1]:
        hint = "pass uint8 frames or float frames on [0, 1] (divide 0-255 values by 255)"
        raise VpbenchError(
            f"{name} values must lie in [{allowed[0]:g}, {allowed[1]:g}] for float frames "
            f"(got min {low:.6g}, max {high:.6g}); {hint}"
        )
