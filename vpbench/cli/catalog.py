"""`vpbench models`, `datasets` and `data fetch|prepare|info`: what is registered and where data go."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vpbench.cli.common import (
    DataRoot,
    JsonFlag,
    app,
    print_json,
    stderr,
    stdout,
)

data_app = typer.Typer(no_args_is_help=True, help="Get, prepare and inspect datasets.")
app.add_typer(data_app, name="data")


def _millions(count: int) -> str:
    return f"{count / 1e6:.2f}M" if count >= 1e4 else str(count)


def _giga(count: int) -> str:
    return f"{count / 1e9:.2f}G" if count >= 1e7 else f"{count / 1e6:.2f}M"


@app.command()
def models(
    name: Annotated[
        str | None, typer.Argument(metavar="NAME", help="one model: its presets in full, with their notes")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List registered models: family, paper, presets with parameters and MACs (10->10, 1x64x64); with a
    NAME, that model's presets in full (arguments, training, notes on how each differs from the paper)."""
    from vpbench.listing_cache import cached_listing, store_listing

    rows = cached_listing()
    if rows is None:
        from vpbench.catalog import describe_models

        rows = describe_models()
        store_listing(rows)
    if name is not None:
        from vpbench.registry import get_model_entry

        canonical = get_model_entry(name).name  # one-line error for an unknown name; old names resolve
        rows = [row for row in rows if row["name"] == canonical]
        if not rows:  # registered after the listing was cached (a plugin installed since)
            from vpbench.catalog import describe_models

            rows = [row for row in describe_models() if row["name"] == canonical]
    if as_json:
        print_json(rows[0] if name is not None else rows)
        return
    if name is not None:
        _print_model(rows[0])
        return
    order = ("paper", "small", "smoke")
    title = "vpbench models (cost per 10->10 sequence, 1x64x64)"
    table = Table(title=title)
    for column in ("model", "family", "params (paper/small/smoke)", "MACs (paper/small/smoke)", "loss", "paper"):
        numeric = column.startswith(("params", "MACs", "model"))
        table.add_column(column, no_wrap=numeric, overflow="fold")
    cells = []
    for row in rows:
        presets = row["presets"]
        params = " / ".join(_millions(presets[p]["parameters"]) for p in order)
        macs = " / ".join(_giga(presets[p]["macs_per_sequence"]) for p in order)
        cells.append((row, params, macs))
        table.add_row(row["name"], row["family"], params, macs, row["loss"], row["paper"])
    from rich.measure import Measurement

    if Measurement.get(stdout, stdout.options, table).minimum <= stdout.width - 20:
        stdout.print(table, soft_wrap=False)
        return
    # Too narrow for a readable table (the prose columns would be a word per line): one block per model.
    import textwrap

    lines = [title, ""]
    for row, params, macs in cells:
        head = f"{row['name']} ({row['family']}): params {params}; MACs {macs} (paper/small/smoke)"
        lines += textwrap.wrap(head, stdout.width, subsequent_indent="  ")
        body = f"loss: {row['loss']}. {row['paper']}"
        lines += textwrap.wrap(body, stdout.width, initial_indent="  ", subsequent_indent="  ")
    stdout.print("\n".join(lines), markup=False, highlight=False)


def _print_model(row: dict) -> None:
    """One model in full: what `vpbench run --preset P` would build and train, and why each preset is so."""
    lines = [f"{row['name']} ({row['family']}; loss {row['loss']})", row["description"], row["paper"], ""]
    for preset, facts in row["presets"].items():
        train = facts["train"]
        lines += [
            f"{preset}: params {_millions(facts['parameters'])}, MACs {_giga(facts['macs_per_sequence'])} "
            "per 10->10 sequence",
            "  model: " + ", ".join(f"{key}={value}" for key, value in facts["model"].items()),
            f"  training: {train['optimizer']} lr {train['lr']:g}, weight decay {train['weight_decay']:g}, "
            + (f"momentum {train['momentum']:g}, " if train["momentum"] else "")
            + (f"gradient clip {train['grad_clip']:g}, " if train["grad_clip"] else "")
            + f"{train['schedule']} schedule, batch {train['batch_size']}"
            + (f"; the paper's budget: {train['paper_budget']}" if train["paper_budget"] else ""),
            f"  note: {facts['note']}",
            "",
        ]
    stdout.print("\n".join(lines).rstrip(), markup=False, highlight=False)


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
    stdout.print(table, soft_wrap=False)


@data_app.command("fetch")
def data_fetch(name: str, data_root: DataRoot = None, as_json: JsonFlag = False) -> None:
    """Download NAME's files into the data root (SHA-256/MD5 checked, resumable, atomic)."""
    from vpbench.data import commands

    def progress(done: int, total: int | None, item: str) -> None:
        if total:
            stderr.print(f"{item}: {done / 2**20:.1f} / {total / 2**20:.1f} MiB", end="\r")

    summary = commands.fetch(name, data_root, progress=progress)
    if as_json:
        print_json(summary)
    else:
        stdout.print(summary.get("note") or f"{name}: files ready under {summary['data_root']}")


@data_app.command("prepare")
def data_prepare(
    name: str,
    source: Annotated[Path, typer.Option(help="folder with the raw files (KTH .avi / JPEG folders, Human3.6M)")],
    size: Annotated[int | None, typer.Option(help="frame side in pixels (default 64; KTH also 128)")] = None,
    data_root: DataRoot = None,
    as_json: JsonFlag = False,
) -> None:
    """Convert raw files to vpbench's compact uint8 cache (once per size)."""
    from vpbench.data import commands

    def progress(done: int, total: int, item: str) -> None:
        stderr.print(f"[{done}/{total}] {item}", highlight=False)

    summary = commands.prepare(name, source, data_root, progress=progress, size=size)
    if as_json:
        print_json(summary)
    else:
        stdout.print(f"{name}: prepared {summary['videos']} videos into {summary['path']}")


@data_app.command("info")
def data_info(name: str, data_root: DataRoot = None, as_json: JsonFlag = False) -> None:
    """What is present for NAME: files with verified checksums, prepared caches, data source."""
    from vpbench.data import commands

    summary = commands.info(name, data_root)
    if as_json:
        print_json(summary)
        return
    stdout.print(f"[bold]{name}[/] — {summary['description']}  (data root {summary['data_root']})")
    for entry in summary["files"]:
        state = "present" if entry["present"] else "missing"
        if "verified" in entry:
            state += ", checksum ok" if entry["verified"] else ", CHECKSUM MISMATCH"
        stdout.print(f"  {entry['path']}: {state}")
    for cache in summary.get("prepared", []):
        stdout.print(f"  prepared cache {cache['path']}: {cache.get('videos', '?')} videos")
    if summary.get("source"):
        stdout.print(f"  source: {summary['source']}")

