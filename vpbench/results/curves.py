"""Learning curves: a validation metric against training sequences (or CPU seconds), one curve per model.

Why: a leaderboard row says where a model ended; its curve says whether the budget was enough (still
falling?) and which model learns fastest per sequence seen and per second of compute — what a researcher
needs to choose a budget. The points are the `training.curve` of each record (vpbench convention, on the
fixed validation clips); the sanity rows are drawn as horizontal lines at their score on those same clips
(their one curve point), and fits are solved for it. Not at their test score: validation and test clips come
from one generator, yet on the long track `zeros` scores SSIM 0.777 on the 128 validation clips and 0.771 on
the 1,000 test clips, a gap as wide as the margins a crossing is read at.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from vpbench.errors import VpbenchError
from vpbench.files import read_json_lines
from vpbench.results.columns import higher_is_better
from vpbench.results.plots import (
    SANITY_STYLE,
    _label_ends,
    _row_style,
    _single_section,
    model_colors,
    row_colors,
)
from vpbench.results.schema import Record
from vpbench.results.sections import SANITY_FAMILY
from vpbench.results.table import TableOptions, build_table

CURVE_METRICS = ("mse", "mse_sum", "mae", "psnr", "ssim", "loss")
X_AXES = {
    "sequences": ("sequences", "training sequences seen"),
    "time": ("wall_time_s", "training wall time (s, incl. validation)"),
    "steps": ("step", "optimizer steps"),
}


def _check_request(metric: str, x_axis: str) -> None:
    if metric not in CURVE_METRICS:
        raise VpbenchError(f"learning curves hold {', '.join(CURVE_METRICS)}; not '{metric}'")
    if x_axis not in X_AXES:
        raise VpbenchError(f"unknown x axis '{x_axis}'; choose {', '.join(X_AXES)}")


def _curve_section(records, options: TableOptions, metric: str, results_dir, what: str):
    """The one leaderboard section the curves belong to, in the vpbench convention (the curves' own)."""
    options = TableOptions(**{**options.__dict__, "metrics": (metric,), "per_horizon": False, "vs": None,
                              "reference": False, "conventions": ("vpbench",)})
    return _single_section(build_table(records, options, results_dir), what)


def validation_value(record: Record, metric: str, val_size: int | None = None) -> float | None:
    """A sanity record's `metric` on the validation clips (its curve's one point), the value learning curves are
    compared with. None for a record stored before sanity rows carried one, or scored on another number of
    validation clips than `val_size`."""
    curve = record.training.curve
    if not curve or metric not in curve[-1]:
        return None
    if val_size is not None and record.spec.get("val_size", val_size) != val_size:
        return None
    return float(curve[-1][metric])


def _sanity_line(record: Record, metric: str, val_size: int | None) -> tuple[float | None, str]:
    """Where a sanity row's line goes beside validation curves, and on which clips: its validation score, else
    (a record without one) its test score, labelled so that a reader does not compare the two unawares."""
    value = validation_value(record, metric, val_size)
    if value is not None:
        return value, "validation"
    return record.metrics.get("vpbench", {}).get("overall", {}).get(metric), "test"


def _missing_validation(record: Record, metric: str, val_size: int | None) -> VpbenchError:
    name, stored = record.model.name, record.spec.get("val_size")
    if record.training.curve and val_size is not None and stored not in (None, val_size):
        return VpbenchError(
            f"the stored '{name}' record {record.record_id} was scored on {stored} validation clips and the curves "
            f"on {val_size}; run `vpbench run --model {name} --val-size {val_size}` with the curves' other options"
        )
    return VpbenchError(
        f"the stored '{name}' record {record.record_id} has no {metric} on the validation clips the curves are "
        f"measured on (stored before sanity rows carried one); move it out of the results folder and rerun "
        f"`vpbench run --model {name}` with the same options to store one that has"
    )


def _validation_target(record: Record, metric: str, val_size: int | None) -> float:
    """The sanity record's validation score that a fit is solved for, or the one-line error saying why it has none."""
    target = validation_value(record, metric, val_size)
    if target is None:
        raise _missing_validation(record, metric, val_size)
    return target


def _section_val_size(section) -> int | None:
    """The number of validation clips the section's trained records' curves share (None: mixed, or not stored)."""
    sizes = {row.record.spec.get("val_size") for row in section.rows if row.kind == "result" and row.record is not None}
    return sizes.pop() if len(sizes) == 1 else None


def _finish_axes(figure: Figure, axes, ends: list, metric: str, x_label: str, title: str) -> None:
    """Axis labels, title, grid and the direct labels; sanity lines (x None) are labelled at the right edge."""
    right = axes.get_xlim()[1]
    ends = [(right if x is None else x, y, text, color) for x, y, text, color in ends]
    direction = "higher" if higher_is_better(metric) else "lower"
    axes.set_xlabel(x_label)
    axes.set_ylabel(f"validation {metric} (vpbench; {direction} is better)")
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3)
    _label_ends(figure, axes, ends)


def curves_figure(
    records: Iterable[Record],
    metric: str,
    options: TableOptions,
    x_axis: str = "sequences",
    results_dir: str | Path | None = None,
) -> Figure:
    """Validation `metric` against `x_axis` for every trained model of one leaderboard section."""
    _check_request(metric, x_axis)
    table_metric = "mse" if metric == "loss" else metric
    section = _curve_section(records, options, table_metric, results_dir, "learning-curve figure")
    key, label = X_AXES[x_axis]
    colors = row_colors(section.rows)
    figure = Figure(figsize=(7.5, 4.5))
    axes = figure.add_subplot()
    ends, drawn = [], 0
    val_size = _section_val_size(section)
    for row in section.rows:
        style = _row_style(row, colors)
        if row.kind == "sanity":
            value, clips = _sanity_line(row.record, metric, val_size) if row.record is not None else (None, "")
            if value is not None and (metric != "loss" or clips == "validation"):
                axes.axhline(value, **style)
                ends.append((None, value, f"{row.label} ({clips})", style["color"]))
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
    _finish_axes(figure, axes, ends, metric, label, section.title)
    return figure


@dataclass(frozen=True)
class Crossing:
    """Where a log-linear fit of one model's validation curve meets a sanity row's validation score."""

    model: str
    last_sequences: int
    last_value: float
    slope: float | None  # metric change per e-fold of training sequences; None: too few points to fit
    sequences: float | None  # None: the fit moves away from the target (or is flat), or there is no fit
    points: int  # validation points from the fit's start on
    intercept: float | None = None  # a in a + b ln(sequences); None: too few points to fit
    first_sequences: int | None = None  # the first point the fit used; None: too few points to fit
    reached: int | None = None  # where the whole curve (also past a fit's `through_sequences`) first met the target

    @property
    def fitted(self) -> bool:
        return self.slope is not None


def extrapolate_crossings(
    records: Iterable[Record],
    metric: str,
    options: TableOptions,
    against: str = "zeros",
    from_sequences: int = 1600,
    results_dir: str | Path | None = None,
    through_sequences: int | None = None,
) -> tuple[float, list[Crossing]]:
    """Fit `metric = a + b ln(sequences)` to each trained model's validation points from `from_sequences` on,
    and solve for the sanity row `against`'s score on the same validation clips: a rough budget estimate (curves
    are noisy and tend to flatten, so it more likely understates than overstates), not a result. Returns the
    target and one crossing per model with a curve, the nearest first. `through_sequences`: fit only the points up
    to there, to hold a fit made early against what the curve did afterwards (each crossing's `reached`)."""
    if metric not in CURVE_METRICS or metric == "loss":
        raise VpbenchError(f"extrapolate a test metric the sanity rows have: {', '.join(CURVE_METRICS[:-1])}")
    section = _curve_section(records, options, metric, results_dir, "extrapolation")
    rows = [row for row in section.rows if row.kind == "sanity" and row.model == against and row.record is not None]
    if not rows:
        sanity = sorted(row.model for row in section.rows if row.kind == "sanity")
        raise VpbenchError(f"no '{against}' row in '{section.title}'; sanity rows here: {sanity}")
    target = _validation_target(rows[0].record, metric, _section_val_size(section))
    curves = [
        (row.model, (row.record.training.curve if row.kind == "result" and row.record is not None else None) or [])
        for row in section.rows
    ]
    crossings = _fit_crossings(curves, metric, target, from_sequences, through_sequences)
    if not any(crossing.fitted for crossing in crossings):
        raise VpbenchError(
            f"no model in '{section.title}' has {FIT_POINTS}+ validation points "
            f"{fit_range(from_sequences, through_sequences)}"
        )
    return target, crossings


FIT_POINTS = 3  # the fewest validation points a log-linear fit is made from
# A fit that meets its target past this many training sequences is as good as flat: its number (a young run's
# first points can put it at 1e26) is noise, so it is reported as "beyond", not quoted.
BEYOND_SEQUENCES = 1e9


def fit_range(from_sequences: int, through_sequences: int | None) -> str:
    """The training sequences a fit's points come from, as the messages and titles name them."""
    if through_sequences is None:
        return f"from {from_sequences:,} sequences on"
    return f"from {from_sequences:,} through {through_sequences:,} sequences"


def _fit_crossings(
    curves: Iterable[tuple[str, list[dict]]],
    metric: str,
    target: float,
    from_sequences: int,
    through_sequences: int | None = None,
) -> list[Crossing]:
    """The log-linear fit of each (model, validation points) from `from_sequences` on (through
    `through_sequences` where given), solved for `target`, with where the whole curve first met `target`.
    A model with a curve but fewer than FIT_POINTS such points stays in the list, unfitted, so a reader sees
    why it has no estimate rather than missing it. The nearest crossing first, then no crossing, then no fit."""
    higher = higher_is_better(metric)
    crossings = []
    for model, curve in curves:
        whole = [(p["sequences"], p[metric]) for p in curve if "sequences" in p and metric in p]
        reached = next((x for x, y in whole if (y >= target if higher else y <= target)), None)
        measured = [(x, y) for x, y in whole if through_sequences is None or x <= through_sequences]
        if not measured:
            continue
        points = [(x, y) for x, y in measured if x >= from_sequences]
        last_sequences, last_value = measured[-1]
        if len(points) < FIT_POINTS:
            crossings.append(
                Crossing(model, last_sequences, float(last_value), None, None, len(points), reached=reached)
            )
            continue
        xs, ys = np.log([x for x, _ in points]), np.array([y for _, y in points])
        slope, intercept = np.polyfit(xs, ys, 1)
        toward = slope > 0 if higher else slope < 0
        sequences = float(np.exp((target - intercept) / slope)) if toward else None
        crossings.append(
            Crossing(
                model, last_sequences, float(last_value), float(slope), sequences, len(points), float(intercept),
                points[0][0], reached,
            )
        )
    return sorted(crossings, key=lambda c: (not c.fitted, c.sequences is None, c.sequences or 0.0))


@dataclass(frozen=True)
class RunCurve:
    """The validation points a run folder's training log holds so far (finished or still training)."""

    run_dir: Path
    spec: dict
    points: list[dict]
    step: int  # the last step the log mentions (training or validation)
    machine: str | None = None  # the machine its log's last segment names (provenance.machine_id); None before 12-06

    @property
    def setting(self) -> tuple:
        """What must be equal for two runs' curves to share axes (the curve figure's section, minus the model)."""
        s = self.spec
        return (s["dataset"], s["data_source"], s["train_protocol"], s["preset"], s["steps"], s["batch_size"],
                s["val_size"], s["test_size"])


def run_curves(
    runs_dir: Path,
    dataset: str | None = None,
    protocol: str | None = None,
    preset: str | None = None,
    steps: int | None = None,
) -> list[RunCurve]:
    """Every run folder under `runs_dir` (a sweep's --runs-dir, or one dataset's folder in it) that matches."""
    import json

    if not Path(runs_dir).is_dir():
        raise VpbenchError(f"no runs folder at {runs_dir}; pass the --runs-dir that `vpbench run` or `sweep` wrote to")
    found = []
    for spec_path in sorted(Path(runs_dir).rglob("spec.json")):
        try:
            spec = json.loads(spec_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # not a run folder vpbench wrote (or one being created): nothing to draw
        if not isinstance(spec, dict) or spec.get("version") != 1 or not spec.get("steps"):
            continue  # parameter-free and evaluation-only runs have no curve
        if (dataset and spec["dataset"] != dataset) or (protocol and spec["train_protocol"] != protocol) or (
            preset and spec["preset"] != preset
        ) or (steps and spec["steps"] != steps):
            continue
        events = read_json_lines(spec_path.parent / "train_log.jsonl")
        # A step validated twice (a hard kill between its log line and its checkpoint, then the resumed run
        # validated it again) is one point: the later, from which the run went on.
        by_step = {int(event["step"]): event for event in events if event.get("event") == "validation"}
        points = [by_step[step] for step in sorted(by_step)]
        logged = [int(event["step"]) for event in events if event.get("event") in ("train", "validation")]
        machines = [event["machine"] for event in events if event.get("event") == "segment" and event.get("machine")]
        found.append(RunCurve(spec_path.parent, spec, points, max(logged, default=0), (machines or [None])[-1]))
    return found


def run_labels(curves: list[RunCurve]) -> dict[Path, str]:
    """run folder -> the name its curve goes by: the model, then what makes it differ from the model's other
    runs in view — its arguments and training settings that are not the preset's (`srvp dropout=0.0`,
    `srvp schedule=onecycle`), then its seed and spec."""
    from vpbench.registry import preset_overrides, training_overrides

    def changed(spec: dict) -> str:
        try:
            overrides = preset_overrides(spec["model"], spec["preset"], spec.get("model_config") or {})
            overrides |= training_overrides(
                spec["model"], spec["preset"], spec.get("optimizer") or {}, spec.get("learning_rate")
            )
        except VpbenchError:  # a model or preset no longer registered: the spec hash still tells the runs apart
            return ""
        return " ".join(f"{key}={value}" for key, value in sorted(overrides.items()))

    runs_of = Counter(curve.spec["model"] for curve in curves)
    labels = {}
    for curve in curves:
        difference = changed(curve.spec) if runs_of[curve.spec["model"]] > 1 else ""
        labels[curve.run_dir] = " ".join(filter(None, [curve.spec["model"], difference]))
    names = Counter(labels.values())
    for curve in curves:
        if names[labels[curve.run_dir]] > 1:  # seeds, or a spec that changed (the folder says which)
            labels[curve.run_dir] += f" seed {curve.spec['seed']}, spec {curve.run_dir.name.rsplit('__', 1)[-1][:8]}"
    return labels


def _one_setting(curves: list[RunCurve], where: str) -> tuple[tuple, list[RunCurve]]:
    """The setting all `curves` with a validation point share, and those curves (runs of different settings
    never share a figure or a fit)."""
    curves = [curve for curve in curves if curve.points]
    if not curves:
        raise VpbenchError(f"no run folder{where} has a validation point yet; wait for the first validation")
    settings = sorted({curve.setting for curve in curves}, key=str)
    if len(settings) > 1:
        listed = "; ".join(f"{s[0]} {s[2]} preset {s[3]}, {s[4]} steps x {s[5]}" for s in settings)
        raise VpbenchError(
            f"the runs span {len(settings)} settings ({listed}); add --dataset/--protocol/--preset/--steps"
        )
    return settings[0], curves


def _sanity_records(records: Iterable[Record], setting: tuple) -> dict[str, Record]:
    """model -> its stored sanity record on the data, protocol and test clips of the runs' setting."""
    dataset, source, protocol, *_, test_size = setting
    found = {}
    for record in records:
        data = record.dataset
        if record.model.family != SANITY_FAMILY:
            continue
        if (data.name, data.source, record.protocol.name, data.test_size) == (dataset, source, protocol, test_size):
            found[record.model.name] = record
    return found


def extrapolate_runs(
    curves: list[RunCurve],
    sanity_records: Iterable[Record],
    metric: str,
    against: str = "zeros",
    from_sequences: int = 1600,
    where: str = "",
    through_sequences: int | None = None,
) -> tuple[float, list[Crossing]]:
    """`extrapolate_crossings` for runs still training (their logs' validation points): whether a campaign's
    budget looks enough before its records exist. The target is the stored sanity row of the same setting, scored
    on the same validation clips."""
    if metric not in CURVE_METRICS or metric == "loss":
        raise VpbenchError(f"extrapolate a test metric the sanity rows have: {', '.join(CURVE_METRICS[:-1])}")
    setting, curves = _one_setting(curves, where)
    target = _run_target(_sanity_records(sanity_records, setting), setting, metric, against)
    labels = run_labels(curves)
    named = [(labels[curve.run_dir], curve.points) for curve in curves]
    crossings = _fit_crossings(named, metric, target, from_sequences, through_sequences)
    if not any(crossing.fitted for crossing in crossings):
        raise VpbenchError(
            f"no run{where} has {FIT_POINTS}+ validation points {fit_range(from_sequences, through_sequences)}"
        )
    return target, crossings


def _run_target(found: dict[str, Record], setting: tuple, metric: str, against: str) -> float:
    """The validation score of `against`, among the sanity records `found` for `setting`, that its runs are read
    against."""
    if against not in found:
        raise VpbenchError(
            f"no stored '{against}' record on the runs' setting ({setting[0]} {setting[2]}, {setting[-1]} test "
            f"clips); stored sanity rows there: {sorted(found)}"
        )
    return _validation_target(found[against], metric, setting[6])


def progress_figure(
    curves: list[RunCurve],
    metric: str,
    x_axis: str = "sequences",
    sanity_records: Iterable[Record] = (),
    where: str = "",
    fit_from: int | None = None,
    against: str = "zeros",
) -> Figure:
    """Validation `metric` of runs not finished (dotted: training, or stopped) or done (solid), with the sanity
    rows of the same setting as lines (at their validation score): for watching a campaign, so nothing in it is a
    stored result.

    `fit_from`: also draw each run's log-linear fit (`vpbench extrapolate`'s, from that many sequences on) out to
    the budget, on a log axis where it is a straight line, with an x where it meets `against`: whether the
    budget looks enough, seen rather than read off a table."""
    _check_request(metric, x_axis)
    if fit_from is not None and (x_axis != "sequences" or metric == "loss"):
        raise VpbenchError("the fit is drawn against training sequences, for a test metric (--x sequences, not loss)")
    setting, curves = _one_setting(curves, where)
    dataset, source, protocol, preset, total, batch, _, _ = setting
    key, label = X_AXES[x_axis]
    labels = run_labels(curves)
    colors = model_colors(labels.values())  # per run: two runs of one model (a pilot) must not share a colour
    figure = Figure(figsize=(7.5, 4.5))
    axes = figure.add_subplot()
    ends = []
    for curve in sorted(curves, key=lambda c: (c.spec["model"], c.spec["seed"])):
        xs = [point[key] for point in curve.points if key in point and metric in point]
        ys = [point[metric] for point in curve.points if key in point and metric in point]
        finished = curve.step >= total
        color = colors[labels[curve.run_dir]]
        axes.plot(xs, ys, marker="o", markersize=2.5, color=color, linestyle="-" if finished else ":")
        state = "done" if finished else f"step {curve.step:,} of {total:,}"
        ends.append((xs[-1], ys[-1], f"{labels[curve.run_dir]} ({state})", color))
    sanity = _sanity_records(sanity_records, setting)
    for model, record in sorted(sanity.items()):
        value, clips = _sanity_line(record, metric, setting[6])
        if value is not None and (metric != "loss" or clips == "validation"):
            axes.axhline(value, **SANITY_STYLE)
            ends.append((None, value, f"{model} ({clips})", SANITY_STYLE["color"]))
    title = (
        f"runs in progress · {dataset} · data {source} · {protocol} · preset {preset} · budget {total} steps x "
        f"{batch} (dotted: not finished)"
    )
    if fit_from is not None:
        target = _run_target(sanity, setting, metric, against)
        _draw_fits(axes, curves, labels, colors, metric, target, fit_from, total * batch)
        title += f"\ndash-dot: a + b ln(sequences) from {fit_from:,} sequences on, to the budget; x: meets {against}"
    _finish_axes(figure, axes, ends, metric, label, title)
    return figure


def _draw_fits(axes, curves, labels, colors, metric, target, fit_from, budget_sequences) -> None:
    """Each fittable run's log-linear fit from its first fitted point to the budget, and where it meets `target`."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))  # 20,000, not 2 x 10^4
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.axvline(budget_sequences, color="0.6", linewidth=0.8, linestyle=":")
    for curve in curves:
        (fit,) = _fit_crossings([(labels[curve.run_dir], curve.points)], metric, target, fit_from)
        if not fit.fitted:
            continue
        start = fit.first_sequences
        xs = np.geomspace(start, max(budget_sequences, fit.last_sequences), 50)
        color = colors[labels[curve.run_dir]]
        axes.plot(xs, fit.intercept + fit.slope * np.log(xs), color=color, linewidth=0.8, linestyle="-.", alpha=0.7)
        if fit.sequences is not None and start <= fit.sequences <= budget_sequences:
            axes.plot([fit.sequences], [target], marker="x", markersize=7, color=color, linestyle="none")
