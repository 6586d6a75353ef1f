"""Distributed helpers: one code path for 1 process and N (torchrun, DDP, gloo on CPU / NCCL on CUDA).

Evaluation shards the test set by index (rank r takes r, r+N, r+2N, ...): no sample is duplicated or
dropped, and the metric accumulators' all-reduce makes N ranks report exactly the single-process numbers.
Rank 0 alone writes checkpoints and records.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, count: int) -> list[int]:
        """Indices of `count` items this rank handles: strided, disjoint, covering all."""
        return list(range(self.rank, count, self.world_size))

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def from_environment(device_type: str) -> Distributed:
    """Join the process group torchrun describes in the environment (WORLD_SIZE, RANK, LOCAL_RANK)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def current() -> Distributed:
    """The process group already joined (by torchrun or a test), or a single process."""
    if dist.is_available() and dist.is_initialized():
        return Distributed(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return Distributed()


def broadcast_object(value, distributed: Distributed):
    """Rank 0's value on every rank (e.g. a step count calibrated on rank 0)."""
    if not distributed.enabled:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def all_reduce_mean(value: float, distributed: Distributed) -> float:
    if not distributed.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor.item() / distributed.world_size)
