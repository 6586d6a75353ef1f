"""Would `torch.compile` or channels-last weights make CPU training cheaper? Eager against each, and where time goes.

Why: the CPU track is bound by training compute (about 190 CPU-hours for the long track), so any kernel-level
speed-up that leaves the numbers alone would shorten it. This script answers whether `torch.compile` is one
(`--variant compile`, the default) and whether storing the convolution weights channels-last is one
(`--variant channels-last`: oneDNN then picks its NHWC kernels and skips the per-call layout reorders):

    python benchmarks/bench_compile.py                          # convgru, predrnn, srvp; 1 thread, batch 8
    python benchmarks/bench_compile.py --models simvp --steps 5 --json
    python benchmarks/bench_compile.py --models predrnn --advance-step   # the step index as vpbench passes it
    python benchmarks/bench_compile.py --variant channels-last --models predrnn++,mim,convlstm

Per model: the first step of the variant (for compile, the compile time: what a run would pay once), the median
seconds of an eager and of a variant training step (`training_loss` + backward + Adam, alternated in this
process so that a busy machine slows both alike), their ratio (above 1: the variant pays), the largest difference
between the two losses over the timed steps (other kernels round differently, so such a run would not
reproduce an eager record bit for bit), and the share of an eager step spent in convolutions (torch's profiler).
By default every step passes the same step index, so the PredRNN family's scheduled-sampling probability stays
fixed. vpbench passes the optimizer step (`--advance-step`): a compiled model of that family then compiles a second
time at step 1 (minutes, cold cache; the step is symbolic from then on), and its scheduled sampling draws from
another random generator than eager code, so the loss difference is no longer rounding alone.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time

import torch
from rich.console import Console
from rich.table import Table
from torch.profiler import ProfilerActivity, profile

from vpbench.errors import VpbenchError
from vpbench.registry import create_model, get_model_entry

stderr = Console(stderr=True)


def convolution_share(model: torch.nn.Module, clips: torch.Tensor) -> float:
    """Fraction of one eager training step's self CPU time spent in aten convolution kernels."""
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        _train_step(model.training_loss, optimizer, clips)
    events = profiler.key_averages()
    total = sum(event.self_cpu_time_total for event in events)
    convolution = sum(event.self_cpu_time_total for event in events if "conv" in event.key)
    return convolution / total if total else float("nan")


def _train_step(loss_function, optimizer: torch.optim.Optimizer, clips: torch.Tensor, step: int = 0) -> float:
    torch.manual_seed(step)
    loss = loss_function(clips[:, :10], clips[:, 10:], step)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def channels_last(model: torch.nn.Module) -> torch.nn.Module:
    """Every 4-d weight (the 2-d convolutions') stored channels-last; `Module.to(memory_format=...)` refuses
    models that also hold 5-d weights (MIMO-VP's 3-d convolutions), so the weights are converted one by one."""
    for parameter in model.parameters():
        if parameter.dim() == 4:
            parameter.data = parameter.data.contiguous(memory_format=torch.channels_last)
    return model


def measure(name: str, *, steps: int, batch: int, advance_step: bool = False, variant: str = "compile") -> dict:
    torch.manual_seed(0)
    eager = create_model(name, "small").train()
    other = copy.deepcopy(eager)
    clips = torch.rand(batch, 20, 1, 64, 64, generator=torch.Generator().manual_seed(1))
    share = convolution_share(copy.deepcopy(eager), clips)
    if variant == "compile":
        other_loss = torch.compile(other.training_loss)
    else:
        other_loss = channels_last(other).training_loss
    eager_optimizer = torch.optim.Adam(eager.parameters(), 1e-3)
    other_optimizer = torch.optim.Adam(other.parameters(), 1e-3)
    begin = time.perf_counter()
    _train_step(other_loss, other_optimizer, clips)
    first_seconds = time.perf_counter() - begin
    _train_step(eager.training_loss, eager_optimizer, clips)
    eager_times, other_times, differences = [], [], []
    for index in range(1, steps + 1):
        step = index if advance_step else 0
        begin = time.perf_counter()
        eager_value = _train_step(eager.training_loss, eager_optimizer, clips, step)
        eager_times.append(time.perf_counter() - begin)
        begin = time.perf_counter()
        other_value = _train_step(other_loss, other_optimizer, clips, step)
        other_times.append(time.perf_counter() - begin)
        differences.append(abs(eager_value - other_value))
    eager_step, other_step = statistics.median(eager_times), statistics.median(other_times)
    return {"model": name, "variant": variant, "first_step_s": first_seconds, "eager_step_s": eager_step,
            "variant_step_s": other_step, "speedup": eager_step / other_step,
            "max_loss_difference": max(differences), "convolution_share": share}


def render(rows: list[dict], variant: str, conditions: str) -> Table:
    table = Table(title=f"{variant} vs eager, one training step ({conditions})")
    first = "compile s" if variant == "compile" else "first step s"
    for column in ("model", first, "eager s/step", f"{variant} s/step", "speedup", "max |dloss|", "conv share"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in rows:
        table.add_row(row["model"], f"{row['first_step_s']:.0f}", f"{row['eager_step_s']:.2f}",
                      f"{row['variant_step_s']:.2f}", f"{row['speedup']:.2f}x",
                      f"{row['max_loss_difference']:.1e}", f"{row['convolution_share']:.0%}")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="convgru,predrnn,srvp", help="comma-separated names")
    parser.add_argument("--steps", type=int, default=3, help="timed steps of each kind; the median is reported")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--advance-step", action="store_true",
                        help="pass 1, 2, ... as the optimizer step, as training does (default: 0 throughout)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (vpbench's default: 1)")
    parser.add_argument("--variant", choices=("compile", "channels-last"), default="compile",
                        help="what eager steps are timed against")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    arguments = parser.parse_args(argv)
    try:  # every name first, in one line, before minutes of compiling
        names = [get_model_entry(name.strip()).name for name in arguments.models.split(",") if name.strip()]
    except VpbenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    torch.set_num_threads(arguments.threads)
    rows = []
    for name in names:
        waiting = " (compiling takes minutes)" if arguments.variant == "compile" else ""
        stderr.print(f"measuring {name}{waiting}...")
        rows.append(measure(name, steps=arguments.steps, batch=arguments.batch, advance_step=arguments.advance_step,
                            variant=arguments.variant))
    step = "optimizer step" if arguments.advance_step else "step index 0"
    conditions = (f"batch {arguments.batch}, {arguments.threads} thread(s), {step}, small presets, "
                  f"torch {torch.__version__}")
    if arguments.json:
        print(json.dumps({"conditions": conditions, "rows": rows}, indent=1))
    else:
        Console().print(render(rows, arguments.variant, conditions))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
