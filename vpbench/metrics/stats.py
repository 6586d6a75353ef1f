"""Uncertainty over test sequences: bootstrap confidence intervals and a paired bootstrap test.

Why this module exists: leaderboard differences between video-prediction models are often smaller than
the spread over test sequences, and papers rarely say so. The accumulator keeps one value per sequence
and metric (the mean over horizons); resampling sequences with replacement gives a percentile
confidence interval of the mean (Efron & Tibshirani 1993, ch. 13), and resampling the *same* sequences
for two models gives a paired test of their difference (ch. 16: the p-value compares the bootstrap
distribution of the mean difference, shifted to mean zero, with the observed difference).

Both are deterministic: a fixed seed (default 0) drives numpy's PCG64 generator. Non-finite values (an
OpenSTL/PredRNN PSNR of +inf) propagate into the results as numpy does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vpbench.errors import VpbenchError
from vpbench.metrics.jsonvalues import from_json_number

_RESAMPLE_ELEMENTS = 1 << 22  # indices drawn per block, to bound memory


def _as_values(values: Sequence[float | str] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray([from_json_number(v) for v in np.asarray(values, dtype=object).reshape(-1)], np.float64)
    if array.size == 0:
        raise VpbenchError(f"{name} is empty; a bootstrap needs at least one per-sequence value")
    return array


def _resampled_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of `resamples` resamples (with replacement, same size) of `values`, reproducibly."""
    if resamples < 1:
        raise VpbenchError(f"resamples must be at least 1; got {resamples}")
    generator = np.random.default_rng(seed)
    count = values.size
    block = max(1, _RESAMPLE_ELEMENTS // count)
    means = np.empty(resamples, np.float64)
    for start in range(0, resamples, block):
        stop = min(resamples, start + block)
        picks = generator.integers(0, count, size=(stop - start, count))
        means[start:stop] = values[picks].mean(axis=1)
    return means


def _interval(means: np.ndarray, confidence: float) -> tuple[float, float]:
    if not 0 < confidence < 1:
        raise VpbenchError(f"confidence must be between 0 and 1; got {confidence}")
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_ci(
    values: Sequence[float | str] | np.ndarray,
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> dict[str, float | int]:
    """Percentile bootstrap confidence interval of the mean of per-sequence `values`.

    Returns {"mean", "low", "high", "confidence", "resamples", "seed", "sequences"}.
    """
    array = _as_values(values, "values")
    low, high = _interval(_resampled_means(array, resamples, seed), confidence)
    return {
        "mean": float(array.mean()),
        "low": low,
        "high": high,
        "confidence": confidence,
        "resamples": resamples,
        "seed": seed,
        "sequences": int(array.size),
    }


def paired_bootstrap(
    values_a: Sequence[float | str] | np.ndarray,
    values_b: Sequence[float | str] | np.ndarray,
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> dict[str, float | int]:
    """Paired bootstrap test of mean(a) - mean(b) over the same sequences (same order in both).

    Resamples sequences (identically for both models) and returns {"mean_difference", "low", "high"
    (percentile interval of the difference), "p_value" (two-sided, H0: no difference; (1 + #{|d* - d| >=
    |d|}) / (1 + resamples), so never 0), "confidence", "resamples", "seed", "sequences"}.
    """
    first, second = _as_values(values_a, "values_a"), _as_values(values_b, "values_b")
    if first.size != second.size:
        raise VpbenchError(
            f"paired bootstrap needs the same sequences for both models; got {first.size} and {second.size} "
            "values (align them by sequence index first: vpbench.metrics.stats.align_per_sequence)"
        )
    differences = first - second
    observed = float(differences.mean())
    means = _resampled_means(differences, resamples, seed)
    low, high = _interval(means, confidence)
    extreme = int(np.count_nonzero(np.abs(means - observed) >= abs(observed)))
    return {
        "mean_difference": observed,
        "low": low,
        "high": high,
        "p_value": (1 + extreme) / (1 + resamples),
        "confidence": confidence,
        "resamples": resamples,
        "seed": seed,
        "sequences": int(first.size),
    }


def per_sequence(result: dict, convention: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(sequence indices, float64 values) of one metric from a `MetricAccumulator.compute()` result."""
    table = result.get("per_sequence")
    if table is None:
        raise VpbenchError("this result has no per-sequence values; score with keep_per_sequence=True")
    if convention not in table or metric not in table[convention]:
        raise VpbenchError(f"no per-sequence values for {convention} {metric} in this result")
    indices = np.asarray(table["sequence_index"], np.int64)
    return indices, _as_values(table[convention][metric], f"{convention} {metric}")


def align_per_sequence(result_a: dict, result_b: dict, convention: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-sequence values of two models' results on identical sequence sets, in the same order."""
    indices_a, values_a = per_sequence(result_a, convention, metric)
    indices_b, values_b = per_sequence(result_b, convention, metric)
    if not np.array_equal(indices_a, indices_b):
        raise VpbenchError(
            f"the two results cover different sequences ({indices_a.size} vs {indices_b.size}); "
            "a paired comparison needs both models scored on the same test sequences"
        )
    return values_a, values_b
