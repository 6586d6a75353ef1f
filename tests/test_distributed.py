"""Distributed runs on CPU with gloo and 2 processes: sharded evaluation equals one process exactly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch.distributed as dist
import torch.multiprocessing as mp
from _engine_helpers import run_dir, smoke_config

from vpbench.engine.config import RunConfig
from vpbench.engine.run import run


def _worker(rank: int, world_size: int, rendezvous: str, config: RunConfig, output: str) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world_size)
    os.environ.update(WORLD_SIZE=str(world_size), RANK=str(rank), LOCAL_RANK=str(rank))
    try:
        (record,) = run(config)
        if rank == 0:
            Path(output).write_text(json.dumps({"metrics": record.metrics, "world_size": record.provenance.world_size}))
    finally:
        dist.destroy_process_group()


def _spawn(tmp_path: Path, config: RunConfig, name: str) -> dict:
    output = tmp_path / f"{name}.json"
    mp.spawn(_worker, args=(2, str(tmp_path / f"{name}.rendezvous"), config, str(output)), nprocs=2, join=True)
    return json.loads(output.read_text())


def test_two_process_evaluation_equals_single_process_exactly(tmp_path):
    (single,) = run(smoke_config(tmp_path, test_size=21))  # odd size: shards of 11 and 10
    checkpoint = run_dir(tmp_path) / "best.pt"
    sharded = _spawn(
        tmp_path, smoke_config(tmp_path, test_size=21, checkpoint=checkpoint, results_dir=tmp_path / "sharded"), "eval"
    )
    assert sharded["world_size"] == 2
    assert sharded["metrics"] == json.loads(json.dumps(single.metrics))


def test_two_process_training_runs_with_ddp_and_rank_zero_writes(tmp_path):
    result = _spawn(tmp_path, smoke_config(tmp_path, steps=4), "train")
    assert result["world_size"] == 2
    assert len(list((tmp_path / "results" / "synthetic").glob("*.json"))) == 1
