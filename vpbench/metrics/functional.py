"""Batched frame metrics in torch, written so that a frame's value is an exact function of that frame.

Why this module exists: every metric convention in vpbench reduces to per-pixel errors, PSNR and
scikit-image's SSIM. Computing them frame by frame in a Python loop (the usual scikit-image pattern) is
slow; computing them batched with ordinary float reductions makes the last bits of a frame's value
depend on which other frames shared its batch (reduction trees and vectorised-versus-scalar code paths
change with the batch shape), so sharded evaluation would not reproduce one process. So here:

* sums over pixels are taken over fixed-point values (`to_fixed_point`, `fixed_point_bits`): each pixel's
  value is rounded to a multiple of 2^-k, with k chosen so that every partial sum is an integer below
  2^53 (times 2^-k). float64 adds such integers exactly, so the sum is independent of order, batch size,
  thread count and device (k = 40 for 64x64 errors: a resolution of 9e-13 per pixel);
* SSIM's local means are window sums of shifted slices along each axis — elementwise additions in an
  order fixed by the window size, no conv/pool kernel whose algorithm may change with the batch
  shape — and the SSIM map is averaged in fixed point;
* log10 is evaluated with IEEE-exact operations only (`deterministic_log10`): torch's vectorised and
  scalar log10 differ in the last bit, and which one a value gets depends on its position in the batch.

All arithmetic is float64. (float32 SSIM agrees with scikit-image's float64 to ~1e-7 on dark Moving
MNIST frames but only to ~4e-6 on bright, low-contrast frames — cancellation in E[x²] − E[x]² — which
misses the 1e-6 bar, so it is not offered.)

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
# Pixels per SSIM chunk on the CPU: small enough that the four moment maps stay in cache (measured:
# 2^15-2^16 fastest for 64x64 frames; 2^18 was 1.5x slower). On a GPU, one chunk is the whole batch.
_CPU_SSIM_CHUNK_ELEMENTS = 1 << 16
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
    2^-k, have every partial sum below 2^52 * 2^-k — so float64 adds them exactly, in any order."""
    return 52 - math.ceil(math.log2(bound * terms))


def to_fixed_point(values: torch.Tensor, bits: int, in_place: bool = False) -> torch.Tensor:
    """round(values * 2^bits): float64 holding integers. Scaling by a power of two is exact; rounding is to
    nearest even. Sums of the result (over at most the `terms` given to fixed_point_bits) are exact.
    `in_place` overwrites `values` (a temporary) instead of allocating."""
    scaled = values.mul_(float(2**bits)) if in_place else values * float(2**bits)
    return scaled.round_()


def exact_sum(fixed_point: torch.Tensor, dim: int | tuple[int, ...]) -> torch.Tensor:
    """Sum of `to_fixed_point` values over `dim` as int64 — exact, hence the same in any batch."""
    return fixed_point.sum(dim=dim).to(torch.int64)


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


class Scratch:
    """Reusable temporaries for loops over equally shaped chunks and batches: on the CPU, allocating (and
    page-faulting) a fresh megabyte-sized tensor per operation cost more than the arithmetic itself.
    A buffer is identified by name; callers must not hold two live uses of one name."""

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: Sequence[int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape != tuple(shape) or buffer.dtype != dtype or buffer.device != device:
            buffer = self._buffers[name] = torch.empty(tuple(shape), dtype=dtype, device=device)
        return buffer


def _buffer(scratch: Scratch | None, name: str, like: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    if scratch is None:
        return torch.empty(tuple(shape), dtype=like.dtype, device=like.device)
    return scratch.get(name, shape, like.dtype, like.device)


def _box_sums(stack: torch.Tensor, dim: int, size: int, scratch: Scratch | None = None) -> torch.Tensor:
    """Sums of `size` consecutive entries along `dim` (valid positions only), by doubling: sums over 2, 4,
    ... entries, then one term per set bit of `size` (7 = 4 + 2 + 1: four additions instead of six).
    The order of additions depends only on `size`, never on the other frames."""
    length = stack.shape[dim] - size + 1
    spans = {1: stack}
    span = 1
    while span * 2 <= size:
        shorter = spans[span]
        count = shorter.shape[dim] - span
        shape = list(shorter.shape)
        shape[dim] = count
        out = _buffer(scratch, f"span{span * 2}/{dim}", stack, shape)
        spans[span * 2] = torch.add(shorter.narrow(dim, 0, count), shorter.narrow(dim, span, count), out=out)
        span *= 2
    pieces, offset = [], 0
    for span in sorted((s for s in spans if size & s), reverse=True):
        pieces.append(spans[span].narrow(dim, offset, length))
        offset += span
    shape = list(stack.shape)
    shape[dim] = length
    total = _buffer(scratch, f"total/{dim}", stack, shape)
    if len(pieces) == 1:
        return total.copy_(pieces[0])
    torch.add(pieces[0], pieces[1], out=total)
    for piece in pieces[2:]:
        total += piece
    return total


def window_sums(
    stack: torch.Tensor, window: SsimWindow, dims: Sequence[int], scratch: Scratch | None = None
) -> torch.Tensor:
    """Windowed sums over `dims` (weighted for the Gaussian window), valid region only (only windows that
    fit inside the frame), one separable pass per dimension. Uniform window: plain sums (`_box_sums`),
    exact for integer-valued data such as uint8 frames."""
    for dim in dims:
        if window.weights is None:
            stack = _box_sums(stack, dim, window.size, scratch)
            continue
        length = stack.shape[dim] - window.size + 1
        summed = stack.narrow(dim, 0, length) * window.weights[0]
        for offset in range(1, window.size):
            summed += stack.narrow(dim, offset, length) * window.weights[offset]
        stack = summed
    return stack


def window_means(
    stack: torch.Tensor, window: SsimWindow, dims: Sequence[int], scratch: Scratch | None = None
) -> torch.Tensor:
    """Local (windowed) means over `dims`, valid region only: `window_sums`, divided once by
    size^len(dims) for the uniform window (the Gaussian weights already sum to 1)."""
    sums = window_sums(stack, window, dims, scratch)
    if window.weights is None:
        sums /= float(window.size ** len(dims))
    return sums


def moment_stack(first: torch.Tensor, second: torch.Tensor, scratch: Scratch | None = None) -> torch.Tensor:
    """(4, *shape): x, y, x^2 + y^2, xy — the quantities whose local means SSIM needs. (SSIM only uses
    var_x + var_y, so E[x^2] and E[y^2] are needed only as a sum: one window pass fewer.)"""
    stack = _buffer(scratch, "moments", first, (4, *first.shape))
    stack[0], stack[1] = first, second
    torch.mul(first, first, out=stack[2])
    torch.mul(second, second, out=stack[3])
    stack[2] += stack[3]
    torch.mul(first, second, out=stack[3])
    return stack


def ssim_from_means(
    means: torch.Tensor,
    data_ranges: Sequence[float],
    covariance_factor: float,
    scratch: Scratch | None = None,
    scale: float = 1.0,
) -> Iterator[torch.Tensor]:
    """SSIM maps from local means (4, ...) of `moment_stack`, one per data range (scikit-image's formula):

    S = (2 mu_x mu_y + C1)(2 cov_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2)),
    Wang et al. (2004) eq. 13, with cov_xy = (E[xy] - mu_x mu_y) f and var_x + var_y =
    (E[x^2 + y^2] - mu_x^2 - mu_y^2) f, f = `covariance_factor` (N/(N-1) for scikit-image's default
    sample covariance). Each map is multiplied by `scale` (a power of two, applied to the numerator: the
    same bits as scaling S afterwards). `means` is overwritten; use each map before the next is made.
    """
    mean_x, mean_y, mean_squares, mean_xy = means.unbind(0)
    product_of_means = torch.mul(mean_x, mean_y, out=_buffer(scratch, "product", mean_x, mean_x.shape))
    raw_covariance = mean_xy.sub_(product_of_means)
    squared_means = mean_x.square_().add_(mean_y.square_())
    raw_variance_sum = mean_squares.sub_(squared_means)
    numerator = _buffer(scratch, "numerator", mean_x, mean_x.shape)
    factor = _buffer(scratch, "factor", mean_x, mean_x.shape)
    denominator = _buffer(scratch, "denominator", mean_x, mean_x.shape)
    for data_range in data_ranges:
        c1 = (K1 * data_range) ** 2
        c2 = (K2 * data_range) ** 2
        torch.mul(product_of_means, 2.0, out=numerator).add_(c1)
        # x * (2f) equals 2 * (x * f) bit for bit: scaling by two is exact.
        numerator.mul_(torch.mul(raw_covariance, 2.0 * covariance_factor, out=factor).add_(c2))
        if scale != 1.0:
            numerator.mul_(scale)
        torch.add(squared_means, c1, out=denominator)
        denominator.mul_(torch.mul(raw_variance_sum, covariance_factor, out=factor).add_(c2))
        yield numerator.div_(denominator)


def ssim_maps(
    first: torch.Tensor,
    second: torch.Tensor,
    data_ranges: Sequence[float],
    window: SsimWindow,
    dims: Sequence[int] = (-2, -1),
    scratch: Scratch | None = None,
    scale: float = 1.0,
) -> Iterator[torch.Tensor]:
    """SSIM maps (valid region) of two float64 tensors over `dims`, one per data range, times `scale`; the
    local moments are shared by all data ranges. Uniform window: sample covariance, as scikit-image."""
    stack = moment_stack(first, second, scratch)
    dims = [dim - first.ndim if dim >= 0 else dim for dim in dims]
    means = window_means(stack, window, dims, scratch)
    return ssim_from_means(means, data_ranges, window.covariance_factor(len(dims)), scratch, scale)


def ssim_valid_pixels(channels: int, height: int, width: int, window: SsimWindow) -> int:
    return channels * (height - 2 * window.margin) * (width - 2 * window.margin)


def ssim_fixed_point_bits(channels: int, height: int, width: int, window: SsimWindow) -> int:
    # |S| <= 1 (Cauchy-Schwarz); bound 2 leaves room for rounding.
    return fixed_point_bits(2.0, ssim_valid_pixels(channels, height, width, window))


def ssim_frame_sums(
    first: torch.Tensor,
    second: torch.Tensor,
    data_ranges: Sequence[float],
    window: SsimWindow = UNIFORM_WINDOW,
    scratch: Scratch | None = None,
) -> list[torch.Tensor]:
    """Per-frame SSIM of (F, C, H, W) float64 frames as exact integers, one (F,) int64 tensor per range.

    Each integer is sum over channels and valid pixels of round(S * 2^k), k = `ssim_fixed_point_bits`; the
    frame's SSIM (mean over channels of the mean over the valid region, as scikit-image) is that integer
    divided by 2^k * `ssim_valid_pixels`. Frames are processed in chunks sized for the cache, with
    temporaries from `scratch` (pass one Scratch to successive calls to reuse them).
    """
    frames, channels, height, width = first.shape
    check_window_fits(height, width, window)
    bits = ssim_fixed_point_bits(channels, height, width, window)
    budget = _GPU_SSIM_CHUNK_ELEMENTS if first.is_cuda else _CPU_SSIM_CHUNK_ELEMENTS
    chunk = max(1, budget // (channels * height * width))
    sums: list[list[torch.Tensor]] = [[] for _ in data_ranges]
    scratch = scratch if scratch is not None else Scratch()
    for start in range(0, frames, chunk):
        pair = first[start : start + chunk], second[start : start + chunk]
        maps = ssim_maps(*pair, data_ranges, window, scratch=scratch, scale=float(2**bits))
        for collected, scaled_map in zip(sums, maps, strict=True):  # maps arrive as S * 2^bits
            collected.append(exact_sum(scaled_map.round_(), dim=(-3, -2, -1)))
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
