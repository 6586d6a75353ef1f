"""`vpbench table`, `extrapolate` and `compare`: the leaderboard and the tests between its rows."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vpbench.cli.common import (
    ConventionList,
    DatasetFilter,
    MetricList,
    PresetFilter,
    ProtocolFilter,
    ReferenceFlag,
    ResultsDir,
    SourceFilter,
    StepsFilter,
    app,
    emit,
    fits_terminal,
    parse_conventions,
    print_json,
    split_names,
    stdout,
    table_options,
)
from vpbench.errors import VpbenchError


@app.command("table")
def table_command(
    metric: MetricList = None,
    dataset: DatasetFilter = None,
    protocol: ProtocolFilter = None,
    convention: ConventionList = None,
    preset: PresetFilter = None,
    steps: StepsFilter = None,
    source: SourceFilter = None,
    per_horizon: Annotated[bool, typer.Option("--per-horizon", help="one column per horizon step")] = False,
    vs: Annotated[str | None, typer.Option("--vs", help="show relative change against this model's row")] = None,
    reference: ReferenceFlag = False,
    no_ci: Annotated[bool, typer.Option("--no-ci", help="leave out the 95% confidence intervals")] = False,
    output_format: Annotated[
        str, typer.Option("--format", help="auto (rich on a terminal, else md) | rich | md | csv | latex")
    ] = "auto",
    leaderboard: Annotated[bool, typer.Option("--leaderboard", help="the full results/leaderboard.md")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")] = None,
    results_dir: ResultsDir = Path("results"),
) -> None:
    """Leaderboard from stored records: one table per dataset / data source / protocol / convention."""
    from vpbench.gate import suite_entries
    from vpbench.results.leaderboard import note_pending_sections, render_leaderboard
    from vpbench.results.render import render_text, rich_tables
    from vpbench.results.store import load_records
    from vpbench.results.table import build_table

    if leaderboard:
        from vpbench.gate import suite_records

        emit(render_leaderboard(suite_records(results_dir), results_dir, suite_entries(results_dir)), output)
        return
    records = load_records(results_dir)
    options = table_options(
        metric,
        dataset,
        protocol,
        convention,
        preset,
        source,
        reference,
        per_horizon=per_horizon,
        vs=vs,
        confidence=not no_ci,
        steps=steps,
    )
    table = build_table(records, options, results_dir)
    note_pending_sections(table, suite_entries(results_dir))
    if output_format == "auto":
        output_format = "rich" if output is None and stdout.is_terminal else "md"
    if output_format == "rich":
        if output is not None:
            raise VpbenchError("--format rich is for the terminal; use --format md, csv or latex with --output")
        tables = rich_tables(table)
        if not fits_terminal(tables):
            from vpbench.results.render import render_blocks  # too narrow: never truncate numbers to "…"

            stdout.print(render_blocks(table, stdout.width), markup=False, highlight=False)
            return
        for rendered in tables:
            stdout.print(rendered, soft_wrap=False)
        return
    emit(render_text(table, output_format), output)


@app.command("extrapolate")
def extrapolate_command(
    metric: Annotated[str, typer.Option("--metric", help="validation metric of the curves, e.g. ssim")] = "ssim",
    against: Annotated[str, typer.Option("--against", help="the sanity row to reach")] = "zeros",
    from_sequences: Annotated[
        int, typer.Option("--from-sequences", help="fit only the points from this many training sequences on")
    ] = 1600,
    through_sequences: Annotated[
        int | None,
        typer.Option(
            "--through-sequences",
            help="fit only the points up to this many training sequences: hold an early fit against what the "
            "curve did next",
        ),
    ] = None,
    dataset: DatasetFilter = None,
    protocol: ProtocolFilter = None,
    preset: PresetFilter = None,
    steps: StepsFilter = None,
    source: SourceFilter = None,
    runs_dir: Annotated[
        Path | None, typer.Option("--runs-dir", help="fit the runs still training here (their logs), not records")
    ] = None,
    results_dir: ResultsDir = Path("results"),
) -> None:
    """How many training sequences each model's learning curve would need to reach a sanity row, by a
    log-linear fit of its validation points: a rough estimate for choosing the next budget, not a result.
    With --runs-dir, the curves of a campaign still training: whether its budget looks enough. The last column
    is what each validation curve did (where it first reached the row), so a fit can be checked against it, and
    --through-sequences makes the fit as early as a run still training has come."""
    from vpbench.gate import suite_records
    from vpbench.protocols import parse_protocol
    from vpbench.results.curves import (
        BEYOND_SEQUENCES,
        FIT_POINTS,
        extrapolate_crossings,
        extrapolate_runs,
        fit_range,
        run_curves,
    )

    if runs_dir is not None:
        protocol = parse_protocol(protocol).name if protocol else None
        curves = run_curves(runs_dir, dataset, protocol, preset, steps)
        where = f" under {runs_dir}"
        target, crossings = extrapolate_runs(
            curves, suite_records(results_dir), metric, against, from_sequences, where, through_sequences
        )
    else:
        options = table_options(None, dataset, protocol, None, preset, source, False, steps=steps)
        target, crossings = extrapolate_crossings(
            suite_records(results_dir), metric, options, against, from_sequences, results_dir, through_sequences
        )
        where = ""
    fitted_on = fit_range(from_sequences, through_sequences)
    table = Table(
        title=f"validation {metric}{where} = a + b ln(sequences), fitted {fitted_on}; target: {against} at "
        f"{target:.4g} (its score on the same validation clips)",
        caption="rough: curves are noisy and flatten, so a crossing more likely comes later than this",
    )
    columns = ("model", "last point", f"last {metric}", "b per e-fold", "points", f"reaches {against} at")
    for column in (*columns, "curve reached it at"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for crossing in crossings:
        if not crossing.fitted:
            reach = f"no fit: {crossing.points} of {FIT_POINTS} points needed {fitted_on}"
        elif crossing.sequences is None:
            reach = "never (moving away)"
        elif crossing.sequences <= crossing.last_sequences:
            reach = "already (by the fit)"
        else:
            far = crossing.sequences >= BEYOND_SEQUENCES
            reach = f"beyond {BEYOND_SEQUENCES:,.0f} sequences" if far else f"~{crossing.sequences:,.0f} sequences"
        table.add_row(
            crossing.model,
            f"{crossing.last_sequences:,}",
            f"{crossing.last_value:#.4g}",  # '#': 0.4740, not 0.474 beside 0.4227
            f"{crossing.slope:+#.3g}" if crossing.fitted else "",
            str(crossing.points),
            reach,
            f"{crossing.reached:,}" if crossing.reached is not None else "no",
        )
    stdout.print(table, soft_wrap=False)


@app.command("compare")
def compare_command(
    model_a: Annotated[
        str,
        typer.Argument(
            metavar="MODEL_A",
            help="first model (its record); MODEL@STEPS picks a budget (srvp@600), MODEL#SPEC a run by its spec "
            "hash prefix (srvp#0e663daa)"
        ),
    ],
    model_b: Annotated[
        str,
        typer.Argument(
            metavar="MODEL_B", help="second model on the same test set, or the first at another budget or spec"
        ),
    ],
    metric: MetricList = None,
    dataset: DatasetFilter = None,
    protocol: ProtocolFilter = None,
    convention: ConventionList = None,
    preset: PresetFilter = None,
    steps: StepsFilter = None,
    source: SourceFilter = None,
    seed: Annotated[int | None, typer.Option(help="only records of this seed")] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="auto (rich on a terminal, else md) | rich | md | csv | json")
    ] = "auto",
    results_dir: ResultsDir = Path("results"),
) -> None:
    """Paired bootstrap test of A against B on their shared test sequences: difference, 95% CI, p-value."""
    import pandas as pd

    from vpbench.protocols import parse_protocol
    from vpbench.results.compare import (
        compare_models,
        comparison_lines,
        comparison_records,
        render_comparison_markdown,
    )
    from vpbench.results.store import load_records

    comparisons = compare_models(
        load_records(results_dir),
        model_a,
        model_b,
        results_dir,
        dataset=dataset,
        protocol=parse_protocol(protocol).name if protocol else None,
        source=source,
        preset=preset,
        seed=seed,
        steps=steps,
        conventions=parse_conventions(convention) or ("vpbench",),
        metrics=split_names(metric),
    )
    if output_format == "auto":
        output_format = "rich" if stdout.is_terminal else "md"
    if output_format == "json":
        print_json(comparison_records(comparisons))
    elif output_format == "csv":
        sys.stdout.write(pd.DataFrame(comparison_records(comparisons)).to_csv(index=False))
    elif output_format == "md":
        sys.stdout.write(render_comparison_markdown(comparisons))
    elif output_format == "rich":
        tables = []
        for comparison in comparisons:
            lines = comparison_lines(comparison)
            table = Table(title=comparison.title, caption="paired bootstrap over test sequences; p two-sided")
            for column in lines[0]:
                table.add_column(column, justify="left" if column in ("convention", "metric", "verdict") else "right")
            for line in lines:
                table.add_row(*line.values())
            tables.append(table)
        if not fits_terminal(tables):
            sys.stdout.write(render_comparison_markdown(comparisons))  # too narrow: whole numbers, no "…"
            return
        for table in tables:
            stdout.print(table, soft_wrap=False)
    else:
        raise VpbenchError(f"unknown format '{output_format}'; choose rich, md, csv or json")

