"""What every command module of the CLI shares: the app, the consoles, option types and small parsers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
import typer.core
from rich.console import Console

from vpbench.errors import VpbenchError


def _flag_type_shown_in_help(option: typer.core.TyperOption, ctx) -> str | None:
    """Typer 0.29 lists an on/off flag as `--per-horizon <bool>`, which reads as if it took a value (and
    `--per-horizon true` fails); a flag shows no type, as in click and earlier typers."""
    return None if option.is_flag else _typed_option_type(option, ctx)


_typed_option_type = getattr(typer.core.TyperOption, "display_type_rich", None)
if _typed_option_type is not None:  # a later typer may drop the hook; then only the help text changes
    typer.core.TyperOption.display_type_rich = _flag_type_shown_in_help

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # with "rich", the command list keeps the docstrings' line breaks
    help="Benchmark and leaderboard for video prediction.",
)

# Every line prints whole (soft wrap): a log line or a path broken at a non-terminal's 80 columns cannot be grepped
# or pasted back. Tables pass soft_wrap=False, so that rich fits them to the terminal.
stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)

DataRoot = Annotated[
    Path | None, typer.Option("--data-root", help="data folder (default: $VPBENCH_DATA or ~/.cache/vpbench)")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON document on stdout")]
ResultsDir = Annotated[Path, typer.Option("--results-dir", help="folder of stored result records")]

# Options shared by `run`, `eval` and `sweep`: declared once so the three commands cannot drift apart. The
# defaults they quote live in engine.spec.DEFAULTS (not imported here: it loads torch); a test keeps them equal.
ModelPreset = Annotated[str | None, typer.Option(help="paper | small | smoke (default: small on CPU, paper on CUDA)")]
Protocols = Annotated[list[str] | None, typer.Option(help="e.g. 10->10; repeat for several (default: dataset's)")]
Steps = Annotated[int | None, typer.Option(help="training budget in optimizer steps (CPU default 40)")]
TimeBudget = Annotated[str | None, typer.Option(help="training budget in time, e.g. 10m")]
BatchSize = Annotated[int | None, typer.Option(help="global batch size (default: the preset's)")]
Seed = Annotated[int | None, typer.Option(help="seed of weights, data order and sampling (default 42)")]
Device = Annotated[str | None, typer.Option(help="auto | cpu | cuda (default auto)")]
Threads = Annotated[int | None, typer.Option(help="torch CPU threads per process (default 1; see README)")]
RunsDir = Annotated[Path, typer.Option(help="where checkpoints and training logs go")]
TestSize = Annotated[int | None, typer.Option(help="evaluate the first N test clips (CPU default 100)")]
ValSize = Annotated[
    int | None, typer.Option(help="validation clips for selection and curves (default 32 on CPU, 256 on CUDA)")
]
ValEvery = Annotated[int | None, typer.Option(help="validate every N steps (default: 10 times per run)")]
DataOptions = Annotated[list[str] | None, typer.Option(help="dataset option KEY=VALUE, e.g. source=offline-5k")]
ModelOptions = Annotated[
    list[str] | None, typer.Option(help="model argument KEY=VALUE overriding the preset, e.g. hidden_channels=32")
]


def print_json(document) -> None:
    sys.stdout.write(json.dumps(document, indent=2, allow_nan=False) + "\n")


def parse_options(pairs: list[str], flag: str = "--data-option") -> dict[str, object]:
    """KEY=VALUE pairs; values are read as JSON where they parse (numbers, true/false), else kept as text."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            example = "hidden_channels=32" if flag == "--model-option" else "source=offline-5k"
            raise VpbenchError(f"cannot read {flag} '{pair}'; write KEY=VALUE, e.g. {example}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options



MetricList = Annotated[
    list[str] | None, typer.Option("--metric", help="metric(s), repeat or comma-separate, e.g. ssim or mse,ssim")
]
ConventionList = Annotated[
    list[str] | None, typer.Option("--convention", help="metric convention(s), or 'all' (default: vpbench)")
]
DatasetFilter = Annotated[str | None, typer.Option("--dataset", "-d", help="only this dataset")]
ProtocolFilter = Annotated[str | None, typer.Option("--protocol", help="only this protocol, e.g. 10->10")]
PresetFilter = Annotated[
    str | None,
    typer.Option(
        "--preset",
        help="only this preset (sanity rows always shown; smoke fixtures only if named)",
    ),
]
SourceFilter = Annotated[str | None, typer.Option("--source", help="only this data source, e.g. offline-5k")]
ReferenceFlag = Annotated[bool, typer.Option("--reference", help="add published rows of the same convention")]
StepsFilter = Annotated[
    int | None,
    typer.Option(
        "--steps",
        help="only trained records of this budget (optimizer steps); sanity rows always show; "
        "a results folder may hold several budgets, each in its own section",
    ),
]


def split_names(values: list[str] | None) -> tuple[str, ...]:
    return tuple(name.strip() for value in values or [] for name in value.split(",") if name.strip())


def parse_conventions(values: list[str] | None) -> tuple[str, ...]:
    from vpbench.metrics import CONVENTION_NAMES, get_convention

    names = split_names(values)
    if "all" in names:
        return tuple(CONVENTION_NAMES)
    return tuple(get_convention(name).name for name in names)


def table_options(metric, dataset, protocol, convention, preset, source, reference, **more):
    from vpbench.protocols import parse_protocol
    from vpbench.results.table import TableOptions

    return TableOptions(
        metrics=split_names(metric),
        dataset=dataset,
        protocol=parse_protocol(protocol).name if protocol else None,
        conventions=parse_conventions(convention),
        preset=preset,
        source=source,
        reference=reference,
        **more,
    )


def fits_terminal(tables) -> bool:
    """Whether every rich table fits the terminal without wrapping or truncating a cell: number tables
    (leaderboard, compare) fall back to a plain layout otherwise, never to rich's "…"."""
    from rich.measure import Measurement

    unbounded = stdout.options.update(max_width=100_000)
    return all(Measurement.get(stdout, unbounded, table).maximum <= stdout.width for table in tables)


def emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    from vpbench.files import atomic_write, prepare_output

    if output.is_dir():
        raise VpbenchError(f"{output} is a folder; pass a file name as --output")
    atomic_write(prepare_output(output), lambda handle: handle.write(text))
    stderr.print(f"wrote {output}")

