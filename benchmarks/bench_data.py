"""Moving MNIST generation throughput on one core, against what training consumes.

    python benchmarks/bench_data.py [--sequences 5000] [--length 20]

Prints sequences/s for the per-clip dataset path the trainer uses, and, as the reference measured in
the same run, the rate a training step of batch 8 consumes for the `small` SRVP preset.
"""

from __future__ import annotations

import argparse
import time

import torch

from vpbench.data import open_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sequences", type=int, default=5000)
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--model", default="srvp")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = open_split("mmnist", "train", args.length)
    for index in range(50):  # warm-up
        dataset[index]
    begin = time.perf_counter()
    for index in range(args.sequences):
        dataset[index % len(dataset)]
    generated = args.sequences / (time.perf_counter() - begin)
    print(f"mmnist generation ({dataset.source}, {args.length} frames, 1 core): {generated:,.0f} sequences/s")

    from vpbench.registry import create_model

    torch.set_num_threads(2)
    model = create_model(args.model, "small").train()
    clips = torch.stack([dataset[i] for i in range(8)]).float() / 255
    context, target = clips[:, :10], clips[:, 10:]
    timings = []
    for step in range(3):
        begin = time.perf_counter()
        model.training_loss(context, target, step).backward()
        timings.append(time.perf_counter() - begin)
    consumed = 8 / min(timings[1:])
    print(f"training consumption ({args.model} small, batch 8, 2 threads): {consumed:,.1f} sequences/s")
    print(f"ratio generation / consumption: {generated / consumed:,.0f}x")


if __name__ == "__main__":
    main()
