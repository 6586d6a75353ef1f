"""Evaluation: stream the test set through the model under one protocol, every metric convention at once.

The test set is sharded by index across processes and the metric accumulators are all-reduced, so N
processes report exactly what one does. Predictions are made under `torch.inference_mode()`, which keeps
no activations. Efficiency (throughput after warm-up, peak memory) is measured on the same pass.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from vpbench.data.base import ClipDataset
from vpbench.engine.distributed import Distributed
from vpbench.engine.trainer import RunInterrupted, interrupt_flag, to_unit_float
from vpbench.metrics import MetricAccumulator
from vpbench.protocols import Protocol


@dataclass
class Evaluation:
    results: dict[str, Any]  # MetricAccumulator.compute()
    sequences: int
    throughput_sequences_per_s: float
    peak_memory_mb: float
    peak_memory_kind: str
    wall_time_s: float
    batch_size: int
    samples: dict[str, np.ndarray]  # a few test sequences: context, target, prediction (uint8), indices


def peak_memory(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda-max-allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "cpu-max-rss"


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    return (frames.float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    test_set: ClipDataset,
    protocol: Protocol,
    conventions: tuple[str, ...],
    device: torch.device,
    batch_size: int,
    distributed: Distributed,
    count: int | None = None,
    sample_indices: tuple[int, ...] = (0, 1, 2, 3),
    progress=None,
) -> Evaluation:
    """Metrics of `model` on the first `count` test clips (all by default) under `protocol`.

    `progress(done, total)` is called after every batch (clips of this process); SIGINT/SIGTERM stop the
    evaluation between batches (nothing is written; training checkpoints are untouched).
    """
    model.eval()
    total = len(test_set) if count is None else min(count, len(test_set))
    indices = distributed.shard(total)
    accumulator = MetricAccumulator(conventions=conventions, horizon=protocol.horizon, device=device)
    samples: dict[str, list] = {"index": [], "context": [], "target": [], "prediction": []}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    timing = {"sequences": 0, "seconds": 0.0}

    def evaluate_batch(batch_indices: list[int], batch_number: int) -> None:
        clips = torch.stack([test_set[i][: protocol.clip_length] for i in batch_indices])
        clips = to_unit_float(clips, device)
        context, target = clips[:, : protocol.context], clips[:, protocol.context :]
        begin = time.perf_counter()
        prediction = model(context, protocol.horizon).float()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if batch_number > 0:  # the first batch is warm-up
            timing["sequences"] += len(batch_indices)
            timing["seconds"] += time.perf_counter() - begin
        accumulator.update(prediction, target, sequence_index=torch.tensor(batch_indices))
        for row, index in enumerate(batch_indices):
            if index in sample_indices:
                samples["index"].append(index)
                samples["context"].append(to_uint8(context[row]))
                samples["target"].append(to_uint8(target[row]))
                samples["prediction"].append(to_uint8(prediction[row]))

    if progress is not None:
        progress(0, len(indices))
    with interrupt_flag() as interrupted:
        for batch_number, start in enumerate(range(0, len(indices), batch_size)):
            if interrupted["signal"] is not None:
                raise RunInterrupted(
                    f"interrupted while evaluating {protocol.name} ({start}/{len(indices)} clips); nothing was "
                    "written; the training checkpoints are kept — run the same command again to evaluate"
                )
            evaluate_batch(indices[start : start + batch_size], batch_number)
            if progress is not None:
                progress(min(start + batch_size, len(indices)), len(indices))
    if distributed.enabled:
        accumulator.all_reduce()
    results = accumulator.compute()
    wall = time.perf_counter() - started
    memory, kind = peak_memory(device)
    throughput = timing["sequences"] / timing["seconds"] if timing["seconds"] > 0 else len(indices) / max(wall, 1e-9)
    return Evaluation(
        results=results,
        sequences=total,
        throughput_sequences_per_s=throughput,
        peak_memory_mb=memory,
        peak_memory_kind=kind,
        wall_time_s=wall,
        batch_size=batch_size,
        samples={key: np.stack(value) for key, value in samples.items() if value},
    )
