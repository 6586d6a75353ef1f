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
from vpbench.engine.trainer import interrupt_flag, to_unit_float
from vpbench.errors import RunInterrupted
from vpbench.metrics import MetricAccumulator
from vpbench.precision import float32_exact
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


@dataclass
class _Track:
    """One protocol's accumulators and samples during a (possibly shared) evaluation pass."""

    protocol: Protocol
    test_set: ClipDataset
    accumulator: MetricAccumulator
    samples: dict[str, list]
    shared: bool = True  # False once its clips or predictions differ from the longest protocol's prefix
    seconds: float = 0.0  # its own forward time (prefix tracks: the exactness check's forward)
    sequences: int = 0


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
    """Metrics of `model` on the first `count` test clips (all by default) under `protocol`."""
    evaluations = evaluate_protocols(
        model, {protocol: test_set}, conventions, device, batch_size, distributed, count, sample_indices, progress
    )
    return evaluations[protocol]


@torch.inference_mode()
@float32_exact()
def evaluate_protocols(
    model: nn.Module,
    test_sets: dict[Protocol, ClipDataset],
    conventions: tuple[str, ...],
    device: torch.device,
    batch_size: int,
    distributed: Distributed,
    count: int | None = None,
    sample_indices: tuple[int, ...] = (0, 1, 2, 3),
    progress=None,
) -> dict[Protocol, Evaluation]:
    """Metrics under several protocols of one context length, from one rollout where that changes nothing.

    Why: 10->10 and 10->30 on the same clips predict the same first ten frames, and the model's forward
    pass is nearly all of an evaluation's cost (the metrics are ~3%). The longest protocol is rolled out
    once; a shorter protocol is scored on its prefix only while its test clips equal the prefix of the
    longest protocol's clips (checked on every batch) and the model's own prediction at the shorter
    horizon equals the prefix of the long one bit for bit (checked on the first batch). A protocol that
    fails either check is evaluated in its own pass, so every number is what separate passes give.

    `progress(done, total)` is called after every batch (clips of this process); SIGINT/SIGTERM stop the
    evaluation between batches (nothing is written; training checkpoints are untouched).
    """
    protocols = sorted(test_sets, key=lambda p: p.horizon, reverse=True)
    longest = protocols[0]
    if any(p.context != longest.context for p in protocols):
        raise ValueError("protocols evaluated together need one context length")
    model.eval()
    total = min(len(test_sets[p]) for p in protocols) if count is None else min(
        [count] + [len(test_sets[p]) for p in protocols]
    )
    indices = distributed.shard(total)
    tracks = [
        _Track(p, test_sets[p], MetricAccumulator(conventions=conventions, horizon=p.horizon, device=device),
               {"index": [], "context": [], "target": [], "prediction": []})
        for p in protocols
    ]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()

    def score(track: _Track, prediction, context, target, batch_indices) -> None:
        track.accumulator.update(prediction, target, sequence_index=torch.tensor(batch_indices))
        for row, index in enumerate(batch_indices):
            if index in sample_indices:
                track.samples["index"].append(index)
                track.samples["context"].append(to_uint8(context[row]))
                track.samples["target"].append(to_uint8(target[row]))
                track.samples["prediction"].append(to_uint8(prediction[row]))

    def timed_forward(context, horizon):
        begin = time.perf_counter()
        prediction = model(context, horizon).float()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return prediction, time.perf_counter() - begin

    def evaluate_batch(batch_indices: list[int], batch_number: int) -> None:
        clips = torch.stack([tracks[0].test_set[i][: longest.clip_length] for i in batch_indices])
        clips = to_unit_float(clips, device)
        context, target = clips[:, : longest.context], clips[:, longest.context :]
        prediction, seconds = timed_forward(context, longest.horizon)
        if batch_number > 0:  # the first batch is warm-up
            tracks[0].sequences += len(batch_indices)
            tracks[0].seconds += seconds
        score(tracks[0], prediction, context, target, batch_indices)
        for track in tracks[1:]:
            if not track.shared:
                continue
            short = track.protocol
            own = torch.stack([track.test_set[i][: short.clip_length] for i in batch_indices])
            if not torch.equal(to_unit_float(own, device), clips[:, : short.clip_length]):
                track.shared = False
                continue
            prefix = prediction[:, : short.horizon]
            if batch_number == 0:
                separate, seconds = timed_forward(context, short.horizon)
                track.sequences, track.seconds = len(batch_indices), seconds
                if not torch.equal(separate, prefix):
                    track.shared = False
                    continue
            score(track, prefix, context, target[:, : short.horizon], batch_indices)

    if progress is not None:
        progress(0, len(indices))
    with interrupt_flag() as interrupted:
        for batch_number, start in enumerate(range(0, len(indices), batch_size)):
            if interrupted["signal"] is not None:
                raise RunInterrupted(
                    f"interrupted while evaluating {', '.join(p.name for p in protocols)} ({start}/{len(indices)} "
                    "clips); nothing was written; the training checkpoints are kept — run the same command again "
                    "to evaluate"
                )
            evaluate_batch(indices[start : start + batch_size], batch_number)
            if progress is not None:
                progress(min(start + batch_size, len(indices)), len(indices))
    wall = time.perf_counter() - started
    memory, kind = peak_memory(device)
    evaluations: dict[Protocol, Evaluation] = {}
    for track in tracks:
        if not track.shared:
            evaluations[track.protocol] = evaluate(
                model, track.test_set, track.protocol, conventions, device, batch_size, distributed, count,
                sample_indices, progress,
            )
            continue
        if distributed.enabled:
            track.accumulator.all_reduce()
        throughput = track.sequences / track.seconds if track.seconds > 0 else len(indices) / max(wall, 1e-9)
        evaluations[track.protocol] = Evaluation(
            results=track.accumulator.compute(),
            sequences=total,
            throughput_sequences_per_s=throughput,
            peak_memory_mb=memory,
            peak_memory_kind=kind,
            wall_time_s=wall,
            batch_size=batch_size,
            samples={key: np.stack(value) for key, value in track.samples.items() if value},
        )
    return evaluations
