"""Every metric of every convention agrees with independent scikit-image/NumPy reference code (1e-6)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from metrics_reference import REFERENCES, digit_sequences, realistic_predictions

from vpbench.metrics import CONVENTION_NAMES, MetricAccumulator
from vpbench.metrics.jsonvalues import from_json_number

# The requirement is 1e-6; the engine actually agrees to ~1e-14, so a tighter bound catches regressions.
TOLERANCE = {"rtol": 1e-9, "atol": 1e-12}


@pytest.fixture(scope="module")
def digit_batch() -> tuple[np.ndarray, np.ndarray]:
    """8 sequences (srvp-paper's volume SSIM needs >= 7) of 3 target frames, 1x64x64, realistic errors."""
    return realistic_predictions(digit_sequences(8, 4, seed=1), seed=2)


@pytest.fixture(scope="module")
def colour_batch() -> tuple[np.ndarray, np.ndarray]:
    return realistic_predictions(digit_sequences(7, 3, size=32, channels=3, seed=3), seed=4)


def _score(prediction: np.ndarray, target: np.ndarray, batch_size: int = 3) -> dict:
    accumulator = MetricAccumulator(horizon=target.shape[1])
    for start in range(0, target.shape[0], batch_size):
        accumulator.update(
            torch.from_numpy(prediction[start : start + batch_size]),
            torch.from_numpy(target[start : start + batch_size]),
        )
    return accumulator.compute()


def _assert_matches(result: dict, reference: dict, convention: str, metrics: tuple[str, ...] = ()) -> None:
    assert set(result[convention]["overall"]) == set(reference["overall"])
    for metric in metrics or reference["overall"]:
        got = from_json_number(result[convention]["overall"][metric])
        np.testing.assert_allclose(got, reference["overall"][metric], **TOLERANCE, err_msg=f"{convention} {metric}")
        got_horizons = [from_json_number(v) for v in result[convention]["per_horizon"][metric]]
        np.testing.assert_allclose(
            got_horizons, reference["per_horizon"][metric], **TOLERANCE, err_msg=f"{convention} {metric} per horizon"
        )


@pytest.mark.parametrize("convention", CONVENTION_NAMES)
def test_every_metric_matches_reference_on_digit_sequences(digit_batch, convention):
    prediction, target = digit_batch
    assert prediction.min() < 0 and prediction.max() > 1, "the noise sequences must exercise clipping"
    result = _score(prediction, target)
    _assert_matches(result, REFERENCES[convention](prediction, target), convention)


@pytest.mark.parametrize("convention", CONVENTION_NAMES)
def test_every_metric_matches_reference_on_three_channel_frames(colour_batch, convention):
    prediction, target = colour_batch
    result = _score(prediction, target, batch_size=2)
    _assert_matches(result, REFERENCES[convention](prediction, target), convention)


@pytest.mark.parametrize(("convention", "metrics"), [("predrnn", ("psnr", "ssim")), ("srvp-paper", ())])
def test_quantised_conventions_quantise_float32_in_float32(digit_batch, convention, metrics):
    """PredRNN's np.uint8(x * 255) and SRVP's np.round(x * 255) run in the arrays' own precision.
    (PredRNN's float sums are left out: the float32 reference itself is only good to ~1e-7 there.)"""
    prediction, target = (a.astype(np.float32) for a in digit_batch)
    result = _score(prediction, target)
    _assert_matches(result, REFERENCES[convention](prediction, target), convention, metrics)


def test_uint8_frames_score_like_their_float_equivalents(digit_batch):
    prediction, target = digit_batch
    prediction_uint8 = np.round(np.clip(prediction, 0, 1) * 255).astype(np.uint8)
    target_uint8 = np.round(target * 255).astype(np.uint8)
    result = _score(prediction_uint8, target_uint8)
    unit_prediction, unit_target = prediction_uint8 / 255.0, target_uint8 / 255.0
    for convention in CONVENTION_NAMES:
        _assert_matches(result, REFERENCES[convention](unit_prediction, unit_target), convention)


def test_static_and_moving_errors_match_masked_numpy(digit_batch):
    prediction, target = digit_batch
    result = _score(prediction, target)["regions"]
    static = np.all(target == target[:, :1], axis=1, keepdims=True) & np.ones_like(target, bool)
    errors = np.clip(prediction, 0, 1) - target
    assert 0 < result["static_pixel_fraction"] < 1
    np.testing.assert_allclose(result["static_pixel_fraction"], static[:, 0].mean(), rtol=1e-12)
    for region, mask in (("static", static), ("moving", ~static)):
        for metric, values in (("mse", errors**2), ("mae", np.abs(errors))):
            expected = [values[:, t][mask[:, t]].mean() for t in range(target.shape[1])]
            np.testing.assert_allclose(result[region]["per_horizon"][metric], expected, **TOLERANCE)
            np.testing.assert_allclose(result[region]["overall"][metric], values[mask].mean(), **TOLERANCE)
    # The frozen-frame and shifted sequences err on moving pixels far more than on static ones.
    assert result["moving"]["overall"]["mse"] > 3 * result["static"]["overall"]["mse"]


def test_per_sequence_values_are_means_over_horizons(digit_batch):
    prediction, target = digit_batch
    result = _score(prediction, target)
    reference = REFERENCES["vpbench"](prediction, target)
    assert result["per_sequence"]["sequence_index"] == list(range(8))
    for metric in ("mse", "psnr", "ssim"):
        per_frame_mean = np.mean(reference["per_horizon"][metric])  # mean over horizons of mean over sequences
        np.testing.assert_allclose(np.mean(result["per_sequence"]["vpbench"][metric]), per_frame_mean, rtol=1e-6)
    clipped = np.clip(prediction, 0, 1)
    expected_mse = ((clipped - target) ** 2).mean(axis=(1, 2, 3, 4))
    np.testing.assert_allclose(result["per_sequence"]["vpbench"]["mse"], expected_mse.astype(np.float32), rtol=1e-7)


def test_result_is_strict_json(digit_batch):
    prediction, target = digit_batch
    text = json.dumps(_score(prediction, target), allow_nan=False)
    assert math.isfinite(json.loads(text)["vpbench"]["overall"]["psnr"])
