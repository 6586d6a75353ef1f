"""The metric definitions and the four named conventions: what each source computes, as data and code.

Why this module exists: video-prediction papers report "MSE", "PSNR" and "SSIM" under incompatible
arithmetic (scale, clipping, quantisation, data range, pooling). vpbench computes every convention from
the same predictions and names it (DESIGN.md, "Metric conventions"). A metric is data (`METRICS`: name,
direction, unit), so tables sort without special cases; a convention is data (`CONVENTIONS`: source,
scale, metrics, how identical frames are reported) plus, for the per-frame conventions, a function from a
`PreparedChunk` to exact per-frame values (`FrameMetric`). srvp-paper pools over the whole test set and
is computed at the end from uint8 buffers (`vpbench.metrics.pooled`).

Sources read to pin down the arithmetic (reference only, nothing copied):
* OpenSTL v0.3.0 (chengtan9907/OpenSTL, commit f09ce01, June 2023), `openstl/core/metrics.py::metric`:
  MSE = np.mean((pred - true)**2, axis=(0, 1)).sum() and the same for MAE, *before* `pred` is clipped to
  [0, 1]; SSIM = skimage `structural_similarity(..., multichannel=True)` per frame on the clipped
  prediction without `data_range`, which scikit-image of that time filled in from the float dtype range
  (-1, 1): data_range 2; PSNR per frame on the clipped [0, 1] prediction, 20 log10(1 / sqrt(MSE)) — no
  255 scale (the E3D-LSTM uint8 formula was removed in commit 0d74406 before v0.3.0) — and
  `float('inf')` when MSE == 0; every metric averaged over all frames.
* PredRNN (thuml/predrnn-pytorch, `core/trainer.py::test`, `core/utils/metrics.py::batch_psnr`): the
  prediction is clipped to [0, 1]; MSE = squared error summed over the frame, averaged over sequences;
  PSNR and SSIM on np.uint8(x * 255) (truncation) of target and prediction: PSNR = 20 log10 255 -
  10 log10(MSE) per frame (so +inf for identical frames), SSIM = skimage compare_ssim(multichannel=True)
  on uint8, i.e. data_range 255 and the default 7x7 window.
* SRVP (yuseonk/SRVP, `utils.py::Evaluator.postprocessing`, `get_score`; `main.py`): predictions and
  targets become np.round(x * 255).astype(uint8) arrays (N, T, H, W, C); for each horizon h,
  MSE = skimage mean_squared_error (float64, 0-255 scale, pooled over all N sequences), PSNR =
  peak_signal_noise_ratio(data_range = pred.max() - pred.min() over the pooled predictions of that
  horizon), SSIM = structural_similarity(channel_axis=-1, same data_range) on the whole (N, H, W, C)
  array, so the 7x7x7 window also spans neighbouring test sequences (in test-set order: the test loader
  does not shuffle). The published headline is the mean over horizons. Its results file
  (results/mnist/spatiotemp_score.csv) matches REFERENCE_RESULTS.md's per-horizon SRVP numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from vpbench.errors import unknown_name
from vpbench.metrics.functional import psnr_from_mse, to_fixed_point
from vpbench.metrics.prepared import PreparedChunk


@dataclass(frozen=True)
class MetricDefinition:
    """What a metric name means, independently of the convention that computes it."""

    name: str
    higher_is_better: bool
    unit: str
    description: str


METRICS: dict[str, MetricDefinition] = {
    m.name: m
    for m in (
        MetricDefinition("mse", False, "squared intensity (convention's scale)", "mean squared error per pixel"),
        MetricDefinition(
            "mse_sum",
            False,
            "squared intensity summed over a frame's C*H*W pixels",
            "squared error summed over each frame (PredRNN's and OpenSTL's 'MSE per frame'), mean over frames",
        ),
        MetricDefinition("mae", False, "intensity (convention's scale)", "mean absolute error per pixel"),
        MetricDefinition(
            "mae_sum",
            False,
            "intensity summed over a frame's C*H*W pixels",
            "absolute error summed over each frame, mean over frames",
        ),
        MetricDefinition("psnr", True, "dB", "peak signal-to-noise ratio, 10 log10(data_range^2 / MSE)"),
        MetricDefinition("ssim", True, "unitless, at most 1", "structural similarity (Wang et al. 2004)"),
    )
}


@dataclass(frozen=True)
class FrameMetric:
    """Per-frame values of one metric as exact integers: value = numerators / denominator.

    `infinite` marks frames whose value is +inf (identical frames under a convention that reports inf);
    their numerator is 0 and is ignored.
    """

    numerators: torch.Tensor  # (B, T) int64
    denominator: int
    infinite: torch.Tensor | None = None  # (B, T) bool


@dataclass(frozen=True)
class Convention:
    """One named way of computing the metrics, reproducing its source's arithmetic."""

    name: str
    source: str
    scale: str
    metrics: tuple[str, ...]
    aggregation: str
    identical_frames: str
    description: str
    reading: str  # one line for terminals: how to read its headline numbers beside the other conventions'
    pooled: bool = False
    frame_metrics: Callable[[PreparedChunk], dict[str, FrameMetric]] | None = None
    unit_ssim_ranges: tuple[float, ...] = ()


# Per-frame PSNR is stored at 2^-52 dB (|PSNR| < 512 dB: the smallest non-zero MSE representable by the
# fixed-point errors gives < 190 dB), finer than float64's own spacing at realistic values.
PSNR_BITS = 52
# vpbench floors the per-frame MSE at 1e-10 (on [0, 1]) so an identical frame counts as 100 dB instead of
# turning the mean into +inf.
VPBENCH_MSE_FLOOR = 1e-10


def _psnr(squared_sums: torch.Tensor, denominator: int, data_range: float, mse_floor: float | None) -> FrameMetric:
    mse = squared_sums.to(torch.float64) / float(denominator)
    if mse_floor is not None:
        mse = mse.clamp(min=mse_floor)
    values, identical = psnr_from_mse(mse, data_range)
    numerators = to_fixed_point(values, PSNR_BITS).to(torch.int64)  # per frame; summed as int64 halves
    return FrameMetric(numerators, 2**PSNR_BITS, None if mse_floor is not None else identical)


def _vpbench(chunk: PreparedChunk) -> dict[str, FrameMetric]:
    geometry = chunk.geometry
    squared, absolute = chunk.clipped_frame_sums
    scale = 2**geometry.unit_bits
    return {
        "mse": FrameMetric(squared, scale * geometry.pixels),
        "mse_sum": FrameMetric(squared, scale),
        "mae": FrameMetric(absolute, scale * geometry.pixels),
        "mae_sum": FrameMetric(absolute, scale),
        "psnr": _psnr(squared, scale * geometry.pixels, 1.0, VPBENCH_MSE_FLOOR),
        "ssim": FrameMetric(chunk.unit_ssim(1.0), geometry.ssim_denominator),
    }


def _openstl(chunk: PreparedChunk) -> dict[str, FrameMetric]:
    geometry = chunk.geometry
    squared, absolute = chunk.unclipped_frame_sums
    clipped_squared, _ = chunk.clipped_frame_sums
    return {
        "mse_sum": FrameMetric(squared, 2**geometry.unclipped_squared_bits),
        "mae_sum": FrameMetric(absolute, 2**geometry.unclipped_absolute_bits),
        "psnr": _psnr(clipped_squared, 2**geometry.unit_bits * geometry.pixels, 1.0, None),
        "ssim": FrameMetric(chunk.unit_ssim(2.0), geometry.ssim_denominator),
    }


def _predrnn(chunk: PreparedChunk) -> dict[str, FrameMetric]:
    geometry = chunk.geometry
    squared, absolute = chunk.clipped_frame_sums
    scale = 2**geometry.unit_bits
    return {
        "mse_sum": FrameMetric(squared, scale),
        "mae_sum": FrameMetric(absolute, scale),
        "psnr": _psnr(chunk.floor_squared_frame_sums, geometry.pixels, 255.0, None),
        "ssim": FrameMetric(chunk.floor_ssim, geometry.ssim_denominator),
    }


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            name="vpbench",
            source="vpbench (default)",
            scale="[0, 1], prediction clipped to [0, 1]",
            metrics=("mse", "mse_sum", "mae", "mae_sum", "psnr", "ssim"),
            aggregation="per frame, mean over frames (per horizon: over sequences)",
            identical_frames="per-frame MSE floored at 1e-10, so an identical frame counts as 100 dB",
            description="MSE/MAE per pixel and per-frame sums; PSNR per frame with data_range 1; SSIM per "
            "frame as scikit-image's default (7x7 uniform window, sample covariance) with data_range 1",
            reading="MSE/MAE per pixel on [0, 1] (mse_sum, mae_sum: per frame); PSNR, SSIM per frame; mean "
            "over frames",
            frame_metrics=_vpbench,
            unit_ssim_ranges=(1.0,),
        ),
        Convention(
            name="openstl",
            source="OpenSTL v0.3.0, openstl/core/metrics.py",
            scale="[0, 1]; MSE/MAE on the unclipped prediction, PSNR/SSIM on the prediction clipped to [0, 1]",
            metrics=("mse_sum", "mae_sum", "psnr", "ssim"),
            aggregation="per frame, mean over frames",
            identical_frames="+inf per identical frame (OpenSTL returns float('inf')), so the mean is +inf",
            description="MSE/MAE summed over each frame; PSNR = -10 log10(MSE) per frame on [0, 1]; SSIM "
            "per frame, 7x7 uniform window, data_range 2 (what omitting it gave for float images)",
            reading="MSE/MAE summed over each frame on [0, 1]; PSNR per frame; SSIM with data_range 2",
            frame_metrics=_openstl,
            unit_ssim_ranges=(2.0,),
        ),
        Convention(
            name="predrnn",
            source="PredRNN, thuml/predrnn-pytorch core/trainer.py",
            scale="MSE/MAE on [0, 1] with the prediction clipped; PSNR/SSIM on uint8 floor(x * 255)",
            metrics=("mse_sum", "mae_sum", "psnr", "ssim"),
            aggregation="per frame, mean over frames",
            identical_frames="+inf per identical uint8 frame (-10 log10(0)), so the mean is +inf",
            description="MSE summed over each frame (MAE: same arithmetic, not reported by the source); "
            "PSNR = 20 log10 255 - 10 log10(MSE) per uint8 frame; SSIM per uint8 frame, 7x7 uniform "
            "window, data_range 255",
            reading="MSE/MAE summed over each frame on [0, 1]; PSNR, SSIM per uint8 frame",
            frame_metrics=_predrnn,
        ),
        Convention(
            name="srvp-paper",
            source="SRVP reference code, yuseonk/SRVP utils.py get_score",
            scale="uint8 round(x * 255), prediction clipped to [0, 1]",
            metrics=("mse", "psnr", "ssim"),
            aggregation="pooled over the test set per horizon; headline (overall) = mean over horizons",
            identical_frames="as numpy computes 10 log10(range^2 / MSE): +inf if the pooled MSE is 0, "
            "-inf if the prediction range is 0 with MSE > 0, nan if both are 0; SSIM is nan when the range is "
            "0 (a constant prediction such as zeros: C1 = C2 = 0, as in scikit-image)",
            description="MSE per pixel on 0-255 pooled per horizon; PSNR from the pooled MSE with "
            "data_range = max - min of that horizon's predictions; SSIM by scikit-image on the "
            "(N, H, W, C) volume of each horizon (7x7x7 window spanning neighbouring sequences, in "
            "sequence-index order) with the same data_range. Needs at least 7 sequences for SSIM.",
            reading="MSE per pixel on 0-255, pooled over the clips per horizon; PSNR, SSIM with data range "
            "= the predictions' max - min (blurry ones: PSNR near or below 0 dB)",
            pooled=True,
        ),
    )
}
CONVENTION_NAMES: tuple[str, ...] = tuple(CONVENTIONS)


def get_convention(name: str) -> Convention:
    if name not in CONVENTIONS:
        raise unknown_name("convention", name, CONVENTIONS)
    return CONVENTIONS[name]
