"""What a CUDA machine does with vpbench: every model through the engine at its paper preset, and whether CPU
records reproduce when their checkpoints are evaluated on the GPU.

Why: the CPU track is made on CPUs, while most users train on a GPU with the paper presets. Two questions only a
GPU answers. Does `vpbench run --device cuda` work for every registered model (bf16 autocast, channels-last
weights, evaluation, the record), and what does a training step cost there? And does a stored CPU record's
checkpoint, evaluated on CUDA, give the record's numbers within the tolerance `vpbench check` allows across
environments, whether the caller leaves TF32 on (cuDNN's default) or turns it off? (vpbench turns it off for
everything it reports, `vpbench.precision`: before it did, TF32 moved one record's number by 0.8%.)

    python benchmarks/bench_cuda.py --steps 20                                     # every model, paper preset
    python benchmarks/bench_cuda.py --models none --checkpoints DIR/*.pt --results-dir results

Part 1, per model: the median seconds per training step of the logged rates after the first (cuDNN picks its
kernels there), evaluation throughput and peak GPU memory from the record, the vpbench-convention SSIM, or the
run's error in one line. Part 2, per checkpoint and TF32 setting: the largest relative difference of any number
`vpbench check` compares against the stored record of the same spec and protocol, and how many numbers fall
outside its tolerance. With `--device cpu` part 2 is the control: the same machine kind as the records must give
them exactly. Tables go to stderr; `--json PATH` writes every measurement as it comes.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from vpbench.engine.checkpoint import load_checkpoint
from vpbench.engine.config import RunConfig
from vpbench.engine.run import run, stored_records
from vpbench.engine.spec import RunSpec
from vpbench.errors import RunInterrupted, VpbenchError
from vpbench.files import read_json_lines
from vpbench.registry import get_model_entry, list_models
from vpbench.results.check import Tolerance, compare_numbers, metric_of, paired_numbers
from vpbench.results.schema import Record
from vpbench.results.sections import SANITY_FAMILY
from vpbench.results.store import load_record

stderr = Console(stderr=True)


def train_briefly(
    model: str, steps: int, test_size: int, folder: Path, device: str = "cuda", preset: str = "paper"
) -> dict:
    """One short `vpbench run` of `model` at `preset` on `device`; what it cost, or why it failed."""
    config = RunConfig(
        model=model, dataset="mmnist", preset=preset, protocols=["10->10"], steps=steps, test_size=test_size,
        val_size=16, val_every=steps, checkpoint_every=steps, device=device, log_every=5,
        results_dir=folder / "results", runs_dir=folder / "runs", data_options={"source": "offline-5k"},
    )
    started = time.perf_counter()
    try:
        (record,) = run(config)
    except RunInterrupted:  # a time limit's SIGTERM stops the whole measurement, not just this model's run
        raise
    except Exception as error:  # a report of every model, not a stop at the first failure
        last = traceback.format_exception_only(type(error), error)[-1].strip()
        return {"model": model, "error": last[:300]}
    rates = [event["steps_per_s"] for log in (folder / "runs").rglob(f"{model}__*/train_log.jsonl")
             for event in read_json_lines(log) if event.get("event") == "train" and event.get("steps_per_s")]
    if device == "cuda":
        torch.cuda.empty_cache()
    overall = record.metrics["vpbench"]["overall"]
    return {
        "model": model,
        "parameters": record.model.parameters,
        "batch_size": record.training.batch_size,
        "seconds_per_step": 1 / statistics.median(rates[1:]) if len(rates) > 1 else None,
        "eval_sequences_per_s": record.efficiency.throughput_sequences_per_s,
        "peak_memory_mb": record.efficiency.peak_memory_mb,
        "ssim": overall["ssim"],
        "finite": all(math.isfinite(value) for value in overall.values()),
        "device": record.provenance.device,
        "wall_s": time.perf_counter() - started,
    }


def stored_record_of(checkpoint: Path, results_dir: Path, protocol: str) -> Record:
    """The stored record the checkpoint's training run wrote for `protocol` (same spec hash)."""
    spec = RunSpec.from_dict(load_checkpoint(checkpoint)["spec"], origin=str(checkpoint))
    path = stored_records(results_dir, spec).get(protocol)
    if path is None:
        raise VpbenchError(f"{checkpoint}: no stored {protocol} record of spec {spec.spec_hash[:8]} in {results_dir}")
    return load_record(path)


def reevaluate(checkpoint: Path, stored: Record, protocol: str, tf32: bool, folder: Path, device: str = "cuda") -> dict:
    """The checkpoint evaluated on `device` as `vpbench eval` does, held against its stored record (from
    `stored_record_of`, found once per checkpoint rather than once per TF32 setting)."""
    config = RunConfig(
        model=None, dataset=None, protocols=[protocol], device=device, test_size=stored.dataset.test_size,
        results_dir=folder, checkpoint=checkpoint, write_records=False,
    )
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32  # the caller's setting
    try:
        (now,) = run(config)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    findings = compare_numbers(stored, now, Tolerance())
    relative = []
    for name, before, after in paired_numbers("metrics", stored.metrics, now.metrics):
        if before and after is not None and math.isfinite(before) and math.isfinite(after):
            relative.append((abs(after - before) / abs(before), name))
    worst, where = max(relative) if relative else (0.0, "")
    vpbench_now, vpbench_then = now.metrics["vpbench"]["overall"], stored.metrics["vpbench"]["overall"]
    return {
        "checkpoint": str(checkpoint), "model": stored.model.name, "protocol": protocol, "tf32": tf32,
        "test_size": stored.dataset.test_size,
        "checksum_equal": now.dataset.test_checksum == stored.dataset.test_checksum,
        "stored_mse": vpbench_then["mse"], "now_mse": vpbench_now["mse"],
        "stored_ssim": vpbench_then["ssim"], "now_ssim": vpbench_now["ssim"],
        "largest_relative_difference": worst, "at": where, "compared": len(relative),
        "outside_tolerance": [f"{f.message} ({f.stored} -> {f.now})" for f in findings][:10],
        "outside_count": len(findings), "outside_metrics": sorted({metric_of(f.message) for f in findings}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="", help="comma-separated names, 'none', or empty for every model")
    parser.add_argument("--steps", type=int, default=20, help="training steps per model (part 1)")
    parser.add_argument("--preset", default="paper", help="the models' preset (part 1)")
    parser.add_argument("--test-size", type=int, default=64, help="test clips per model (part 1)")
    parser.add_argument("--checkpoints", nargs="*", default=[], type=Path, help="vpbench checkpoints (part 2)")
    parser.add_argument("--results-dir", type=Path, default=Path("results"), help="their stored records")
    parser.add_argument("--protocol", default="10->10", help="the protocol to re-evaluate (part 2)")
    parser.add_argument("--json", type=Path, default=None, help="write every measurement here")
    parser.add_argument("--device", default="cuda", help="cpu: the control, where part 2 must reproduce exactly")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        stderr.print("bench_cuda: no CUDA device here; run it on a machine with one")
        return 2
    trained = [name for name in list_models() if get_model_entry(name).family != SANITY_FAMILY]
    names = [] if args.models == "none" else [m for m in args.models.split(",") if m] or trained
    where = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    report = {"device": where, "torch": torch.__version__, "preset": args.preset, "training": [], "evaluation": []}
    def keep(part: str, result: dict) -> None:
        """Each measurement is written as it comes: a run stopped at a time limit keeps what it measured."""
        report[part].append(result)
        if args.json:
            args.json.write_text(json.dumps(report, indent=1))

    try:  # every checkpoint's stored record first, in one line, before minutes of training
        stored = {path: stored_record_of(path, args.results_dir, args.protocol) for path in args.checkpoints}
    except VpbenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            result = train_briefly(name, args.steps, args.test_size, Path(scratch) / name, args.device, args.preset)
            keep("training", result)
            stderr.print(f"{name}: {result.get('error') or 'ok'}")
        for checkpoint in args.checkpoints:
            for tf32 in (True, False) if args.device == "cuda" else (False,):
                folder = Path(scratch) / "eval"
                result = reevaluate(checkpoint, stored[checkpoint], args.protocol, tf32, folder, args.device)
                keep("evaluation", result)
                stderr.print(f"{result['model']} tf32={tf32}: {result['outside_count']} outside tolerance")
    _print_tables(report)
    failed = [row for row in report["training"] if "error" in row or not row.get("finite")]
    return 1 if failed else 0


def _print_tables(report: dict) -> None:
    if report["training"]:
        _print_training(report)
    if report["evaluation"]:
        _print_evaluation(report)


def _print_training(report: dict) -> None:
    training = Table(title=f"{report['preset']} presets on {report['device']} (torch {report['torch']}), bf16 autocast")
    for column in ("model", "params", "batch", "s/step", "eval seq/s", "peak MB", "ssim", "error"):
        training.add_column(column)
    for row in report["training"]:
        if "error" in row:
            training.add_row(row["model"], "", "", "", "", "", "", row["error"])
            continue
        step = f"{row['seconds_per_step']:.3f}" if row["seconds_per_step"] else ""
        training.add_row(row["model"], f"{row['parameters']:,}", str(row["batch_size"]), step,
                         f"{row['eval_sequences_per_s']:.0f}", f"{row['peak_memory_mb']:.0f}", f"{row['ssim']:.3f}", "")
    stderr.print(training)


def _print_evaluation(report: dict) -> None:
    evaluation = Table(title=f"stored CPU records re-evaluated on {report['device']} (same checkpoint, same clips)")
    for column in ("model", "tf32", "mse stored -> now", "ssim stored -> now", "largest rel. diff", "outside tol."):
        evaluation.add_column(column)
    for row in report["evaluation"]:
        evaluation.add_row(
            row["model"], str(row["tf32"]), f"{row['stored_mse']:.6f} -> {row['now_mse']:.6f}",
            f"{row['stored_ssim']:.5f} -> {row['now_ssim']:.5f}",
            f"{row['largest_relative_difference']:.2e} ({row['at']})",
            f"{row['outside_count']} of {row['compared']}",
        )
    stderr.print(evaluation)


if __name__ == "__main__":
    sys.exit(main())
