"""Bootstrap confidence intervals and the paired bootstrap test: reproducible and statistically sane."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from metrics_reference import digit_sequences, realistic_predictions

from vpbench.errors import VpbenchError
from vpbench.metrics import MetricAccumulator, bootstrap_ci, paired_bootstrap
from vpbench.metrics.stats import align_per_sequence, per_sequence


def test_bootstrap_ci_is_seeded_and_close_to_the_normal_interval():
    values = np.random.default_rng(0).normal(10.0, 2.0, size=400)
    first = bootstrap_ci(values, resamples=4000, seed=3)
    assert first == bootstrap_ci(values, resamples=4000, seed=3)
    assert first != bootstrap_ci(values, resamples=4000, seed=4)
    half_width = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert first["low"] < first["mean"] < first["high"]
    assert abs((first["high"] - first["low"]) / 2 - half_width) < 0.1 * half_width
    assert abs((first["high"] + first["low"]) / 2 - values.mean()) < 0.1 * half_width


def test_bootstrap_of_a_constant_has_zero_width():
    result = bootstrap_ci([0.5] * 20, resamples=200)
    assert result["low"] == result["high"] == result["mean"] == 0.5


def test_paired_bootstrap_detects_a_real_difference_and_not_a_null_one():
    generator = np.random.default_rng(1)
    difficulty = generator.normal(0.0, 5.0, size=200)  # shared per-sequence difficulty: pairing removes it
    model_a = difficulty + generator.normal(0.0, 0.5, size=200)
    better = paired_bootstrap(model_a + 0.3, model_a, resamples=2000)
    assert better["p_value"] < 0.01 and better["low"] > 0
    null = paired_bootstrap(model_a + generator.normal(0.0, 0.5, size=200), model_a, resamples=2000)
    assert null["p_value"] > 0.05 and null["low"] < 0 < null["high"]
    same = paired_bootstrap(model_a, model_a, resamples=500)
    assert same["mean_difference"] == 0.0 and same["p_value"] == 1.0
    swapped = paired_bootstrap(model_a, model_a + 0.3, resamples=2000)
    assert swapped["mean_difference"] == pytest.approx(-better["mean_difference"])
    assert swapped["p_value"] == better["p_value"]


def test_paired_bootstrap_refuses_unpaired_inputs():
    with pytest.raises(VpbenchError, match="same sequences"):
        paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(VpbenchError, match="empty"):
        bootstrap_ci([])


def test_per_sequence_values_from_results_feed_the_statistics():
    prediction, target = realistic_predictions(digit_sequences(8, 3, size=32, seed=13), seed=14)
    results = []
    for noise in (0.0, 0.05):
        accumulator = MetricAccumulator(("vpbench", "openstl"))
        noisy = prediction + noise * np.random.default_rng(2).normal(size=prediction.shape)
        accumulator.update(torch.from_numpy(noisy), torch.from_numpy(target), sequence_index=np.arange(8)[::-1])
        results.append(accumulator.compute())
    indices, values = per_sequence(results[0], "vpbench", "mse")
    assert indices.tolist() == list(range(8)) and values.shape == (8,)
    first, second = align_per_sequence(results[0], results[1], "vpbench", "mse")
    assert paired_bootstrap(second, first, resamples=500)["mean_difference"] > 0
    interval = bootstrap_ci(values, resamples=500)
    assert interval["low"] <= results[0]["vpbench"]["overall"]["mse"] <= interval["high"]
    with pytest.raises(VpbenchError, match="no per-sequence values for srvp-paper"):
        per_sequence(results[0], "srvp-paper", "mse")
