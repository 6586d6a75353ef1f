"""vpbench's metric engine: every metric convention, per horizon, exact under any batching or sharding.

Why this package exists: papers report MSE/PSNR/SSIM under incompatible arithmetic; vpbench computes all
of the named conventions from the same predictions (DESIGN.md, "Metric conventions"), streaming, on the
evaluation device, and checked against scikit-image/NumPy reference code in the tests. It imports
nothing from vpbench's engine, data or CLI (one-way layers).

Conventions (`CONVENTIONS`, data: source, scale, metrics, aggregation, how identical frames are
reported): "vpbench" (default), "openstl", "predrnn", "srvp-paper". Metrics (`METRICS`, data: name,
higher_is_better, unit): "mse", "mse_sum", "mae", "mae_sum", "psnr", "ssim".

Streaming API::

    accumulator = MetricAccumulator(conventions=("vpbench", "openstl", "predrnn", "srvp-paper"),
                                    horizon=H, device=None, keep_per_sequence=True)
    accumulator.update(prediction, target, sequence_index=None)  # (B, T, C, H, W), uint8 or float [0, 1]
    accumulator.merge(other)          # in place: add another shard's accumulator
    accumulator.all_reduce(group=None)  # torch.distributed: every rank gets the totals
    result = accumulator.compute()    # JSON-serialisable dict, below

`update` raises VpbenchError (one line) for mismatched or non-5-D shapes, dtypes other than uint8/float,
NaN/Inf (how many and where), float targets outside [0, 1] or float predictions outside [-15, 16].
`sequence_index` gives the batch's test-set indices; pass it when shards will be merged (the default
numbers sequences in arrival order, which collides across shards; compute() then refuses).

`compute()` layout (every number a float, or one of the strings "inf", "-inf", "nan" — JSON has no
infinities; `jsonvalues.from_json_number` converts back)::

    {
      "<convention>": {"overall": {metric: value}, "per_horizon": {metric: [value per horizon]},
                       "notes": [...]},       # notes only when something could not be computed
      ...one entry per requested convention...,
      "regions": {"definition": str, "static_pixel_fraction": float,
                  "static": {"overall": {"mse", "mae"}, "per_horizon": {"mse": [...], "mae": [...]}},
                  "moving": {...same...}},
      "per_sequence": {"sequence_index": [int, ...],     # only if keep_per_sequence; sorted
                       "<per-frame convention>": {metric: [mean over horizons, one per sequence]}},
      "sequences": N, "horizon": T,
    }

"overall" is the mean over all frames for the per-frame conventions and the mean over horizons for
srvp-paper (its published headline); srvp-paper has no per-sequence values (it is pooled).

Identical frames (PSNR = 10 log10(R^2 / 0)): vpbench floors the per-frame MSE at 1e-10, i.e. caps PSNR
at 100 dB; openstl and predrnn report +inf for such a frame, as their code does, so the mean is "inf";
srvp-paper gives what numpy gives for its pooled formula ("inf", "-inf" or "nan").

Exactness: per-frame values are exact integers over fixed denominators (per-pixel errors and SSIM maps
rounded to multiples of 2^-k, k = 40 for 64x64 frames, i.e. 9e-13; PSNR to 2^-52 dB), accumulated as
Python integers (see accumulator.py), so batch sizes, shard splits, chunking, thread counts and merge
order never change a bit of the result. Agreement with scikit-image/NumPy float64 references: ~1e-11
relative or better (tests require 1e-9).

`accumulator.per_sequence_values()` returns the kept values as numpy arrays (sorted sequence indices,
{convention: {metric: float32 array}}) without going through JSON.

Statistics: `stats.bootstrap_ci(values)`, `stats.paired_bootstrap(values_a, values_b)` (seeded), with
`stats.per_sequence(result, convention, metric)` / `stats.align_per_sequence(...)` to read values out
of results. Files: `score.score_files(prediction_path, target_path, conventions)` behind `vpbench score`.
"""

from vpbench.metrics.accumulator import MetricAccumulator
from vpbench.metrics.conventions import (
    CONVENTION_NAMES,
    CONVENTIONS,
    METRICS,
    Convention,
    MetricDefinition,
    get_convention,
)
from vpbench.metrics.functional import mae, mse, psnr, ssim
from vpbench.metrics.score import score_arrays, score_files
from vpbench.metrics.stats import bootstrap_ci, paired_bootstrap

__all__ = [
    "CONVENTIONS",
    "CONVENTION_NAMES",
    "METRICS",
    "Convention",
    "MetricAccumulator",
    "MetricDefinition",
    "bootstrap_ci",
    "get_convention",
    "mae",
    "mse",
    "paired_bootstrap",
    "psnr",
    "score_arrays",
    "score_files",
    "ssim",
]
