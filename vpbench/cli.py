"""The `vpbench` command line: parse, call the library, print with rich. Nothing else lives here.

Error contract (DESIGN.md): a user's mistake is one line on stderr and exit code 2, a failed run exit 1,
never a traceback; `--json` output is one JSON document on stdout and nothing else there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from vpbench.errors import VpbenchError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Benchmark and leaderboard for video prediction.",
)
data_app = typer.Typer(no_args_is_help=True, help="Get, prepare and inspect datasets.")
app.add_typer(data_app, name="data")

stdout = Console()
stderr = Console(stderr=True)

DataRoot = Annotated[
    Path | None, typer.Option("--data-root", help="data folder (default: $VPBENCH_DATA or ~/.cache/vpbench)")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON document on stdout")]


def print_json(document) -> None:
    sys.stdout.write(json.dumps(document, indent=2, allow_nan=False) + "\n")


def _millions(count: int) -> str:
    return f"{count / 1e6:.2f}M" if count >= 1e4 else str(count)


def _giga(count: int) -> str:
    return f"{count / 1e9:.2f}G" if count >= 1e7 else f"{count / 1e6:.2f}M"


@app.command()
def models(as_json: JsonFlag = False) -> None:
    """List registered models: family, paper, presets with parameters and MACs (10->10, 1x64x64)."""
    from vpbench.catalog import describe_models

    rows = describe_models()
    if as_json:
        print_json(rows)
        return
    table = Table(title="vpbench models (cost per 10->10 sequence, 1x64x64)")
    for column in ("model", "family", "loss", "paper", "params (paper/small/smoke)", "MACs (paper/small/smoke)"):
        table.add_column(column)
    for row in rows:
        presets = row["presets"]
        order = ("paper", "small", "smoke")
        table.add_row(
            row["name"],
            row["family"],
            row["loss"],
            row["paper"],
            " / ".join(_millions(presets[p]["parameters"]) for p in order),
            " / ".join(_giga(presets[p]["macs_per_sequence"]) for p in order),
        )
    stdout.print(table)


@app.command()
def datasets(data_root: DataRoot = None, as_json: JsonFlag = False) -> None:
    """List datasets: frame shape, protocols, where their files are and whether present."""
    from vpbench.catalog import describe_datasets

    rows = describe_datasets(data_root)
    if as_json:
        print_json(rows)
        return
    table = Table(title="vpbench datasets")
    for column in ("dataset", "frames (C,H,W)", "protocols", "files present", "source / note"):
        table.add_column(column)
    for row in rows:
        present = sum(f["present"] for f in row["files"])
        table.add_row(
            row["name"],
            "x".join(map(str, row["shape"])),
            ", ".join(row["protocols"]),
            f"{present}/{len(row['files'])}" if row["files"] else "-",
            row["source"] or row["description"],
        )
    stdout.print(table)


def main() -> None:
    """Entry point: user errors become one line on stderr and their exit code; click handles usage errors."""
    try:
        app()
    except VpbenchError as error:
        stderr.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(130)
