"""Figures from stored records: per-horizon curves, an efficiency scatter, and qualitative frame grids.

Every figure is built from records (and the sample predictions stored beside them), never from a live model,
so a figure can be regenerated and checked. Figures are readable without hunting through a legend: each
curve is labelled at its end, each point next to itself, each grid row on its left; labels are spread apart
so they never overlap. Like the tables, a figure only ever shows numbers from one test set and convention —
records spanning several are refused with the filter to add. Written with matplotlib's object API (no
pyplot, no global backend state), as PNG and PDF.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter
from matplotlib.transforms import Bbox

from vpbench.errors import VpbenchError
from vpbench.files import prepare_output
from vpbench.results.columns import prediction_metric
from vpbench.results.schema import Record
from vpbench.results.sequences import load_samples
from vpbench.results.table import LeaderTable, Row, Section, TableOptions, build_table

FORMATS = ("png", "pdf")
LABEL_FONT_SIZE = 8


# Dark2's teal, magenta, ochre and mustard: of Dark2 and Set1, the colours farthest (CIELAB) from tab10's
# and from each other, so the thirteen models of a full section stay told apart (Dark2's purple was not).
_EXTRA_COLORS = (0, 3, 6, 5)


def model_colors(names: Iterable[str]) -> dict[str, tuple]:
    """A distinct colour per model name (sorted, so stable across figures of the same models); saturated
    palettes only, so direct labels stay legible on white, and never a grey: grey dashes are the sanity rows."""
    tab10 = [c for c in colormaps["tab10"].colors if max(c) - min(c) > 0.1]
    palette = tab10 + [colormaps["Dark2"].colors[i] for i in _EXTRA_COLORS]
    return {name: palette[i % len(palette)] for i, name in enumerate(sorted(set(names)))}


def save_figure(
    figure: Figure, stem: Path, formats: Sequence[str] = FORMATS, png_text: dict[str, str] | None = None
) -> list[Path]:
    """Write `figure` as `stem`.FORMAT for each format; `png_text` adds text chunks to the PNG (what it was drawn
    from, say)."""
    stem = prepare_output(Path(stem))
    paths = []
    for fmt in formats:
        if fmt not in FORMATS:
            raise VpbenchError(f"unknown figure format '{fmt}'; choose from {', '.join(FORMATS)}")
        path = stem.with_name(f"{stem.name}.{fmt}")
        # No creation date in a PDF: the same records give byte-identical figures, so regenerating them
        # changes nothing in git unless a number did.
        metadata = {"Creator": "vpbench", **({"CreationDate": None} if fmt == "pdf" else png_text or {})}
        figure.savefig(path, bbox_inches="tight", dpi=150, metadata=metadata)
        paths.append(path)
    return paths


def spread(positions: Sequence[float], gap: float, low: float = 0.0, high: float = 1.0) -> list[float]:
    """Move label positions (axes fraction) apart by at least `gap`, as little as possible, within [low, high]."""
    order = np.argsort(positions)
    placed = np.asarray(positions, dtype=float)[order].copy()
    for i in range(1, len(placed)):
        placed[i] = max(placed[i], placed[i - 1] + gap)
    overflow = placed[-1] - high if len(placed) else 0.0
    if overflow > 0:
        placed[-1] -= overflow
        for i in range(len(placed) - 2, -1, -1):
            placed[i] = min(placed[i], placed[i + 1] - gap)
    if len(placed) and placed[0] < low:  # more labels than fit: keep the gap, let them run past the bottom
        placed += low - placed[0]
    result = np.empty_like(placed)
    result[order] = placed
    return result.tolist()


def _label_gap(figure: Figure, axes) -> float:
    """The height of one label line (ascenders to descenders, plus a little air) as a fraction of the axes."""
    renderer = FigureCanvasAgg(figure).get_renderer()
    probe = axes.text(0, 0, "Ag|p", fontsize=LABEL_FONT_SIZE, transform=axes.transAxes)
    height = probe.get_window_extent(renderer).height
    probe.remove()
    return 1.15 * height / axes.get_window_extent(renderer).height


def _single_section(table: LeaderTable, what: str) -> Section:
    if len(table.sections) != 1:
        listed = "; ".join(section.title for section in table.sections)
        raise VpbenchError(
            f"the records span {len(table.sections)} test settings ({listed}); the {what} shows one at a time — "
            "add --dataset/--protocol/--source/--preset/--steps/--convention, or use a --results-dir with one setting"
        )
    return table.sections[0]


def _label_ends(figure: Figure, axes, ends: list[tuple[float, float, str, tuple]]) -> None:
    """Write each curve's label to the right of the plot, level with its last point, spread apart."""
    to_axes = axes.transAxes.inverted()
    heights = [to_axes.transform(axes.transData.transform((x, y)))[1] for x, y, _, _ in ends]
    placed = spread(heights, _label_gap(figure, axes))
    for (x, y, text, color), height in zip(ends, placed, strict=True):
        axes.annotate(
            text,
            xy=(x, y),
            xytext=(1.02, height),
            textcoords="axes fraction",
            va="center",
            fontsize=LABEL_FONT_SIZE,
            color=color,
            arrowprops={"arrowstyle": "-", "color": color, "lw": 0.5, "alpha": 0.6},
            annotation_clip=False,
        )


SANITY_STYLE = {"color": "0.45", "linestyle": "--", "linewidth": 1.2}  # parameter-free rows: grey dashes


def row_colors(rows: Iterable[Row]) -> dict[str, tuple]:
    """`model_colors` for a section's rows, keyed by the name each row is drawn under: a trained row's label, so
    two runs of one model (`convlstm (hidden_channels=4)` beside `convlstm`) get two colours; a published row
    its model's, so it shares the colour of that model's run."""
    return model_colors(row.model if row.kind == "published" else row.label for row in rows)


def _row_style(row: Row, colors: dict) -> dict:
    if row.kind == "sanity":
        return dict(SANITY_STYLE)
    if row.kind == "published":
        return {"color": colors.get(row.model, "0.3"), "linestyle": ":", "linewidth": 1.2}
    return {"color": colors[row.label], "linestyle": "-", "linewidth": 1.8}


def horizon_figure(
    records: Iterable[Record], metric: str, options: TableOptions, results_dir: str | Path | None = None
) -> Figure:
    """One metric against the prediction horizon, a curve per model (sanity dashed, published dotted)."""
    metric = prediction_metric(metric, "the per-horizon figure")
    options = TableOptions(**{**options.__dict__, "metrics": (metric,), "per_horizon": True, "vs": None})
    section = _single_section(build_table(records, options, results_dir), "per-horizon figure")
    steps = [c for c in section.columns if c.kind == "horizon"]
    colors = row_colors(section.rows)
    figure = Figure(figsize=(7.5, 4.5))
    axes = figure.add_subplot()
    ends = []
    for row in section.rows:
        points = [(c.horizon, row.cells[c.key].value) for c in steps if row.cells[c.key].value is not None]
        if not points:
            continue
        style = _row_style(row, colors)
        horizons, values = zip(*points, strict=True)
        axes.plot(horizons, values, marker="o" if len(points) <= 12 else None, markersize=3, **style)
        ends.append((horizons[-1], values[-1], row.label, style["color"]))
    direction = {True: "higher is better", False: "lower is better", None: ""}[steps[0].higher_is_better]
    axes.set_xlabel("prediction horizon (frames after the context)")
    axes.set_ylabel(f"{steps[0].metric} ({section.key.convention} convention; {direction})")
    axes.set_title(section.title, fontsize=9)
    axes.grid(alpha=0.3)
    axes.set_xlim(1 - 0.02 * len(steps), len(steps) + 0.02 * len(steps))
    axes.autoscale_view()
    _label_ends(figure, axes, ends)
    return figure


def efficiency_figure(
    records: Iterable[Record], metric: str, options: TableOptions, results_dir: str | Path | None = None
) -> Figure:
    """MACs per sequence (log scale) against one metric, a labelled point per model.

    Parameter-free predictors (0 MACs) cannot sit on a log axis; they are horizontal dashed lines instead.
    """
    metric = prediction_metric(metric, "the efficiency figure (against MACs)")
    options = TableOptions(**{**options.__dict__, "metrics": (metric, "macs"), "per_horizon": False, "vs": None})
    section = _single_section(build_table(records, options, results_dir), "efficiency figure")
    key = next(c.key for c in section.columns if c.kind == "metric")
    colors = row_colors(section.rows)
    figure = Figure(figsize=(7.0, 4.5))
    axes = figure.add_subplot()
    axes.set_xscale("log")
    points, baselines = [], []
    for row in section.rows:
        value, macs = row.cells[key].value, row.cells["macs"].value
        if value is None:
            continue
        if not macs:
            baselines.append((value, row))
            continue
        interval = row.cells[key].interval
        style = _row_style(row, colors)
        error = None if interval is None else [[value - interval[0]], [interval[1] - value]]
        marker = "o" if row.kind == "result" else "D"
        face = style["color"] if row.kind == "result" else "none"
        axes.errorbar([macs], [value], yerr=error, fmt=marker, color=style["color"], mfc=face, ms=6, capsize=2)
        points.append((macs, value, row.label, style["color"]))
    if not points:
        raise VpbenchError(f"no record in '{section.title}' has MACs and {key}; nothing to plot")
    axes.margins(x=0.1, y=0.08)
    axes.autoscale_view()
    for value, row in baselines:
        axes.axhline(value, color="0.45", linestyle="--", linewidth=1)
        axes.annotate(
            f"{row.label} (0 MACs)",
            xy=(0.01, value),
            xycoords=("axes fraction", "data"),
            va="bottom",
            fontsize=LABEL_FONT_SIZE,
            color="0.35",
        )
    _label_points(figure, axes, points)
    column = next(c for c in section.columns if c.key == key)
    direction = {True: "higher is better", False: "lower is better", None: ""}[column.higher_is_better]
    axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(EngFormatter())
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("MACs per test sequence (log scale)")
    axes.set_ylabel(f"{column.title} ({section.key.convention} convention; {direction})")
    axes.set_title(section.title, fontsize=9)
    axes.grid(alpha=0.3, which="both")
    return figure


def _label_points(figure: Figure, axes, points: list[tuple[float, float, str, tuple]]) -> None:
    """Label each point beside itself: the first of a ring of offsets whose text box overlaps no other label,
    no marker, and stays inside the axes (greedy, points in order of height)."""
    renderer = FigureCanvasAgg(figure).get_renderer()
    axes_box = axes.get_window_extent(renderer)
    centers = [axes.transData.transform((x, y)) for x, y, _, _ in points]
    markers = [Bbox.from_bounds(cx - 5, cy - 5, 10, 10) for cx, cy in centers]
    placed: list[Bbox] = []
    ring = [(7, 0, "left"), (-7, 0, "right"), (0, 9, "center"), (0, -9, "center")]
    ring += [(7, 10, "left"), (7, -10, "left"), (-7, 10, "right"), (-7, -10, "right")]
    offsets = [(dx * scale, dy * scale, align) for scale in (1, 2, 3) for dx, dy, align in ring]
    for order in np.argsort([c[1] for c in centers]):
        x, y, text, color = points[order]
        best, best_overlap = None, None
        for dx, dy, align in offsets:
            label = axes.annotate(
                text,
                xy=(x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                ha=align,
                va="center",
                fontsize=LABEL_FONT_SIZE,
                color=color,
            )
            box = label.get_window_extent(renderer)
            others = placed + [m for i, m in enumerate(markers) if i != order]
            overlap = sum(_overlap_area(box, other) for other in others) + _outside_area(box, axes_box)
            if best_overlap is None or overlap < best_overlap:
                if best is not None:
                    best.remove()
                best, best_overlap = label, overlap
            else:
                label.remove()
            if overlap == 0:
                break
        if (best.xyann[0] ** 2 + best.xyann[1] ** 2) > 15**2:  # far from its point: draw a leader line
            best.remove()
            offset, align = best.xyann, best.get_horizontalalignment()
            best = axes.annotate(
                text,
                xy=(x, y),
                xytext=offset,
                textcoords="offset points",
                ha=align,
                va="center",
                fontsize=LABEL_FONT_SIZE,
                color=color,
                arrowprops={"arrowstyle": "-", "color": color, "lw": 0.4},
            )
        placed.append(best.get_window_extent(renderer))


def _overlap_area(first: Bbox, second: Bbox) -> float:
    width = min(first.x1, second.x1) - max(first.x0, second.x0)
    height = min(first.y1, second.y1) - max(first.y0, second.y0)
    return max(width, 0.0) * max(height, 0.0)


def _outside_area(box: Bbox, frame: Bbox) -> float:
    return box.width * box.height - _overlap_area(box, frame)


def sample_grid(records: list[Record], results_dir: str | Path, indices: Sequence[int] | None) -> tuple[dict, list]:
    """Context and ground truth per test index, and each record's prediction, checked to be the same clips."""
    loaded = []
    for record in records:
        samples = load_samples(results_dir, record)
        if samples is not None:
            loaded.append((record, samples))
    if not loaded:
        raise VpbenchError(
            "no stored sample predictions (<record id>.samples.npz) for these records; re-run them with a vpbench "
            "that writes samples"
        )
    available = set(loaded[0][1]["index"].tolist())
    for _, samples in loaded[1:]:
        available &= set(samples["index"].tolist())
    chosen = sorted(available) if indices is None else list(indices)
    missing = sorted(set(chosen) - available)
    if missing or not chosen:
        raise VpbenchError(
            f"test sequences {missing or chosen} are not stored for every model; stored: {sorted(available)}"
        )
    truth: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    predictions = []
    for record, samples in loaded:
        position = {int(index): i for i, index in enumerate(samples["index"])}
        per_index = {}
        for index in chosen:
            context, target = samples["context"][position[index]], samples["target"][position[index]]
            if index in truth and not (
                np.array_equal(truth[index][0], context) and np.array_equal(truth[index][1], target)
            ):
                raise VpbenchError(
                    f"stored samples of {record.record_id} show different frames for test sequence {index}; "
                    "its samples file belongs to another test set — re-run that record"
                )
            truth.setdefault(index, (context, target))
            per_index[index] = samples["prediction"][position[index]]
        predictions.append((record, per_index))
    return truth, predictions


def _as_image(frame: np.ndarray) -> tuple[np.ndarray, dict]:
    """(C, H, W) uint8 -> something imshow draws with the right colours."""
    # interpolation "none": a PDF embeds each frame at its own 64x64 pixels (the viewer scales it) and a PNG
    # repeats pixels, where resampling to the figure's dpi made every landing rewrite 1+ MB per file.
    if frame.shape[0] == 1:
        return frame[0], {"cmap": "gray", "vmin": 0, "vmax": 255, "interpolation": "none"}
    return np.moveaxis(frame[:3], 0, -1), {"interpolation": "none"}


def samples_figure(
    records: Iterable[Record],
    options: TableOptions,
    results_dir: str | Path,
    indices: Sequence[int] | None = None,
    max_frames: int = 10,
    context_frames: int = 2,
) -> Figure:
    """Per test sequence: the last context frames and the ground truth on top, each model's prediction below.

    With more than `max_frames` predicted frames, evenly spaced ones are shown (their horizon is written above).
    """
    if max_frames < 1:
        raise VpbenchError(f"--max-frames is the number of predicted frames per row: at least 1, not {max_frames}")
    options = TableOptions(
        **{**options.__dict__, "metrics": ("mse",), "per_horizon": False, "vs": None, "reference": False}
    )
    table = build_table(records, TableOptions(**{**options.__dict__, "conventions": ("vpbench",)}), None)
    section = _single_section(table, "sample grid")
    ordered = [row.record for row in section.rows if row.record is not None]
    row_labels = {row.record.record_id: row.label for row in section.rows if row.record is not None}  # as in table
    truth, predictions = sample_grid(ordered, results_dir, indices)
    horizon = next(iter(truth.values()))[1].shape[0]
    shown = sorted(set(np.linspace(0, horizon - 1, min(max_frames, horizon)).round().astype(int).tolist()))
    context_count = min(context_frames, next(iter(truth.values()))[0].shape[0])
    columns = context_count + len(shown)
    rows_per_sequence = 1 + len(predictions)
    total_rows = rows_per_sequence * len(truth)
    figure = Figure(figsize=(1.0 * columns + 1.6, 1.0 * total_rows + 0.4))
    blocks = figure.add_gridspec(len(truth), 1, hspace=0.3 / rows_per_sequence, top=1 - 0.45 / figure.get_figheight())
    for block, (index, (context, target)) in enumerate(sorted(truth.items())):
        grid = blocks[block].subgridspec(rows_per_sequence, columns, wspace=0.04, hspace=0.08)
        top = 0
        labels = [f"test #{index}\ncontext, truth"] + [row_labels[record.record_id] for record, _ in predictions]
        frames_by_row = [target] + [per_index[index] for _, per_index in predictions]
        for row_number, (label, frames) in enumerate(zip(labels, frames_by_row, strict=True)):
            for column in range(columns):
                axes = figure.add_subplot(grid[top + row_number, column])
                axes.set_xticks([])
                axes.set_yticks([])
                if column == 0:
                    axes.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
                if column < context_count:
                    step = context.shape[0] - context_count + column
                    if row_number == 0:
                        image, style = _as_image(context[step])
                        axes.imshow(image, **style)
                        axes.set_title(f"t={step - context.shape[0] + 1}", fontsize=7)
                    else:
                        axes.set_frame_on(False)  # predictions start after the context
                    continue
                step = shown[column - context_count]
                image, style = _as_image(frames[step])
                axes.imshow(image, **style)
                if row_number == 0:
                    axes.set_title(f"t+{step + 1}", fontsize=7)
    figure.suptitle(section.title.replace(" · convention vpbench", ""), fontsize=9, y=1 - 0.1 / figure.get_figheight())
    return figure
