"""Learning curves: a validation metric against training sequences (or CPU seconds), one curve per model.

Why: a leaderboard row says where a model ended; its curve says whether the budget was enough (still
falling?) and which model learns fastest per sequence seen and per second of compute — what a researcher
needs to choose a budget. The points are the `training.curve` of each record (vpbench convention, on the
fixed validation clips); the sanity rows are drawn as horizontal lines at their value on the section's test
clips (they have no training, and validation and test clips come from the same generator).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from vpbench.errors import VpbenchError
from vpbench.results.plots import FORMATS, _label_ends, _row_style, _single_section, model_colors, save_figure
from vpbench.results.schema import Record
from vpbench.results.table import TableOptions, build_table

CURVE_METRICS = ("mse", "mse_sum", "mae", "psnr", "ssim", "loss")
X_AXES = {
    "sequences": ("sequences", "training sequences seen"),
    "time": ("wall_time_s", "training wall time (s, incl. validation)"),
    "steps": ("step", "optimizer steps"),
}


def curves_figure(
    records: Iterable[Record],
    metric: str,
    options: TableOptions,
    x_axis: str = "sequences",
    results_dir: str | Path | None = None,
) -> Figure:
    """Validation `metric` against `x_axis` for every trained model of one leaderboard section."""
    if metric not in CURVE_METRICS:
        raise VpbenchError(f"learning curves hold {', '.join(CURVE_METRICS)}; not '{metric}'")
    if x_axis not in X_AXES:
        raise VpbenchError(f"unknown x axis '{x_axis}'; choose {', '.join(X_AXES)}")
    table_metric = "mse" if metric == "loss" else metric
    options = TableOptions(**{**options.__dict__, "metrics": (table_metric,), "per_horizon": False, "vs": None,
                              "reference": False, "conventions": ("vpbench",)})
    section = _single_section(build_table(records, options, results_dir), "learning-curve figure")
    key, label = X_AXES[x_axis]
    colors = model_colors(row.model for row in section.rows)
    figure = Figure(figsize=(7.5, 4.5))
    axes = figure.add_subplot()
    ends, drawn = [], 0
    for row in section.rows:
        style = _row_style(row, colors)
        if row.kind == "sanity":
            value = row.cells[table_metric].value
            if value is not None and metric != "loss":
                axes.axhline(value, **style)
                ends.append((None, value, f"{row.label} (test)", style["color"]))
            continue
        curve = (row.record.training.curve if row.record is not None else None) or []
        points = [(point[key], point[metric]) for point in curve if key in point and metric in point]
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        axes.plot(xs, ys, marker="o", markersize=2.5, **style)
        ends.append((xs[-1], ys[-1], row.label, style["color"]))
        drawn += 1
    if not drawn:
        raise VpbenchError("no record of this section has a learning curve (records made before curves existed)")
    right = axes.get_xlim()[1]
    ends = [(right if x is None else x, y, text, color) for x, y, text, color in ends]
    higher = {"ssim": True, "psnr": True}.get(metric, False)
    axes.set_xlabel(label)
    axes.set_ylabel(f"validation {metric} (vpbench; {'higher' if higher else 'lower'} is better)")
    axes.set_title(section.title, fontsize=9)
    axes.grid(alpha=0.3)
    _label_ends(figure, axes, ends)
    return figure


def plot_curves(
    records: Iterable[Record],
    metric: str,
    options: TableOptions,
    out: Path,
    x_axis: str = "sequences",
    results_dir: str | Path | None = None,
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Write `curves_figure` as `out`.png / .pdf."""
    return save_figure(curves_figure(records, metric, options, x_axis, results_dir), out, formats)


@dataclass(frozen=True)
class Crossing:
    """Where a log-linear fit of one model's validation curve meets a sanity row's test value."""

    model: str
    last_sequences: int
    last_value: float
    slope: float  # metric change per e-fold of training sequences
    sequences: float | None  # None: the fit moves away from the target (or is flat)
    points: int


def extrapolate_crossings(
    records: Iterable[Record],
    metric: str,
    options: TableOptions,
    against: str = "zeros",
    from_sequences: int = 1600,
    results_dir: str | Path | None = None,
) -> tuple[float, list[Crossing]]:
    """Fit `metric = a + b ln(sequences)` to each trained model's validation points from `from_sequences` on,
    and solve for the sanity row `against`'s value on the test clips: a rough budget estimate (curves are noisy
    and tend to flatten, so it more likely understates than overstates), not a result. Returns the target and
    one crossing per model with a curve, the nearest first."""
    if metric not in CURVE_METRICS or metric == "loss":
        raise VpbenchError(f"extrapolate a test metric the sanity rows have: {', '.join(CURVE_METRICS[:-1])}")
    options = TableOptions(**{**options.__dict__, "metrics": (metric,), "per_horizon": False, "vs": None,
                              "reference": False, "conventions": ("vpbench",)})
    section = _single_section(build_table(records, options, results_dir), "extrapolation")
    targets = [row.cells[metric].value for row in section.rows if row.kind == "sanity" and row.model == against]
    if not targets or targets[0] is None:
        sanity = sorted(row.model for row in section.rows if row.kind == "sanity")
        raise VpbenchError(f"no '{against}' row with {metric} in '{section.title}'; sanity rows here: {sanity}")
    target, higher = targets[0], metric in ("ssim", "psnr")
    crossings = []
    for row in section.rows:
        curve = (row.record.training.curve if row.kind == "result" and row.record is not None else None) or []
        points = [(p["sequences"], p[metric]) for p in curve if p.get("sequences", 0) >= from_sequences and metric in p]
        if len(points) < 3:
            continue
        xs, ys = np.log([x for x, _ in points]), np.array([y for _, y in points])
        slope, intercept = np.polyfit(xs, ys, 1)
        toward = slope > 0 if higher else slope < 0
        sequences = float(np.exp((target - intercept) / slope)) if toward else None
        crossings.append(Crossing(row.model, points[-1][0], float(ys[-1]), float(slope), sequences, len(points)))
    if not crossings:
        raise VpbenchError(
            f"no model in '{section.title}' has 3+ validation points from {from_sequences:,} sequences on"
        )
    return target, sorted(crossings, key=lambda c: (c.sequences is None, c.sequences or 0.0))
