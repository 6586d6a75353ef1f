"""Cost of every registered model: parameters, MACs and CPU time, per preset.

Why: the leaderboard compares models of very different cost, and MACs alone mislead on a CPU (recurrent
models run many small sequential convolutions, attention and normalisation layers cost time but few
MACs). This script measures what a user pays, under stated conditions, for a 10->10 Moving MNIST batch
(1x64x64 frames, batch 8 by default):

    python benchmarks/bench_models.py --presets small                # all models, small presets
    python benchmarks/bench_models.py --models simvp,mimo-vp --presets small,paper --time-cap 60 --json

Columns: parameters; MACs per sequence (one forward pass, torch's flop counter on the meta device);
median forward time (eval, no_grad) and forward+backward time (`training_loss` + backward, the model's
own objective) per batch over `--repeats` runs after `--warmup` runs; and the forward throughput in
GMAC/s, which shows which models are slower than their MACs predict. A measurement whose first run
exceeds `--time-cap` seconds is reported from that one run (marked n=1) so paper presets stay bounded.
Progress goes to stderr; `--json` prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from rich.console import Console
from rich.table import Table

from vpbench.efficiency import count_macs, count_parameters
from vpbench.errors import VpbenchError
from vpbench.registry import PRESET_NAMES, create_model, get_model_entry, list_models

stderr = Console(stderr=True)


@dataclass
class Timing:
    median_s: float
    runs: int


@dataclass
class Row:
    model: str
    preset: str
    batch: int
    parameters: int
    macs_per_sequence: int | None
    forward: Timing | None = None
    forward_backward: Timing | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def gmacs_per_second(self) -> float | None:
        if self.macs_per_sequence is None or self.forward is None:
            return None
        return self.macs_per_sequence * self.batch / self.forward.median_s / 1e9


def time_call(run: Callable[[], None], *, warmup: int, repeats: int, time_cap: float) -> Timing:
    """Median wall time of `run()` after `warmup` calls; one call only if the first exceeds `time_cap`."""
    start = time.perf_counter()
    run()
    first = time.perf_counter() - start
    if first > time_cap:
        return Timing(first, 1)
    for _ in range(warmup - 1):
        run()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return Timing(statistics.median(samples), len(samples))


def measure(name: str, preset: str, *, batch: int, context: int, horizon: int, warmup: int, repeats: int,
            time_cap: float) -> Row:
    shape = {"channels": 1, "height": 64, "width": 64, "context_length": context}
    model = create_model(name, preset, **shape)
    row = Row(name, preset, batch, count_parameters(model), None)
    try:
        row.macs_per_sequence = count_macs(lambda: create_model(name, preset, **shape), context_length=context,
                                           horizon=horizon, channels=1, height=64, width=64)
    except Exception as error:  # a model that cannot run on the meta device still gets timed
        row.notes.append(f"MACs not counted: {type(error).__name__}: {error}"[:200])
    context_frames = torch.rand(batch, context, 1, 64, 64)
    target_frames = torch.rand(batch, horizon, 1, 64, 64)

    def forward() -> None:
        with torch.no_grad():
            model(context_frames, horizon)

    def forward_backward() -> None:
        model.zero_grad(set_to_none=True)
        model.training_loss(context_frames, target_frames, step=0).backward()

    model.eval()
    row.forward = time_call(forward, warmup=warmup, repeats=repeats, time_cap=time_cap)
    trainable = getattr(get_model_entry(name).cls, "trainable", True) and row.parameters > 0
    if trainable:
        model.train()
        row.forward_backward = time_call(forward_backward, warmup=warmup, repeats=repeats, time_cap=time_cap)
    else:
        row.notes.append("not trainable: no backward pass")
    return row


def _seconds(timing: Timing | None) -> str:
    if timing is None:
        return "-"
    return f"{timing.median_s:.3f}" + (" (n=1)" if timing.runs == 1 else "")


def render(rows: list[Row], conditions: dict) -> Table:
    table = Table(title=f"model cost, 10->10 Moving MNIST 1x64x64, batch {conditions['batch']}, "
                        f"{conditions['threads']} CPU threads (median of {conditions['repeats']})")
    for column in ("model", "preset", "params", "MACs/seq", "fwd s/batch", "fwd+bwd s/batch", "fwd GMAC/s"):
        table.add_column(column, justify="left" if column in ("model", "preset") else "right")
    for row in rows:
        macs = "-" if row.macs_per_sequence is None else f"{row.macs_per_sequence / 1e9:.2f}G"
        rate = "-" if row.gmacs_per_second is None else f"{row.gmacs_per_second:.1f}"
        table.add_row(row.model, row.preset, f"{row.parameters / 1e6:.2f}M", macs, _seconds(row.forward),
                      _seconds(row.forward_backward), rate)
    return table


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="", help="comma-separated names (default: every registered model)")
    parser.add_argument("--presets", default="small,paper", help="comma-separated presets (default: small,paper)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--context", type=int, default=10)
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (at least 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the median is reported")
    parser.add_argument("--time-cap", type=float, default=120.0,
                        help="seconds; if the first run takes longer, report it alone (n=1)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        names = [n for n in arguments.models.split(",") if n] or list_models()
        presets = [p for p in arguments.presets.split(",") if p]
        for preset in presets:
            if preset not in PRESET_NAMES:
                raise VpbenchError(f"unknown preset '{preset}'; valid presets: {', '.join(PRESET_NAMES)}")
        names = [get_model_entry(name).name for name in names]
    except VpbenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    conditions = {
        "batch": arguments.batch, "context": arguments.context, "horizon": arguments.horizon,
        "frame": [1, 64, 64], "warmup": max(1, arguments.warmup), "repeats": arguments.repeats,
        "time_cap_s": arguments.time_cap, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "processor": platform.processor() or platform.machine(), "python": platform.python_version(),
    }
    rows = []
    for name in names:
        for preset in presets:
            stderr.print(f"measuring {name} ({preset}) ...")
            rows.append(measure(name, preset, batch=arguments.batch, context=arguments.context,
                                horizon=arguments.horizon, warmup=conditions["warmup"],
                                repeats=arguments.repeats, time_cap=arguments.time_cap))
    if arguments.json:
        document = {"conditions": conditions,
                    "results": [{**asdict(row), "fwd_gmacs_per_second": row.gmacs_per_second} for row in rows]}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        Console().print(render(rows, conditions))
        for row in rows:
            for note in row.notes:
                stderr.print(f"{row.model} ({row.preset}): {note}", markup=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
