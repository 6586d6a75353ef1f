"""What SRVP's attention costs: SRVP beside its own backbone (`convgru`), and its peak memory.

Why: issue 5 asks for the price of SA + RFA in parameters, MACs and CPU time, as a ratio to the same
ConvGRU encoder-forecaster without them, and for the memory a paper-preset batch of 8 needs in training
and in evaluation (128-channel 5x5 convolutions at full 64x64 resolution, 4 layers x 20 steps).

    python benchmarks/bench_srvp.py                               # small + paper, then memory
    python benchmarks/bench_srvp.py --presets small --no-memory   # quick (about a minute)
    python benchmarks/bench_srvp.py --models convgru,srvp,srvp-wo-sa,srvp-wo-rfa,srvp-wo-crossatt --presets small

Conditions: 10->10 Moving MNIST frames (1x64x64), `--threads` CPU threads. Time per batch of 8 is the
fastest of `--repeats` runs after one warm-up; the paper preset is measured on `--paper-batch` sequences
(default 2: a paper batch of 8 needs ~15 GB to train) for one run and scaled linearly to 8 (marked "x").
Memory is the peak resident set size (VmHWM) of a fresh process minus its size (VmRSS) just before the
pass: torch's CPU allocator bypasses tracemalloc, so RSS is the honest measure. Evaluation runs under
`torch.inference_mode()` at batch 8; training (forward + BCE + backward) at batch 1 and 2, extrapolated
linearly to 8 (activations grow linearly with the batch).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch

from vpbench.efficiency import count_macs, count_parameters
from vpbench.registry import create_model

FRAME = {"channels": 1, "height": 64, "width": 64, "context_length": 10}
HORIZON = 10


def _inputs(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    context = torch.rand(batch, 10, 1, 64, 64, generator=generator)
    return context, torch.rand(batch, HORIZON, 1, 64, 64, generator=generator)


def _best_time(run, repeats: int) -> float:
    """Fastest of `repeats` runs: on a shared CPU, other processes only ever add time."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return min(samples)


def measure_cost(name: str, preset: str, batch: int, repeats: int) -> dict:
    """Parameters, MACs per sequence, forward and forward+backward seconds per batch of 8."""
    model = create_model(name, preset, **FRAME)
    macs = count_macs(
        lambda: create_model(name, preset, **FRAME), context_length=10, horizon=HORIZON, channels=1, height=64, width=64
    )
    context, target = _inputs(batch)

    def forward() -> None:
        with torch.inference_mode():
            model(context, HORIZON)

    def forward_backward() -> None:
        model.zero_grad(set_to_none=True)
        model.training_loss(context, target, step=0).backward()

    warm = repeats > 1
    model.eval()
    if warm:
        forward()
    forward_s = _best_time(forward, repeats)
    model.train()
    if warm:
        forward_backward()
    train_s = _best_time(forward_backward, repeats)
    scale = 8 / batch
    return {
        "model": name,
        "preset": preset,
        "parameters": count_parameters(model),
        "macs_per_sequence": macs,
        "measured_batch": batch,
        "runs": repeats,
        "forward_s_per_8": forward_s * scale,
        "forward_backward_s_per_8": train_s * scale,
    }


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process from /proc, in MB. Unlike ru_maxrss, VmHWM starts
    afresh at exec, so a child does not inherit the parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(name: str, preset: str, mode: str, batch: int) -> None:
    """Runs in a fresh process: one pass, prints {rss_before_mb, peak_rss_mb, pass_mb}."""
    torch.manual_seed(0)
    model = create_model(name, preset, **FRAME)
    context, target = _inputs(batch)
    before = _status_mb("VmRSS")
    if mode == "eval":
        model.eval()
        with torch.inference_mode():
            model(context, HORIZON)
    else:
        model.train()
        model.training_loss(context, target, step=0).backward()
    peak = _status_mb("VmHWM")
    print(json.dumps({"rss_before_mb": before, "peak_rss_mb": peak, "pass_mb": peak - before}))


def measure_memory(name: str, preset: str, mode: str, batch: int, threads: int) -> dict:
    command = [sys.executable, __file__, "--memory-child", name, preset, mode, str(batch), "--threads", str(threads)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="convgru,srvp", help="comma-separated; the first is the reference")
    parser.add_argument("--presets", default="small,paper")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs at small presets (fastest)")
    parser.add_argument("--paper-batch", type=int, default=2, help="sequences timed at the paper preset")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steadier on a shared machine)")
    parser.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure paper-preset peak memory of SRVP (several minutes)",
    )
    parser.add_argument("--memory-child", nargs=4, metavar=("MODEL", "PRESET", "MODE", "BATCH"), help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    torch.set_num_threads(arguments.threads)
    if arguments.memory_child:
        name, preset, mode, batch = arguments.memory_child
        memory_child(name, preset, mode, int(batch))
        return 0

    names = [name for name in arguments.models.split(",") if name]
    print(f"10->10, 1x64x64, {arguments.threads} CPU threads, torch {torch.__version__}; times per batch of 8")
    print(
        f"{'model':18} {'preset':6} {'params':>10} {'GMACs/seq':>10} {'fwd s':>9} {'fwd+bwd s':>10}"
        f" {'params x':>9} {'MACs x':>7} {'fwd x':>6} {'train x':>8}"
    )
    for preset in [p for p in arguments.presets.split(",") if p]:
        paper = preset == "paper"
        rows = [
            measure_cost(name, preset, arguments.paper_batch if paper else 8, 1 if paper else arguments.repeats)
            for name in names
        ]
        reference = rows[0]
        for row in rows:
            mark = "x" if row["measured_batch"] != 8 else " "
            ratios = [
                row[key] / reference[key]
                for key in ("parameters", "macs_per_sequence", "forward_s_per_8", "forward_backward_s_per_8")
            ]
            print(
                f"{row['model']:18} {preset:6} {row['parameters']:>10,} {row['macs_per_sequence'] / 1e9:>10.2f} "
                f"{row['forward_s_per_8']:>8.2f}{mark} {row['forward_backward_s_per_8']:>9.2f}{mark} "
                f"{ratios[0]:>9.3f} {ratios[1]:>7.3f} {ratios[2]:>6.2f} {ratios[3]:>8.2f}",
                flush=True,
            )
    if arguments.memory:
        name = names[-1]
        evaluation = measure_memory(name, "paper", "eval", 8, arguments.threads)
        print(
            f"{name} paper, evaluation (inference_mode), batch 8: pass {evaluation['pass_mb']:,.0f} MB, "
            f"process peak {evaluation['peak_rss_mb']:,.0f} MB",
            flush=True,
        )
        one = measure_memory(name, "paper", "train", 1, arguments.threads)
        two = measure_memory(name, "paper", "train", 2, arguments.threads)
        per_sequence = two["pass_mb"] - one["pass_mb"]
        print(
            f"{name} paper, training (forward + BCE + backward): batch 1 {one['pass_mb']:,.0f} MB, "
            f"batch 2 {two['pass_mb']:,.0f} MB -> batch 8 about {one['pass_mb'] + 7 * per_sequence:,.0f} MB "
            f"({per_sequence:,.0f} MB per sequence)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
