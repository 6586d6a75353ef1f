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


def _millions(count: int) -> str:
    return f"{count / 1e6:.2f}M" if count >= 1e4 else str(count)


def _giga(count: int) -> str:
    return f"{count / 1e9:.2f}G" if count >= 1e7 else f"{count / 1e6:.2f}M"


@app.command()
def models(as_json: JsonFlag = False) -> None:
    """List registered models: family, paper, presets with parameters and MACs (10->10, 1x64x64)."""
    from vpbench.listing_cache import cached_listing, store_listing

    rows = cached_listing()
    if rows is None:
        from vpbench.catalog import describe_models

        rows = describe_models()
        store_listing(rows)
    if as_json:
        print_json(rows)
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
        stdout.print(table)
        return
    # Too narrow for a readable table (the prose columns would be a word per line): one block per model.
    import textwrap

    lines = [title, ""]
    for row, params, macs in cells:
        head = f"{row['name']} ({row['family']}): params {params}; MACs {macs} (paper/small/smoke)"
        lines += textwrap.wrap(head, stdout.width, subsequent_indent="  ")
        body = f"loss: {row['loss']}. {row['paper']}"
        lines += textwrap.wrap(body, stdout.width, initial_indent="  ", subsequent_indent="  ")
    stdout.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)


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


def _progress_reporter(model: str):
    """Rich progress (loss, lr, steps/s, ETA) on a terminal; plain lines otherwise (CI logs)."""
    from vpbench.engine.trainer import print_plain_progress

    if not stderr.is_terminal:
        return print_plain_progress(model), None
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn(f"[bold]{model}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TextColumn("loss {task.fields[loss]:.5f}  lr {task.fields[lr]:.1e}  {task.fields[rate]:.2f} steps/s"),
        TimeRemainingColumn(),
        console=stderr,
    )
    task = bar.add_task("train", total=1, loss=float("nan"), lr=0.0, rate=0.0)
    clock = {"start": None, "first": 0}

    def report(step: int, total: int, loss: float, lr: float) -> None:
        import time

        if clock["start"] is None:
            clock["start"], clock["first"] = time.perf_counter(), step - 1
        rate = (step - clock["first"]) / max(time.perf_counter() - clock["start"], 1e-9)
        bar.update(task, completed=step, total=total, loss=loss, lr=lr, rate=rate)

    return report, bar


@app.command()
def run(
    model: Annotated[str, typer.Option("--model", "-m", help="registered model name (see `vpbench models`)")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="dataset name (see `vpbench datasets`)")],
    preset: ModelPreset = None,
    protocol: Protocols = None,
    train_protocol: Annotated[str | None, typer.Option(help="protocol to train on (default: the first)")] = None,
    steps: Steps = None,
    epochs: Annotated[int | None, typer.Option(help="training budget in epochs")] = None,
    time_budget: TimeBudget = None,
    seed: Seed = None,
    device: Device = None,
    threads: Threads = None,
    results_dir: ResultsDir = Path("results"),
    runs_dir: RunsDir = Path("runs"),
    data_root: DataRoot = None,
    resume: Annotated[bool, typer.Option(help="resume an existing run directory")] = True,
    batch_size: BatchSize = None,
    lr: Annotated[float | None, typer.Option(help="learning rate (default: the preset's)")] = None,
    test_size: TestSize = None,
    val_every: ValEvery = None,
    checkpoint_every: Annotated[int | None, typer.Option(help="checkpoint every N steps")] = None,
    val_size: ValSize = None,
    data_option: DataOptions = None,
    model_option: ModelOptions = None,
    no_table: Annotated[bool, typer.Option("--no-table", help="do not print the result table at the end")] = False,
) -> None:
    """Train (or resume) MODEL on DATASET, select on validation, evaluate every protocol, store records."""
    from vpbench.engine.config import RunConfig, parse_duration

    config = RunConfig(
        model=model,
        dataset=dataset,
        preset=preset,
        protocols=list(protocol or []),
        train_protocol=train_protocol,
        steps=steps,
        epochs=epochs,
        time_budget_s=parse_duration(time_budget) if time_budget else None,
        seed=seed,
        device=device,
        threads=threads,
        results_dir=results_dir,
        runs_dir=runs_dir,
        data_root=data_root,
        data_options=_parse_options(data_option or []),
        resume=resume,
        batch_size=batch_size,
        learning_rate=lr,
        test_size=test_size,
        val_every=val_every,
        checkpoint_every=checkpoint_every,
        val_size=val_size,
        model_overrides=_parse_options(model_option or [], "--model-option"),
        command="vpbench " + " ".join(sys.argv[1:]),
    )
    records = _run_with_progress(config)
    if not no_table:
        _print_run_summary(records, config)


def _run_with_progress(config):
    from vpbench.engine.run import run as run_engine

    report, bar = _progress_reporter(config.model)
    evaluation = _evaluation_reporter(config.model, bar)
    if bar is not None:
        with bar:
            return run_engine(config, progress=report, eval_progress=evaluation)
    return run_engine(config, progress=report, eval_progress=evaluation)


def _evaluation_reporter(model: str, bar):
    """Evaluation progress: a second rich task beside training's bar, or plain lines in a pipe or CI log."""
    from vpbench.progress import plain_evaluation_progress

    if bar is None:
        return plain_evaluation_progress(model)
    task = {"id": None}

    def report(done: int, total: int) -> None:
        if done == 0 or task["id"] is None:  # the evaluator reports (0, total) when each pass starts
            task["id"] = bar.add_task("evaluate", total=total, loss=float("nan"), lr=0.0, rate=0.0)
        bar.update(task["id"], completed=done, total=total)

    return report


@app.command("eval")
def eval_checkpoint(
    checkpoint: Annotated[Path, typer.Option(help="a vpbench checkpoint (best.pt / last.pt), or see --from")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="default: the checkpoint's")] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="default: the checkpoint's")] = None,
    source: Annotated[
        str | None,
        typer.Option("--from", help="the checkpoint is another code base's state_dict: openstl | srvp-repo | "
                     "simvp-repo | mimo-vp-repo (then --model, --dataset and --preset are required)"),
    ] = None,
    preset: Annotated[str | None, typer.Option(help="default: the checkpoint's")] = None,
    protocol: Protocols = None,
    device: Device = None,
    threads: Threads = None,
    results_dir: ResultsDir = Path("results"),
    data_root: DataRoot = None,
    test_size: TestSize = None,
    data_option: DataOptions = None,
    model_option: ModelOptions = None,
) -> None:
    """Evaluate a stored checkpoint under the dataset's protocols and store records (training facts such as
    seed, batch size and learning rate come from the checkpoint)."""
    from vpbench.engine.config import RunConfig

    if source is not None and (model is None or dataset is None):
        raise VpbenchError("--from needs --model and --dataset (a foreign checkpoint does not say what it holds)")
    config = RunConfig(
        model=model,  # None: the checkpoint's
        dataset=dataset,
        preset=preset,
        protocols=list(protocol or []),
        device=device,
        threads=threads,
        results_dir=results_dir,
        data_root=data_root,
        data_options=_parse_options(data_option or []),
        test_size=test_size,
        checkpoint=checkpoint,
        checkpoint_source=source,
        model_overrides=_parse_options(model_option or [], "--model-option"),
        command="vpbench " + " ".join(sys.argv[1:]),
    )
    _print_run_summary(_run_with_progress(config), config)


@app.command("sweep")
def sweep_command(
    dataset: Annotated[str | None, typer.Option("--dataset", "-d")] = None,
    models: Annotated[str, typer.Option(help="comma-separated model names, or 'all'")] = "all",
    suite: Annotated[Path | None, typer.Option(help="run every entry of a suite file, e.g. results/suite.json")] = None,
    entry: Annotated[list[str] | None, typer.Option(help="with --suite: only this entry (repeatable)")] = None,
    jobs: Annotated[int, typer.Option(help="models trained side by side, one process each")] = 1,
    preset: ModelPreset = None,
    protocol: Protocols = None,
    steps: Steps = None,
    time_budget: TimeBudget = None,
    batch_size: BatchSize = None,
    seed: Seed = None,
    device: Device = None,
    threads: Threads = None,
    test_size: TestSize = None,
    val_size: ValSize = None,
    val_every: ValEvery = None,
    results_dir: ResultsDir = Path("results"),
    runs_dir: RunsDir = Path("runs"),
    data_root: DataRoot = None,
    data_option: DataOptions = None,
    emit: Annotated[str | None, typer.Option(help="'slurm': print a job-array script instead of running")] = None,
    plan: Annotated[
        bool,
        typer.Option("--plan", help="print where each run stands (stored, at step k of N, ...), time left; exit"),
    ] = False,
) -> None:
    """Run a grid of models on one dataset (the same budget for each), or a suite file, skipping stored
    records and resuming unfinished runs; the whole grid is validated before anything runs."""
    from vpbench.engine.config import RunConfig, parse_duration
    from vpbench.engine.run import run as run_engine
    from vpbench.engine.suite import load_suite, select_configs
    from vpbench.engine.sweep import campaign_estimate, grid, plan_sweep, progress, run_sweep, slurm_script

    if jobs < 1:
        raise VpbenchError(f"--jobs must be at least 1, got {jobs}")
    names = [name.strip() for name in models.split(",") if name.strip()]
    if emit is not None:
        if emit != "slurm":
            raise VpbenchError(f"unknown --emit target '{emit}'; the only one is 'slurm'")
        passthrough = [a for a in sys.argv[2:]]
        skip = {"--models", "--emit"}
        arguments, index = [], 0
        while index < len(passthrough):
            if passthrough[index] in skip:
                index += 2
                continue
            arguments.append(passthrough[index])
            index += 1
        sys.stdout.write(slurm_script(names, arguments))
        return
    if suite is not None:
        chosen = names if names != ["all"] else None
        configs = select_configs(load_suite(suite), entry, chosen, results_dir, runs_dir, data_root)
    else:
        if dataset is None:
            raise VpbenchError("sweep needs --dataset (or --suite FILE)")
        template = RunConfig(
            model="",
            dataset=dataset,
            preset=preset,
            protocols=list(protocol or []),
            steps=steps,
            time_budget_s=parse_duration(time_budget) if time_budget else None,
            batch_size=batch_size,
            seed=seed,
            device=device,
            threads=threads,
            test_size=test_size,
            val_size=val_size,
            val_every=val_every,
            results_dir=results_dir,
            runs_dir=runs_dir,
            data_root=data_root,
            data_options=_parse_options(data_option or []),
            command="vpbench " + " ".join(sys.argv[1:]),
        )
        configs = grid(template, names)
    items = plan_sweep(configs)
    if plan:  # a status for long campaigns: reads files only, never trains or locks
        from vpbench.results.store import load_records

        records = [record for folder in {item.config.results_dir for item in items} for record in load_records(folder)]
        for item in items:
            stdout.print(f"{item.spec.model} (seed {item.spec.seed}, spec {item.spec.spec_hash}): "
                         f"{progress(item, records=records)}", highlight=False, soft_wrap=True)
        stdout.print(campaign_estimate(items, records, jobs), highlight=False, soft_wrap=True)
        return
    outcome = run_sweep(items, run_engine, jobs=jobs, log=lambda line: stderr.print(line, highlight=False))
    for model, state in outcome:
        stdout.print(f"{model}: {state}")
    if any(state not in ("done", "skipped") for _, state in outcome):
        raise typer.Exit(1)


@app.command("score")
def score_command(
    pred: Annotated[Path, typer.Option("--pred", help="predictions .npy, (N,T,H,W) or (N,T,C,H,W)")],
    target: Annotated[Path, typer.Option("--target", help="ground truth .npy, same shape")],
    convention: Annotated[list[str] | None, typer.Option(help="vpbench | openstl | predrnn | srvp-paper")] = None,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda if available)")] = None,
    threads: Threads = None,
    as_json: JsonFlag = False,
) -> None:
    """Score predictions made by any code base, uint8 or float in [0, 1], under every named convention."""
    import torch

    from vpbench.engine.spec import thread_policy
    from vpbench.metrics import CONVENTION_NAMES
    from vpbench.metrics.score import score_files, summary_lines

    kind = "cuda" if (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda") else "cpu"
    if kind == "cpu":
        torch.set_num_threads(thread_policy("cpu", threads))

    conventions = tuple(convention) if convention else CONVENTION_NAMES
    result = score_files(pred, target, conventions, device=device)
    if as_json:
        print_json(result)
    else:
        for line in summary_lines(result):
            stdout.print(line, highlight=False)


def _parse_options(pairs: list[str], flag: str = "--data-option") -> dict[str, object]:
    """KEY=VALUE pairs; values are read as JSON where they parse (numbers, true/false), else kept as text."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise VpbenchError(f"cannot read {flag} '{pair}'; write KEY=VALUE, e.g. source=offline-5k")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def _format_metric(value) -> str:
    return "-" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))


def _print_run_summary(records, config) -> None:
    """What was just run, in plain aligned lines (readable in 80 columns and in pipes): every convention's
    headline numbers, where each record is, and how it compares with the sanity rows and the stored
    leaderboard row of the same model."""
    from vpbench.results.store import record_path

    header = ("protocol", "convention", "MSE", "MAE", "PSNR", "SSIM")
    rows = [header]
    for record in records:
        for convention, values in record.metrics.items():
            overall = values["overall"]
            rows.append(
                (record.protocol.name, convention, *(_format_metric(overall.get(n.lower())) for n in header[2:]))
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    if records:
        first = records[0]
        lines.append(
            f"{first.model.name} [{first.model.preset}], {first.budget_label or 'no training'}, "
            f"{first.dataset.source}, {first.dataset.test_size} test clips:"
        )
    for row in rows:
        cells = [cell.rjust(w) if i > 1 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  " + "  ".join(cells))
    lines += [f"record: {record_path(config.results_dir, record)}" for record in records]
    lines += _context_lines(records, config)
    for line in lines:
        stdout.print(line, highlight=False, markup=False, soft_wrap=True)


def _context_lines(records, config) -> list[str]:
    """The run's vpbench-convention MSE/SSIM beside the sanity rows on the same test clips (computed now if
    not stored) and beside the stored leaderboard rows of the same model (one per budget the suite holds)."""
    import dataclasses

    from vpbench.engine.run import run as run_engine

    lines = []
    trained = [r for r in records if r.training.trained and "vpbench" in r.metrics]
    if not trained:
        return lines
    spec = trained[0].spec
    sanity = {}
    for name in ("zeros", "last-frame"):
        request = dataclasses.replace(
            config, model=name, preset=spec.get("preset"), checkpoint=None, checkpoint_source=None, steps=None,
            epochs=None, time_budget_s=None, protocols=list(spec.get("protocols") or []),
            test_size=spec.get("test_size"), write_records=False, model_overrides={}, dataset=spec["dataset"],
        )
        try:
            sanity[name] = {r.protocol.name: r for r in run_engine(request)}
        except VpbenchError:
            continue
    board = _leaderboard_rows(config.results_dir, trained[0].model.name)
    for record in trained:
        ours = record.metrics["vpbench"]["overall"]
        parts = [f"{record.protocol.name}: MSE {ours['mse']:.4f}, SSIM {ours['ssim']:.4f}"]
        for name, by_protocol in sanity.items():
            other = by_protocol.get(record.protocol.name)
            if other is not None:
                theirs = other.metrics["vpbench"]["overall"]
                parts.append(f"{name} {theirs['mse']:.4f} / {theirs['ssim']:.4f}")
        stored = [r for r in board if r.protocol.name == record.protocol.name and r.record_id != record.record_id]
        for row in sorted(stored, key=lambda r: r.training.steps):  # every stored budget, each labelled
            theirs = row.metrics["vpbench"]["overall"]
            parts.append(
                f"leaderboard row ({row.budget_label}, {row.dataset.test_size} clips) {theirs['mse']:.4f} / "
                f"{theirs['ssim']:.4f}"
            )
        lines.append(" | ".join(parts) + "  (MSE / SSIM, vpbench convention)")
    return lines


def _leaderboard_rows(results_dir: Path, model: str):
    """The stored leaderboard's records of `model` (those the suite declares), or none if unreadable."""
    from vpbench.gate import suite_records

    try:
        from vpbench.results.sections import CI_FIXTURE_PRESET

        return [
            r
            for r in suite_records(results_dir)
            if r.model.name == model and "vpbench" in r.metrics and r.model.preset != CI_FIXTURE_PRESET
        ]
    except VpbenchError:
        return []


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


def _split_names(values: list[str] | None) -> tuple[str, ...]:
    return tuple(name.strip() for value in values or [] for name in value.split(",") if name.strip())


def _conventions(values: list[str] | None) -> tuple[str, ...]:
    from vpbench.metrics import CONVENTION_NAMES, get_convention

    names = _split_names(values)
    if "all" in names:
        return tuple(CONVENTION_NAMES)
    return tuple(get_convention(name).name for name in names)


def _table_options(metric, dataset, protocol, convention, preset, source, reference, **more):
    from vpbench.protocols import parse_protocol
    from vpbench.results.table import TableOptions

    return TableOptions(
        metrics=_split_names(metric),
        dataset=dataset,
        protocol=parse_protocol(protocol).name if protocol else None,
        conventions=_conventions(convention),
        preset=preset,
        source=source,
        reference=reference,
        **more,
    )


def _fits_terminal(tables) -> bool:
    """Whether every rich table fits the terminal without wrapping or truncating a cell: number tables
    (leaderboard, compare) fall back to a plain layout otherwise, never to rich's "…"."""
    from rich.measure import Measurement

    unbounded = stdout.options.update(max_width=100_000)
    return all(Measurement.get(stdout, unbounded, table).maximum <= stdout.width for table in tables)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    stderr.print(f"wrote {output}")


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
    from vpbench.results.leaderboard import render_leaderboard
    from vpbench.results.render import render_text, rich_tables
    from vpbench.results.store import load_records
    from vpbench.results.table import build_table

    if leaderboard:
        from vpbench.gate import suite_records

        _emit(render_leaderboard(suite_records(results_dir), results_dir), output)
        return
    records = load_records(results_dir)
    options = _table_options(
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
    if output_format == "auto":
        output_format = "rich" if output is None and stdout.is_terminal else "md"
    if output_format == "rich":
        if output is not None:
            raise VpbenchError("--format rich is for the terminal; use --format md, csv or latex with --output")
        tables = rich_tables(table)
        if not _fits_terminal(tables):
            from vpbench.results.render import render_blocks  # too narrow: never truncate numbers to "…"

            stdout.print(render_blocks(table, stdout.width), markup=False, highlight=False, soft_wrap=True)
            return
        for rendered in tables:
            stdout.print(rendered)
        return
    _emit(render_text(table, output_format), output)


@app.command("extrapolate")
def extrapolate_command(
    metric: Annotated[str, typer.Option("--metric", help="validation metric of the curves, e.g. ssim")] = "ssim",
    against: Annotated[str, typer.Option("--against", help="the sanity row to reach")] = "zeros",
    from_sequences: Annotated[
        int, typer.Option("--from-sequences", help="fit only the points from this many training sequences on")
    ] = 1600,
    dataset: DatasetFilter = None,
    protocol: ProtocolFilter = None,
    preset: PresetFilter = None,
    steps: StepsFilter = None,
    source: SourceFilter = None,
    results_dir: ResultsDir = Path("results"),
) -> None:
    """How many training sequences each model's learning curve would need to reach a sanity row, by a
    log-linear fit of its validation points: a rough estimate for choosing the next budget, not a result."""
    from vpbench.gate import suite_records
    from vpbench.results.curves import extrapolate_crossings

    options = _table_options(None, dataset, protocol, None, preset, source, False, steps=steps)
    target, crossings = extrapolate_crossings(
        suite_records(results_dir), metric, options, against, from_sequences, results_dir
    )
    table = Table(
        title=f"validation {metric} = a + b ln(sequences), fitted from {from_sequences:,} sequences on; "
        f"target: {against} at {target:.4g} (test clips)",
        caption="rough: curves are noisy and flatten, so a crossing more likely comes later than this",
    )
    for column in ("model", "last point", f"last {metric}", "b per e-fold", "points", f"reaches {against} at"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for crossing in crossings:
        if crossing.sequences is None:
            reach = "never (moving away)"
        elif crossing.sequences <= crossing.last_sequences:
            reach = "already (by the fit)"
        else:
            reach = f"~{crossing.sequences:,.0f} sequences" if crossing.sequences < 1e9 else "beyond 1e9 sequences"
        table.add_row(
            crossing.model,
            f"{crossing.last_sequences:,}",
            f"{crossing.last_value:.4g}",
            f"{crossing.slope:+.3g}",
            str(crossing.points),
            reach,
        )
    stdout.print(table)


@app.command("compare")
def compare_command(
    model_a: Annotated[str, typer.Argument(help="first model (its record); MODEL@STEPS picks a budget, e.g. srvp@600")],
    model_b: Annotated[str, typer.Argument(help="second model on the same test set, or the first @ another budget")],
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
        conventions=_conventions(convention) or ("vpbench",),
        metrics=_split_names(metric),
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
        if not _fits_terminal(tables):
            sys.stdout.write(render_comparison_markdown(comparisons))  # too narrow: whole numbers, no "…"
            return
        for table in tables:
            stdout.print(table)
    else:
        raise VpbenchError(f"unknown format '{output_format}'; choose rich, md, csv or json")


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
    from vpbench.gate import suite_records
    from vpbench.results.plots import save_figure

    figure = spec.figure(suite_records(results_dir), results_dir)
    stem = _figure_stem(output, results_dir / "figures", spec.name())
    _print_written(save_figure(figure, stem, _split_names([formats])))


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

    options = _table_options(None, dataset, protocol, convention, preset, source, reference, steps=steps)
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

    options = _table_options(None, dataset, protocol, None, preset, source, False, steps=steps)
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
) -> None:
    """Learning curves of the runs in a runs folder, unfinished (dotted) or done, read from their training
    logs, with the stored sanity rows of the same test clips as lines: for watching a long campaign before its
    records exist. Written under the runs folder, not results/: nothing in it is a stored result."""
    from vpbench.gate import suite_records
    from vpbench.protocols import parse_protocol
    from vpbench.results.curves import progress_figure, run_curves
    from vpbench.results.plots import save_figure

    protocol = parse_protocol(protocol).name if protocol else None
    curves = run_curves(runs_dir, dataset, protocol, preset, steps)
    try:
        sanity = suite_records(results_dir)  # the figure draws their sanity rows of the same test clips
    except VpbenchError:
        sanity = []  # no stored results here: the curves alone
    figure = progress_figure(curves, metric, x_axis, sanity, f" under {runs_dir}")
    # Beside the runs, never among the committed figures.
    stem = _figure_stem(output, Path(runs_dir), "progress", dataset, protocol, metric, x_axis, _budget(steps))
    _print_written(save_figure(figure, stem, _split_names([formats])))


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

    options = _table_options(None, dataset, protocol, convention, preset, source, reference, steps=steps)
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

    options = _table_options(None, dataset, protocol, None, preset, source, False, steps=steps)
    spec = FigureSpec("samples", options, indices=tuple(index or ()), max_frames=max_frames)
    _draw(spec, output, formats, results_dir)


@app.command("check")
def check_command(
    results_dir: ResultsDir = Path("results"),
    rerun: Annotated[bool, typer.Option(help="re-run the stored smoke records and compare")] = True,
    checksums: Annotated[bool, typer.Option(help="verify data checksums where the data are at hand")] = True,
    rtol: Annotated[float, typer.Option(help="relative tolerance for re-run numbers")] = 1e-4,
    atol: Annotated[float, typer.Option(help="absolute tolerance for re-run numbers")] = 1e-7,
    data_root: DataRoot = None,
) -> None:
    """Regression gate: validate records, compare leaderboard.md, re-run smoke records; exit 1 with a diff."""
    from vpbench.gate import run_check
    from vpbench.results.check import Tolerance, render_report

    tolerance = Tolerance(rtol=rtol, atol=atol)
    report = run_check(results_dir, rerun=rerun, verify_checksums=checksums, tolerance=tolerance, data_root=data_root)
    sys.stdout.write(render_report(report, tolerance))
    if not report.ok:
        raise typer.Exit(1)


@app.command("render")
def render_command(results_dir: ResultsDir = Path("results")) -> None:
    """Redraw leaderboard.md and every figure the suite declares from the stored records (after records land);
    `vpbench check` fails while either differs from what the records give."""
    from vpbench.engine.suite import load_suite, suite_path
    from vpbench.files import atomic_write
    from vpbench.gate import suite_records
    from vpbench.results.figures import render_figures
    from vpbench.results.leaderboard import leaderboard_path, render_leaderboard

    records = suite_records(results_dir)
    text = render_leaderboard(records, results_dir)
    atomic_write(leaderboard_path(results_dir), lambda handle: handle.write(text))
    stdout.print(f"wrote {leaderboard_path(results_dir)}")
    if not suite_path(results_dir).exists():
        stdout.print(f"no {suite_path(results_dir)}: no declared figures to draw")
        return
    specs = [spec for entry in load_suite(suite_path(results_dir)) for spec in entry.figures]
    rendered = render_figures(specs, records, results_dir)
    _print_written(rendered.written)
    for skipped in rendered.skipped:
        stdout.print(f"not drawn: {skipped}")


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
