"""One chunk of validated frames and the intermediate quantities several conventions share.

Why this module exists: the four conventions overlap (vpbench's clipped squared errors are also
PredRNN's MSE, OpenSTL's PSNR and the static/moving split; vpbench's and OpenSTL's SSIM share the same
local moments), and on a large test set every pass over the pixels counts. `PreparedChunk` computes each
shared quantity at most once, on first use, and `FrameGeometry` fixes the fixed-point scales from the
frame shape alone, so that they are identical in every batch, shard and process.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from vpbench.metrics.functional import (
    UNIFORM_WINDOW,
    Scratch,
    exact_sum,
    fixed_point_bits,
    ssim_fixed_point_bits,
    ssim_frame_sums,
    ssim_valid_pixels,
    to_fixed_point,
)

# Float predictions must lie in this range (targets in [0, 1]); it bounds |prediction - target| by 16,
# which sizes the fixed-point scale of OpenSTL's unclipped errors. Anything further out is not a frame.
PREDICTION_RANGE = (-15.0, 16.0)
_UNCLIPPED_ERROR_BOUND = 16.0
_FRAME_DIMS = (-3, -2, -1)


@dataclass(frozen=True)
class FrameGeometry:
    """Frame shape and the fixed-point scales derived from it (identical wherever the shape is)."""

    channels: int
    height: int
    width: int

    @property
    def pixels(self) -> int:
        return self.channels * self.height * self.width

    @property
    def unit_bits(self) -> int:
        """Scale of clipped [0, 1] errors (squared or absolute, both <= 1)."""
        return fixed_point_bits(1.0, self.pixels)

    @property
    def unclipped_squared_bits(self) -> int:
        return fixed_point_bits(_UNCLIPPED_ERROR_BOUND**2, self.pixels)

    @property
    def unclipped_absolute_bits(self) -> int:
        return fixed_point_bits(_UNCLIPPED_ERROR_BOUND, self.pixels)

    @property
    def ssim_bits(self) -> int:
        return ssim_fixed_point_bits(self.channels, self.height, self.width, UNIFORM_WINDOW)

    @property
    def ssim_denominator(self) -> int:
        return 2**self.ssim_bits * ssim_valid_pixels(self.channels, self.height, self.width, UNIFORM_WINDOW)


def _quantisation_dtype(frames: torch.Tensor) -> torch.dtype:
    """The precision the sources quantise in: their arrays' own (float32 or float64); halves go via float32."""
    return torch.float64 if frames.dtype == torch.float64 else torch.float32


class PreparedChunk:
    """Validated (B, T, C, H, W) prediction and target (uint8 or float) of whole sequences.

    Large temporaries come from `scratch` (reused by the next chunk), so quantities of one chunk must be
    consumed before the next chunk is prepared — as MetricAccumulator does.
    """

    def __init__(
        self,
        prediction: torch.Tensor,
        target: torch.Tensor,
        geometry: FrameGeometry,
        unit_ssim_ranges: tuple[float, ...],
        scratch: Scratch | None = None,
    ) -> None:
        self.prediction = prediction
        self.target = target
        self.geometry = geometry
        self.unit_ssim_ranges = unit_ssim_ranges
        self.scratch = scratch if scratch is not None else Scratch()

    def _buffer(self, name: str, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        return self.scratch.get(f"chunk/{name}", self.target.shape, dtype, self.target.device)

    # ------------------------------------------------------------------ [0, 1] scale, float64
    @cached_property
    def unit_target(self) -> torch.Tensor:
        return _to_unit(self.target, self._buffer("unit_target"))

    @cached_property
    def unit_prediction(self) -> torch.Tensor:
        """The prediction on [0, 1], not clipped (OpenSTL's MSE/MAE see it like this)."""
        return _to_unit(self.prediction, self._buffer("unit_prediction"))

    @cached_property
    def clipped_prediction(self) -> torch.Tensor:
        return torch.clamp(self.unit_prediction, 0.0, 1.0, out=self._buffer("clipped_prediction"))

    @cached_property
    def clipped_pixel_errors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel squared and absolute errors of the clipped prediction, fixed point at `unit_bits`."""
        return self._pixel_errors(self.clipped_prediction, "clipped", self.geometry.unit_bits, self.geometry.unit_bits)

    def _pixel_errors(
        self, prediction: torch.Tensor, name: str, squared_bits: int, absolute_bits: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        difference = torch.sub(prediction, self.unit_target, out=self._buffer(f"{name}_absolute"))
        squared = torch.mul(difference, difference, out=self._buffer(f"{name}_squared"))
        to_fixed_point(squared, squared_bits, in_place=True)
        return squared, to_fixed_point(difference.abs_(), absolute_bits, in_place=True)

    @cached_property
    def clipped_frame_sums(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) int64 sums over each frame of `clipped_pixel_errors`."""
        squared, absolute = self.clipped_pixel_errors
        return exact_sum(squared, _FRAME_DIMS), exact_sum(absolute, _FRAME_DIMS)

    @cached_property
    def unclipped_frame_sums(self) -> tuple[torch.Tensor, torch.Tensor]:
        geometry = self.geometry
        squared, absolute = self._pixel_errors(
            self.unit_prediction, "unclipped", geometry.unclipped_squared_bits, geometry.unclipped_absolute_bits
        )
        return exact_sum(squared, _FRAME_DIMS), exact_sum(absolute, _FRAME_DIMS)

    @cached_property
    def _unit_ssim(self) -> dict[float, torch.Tensor]:
        sums = ssim_frame_sums(
            _frames(self.clipped_prediction), _frames(self.unit_target), self.unit_ssim_ranges, scratch=self.scratch
        )
        return {r: s.reshape(self.target.shape[:2]) for r, s in zip(self.unit_ssim_ranges, sums, strict=True)}

    def unit_ssim(self, data_range: float) -> torch.Tensor:
        """(B, T) SSIM integer sums of the clipped prediction vs the target on [0, 1] (see ssim_frame_sums)."""
        return self._unit_ssim[data_range]

    # ------------------------------------------------------------------ uint8 quantisations
    @cached_property
    def floor_uint8(self) -> tuple[torch.Tensor, torch.Tensor]:
        """PredRNN's np.uint8(clip(x, 0, 1) * 255): truncation, in the arrays' own float precision;
        returned as float64 holding the integers 0..255 (uint8 inputs are used as they are)."""
        return (
            self._floor_uint8(self.prediction, self._buffer("floor_prediction")),
            self._floor_uint8(self.target, self._buffer("floor_target")),
        )

    def _floor_uint8(self, frames: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if frames.dtype == torch.uint8:
            return out.copy_(frames)
        dtype = _quantisation_dtype(frames)
        scaled = self._buffer(f"quantise_{dtype}", dtype).copy_(frames).clamp_(0.0, 1.0).mul_(255.0)
        return out.copy_(scaled.floor_())

    @cached_property
    def floor_squared_frame_sums(self) -> torch.Tensor:
        """(B, T) int64 sums of squared differences of the floor-quantised frames (exact integers)."""
        prediction, target = self.floor_uint8
        difference = torch.sub(prediction, target, out=self._buffer("floor_difference"))
        return exact_sum(difference.square_(), _FRAME_DIMS)  # integers below 2^53: exact in float64

    @cached_property
    def floor_ssim(self) -> torch.Tensor:
        """(B, T) SSIM integer sums of the floor-quantised frames with data_range 255."""
        prediction, target = self.floor_uint8
        sums = ssim_frame_sums(_frames(prediction), _frames(target), (255.0,), scratch=self.scratch)[0]
        return sums.reshape(self.target.shape[:2])

    @cached_property
    def round_uint8(self) -> tuple[torch.Tensor, torch.Tensor]:
        """SRVP's np.round(x * 255).astype(np.uint8) (round half to even), as new uint8 tensors. The
        prediction is clipped to [0, 1] first: SRVP's sigmoid output never leaves it, and a uint8 cast
        would wrap around."""
        return _round_uint8(self.prediction), _round_uint8(self.target)


def _to_unit(frames: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    out.copy_(frames)
    return out.div_(255.0) if frames.dtype == torch.uint8 else out


def _frames(frames: torch.Tensor) -> torch.Tensor:
    return frames.reshape(-1, *frames.shape[-3:])


def _round_uint8(frames: torch.Tensor) -> torch.Tensor:
    if frames.dtype == torch.uint8:
        return frames.clone()
    scaled = frames.to(_quantisation_dtype(frames)).clamp(0.0, 1.0) * 255.0
    return torch.round(scaled).to(torch.uint8)
