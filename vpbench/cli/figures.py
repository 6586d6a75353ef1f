"""`vpbench plot ...` and `vpbench render`: figures from stored records, one at a time or all the suite declares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vpbench.cli.common import (
    ConventionList,
    DatasetFilter,
    PresetFilter,
    ProtocolFilter,
    ReferenceFlag,
    ResultsDir,
    SourceFilter,
    StepsFilter,
    app,
    split_names,
    stdout,
    table_options,
)
from vpbench.errors import VpbenchError

plot_app = typer.Typer(no_args_is_help=True, help="Figures from stored records (PNG and PDF).")
app.add_typer(plot_app, name="plot")
FigureOutput = Annotated[
    Path | None, typer.Option("--output", "-o", help="file stem; .png and .pdf are added (default: under DIR/figures)")
]
FigureFormats = Annotated[str, typer.Option("--formats", help="comma-separated: png,pdf")]


def _figure_stem(output: Path | None, folder: Path, *parts: str | None) -> Path:
    """--output without its image suffix, or `folder`/<parts joined by "_">."""
    if output is not None:
        return output.with_suffix("") if output.suffix in (".png", ".pdf") else output
    return folder / "_".join(str(part).replace("->", "-") for part in parts if part)


def _budget(steps: int | None) -> str | None:
    """The figure name's budget part: only when --steps picks one, so the names of a one-budget folder stay."""
    return f"{steps}steps" if steps is not None else None


def _print_written(paths) -> None:
    for path in paths:
        stdout.print(f"wrote {path}")


def _draw(spec, output: Path | None, formats: str, results_dir: Path) -> None:
    """Draw one figure from the suite's records (as in the leaderboard), under its default name or --output."""
    from vpbench.gate import suite_entries, suite_records
    from vpbench.results.plots import save_figure

    figure = spec.figure(suite_records(results_dir), results_dir, suite_entries(results_dir))
    stem = _figure_stem(output, results_dir / "figures", spec.name())
    _print_written(save_figure(figure, stem, split_names([formats])))


@plot_app.command("horizon")
def plot_horizon_command(
    metric: Annotated[str, typer.Option("--metric", help="metric to plot, e.g. ssim")],
    dataset: DatasetFilter = None,
    protocol: ProtocolFilter = None,
    convention: ConventionList = None,
    preset: PresetFilter = None,
    steps: StepsFilter = None,
    source: SourceFilter = None,
    reference: ReferenceFlag = False,
    output: FigureOutput = None,
    formats: FigureFormats = "png,pdf",
    results_dir: ResultsDir = Path("results"),
) -> None:
    """One metric against the horizon, a curve per model, each labelled at its end (the suite's records
    when the folder has a suite.json, as in the leaderboard)."""
    from vpbench.results.figures import FigureSpec

    options = table_options(None, dataset, protocol, convention, preset, source, reference, steps=steps)
    _draw(FigureSpec("horizon", options, metric), output, formats, results_dir)


@plot_app.command("curves")
def plot_curves_command(
    metric: Annotated[str, typer.Option("--metric", help="validation metric: ssim, mse, psnr, mae, loss")] = "ssim",
    x_axis: Annotated[str, typer.Option("--x", help="sequences | time | steps")] = "sequences",
    dataset: DatasetFilter = None,
    protocol: ProtocolFilter = None,
    preset: PresetFilter = None,
    steps: StepsFilter = None,
    source: SourceFilter = None,
    output: FigureOutput = None,
    formats: FigureFormats = "png,pdf",
    results_dir: ResultsDir = Path("results"),
) -> None:
    """Learning curves of one leaderboard section: a validation metric against training sequences (or time),
    a curve per model, sanity rows as horizontal lines."""
    from vpbench.results.figures import FigureSpec

    options = table_options(None, dataset, protocol, None, preset, source, False, steps=steps)
    _draw(FigureSpec("curves", options, metric, x_axis), output, formats, results_dir)


@plot_app.command("progress")
def plot_progress_command(
    runs_dir: Annotated[Path, typer.Option("--runs-dir", help="the sweep's run folders (or one dataset's)")] = Path(
        "runs"
    ),
    metric: Annotated[str, typer.Option("--metric", help="validation metric: ssim, mse, psnr, mae, loss")] = "ssim",
    x_axis: Annotated[str, typer.Option("--x", help="sequences | time | steps")] = "sequences",
    dataset: DatasetFilter = None,
    protocol: ProtocolFilter = None,
    preset: PresetFilter = None,
    steps: StepsFilter = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file stem (default: RUNS_DIR/progress_...)")
    ] = None,
    formats: FigureFormats = "png,pdf",
    results_dir: ResultsDir = Path("results"),
    fit: Annotated[
        bool, typer.Option("--fit", help="draw each run's log-linear fit (as `vpbench extrapolate`) to the budget")
    ] = False,
    from_sequences: Annotated[
        int, typer.Option("--from-sequences", help="with --fit: fit only the points from this many sequences on")
    ] = 1600,
    against: Annotated[str, typer.Option("--against", help="with --fit: mark where each fit meets this row")] = "zeros",
) -> None:
    """Learning curves of the runs in a runs folder, unfinished (dotted) or done, read from their training
    logs, with the stored sanity rows of the same setting as lines (their validation score): for watching a long
    campaign before its records exist. Written under the runs folder, not results/: nothing in it is a stored
    result."""
    from vpbench.gate import suite_records
    from vpbench.protocols import parse_protocol
    from vpbench.results.curves import progress_figure, run_curves
    from vpbench.results.plots import save_figure

    protocol = parse_protocol(protocol).name if protocol else None
    curves = run_curves(runs_dir, dataset, protocol, preset, steps)
    try:
        sanity = suite_records(results_dir)  # the figure draws the sanity rows of the runs' setting
    except VpbenchError:
        sanity = []  # no stored results here: the curves alone
    fit_from = from_sequences if fit else None
    figure = progress_figure(curves, metric, x_axis, sanity, f" under {runs_dir}", fit_from, against)
    # Beside the runs, never among the committed figures.
    stem = _figure_stem(output, Path(runs_dir), "progress", dataset, protocol, metric, x_axis, _budget(steps))
    _print_written(save_figure(figure, stem, split_names([formats])))


@plot_app.command("efficiency")
def plot_efficiency_command(
    metric: Annotated[str, typer.Option("--metric", help="metric on the vertical axis, e.g. ssim")],
    dataset: DatasetFilter = None,
    protocol: ProtocolFilter = None,
    convention: ConventionList = None,
    preset: PresetFilter = None,
    steps: StepsFilter = None,
    source: SourceFilter = None,
    reference: ReferenceFlag = False,
    output: FigureOutput = None,
    formats: FigureFormats = "png,pdf",
    results_dir: ResultsDir = Path("results"),
) -> None:
    """MACs per sequence against a metric, one labelled point per model (the suite's records when the folder
    has a suite.json, as in the leaderboard)."""
    from vpbench.results.figures import FigureSpec

    options = table_options(None, dataset, protocol, convention, preset, source, reference, steps=steps)
    _draw(FigureSpec("efficiency", options, metric), output, formats, results_dir)


@plot_app.command("samples")
def plot_samples_command(
    dataset: DatasetFilter = None,
    protocol: ProtocolFilter = None,
    preset: PresetFilter = None,
    steps: StepsFilter = None,
    source: SourceFilter = None,
    index: Annotated[list[int] | None, typer.Option("--index", help="test sequence(s) to show")] = None,
    max_frames: Annotated[int, typer.Option(help="predicted frames shown per row (evenly spaced)")] = 10,
    output: FigureOutput = None,
    formats: FigureFormats = "png,pdf",
    results_dir: ResultsDir = Path("results"),
) -> None:
    """Context and ground truth above each model's prediction, from the stored sample predictions (the
    suite's records when the folder has a suite.json, as in the leaderboard)."""
    from vpbench.results.figures import FigureSpec

    options = table_options(None, dataset, protocol, None, preset, source, False, steps=steps)
    spec = FigureSpec("samples", options, indices=tuple(index or ()), max_frames=max_frames)
    _draw(spec, output, formats, results_dir)



@app.command("render")
def render_command(results_dir: ResultsDir = Path("results")) -> None:
    """Redraw leaderboard.md and every figure the suite declares from the stored records (after records land);
    `vpbench check` fails while either differs from what the records give."""
    from vpbench.publish import render

    _print_rendered(*render(results_dir))


def _print_rendered(leaderboard: Path, figures) -> None:
    _print_written([leaderboard, *figures.written])
    for skipped in figures.skipped:
        stdout.print(f"not drawn: {skipped}")


@app.command("land")
def land_command(
    source: Annotated[
        Path, typer.Argument(metavar="SOURCE", help="a results folder made elsewhere (another checkout, a cluster)")
    ],
    models: Annotated[str | None, typer.Option("--models", help="only these models (comma-separated)")] = None,
    results_dir: ResultsDir = Path("results"),
) -> None:
    """Copy the records of SOURCE that the suite declares into the results folder (checked first, all or
    nothing, never replacing a stored record), take their models off `pending`, then render."""
    from vpbench.publish import land, render

    landing = land(source, results_dir, list(split_names([models])) if models else None)
    for record_id in landing.copied:
        stdout.print(f"landed {record_id}", highlight=False)
    for record_id in landing.already_stored:
        stdout.print(f"already stored (identical): {record_id}", highlight=False)
    for done in landing.no_longer_pending:
        stdout.print(f"no longer pending: {done}", highlight=False)
    _print_rendered(*render(results_dir))
