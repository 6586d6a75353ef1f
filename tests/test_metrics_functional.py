"""The batched per-frame functions equal scikit-image/NumPy frame by frame, for any leading shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from metrics_reference import digit_sequences, realistic_predictions
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from vpbench.errors import VpbenchError
from vpbench.metrics import mae, mse, psnr, ssim
from vpbench.metrics.functional import GAUSSIAN_WINDOW


@pytest.fixture(scope="module")
def colour_frames() -> tuple[np.ndarray, np.ndarray]:
    """(4, 2, 3, 32, 32) float64 prediction and target from digit sequences."""
    return realistic_predictions(digit_sequences(4, 3, size=32, channels=3, seed=11), seed=12)


def _per_frame(function, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    frames = [
        function(p, t)
        for p, t in zip(
            prediction.reshape(-1, *prediction.shape[-3:]), target.reshape(-1, *target.shape[-3:]), strict=True
        )
    ]
    return np.array(frames).reshape(prediction.shape[:-3])


@pytest.mark.parametrize("window", ["uniform", "gaussian"])
def test_ssim_matches_scikit_image_per_frame(colour_frames, window):
    prediction, target = colour_frames
    prediction = np.clip(prediction, 0, 1)
    options = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False} if window == "gaussian" else {}
    expected = _per_frame(
        lambda p, t: structural_similarity(t, p, channel_axis=0, data_range=1.0, **options), prediction, target
    )
    got = ssim(torch.from_numpy(prediction), torch.from_numpy(target), data_range=1.0, window=window)
    assert got.shape == prediction.shape[:2]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert GAUSSIAN_WINDOW.size == 11


def test_ssim_on_uint8_frames_uses_their_integer_values(colour_frames):
    prediction, target = (np.uint8(np.clip(a, 0, 1) * 255) for a in colour_frames)
    expected = _per_frame(lambda p, t: structural_similarity(p, t, channel_axis=0), prediction, target)
    got = ssim(torch.from_numpy(prediction), torch.from_numpy(target), data_range=255)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


def test_errors_and_psnr_match_numpy_per_frame(colour_frames):
    prediction, target = colour_frames
    torch_prediction, torch_target = torch.from_numpy(prediction), torch.from_numpy(target)
    np.testing.assert_allclose(
        mse(torch_prediction, torch_target).numpy(), ((prediction - target) ** 2).mean(axis=(2, 3, 4))
    )
    np.testing.assert_allclose(
        mae(torch_prediction, torch_target, reduction="sum").numpy(), np.abs(prediction - target).sum(axis=(2, 3, 4))
    )
    expected = _per_frame(lambda p, t: peak_signal_noise_ratio(t, p, data_range=2.0), prediction, target)
    np.testing.assert_allclose(psnr(torch_prediction, torch_target, data_range=2.0).numpy(), expected, rtol=1e-12)
    assert torch.isinf(psnr(torch_target, torch_target, data_range=1.0)).all()


def test_functional_arguments_are_checked():
    frames = torch.zeros(2, 1, 8, 8)
    with pytest.raises(VpbenchError, match="unknown SSIM window 'box'"):
        ssim(frames, frames, data_range=1.0, window="box")
    with pytest.raises(VpbenchError, match="11x11 but frames are 8x8"):
        ssim(frames, frames, data_range=1.0, window="gaussian")
    with pytest.raises(VpbenchError, match="positive data_range"):
        ssim(frames, frames, data_range=0)
    with pytest.raises(VpbenchError, match="unknown reduction 'max'"):
        mse(frames, frames, reduction="max")
