"""`vpbench check` and `vpbench upgrade-records`: the regression gate over a results folder, and its upkeep."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from vpbench.cli.common import (
    DataRoot,
    ResultsDir,
    app,
    stdout,
)


@app.command("check")
def check_command(
    results_dir: ResultsDir = Path("results"),
    rerun: Annotated[bool, typer.Option(help="re-run the stored smoke records and compare")] = True,
    checksums: Annotated[bool, typer.Option(help="verify data checksums where the data are at hand")] = True,
    rtol: Annotated[
        float | None, typer.Option(help="relative tolerance for re-run numbers (default: in the report)")
    ] = None,
    atol: Annotated[
        float | None, typer.Option(help="absolute tolerance for re-run numbers (default: in the report)")
    ] = None,
    rtol_other_environment: Annotated[
        float | None,
        typer.Option(
            help="relative tolerance where a record names other torch or CPU kernels (default: in the report)"
        ),
    ] = None,
    data_root: DataRoot = None,
) -> None:
    """Regression gate: validate records, compare leaderboard.md and the declared figures with the records,
    re-run smoke records; exit 1 with a diff."""
    from vpbench.gate import run_check
    from vpbench.results.check import Tolerance, render_report

    given = {"rtol": rtol, "atol": atol, "rtol_other_environment": rtol_other_environment}
    tolerance = Tolerance(**{name: value for name, value in given.items() if value is not None})
    report = run_check(results_dir, rerun=rerun, verify_checksums=checksums, tolerance=tolerance, data_root=data_root)
    sys.stdout.write(render_report(report, tolerance))
    if not report.ok:
        raise typer.Exit(1)


@app.command("upgrade-records")
def upgrade_records_command(
    results_dir: ResultsDir = Path("results"),
    data_root: DataRoot = None,
) -> None:
    """Rewrite schema-1 records (no stored run spec) as schema 2: the spec resolved from the facts they store,
    files renamed to the new ids, companion files hashed. Records already at schema 2 are left alone."""
    from vpbench.gate import upgrade_folder

    lines = upgrade_folder(results_dir, data_root)
    for line in lines or [f"nothing to upgrade: every record under {results_dir} is at schema 2"]:
        stdout.print(line, highlight=False)
