"""Thread policy on a small CPU: `sweep --jobs 2` against one 2-thread process, and `score` at 1 thread vs
torch's default — the numbers behind vpbench's default of one intra-op thread per process.

    python benchmarks/bench_threads.py                      # both measurements, idle machine
    python benchmarks/bench_threads.py --busy               # with a one-core CPU burner beside them
    python benchmarks/bench_threads.py --models convgru,simvp --steps 6 --json

Training throughput: the same number of training steps of two models, (a) as two processes with one
thread each, started together (what `vpbench sweep --jobs 2` does), and (b) one after the other in one
process with two threads. Printed: wall time and training sequences per second of each, and the ratio
(a)/(b) — above 1 means the parallel jobs win. Score: `score_arrays` on 200 Moving-MNIST-sized sequences
(10 frames, 64x64, every convention) with 1 thread and with torch's default thread count. Every time is
measured in this run, in subprocesses started from here; ratios, not absolute seconds, are the result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

WORKER = r"""
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
mode = sys.argv[2]
if mode == "train":
    from vpbench.registry import create_model
    steps, batch = int(sys.argv[3]), int(sys.argv[4])
    for name in sys.argv[5].split(","):
        torch.manual_seed(0)
        model = create_model(name, "small").train()
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
        clips = torch.rand(batch, 20, 1, 64, 64)
        for _ in range(steps):
            loss = model.training_loss(clips[:, :10], clips[:, 10:], 0)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
elif mode == "score":
    import numpy as np
    from vpbench.metrics import score_arrays
    rng = np.random.default_rng(0)
    target = rng.random((200, 10, 64, 64), dtype=np.float32)
    prediction = np.clip(target + rng.normal(0, 0.1, target.shape).astype(np.float32), 0, 1)
    begin = time.perf_counter()
    score_arrays(prediction, target)
    print(time.perf_counter() - begin)
elif mode == "burn":
    a = torch.rand(512, 512)
    while True:
        a = (a @ a).clamp_(-1, 1)
"""


def _python(threads: int | None, *arguments: str) -> list[str]:
    return [sys.executable, "-c", WORKER, str(threads or os.cpu_count() or 1), *arguments]


def _env(threads: int | None) -> dict:
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(key, None)
        if threads:
            env[key] = str(threads)
    return env


def training_throughput(models: list[str], steps: int, batch: int) -> dict:
    begin = time.perf_counter()
    jobs = [subprocess.Popen(_python(1, "train", str(steps), str(batch), model), env=_env(1)) for model in models]
    for job in jobs:
        job.wait()
    parallel = time.perf_counter() - begin
    begin = time.perf_counter()
    subprocess.run(_python(2, "train", str(steps), str(batch), ",".join(models)), env=_env(2), check=True)
    sequential = time.perf_counter() - begin
    sequences = len(models) * steps * batch
    return {
        "models": models,
        "steps_each": steps,
        "batch": batch,
        "jobs_1_thread_each_s": parallel,
        "one_process_2_threads_s": sequential,
        "jobs_sequences_per_s": sequences / parallel,
        "one_process_sequences_per_s": sequences / sequential,
        "ratio_jobs_over_one_process": sequential / parallel,
    }


def score_times() -> dict:
    def timed(threads: int | None) -> float:
        output = subprocess.run(_python(threads, "score"), env=_env(threads), capture_output=True, text=True,
                                check=True)
        return float(output.stdout.strip().splitlines()[-1])

    one, default = timed(1), timed(None)
    return {"score_1_thread_s": one, "score_torch_default_s": default, "ratio_default_over_1_thread": default / one,
            "torch_default_threads": os.cpu_count()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="convgru,simvp", help="two models trained side by side")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--busy", action="store_true", help="run a one-core CPU burner during the measurements")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args(argv)
    burner = subprocess.Popen(_python(1, "burn"), env=_env(1)) if options.busy else None
    try:
        result = {
            "conditions": {"cpus": os.cpu_count(), "busy": options.busy},
            "training": training_throughput(options.models.split(","), options.steps, options.batch),
            "score": score_times(),
        }
    finally:
        if burner is not None:
            burner.kill()
    if options.json:
        print(json.dumps(result, indent=2))
        return 0
    training, score = result["training"], result["score"]
    print(f"{os.cpu_count()} CPUs{' + a one-core burner' if options.busy else ''}")
    print(
        f"train {training['models']} x {training['steps_each']} steps of batch {training['batch']}: "
        f"2 jobs x 1 thread {training['jobs_1_thread_each_s']:.1f} s ({training['jobs_sequences_per_s']:.2f} seq/s) | "
        f"1 process x 2 threads {training['one_process_2_threads_s']:.1f} s "
        f"({training['one_process_sequences_per_s']:.2f} seq/s) | jobs / one process = "
        f"{training['ratio_jobs_over_one_process']:.2f}x"
    )
    print(
        f"score 200 x 10 x 64x64, every convention: 1 thread {score['score_1_thread_s']:.1f} s | torch default "
        f"({score['torch_default_threads']} threads) {score['score_torch_default_s']:.1f} s | default / 1 thread = "
        f"{score['ratio_default_over_1_thread']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
