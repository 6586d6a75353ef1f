"""Per-sequence values and stored sample predictions: the arrays stored beside a record.

Confidence intervals and paired tests resample test *sequences*, so they need one value per sequence, kept in
the record's `.npz` (see `store.write_record`). Key convention (`flatten_per_sequence` turns the metric
engine's `compute()["per_sequence"]` into it):

    "sequence_index"          int64 (N,)  test-set index of each row, sorted
    "<convention>.<metric>"   float (N,)  that sequence's value, the mean over its horizons
                              (an (N, horizon) array is accepted too and averaged over horizons)

so that the mean over sequences is the record's overall value. Conventions whose metrics are pooled over
the whole test set (srvp-paper) have no per-sequence values and so no intervals.

Sample predictions for qualitative figures live in `<record id>.samples.npz` beside the record JSON, written
by the engine from the evaluation pass (`Evaluation.samples`), all arrays uint8 in 0..255:

    index       (S,)                 test-set indices of the stored sequences
    context     (S, T_in, C, H, W)   the observed frames
    target      (S, horizon, C, H, W) ground truth
    prediction  (S, horizon, C, H, W) this record's model's prediction
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpbench.errors import VpbenchError
from vpbench.results.schema import Record
from vpbench.results.store import load_per_sequence

SAMPLE_KEYS = ("index", "context", "target", "prediction")
# Tables compute many intervals (models x metrics x conventions); 2,000 seeded resamples keep the endpoints
# stable to well below the digits shown and a full leaderboard fast. `vpbench compare` uses the default.
BOOTSTRAP_RESAMPLES = 2_000


INDEX_KEY = "sequence_index"


def sequence_key(convention: str, metric: str) -> str:
    return f"{convention}.{metric}"


def flatten_per_sequence(per_sequence: dict) -> dict[str, np.ndarray]:
    """The metric engine's nested per-sequence table -> flat arrays for `store.write_record`'s `.npz`.

    {"sequence_index": [...], "vpbench": {"mse": [...]}} -> {"sequence_index": int64, "vpbench.mse": float64};
    "inf"/"nan" strings become the float values.
    """
    from vpbench.metrics.jsonvalues import from_json_number

    arrays: dict[str, np.ndarray] = {}
    for name, content in per_sequence.items():
        if name == INDEX_KEY:
            arrays[INDEX_KEY] = np.asarray(content, dtype=np.int64)
            continue
        for metric, values in content.items():
            arrays[sequence_key(name, metric)] = np.asarray([from_json_number(v) for v in values], dtype=np.float64)
    return arrays


def sequence_values(arrays: dict[str, np.ndarray], convention: str, metric: str) -> np.ndarray | None:
    """One row per test sequence, (N,) or (N, horizon), as float64; None when not stored."""
    values = arrays.get(sequence_key(convention, metric))
    if values is None:
        return None
    values = np.asarray(values, dtype=np.float64)
    return values if values.ndim in (1, 2) and len(values) > 0 else None


def sequence_overall(values: np.ndarray) -> np.ndarray:
    """Each sequence's overall value: the mean over horizons (DESIGN: per frame, mean over frames)."""
    return values.mean(axis=1) if values.ndim == 2 else values


class SequenceCache:
    """Loads each record's per-sequence file once; tables and comparisons read through it."""

    def __init__(self, results_dir: str | Path | None) -> None:
        self.results_dir = Path(results_dir) if results_dir is not None else None
        self._loaded: dict[str, dict[str, np.ndarray]] = {}

    def arrays(self, record: Record) -> dict[str, np.ndarray]:
        if self.results_dir is None or not record.per_sequence_file:
            return {}
        if record.record_id not in self._loaded:
            self._loaded[record.record_id] = load_per_sequence(self.results_dir, record)
        return self._loaded[record.record_id]

    def values(self, record: Record, convention: str, metric: str) -> np.ndarray | None:
        return sequence_values(self.arrays(record), convention, metric)


def samples_path(results_dir: str | Path, record: Record) -> Path:
    """Where a record's sample predictions are stored (named in `record.files` with their SHA-256)."""
    from vpbench.results.store import samples_name

    return Path(results_dir) / record.dataset.name / samples_name(record)


def load_samples(results_dir: str | Path, record: Record) -> dict[str, np.ndarray] | None:
    """The record's stored sample predictions, or None when it has none; a damaged file is a one-line error."""
    from vpbench.results.store import load_samples as load_verified

    samples = load_verified(Path(results_dir), record)
    if samples is None:
        return None
    missing = [key for key in SAMPLE_KEYS if key not in samples]
    if missing:
        raise VpbenchError(f"sample file of {record.record_id} lacks {missing}; expected keys {list(SAMPLE_KEYS)}")
    return samples


def bootstrap_interval(values: np.ndarray) -> tuple[float, float] | None:
    """95% bootstrap interval of the mean over sequences (metric engine's `bootstrap_ci`); None if undefined."""
    from vpbench.metrics.stats import bootstrap_ci

    if len(values) < 2 or not np.isfinite(values).all():
        return None  # an infinite PSNR (a perfect frame) has no interval; the table shows the value alone
    interval = bootstrap_ci(values, resamples=BOOTSTRAP_RESAMPLES)
    return float(interval["low"]), float(interval["high"])
