"""`vpbench run`, `eval`, `sweep` and `score`: train and evaluate, with progress and a summary."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from vpbench.cli.common import (
    BatchSize,
    DataOptions,
    DataRoot,
    Device,
    JsonFlag,
    ModelOptions,
    ModelPreset,
    Protocols,
    ResultsDir,
    RunsDir,
    Seed,
    Steps,
    TestSize,
    Threads,
    TimeBudget,
    ValEvery,
    ValSize,
    app,
    parse_options,
    print_json,
    split_names,
    stderr,
    stdout,
)
from vpbench.errors import VpbenchError
from vpbench.registry import SCHEDULES


def _progress_reporter(model: str):
    """Rich progress (loss, lr, steps/s, ETA) on a terminal; plain lines otherwise (CI logs)."""
    from vpbench.progress import plain_training_progress

    if not stderr.is_terminal:
        return plain_training_progress(model), None
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
    resume: Annotated[
        bool,
        typer.Option(
            help="resume an existing run directory, or continue a finished shorter run of the same spec where "
            "that equals training from step 0 (constant or plateau schedule)"
        ),
    ] = True,
    batch_size: BatchSize = None,
    lr: Annotated[float | None, typer.Option(help="learning rate (default: the preset's)")] = None,
    schedule: Annotated[
        str | None,
        typer.Option(help=f"learning-rate schedule: {' | '.join(SCHEDULES)} (default: the preset's)"),
    ] = None,
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
        data_options=parse_options(data_option or []),
        resume=resume,
        batch_size=batch_size,
        learning_rate=lr,
        schedule=schedule,
        test_size=test_size,
        val_every=val_every,
        checkpoint_every=checkpoint_every,
        val_size=val_size,
        model_overrides=parse_options(model_option or [], "--model-option"),
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
        data_options=parse_options(data_option or []),
        test_size=test_size,
        checkpoint=checkpoint,
        checkpoint_source=source,
        model_overrides=parse_options(model_option or [], "--model-option"),
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
    from vpbench.engine.sweep import grid, plan_sweep, run_sweep, slurm_script
    from vpbench.engine.sweep_plan import campaign_estimate, pace_scale, progress, thread_cost

    if jobs < 1:
        raise VpbenchError(f"--jobs must be at least 1, got {jobs}")
    names = list(split_names([models]))
    if not names:  # `--models "$EMPTY"` would otherwise mean every model, hours of unasked-for training
        raise VpbenchError(f"--models {models!r} names no model; give a,b,... or 'all'")
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
        fixed = {
            "--dataset": dataset, "--preset": preset, "--protocol": protocol, "--steps": steps,
            "--time-budget": time_budget, "--batch-size": batch_size, "--seed": seed, "--device": device,
            "--test-size": test_size, "--val-size": val_size, "--val-every": val_every, "--data-option": data_option,
        }
        given = [option for option, value in fixed.items() if value is not None]
        if given:  # silently ignoring them would train another budget than the user typed
            raise VpbenchError(
                f"{', '.join(given)} with --suite: the suite fixes every run's settings; drop "
                f"{'it' if len(given) == 1 else 'them'} (with a suite, only --entry, --models, --jobs, --threads, "
                "--plan and the folders apply)"
            )
        chosen = names if names != ["all"] else None
        configs = select_configs(load_suite(suite), entry, chosen, results_dir, runs_dir, data_root, threads)
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
            data_options=parse_options(data_option or []),
            command="vpbench " + " ".join(sys.argv[1:]),
        )
        configs = grid(template, names)
    items = plan_sweep(configs)
    if plan:  # a status for long campaigns: reads files only, never trains or locks
        from vpbench.results.store import load_records

        records = [record for folder in {item.config.results_dir for item in items} for record in load_records(folder)]
        cost = thread_cost(items)
        scale = pace_scale(items, records, cost)
        for item in items:
            stdout.print(f"{item.spec.model} (seed {item.spec.seed}, spec {item.spec.spec_hash}): "
                         f"{progress(item, records=records, scale=scale)}", highlight=False)
        stdout.print(campaign_estimate(items, records, jobs, scale, cost), highlight=False)
        for note in (scale, cost):
            if note:
                stdout.print(note.describe(), highlight=False)
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

    from vpbench.engine.run import resolve_device
    from vpbench.engine.spec import thread_policy
    from vpbench.metrics import CONVENTION_NAMES
    from vpbench.metrics.score import score_files, summary_lines

    resolved = resolve_device(device or "auto")  # --device cuda without CUDA: one line, as `run` says it
    if resolved.type == "cpu":
        torch.set_num_threads(thread_policy("cpu", threads))

    conventions = tuple(convention) if convention else CONVENTION_NAMES
    result = score_files(pred, target, conventions, device=resolved)
    if as_json:
        print_json(result)
    else:
        for line in summary_lines(result):
            stdout.print(line, highlight=False)



def _format_metric(value) -> str:
    return "-" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))


def _print_run_summary(records, config) -> None:
    """What was just run, in plain aligned lines (readable in 80 columns and in pipes): every convention's
    headline numbers, where each record is, and how it compares with the sanity rows and the stored
    leaderboard row of the same model."""
    from vpbench.results.store import record_path

    lines = metrics_summary_lines(records)
    lines += [f"record: {record_path(config.results_dir, record)}" for record in records]
    lines += _context_lines(records, config)
    for line in lines:
        stdout.print(line, highlight=False, markup=False)


def metrics_summary_lines(records) -> list[str]:
    """One row per protocol and convention with MSE, MAE, PSNR, SSIM as that convention reports them (per-frame
    sums where it reports sums, as the leaderboard's columns), then one line per convention saying how to read
    it: its numbers differ in scale by orders of magnitude, and a row without its convention's arithmetic
    (srvp-paper's 0-255 MSE, its PSNR near 0 dB for a blurry model) reads as a bug."""
    from vpbench.metrics.conventions import CONVENTIONS
    from vpbench.results.columns import standard_columns

    header = ("protocol", "convention", "MSE", "MAE", "PSNR", "SSIM")
    rows = [header]
    for record in records:
        for convention, values in record.metrics.items():
            overall = values["overall"]
            shown = [column.metric for column in standard_columns(convention)[:4]]
            rows.append((record.protocol.name, convention, *(_format_metric(overall.get(name)) for name in shown)))
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
    shown_conventions = dict.fromkeys(name for record in records for name in record.metrics)
    lines += [f"  {name}: {CONVENTIONS[name].reading}" for name in shown_conventions if name in CONVENTIONS]
    return lines


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

