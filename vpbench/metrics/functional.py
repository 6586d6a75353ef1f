"""Batched frame metrics in torch, written so that a frame's value is an exact function of that frame.

Why this module exists: every metric convention in vpbench reduces to per-pixel errors, PSNR and
scikit-image's SSIM. Computing them frame by frame in a Python loop (the usual scikit-image pattern) is
slow; computing them batched with ordinary float reductions makes the last bits of a frame's value
depend on which other frames shared its batch (reduction trees and vectorised-versus-scalar code paths
change with the batch shape), so sharded evaluation would not reproduce one process. So here:

* sums over pixels are taken over fixed-point integers (`to_fixed_point`, `fixed_point_bits`): integer
  addition is exact, hence independent of order, batch size, thread count and device;
* SSIM's local means are windowed sums of shifted slices — elementwise additions only, no conv/pool
  kernel whose algorithm may change with the batch shape — and the SSIM map is averaged in fixed point;
* log10 is evaluated with IEEE-exact operations only (`deterministic_log10`): torch's vectorised and
  scalar log10 differ in the last bit, and which one a value gets depends on its position in the batch.

All arithmetic is float64. (float32 SSIM misses scikit-image's float64 result by far more than 1e-6 on
[0, 1] frames, because of the cancellation in E[x²] − E[x]², so it is not offered.)

The public functions (`mse`, `mae`, `psnr`, `ssim`) follow scikit-image: values are used as given (uint8
as 0–255 integers, float as is), `data_range` is explicit, inputs are (..., C, H, W), SSIM is averaged
over channels, and the result has the leading shape — one value per frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vpbench.errors import VpbenchError

# Wang et al. (2004), eq. 7: C1 = (K1 L)^2, C2 = (K2 L)^2 with L the dynamic range of the pixel values.
K1 = 0.01
K2 = 0.03
UNIFORM_WINDOW_SIZE = 7  # scikit-image's default `win_size`
GAUSSIAN_SIGMA = 1.5  # Wang et al. (2004), section III.C: 11x11 circular-symmetric Gaussian, sigma 1.5
GAUSSIAN_TRUNCATE = 3.5  # scikit-image's truncation: radius int(3.5 * 1.5 + 0.5) = 5, so 11 taps
_LOG10_OF_2 = math.log10(2.0)
_SQRT_HALF = math.sqrt(0.5)
# Elements per SSIM chunk on the CPU: small enough that the five moment maps stay in cache and no
# temporary is large enough to be mmap'ed (page faults dominated the run time with larger chunks).
_CPU_SSIM_CHUNK_ELEMENTS = 1 << 15
_GPU_SSIM_CHUNK_ELEMENTS = 1 << 26


@dataclass(frozen=True)
class SsimWindow:
    """The local window of SSIM: separable 1-D weights (None = uniform box) and the covariance estimator."""

    name: str
    size: int
    weights: tuple[float, ...] | None
    sample_covariance: bool

    @property
    def margin(self) -> int:
        """Pixels cropped from each border: scikit-image keeps only windows that fit (`crop(S, pad)`)."""
        return (self.size - 1) // 2

    def covariance_factor(self, dimensions: int) -> float:
        """N/(N-1) for the sample covariance scikit-image uses by default; 1 for Wang et al.'s estimator."""
        if not self.sample_covariance:
            return 1.0
        window_pixels = self.size**dimensions
        return window_pixels / (window_pixels - 1)


def _gaussian_weights(sigma: float, truncate: float) -> tuple[float, ...]:
    radius = int(truncate * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 / (sigma * sigma) * offsets**2)
    return tuple(float(w) for w in weights / weights.sum())


UNIFORM_WINDOW = SsimWindow("uniform", UNIFORM_WINDOW_SIZE, None, sample_covariance=True)
# Equals skimage's structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False),
# the setting its documentation gives for matching Wang et al. (2004).
GAUSSIAN_WINDOW = SsimWindow(
    "gaussian",
    2 * int(GAUSSIAN_TRUNCATE * GAUSSIAN_SIGMA + 0.5) + 1,
    _gaussian_weights(GAUSSIAN_SIGMA, GAUSSIAN_TRUNCATE),
    sample_covariance=False,
)
SSIM_WINDOWS = {window.name: window for window in (UNIFORM_WINDOW, GAUSSIAN_WINDOW)}


def ssim_window(name: str) -> SsimWindow:
    if name not in SSIM_WINDOWS:
        raise VpbenchError(f"unknown SSIM window '{name}'; valid windows: {', '.join(SSIM_WINDOWS)}")
    return SSIM_WINDOWS[name]


# ----------------------------------------------------------------------------------------------------
# Exact, order-independent arithmetic


def fixed_point_bits(bound: float, terms: int) -> int:
    """Fraction bits k such that `terms` values of magnitude <= `bound`, each rounded to a multiple of
    2^-k, add up to less than 2^62 — so their int64 sum is exact, whatever the order."""
    return 62 - math.ceil(math.log2(bound * terms))


def to_fixed_point(values: torch.Tensor, bits: int) -> torch.Tensor:
    """round(values * 2^bits) as int64. Scaling by a power of two is exact; rounding is to nearest even."""
    scaled = values * float(2**bits)
    return torch.round(scaled, out=scaled).to(torch.int64)


def deterministic_log10(values: torch.Tensor) -> torch.Tensor:
    """log10 of positive finite float64 values, using only correctly rounded IEEE operations.

    x = m 2^e (frexp, exact); m is moved into [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s) with
    s = (m - 1)/(m + 1), |s| <= 0.1716, summed as the odd series s + s^3/3 + ... to s^25 (truncation below
    1e-19 relative). Every value takes the same sequence of +, *, / whatever its batch, device or position
    in a vector register, so the result is reproducible bit for bit. Accuracy: a few units in the last place.
    """
    mantissa, exponent = torch.frexp(values)
    below = mantissa < _SQRT_HALF
    mantissa = torch.where(below, mantissa * 2.0, mantissa)
    exponent = exponent.to(torch.float64) - below.to(torch.float64)
    s = (mantissa - 1.0) / (mantissa + 1.0)
    s_squared = s * s
    series = torch.full_like(s, 1.0 / 25.0)
    for odd in range(23, 0, -2):
        series = series * s_squared + 1.0 / odd
    natural_log_of_mantissa = 2.0 * s * series
    return natural_log_of_mantissa / math.log(10.0) + exponent * _LOG10_OF_2


def psnr_from_mse(mse: torch.Tensor, data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    """PSNR = 10 log10(data_range^2 / MSE) (dB) per entry, and a mask of the entries with MSE 0.

    Entries with MSE 0 (identical frames) have an infinite PSNR; their returned value is 0 and the mask
    says so — each convention decides how to report them.
    """
    identical = mse == 0
    safe = torch.where(identical, torch.ones_like(mse), mse)
    values = 10.0 * deterministic_log10((data_range * data_range) / safe)
    return torch.where(identical, torch.zeros_like(values), values), identical


# ----------------------------------------------------------------------------------------------------
# SSIM


def window_means(stack: torch.Tensor, window: SsimWindow, dims: Sequence[int]) -> torch.Tensor:
    """Local (windowed) means over `dims`, valid region only (only windows that fit inside the frame).

    Separable: one pass of shifted-slice sums per dimension. For the uniform window the plain sums are
    divided once by size^len(dims), so integer-valued data (uint8 frames) gives exact window sums.
    """
    for dim in dims:
        length = stack.shape[dim] - window.size + 1
        if window.weights is None:
            summed = stack.narrow(dim, 0, length).clone()
            for offset in range(1, window.size):
                summed += stack.narrow(dim, offset, length)
        else:
            summed = stack.narrow(dim, 0, length) * window.weights[0]
            for offset in range(1, window.size):
                summed += stack.narrow(dim, offset, length) * window.weights[offset]
        stack = summed
    if window.weights is None:
        stack /= float(window.size ** len(dims))
    return stack


def ssim_maps(
    first: torch.Tensor,
    second: torch.Tensor,
    data_ranges: Sequence[float],
    window: SsimWindow,
    dims: Sequence[int] = (-2, -1),
) -> Iterator[torch.Tensor]:
    """SSIM maps (valid region) of two float64 tensors, one per data range — scikit-image's arithmetic:

    S = (2 mu_x mu_y + C1)(2 cov_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2)),
    Wang et al. (2004) eq. 13, with (co)variances from windowed moments times N/(N-1) (sample
    covariance) for the uniform window. The moments are shared by all data ranges.
    """
    stack = torch.stack((first, second, first * first, second * second, first * second))
    means = window_means(stack, window, [dim - first.ndim if dim >= 0 else dim for dim in dims])
    mean_x, mean_y, mean_xx, mean_yy, mean_xy = means.unbind(0)
    factor = window.covariance_factor(len(dims))
    product_of_means = mean_x * mean_y
    covariance = (mean_xy - product_of_means) * factor
    mean_xx -= mean_x * mean_x
    mean_yy -= mean_y * mean_y
    variance_sum = (mean_xx + mean_yy) * factor
    squared_means = mean_x * mean_x + mean_y * mean_y
    for data_range in data_ranges:
        c1 = (K1 * data_range) ** 2
        c2 = (K2 * data_range) ** 2
        numerator = (2.0 * product_of_means + c1) * (2.0 * covariance + c2)
        yield numerator / ((squared_means + c1) * (variance_sum + c2))


def ssim_valid_pixels(channels: int, height: int, width: int, window: SsimWindow) -> int:
    return channels * (height - 2 * window.margin) * (width - 2 * window.margin)


def ssim_fixed_point_bits(channels: int, height: int, width: int, window: SsimWindow) -> int:
    # |S| <= 1 (Cauchy-Schwarz); bound 2 leaves room for rounding.
    return fixed_point_bits(2.0, ssim_valid_pixels(channels, height, width, window))


def ssim_frame_sums(
    first: torch.Tensor, second: torch.Tensor, data_ranges: Sequence[float], window: SsimWindow = UNIFORM_WINDOW
) -> list[torch.Tensor]:
    """Per-frame SSIM of (F, C, H, W) float64 frames as exact integers, one (F,) int64 tensor per range.

    Each integer is sum over channels and valid pixels of round(S * 2^k), k = `ssim_fixed_point_bits`; the
    frame's SSIM (mean over channels of the mean over the valid region, as scikit-image) is that integer
    divided by 2^k * `ssim_valid_pixels`. Frames are processed in chunks sized for the cache.
    """
    frames, channels, height, width = first.shape
    check_window_fits(height, width, window)
    bits = ssim_fixed_point_bits(channels, height, width, window)
    budget = _GPU_SSIM_CHUNK_ELEMENTS if first.is_cuda else _CPU_SSIM_CHUNK_ELEMENTS
    chunk = max(1, budget // (channels * height * width))
    sums: list[list[torch.Tensor]] = [[] for _ in data_ranges]
    for start in range(0, frames, chunk):
        maps = ssim_maps(first[start : start + chunk], second[start : start + chunk], data_ranges, window)
        for collected, ssim_map in zip(sums, maps, strict=True):
            collected.append(to_fixed_point(ssim_map, bits).sum(dim=(-3, -2, -1)))
    return [torch.cat(collected) for collected in sums]


def check_window_fits(height: int, width: int, window: SsimWindow) -> None:
    if min(height, width) < window.size:
        raise VpbenchError(
            f"SSIM's {window.name} window is {window.size}x{window.size} but frames are {height}x{width}; "
            f"frames must be at least {window.size} pixels high and wide"
        )


# ----------------------------------------------------------------------------------------------------
# Public per-frame metrics (scikit-image semantics, batched)


def _frames_as_float64(prediction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if prediction.shape != target.shape:
        raise VpbenchError(
            f"prediction shape {tuple(prediction.shape)} does not match target shape {tuple(target.shape)}"
        )
    if prediction.ndim < 3:
        raise VpbenchError(f"expected frames shaped (..., C, H, W); got shape {tuple(prediction.shape)}")
    return prediction.to(torch.float64), target.to(torch.float64)


def mse(prediction: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Per-frame squared error over (C, H, W): "mean" per pixel, or "sum" over the frame."""
    prediction, target = _frames_as_float64(prediction, target)
    return _reduce_frame((prediction - target).square(), reduction)


def mae(prediction: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Per-frame absolute error over (C, H, W): "mean" per pixel, or "sum" over the frame."""
    prediction, target = _frames_as_float64(prediction, target)
    return _reduce_frame((prediction - target).abs(), reduction)


def _reduce_frame(errors: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return errors.mean(dim=(-3, -2, -1))
    if reduction == "sum":
        return errors.sum(dim=(-3, -2, -1))
    raise VpbenchError(f"unknown reduction '{reduction}'; valid reductions: mean, sum")


def psnr(prediction: torch.Tensor, target: torch.Tensor, data_range: float) -> torch.Tensor:
    """Per-frame PSNR in dB, 10 log10(data_range^2 / MSE) as skimage's peak_signal_noise_ratio; identical
    frames give +inf (as scikit-image, with its division-by-zero warning left out)."""
    values, identical = psnr_from_mse(mse(prediction, target), float(data_range))
    return torch.where(identical, torch.full_like(values, math.inf), values)


def ssim(prediction: torch.Tensor, target: torch.Tensor, data_range: float, window: str = "uniform") -> torch.Tensor:
    """Per-frame SSIM of (..., C, H, W) frames, mean over channels, valid region — as
    skimage.metrics.structural_similarity(channel_axis=C, data_range=data_range) with its defaults
    (window "uniform": 7x7, sample covariance) or Wang et al.'s setting (window "gaussian": 11x11,
    sigma 1.5, population covariance)."""
    if not data_range > 0:
        raise VpbenchError(f"SSIM needs a positive data_range; got {data_range}")
    prediction, target = _frames_as_float64(prediction, target)
    chosen = ssim_window(window)
    leading = prediction.shape[:-3]
    channels, height, width = prediction.shape[-3:]
    flat_shape = (-1, channels, height, width)
    sums = ssim_frame_sums(prediction.reshape(flat_shape), target.reshape(flat_shape), [float(data_range)], chosen)[0]
    denominator = float(2 ** ssim_fixed_point_bits(channels, height, width, chosen))
    denominator *= ssim_valid_pixels(channels, height, width, chosen)
    return (sums.to(torch.float64) / denominator).reshape(leading)
