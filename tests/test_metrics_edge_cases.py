"""Edge cases: identical, constant and all-zero frames, non-finite or malformed input — a defined
number (as each source's arithmetic gives it) or a one-line error, never a silent wrong value."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from metrics_reference import REFERENCES, digit_sequences, realistic_predictions

from vpbench.errors import VpbenchError
from vpbench.metrics import CONVENTION_NAMES, METRICS, MetricAccumulator, get_convention
from vpbench.metrics.jsonvalues import from_json_number


def _compute(prediction, target, **options) -> dict:
    accumulator = MetricAccumulator(**options)
    accumulator.update(torch.as_tensor(prediction), torch.as_tensor(target))
    result = accumulator.compute()
    json.dumps(result, allow_nan=False)  # always strict JSON
    return result


def _assert_equal_with_nan(got: list, expected: list) -> None:
    np.testing.assert_allclose([from_json_number(v) for v in got], expected, rtol=1e-9, equal_nan=True)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return digit_sequences(7, 3, size=32, seed=7)[:, 1:].astype(np.float64) / 255.0


def test_identical_frames_report_psnr_as_each_source_does(digits):
    result = _compute(digits, digits)
    assert result["vpbench"]["overall"]["psnr"] == 100.0  # per-frame MSE floored at 1e-10
    assert result["vpbench"]["per_horizon"]["psnr"] == [100.0, 100.0]
    for convention in ("openstl", "predrnn"):
        assert result[convention]["overall"]["psnr"] == "inf"
        assert result[convention]["per_horizon"]["psnr"] == ["inf", "inf"]
        assert result["per_sequence"][convention]["psnr"] == ["inf"] * 7
    assert result["srvp-paper"]["overall"]["psnr"] == "inf"  # pooled MSE 0 with a non-zero range
    for convention in CONVENTION_NAMES:
        assert result[convention]["overall"]["ssim"] == 1.0
    assert result["vpbench"]["overall"]["mse"] == 0.0
    assert result["regions"]["moving"]["overall"]["mse"] == 0.0


@pytest.mark.parametrize(
    ("prediction_value", "target_value"), [(0.5, 0.25), (0.0, 0.0), (1.0, 0.0)], ids=["constant", "zero", "opposite"]
)
def test_constant_and_all_zero_frames_match_the_references(prediction_value, target_value):
    shape = (7, 2, 1, 16, 16)
    prediction, target = np.full(shape, prediction_value), np.full(shape, target_value)
    result = _compute(prediction, target)
    for convention, reference in REFERENCES.items():
        expected = reference(prediction, target)
        for metric, values in expected["per_horizon"].items():
            _assert_equal_with_nan(result[convention]["per_horizon"][metric], values)
            _assert_equal_with_nan([result[convention]["overall"][metric]], [expected["overall"][metric]])
    if prediction_value == target_value == 0.0:
        # Constant uint8 predictions have range 0: SRVP's pooled PSNR is 10 log10(0 / 0) and SSIM has
        # C1 = C2 = 0 — nan, reported as the string "nan".
        assert result["srvp-paper"]["overall"]["psnr"] == "nan"
        assert result["srvp-paper"]["overall"]["ssim"] == "nan"
        assert result["vpbench"]["overall"]["ssim"] == 1.0
    if prediction_value == 0.5:
        assert result["srvp-paper"]["overall"]["psnr"] == "-inf"  # range 0, MSE > 0
    assert result["regions"]["static_pixel_fraction"] == 1.0
    assert result["regions"]["moving"]["overall"]["mse"] == "nan"  # no moving pixels at all


def test_fewer_than_seven_sequences_leave_srvp_ssim_undefined_with_a_note(digits):
    result = _compute(digits[:3], np.clip(digits[:3] + 0.1, 0, 1))
    assert result["srvp-paper"]["overall"]["ssim"] == "nan"
    assert "at least 7 sequences" in result["srvp-paper"]["notes"][0]
    assert isinstance(result["srvp-paper"]["overall"]["mse"], float)


def test_extreme_predictions_do_not_overflow_the_exact_sums():
    target = np.zeros((1, 1, 1, 8, 8))
    for value, squared in ((16.0, 256.0), (-15.0, 225.0)):
        result = _compute(np.full_like(target, value), target)
        assert result["openstl"]["overall"]["mse_sum"] == squared * 64
        assert result["openstl"]["overall"]["mae_sum"] == abs(value) * 64
        assert result["vpbench"]["overall"]["mse"] == (1.0 if value > 0 else 0.0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_predictions_raise_one_line_with_count_and_place(digits, bad):
    prediction = torch.as_tensor(digits).clone()
    prediction[2, 1, 0, 5, 6] = bad
    prediction[4, 0, 0, 0, 0] = bad
    accumulator = MetricAccumulator()
    with pytest.raises(VpbenchError) as error:
        accumulator.update(prediction, torch.as_tensor(digits), sequence_index=range(100, 107))
    message = str(error.value)
    assert "\n" not in message
    assert "prediction contains 2 non-finite values" in message
    assert "sequence 102, frame 1, channel 0, row 5, column 6" in message


def test_non_finite_targets_are_refused_too(digits):
    target = torch.as_tensor(digits).clone()
    target[0, 0, 0, 0, 0] = float("nan")
    with pytest.raises(VpbenchError, match="target contains 1 non-finite"):
        MetricAccumulator().update(torch.as_tensor(digits), target)


@pytest.mark.parametrize(
    ("prediction", "target", "message"),
    [
        (
            np.zeros((2, 3, 1, 16, 16)),
            np.zeros((2, 3, 1, 16, 15)),
            r"prediction shape \(2, 3, 1, 16, 16\) does not match",
        ),
        (np.zeros((2, 3, 16, 16)), np.zeros((2, 3, 16, 16)), r"expected frames shaped \(batch, horizon"),
        (np.zeros((1, 1, 1, 16, 16), np.int32), np.zeros((1, 1, 1, 16, 16)), "dtype int32"),
        (np.zeros((1, 1, 1, 16, 16)), np.full((1, 1, 1, 16, 16), 2.0), r"target values must lie in \[0, 1\]"),
        (np.full((1, 1, 1, 16, 16), 255.0), np.zeros((1, 1, 1, 16, 16)), r"prediction values must lie in \[-15, 16\]"),
        (np.zeros((1, 1, 1, 6, 16)), np.zeros((1, 1, 1, 6, 16)), "window is 7x7 but frames are 6x16"),
    ],
    ids=["shapes", "four-d", "dtype", "target-range", "prediction-range", "tiny-frames"],
)
def test_malformed_input_raises_one_line(prediction, target, message):
    with pytest.raises(VpbenchError, match=message) as error:
        MetricAccumulator().update(prediction, target)
    assert "\n" not in str(error.value)


def test_layout_changes_between_batches_are_refused(digits):
    accumulator = MetricAccumulator(horizon=2)
    accumulator.update(digits, digits)
    with pytest.raises(VpbenchError, match="horizon 1 but earlier batches had horizon 2"):
        accumulator.update(digits[:, :1], digits[:, :1])
    with pytest.raises(VpbenchError, match="1x16x16 .* earlier batches were 1x32x32"):
        accumulator.update(digits[:, :, :, :16, :16], digits[:, :, :, :16, :16])


def test_unknown_convention_and_empty_accumulator_give_actionable_errors():
    with pytest.raises(VpbenchError, match="unknown convention 'openst'; did you mean 'openstl'"):
        MetricAccumulator(("vpbench", "openst"))
    with pytest.raises(VpbenchError, match="no sequences were scored"):
        MetricAccumulator().compute()


def test_conventions_and_metrics_are_data_the_leaderboard_can_sort_by():
    for name in CONVENTION_NAMES:
        convention = get_convention(name)
        assert convention.source and convention.identical_frames and convention.description
        assert set(convention.metrics) <= set(METRICS)
    assert METRICS["psnr"].higher_is_better and METRICS["ssim"].higher_is_better
    assert not any(METRICS[m].higher_is_better for m in ("mse", "mse_sum", "mae", "mae_sum"))


def test_realistic_errors_keep_every_value_finite():
    prediction, target = realistic_predictions(digit_sequences(7, 3, size=32, seed=8), seed=9)
    result = _compute(prediction, target)
    for convention in CONVENTION_NAMES:
        for value in result[convention]["overall"].values():
            assert isinstance(value, float)


def test_an_all_nan_prediction_file_is_one_line_without_numpys_warning(tmp_path, vpbench_cli, recwarn):
    """The range check's nanmin printed numpy's "All-NaN slice encountered" warning above the error."""
    np.save(tmp_path / "prediction.npy", np.full((2, 3, 8, 8), np.nan, np.float32))
    np.save(tmp_path / "target.npy", np.zeros((2, 3, 8, 8), np.float32))
    code, out, error = vpbench_cli("score", "--pred", str(tmp_path / "prediction.npy"),
                                   "--target", str(tmp_path / "target.npy"))  # fmt: skip
    assert code == 2 and out == ""
    assert error == "error: prediction contains 384 non-finite values (NaN or Inf); the first is at sequence 0, " \
        "frame 0, channel 0, row 0, column 0\n"
    assert [str(warning.message) for warning in recwarn] == []  # outside pytest it reaches stderr
