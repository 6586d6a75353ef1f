"""Streaming and sharding are exact: any batching, any shard split, any merge order — identical bits."""

from __future__ import annotations

import copy
import json
import math
import os

import numpy as np
import pytest
import torch
import torch.distributed as distributed
import torch.multiprocessing as multiprocessing
from metrics_reference import digit_sequences, realistic_predictions

import vpbench.metrics.accumulator as accumulator_module
import vpbench.metrics.functional as functional
from vpbench.errors import VpbenchError
from vpbench.metrics import MetricAccumulator
from vpbench.metrics.functional import deterministic_log10

SEQUENCES = 9


@pytest.fixture(scope="module")
def frames() -> tuple[torch.Tensor, torch.Tensor]:
    prediction, target = realistic_predictions(digit_sequences(SEQUENCES, 4, seed=5), seed=6)
    return torch.from_numpy(prediction).float(), torch.from_numpy(target).float()


def _score(prediction, target, order, batch_sizes, accumulator=None) -> MetricAccumulator:
    accumulator = accumulator or MetricAccumulator(horizon=target.shape[1])
    position = 0
    for size in batch_sizes:
        rows = torch.as_tensor(order[position : position + size])
        accumulator.update(prediction[rows], target[rows], sequence_index=rows)
        position += size
    assert position == len(order)
    return accumulator


def _text(result: dict) -> str:
    return json.dumps(result, sort_keys=True, allow_nan=False)


def test_streaming_in_batches_of_any_size_is_bit_identical_to_one_batch(frames):
    prediction, target = frames
    everything = list(range(SEQUENCES))
    reference = _text(_score(prediction, target, everything, [SEQUENCES]).compute())
    for batch_sizes in ([1] * SEQUENCES, [2, 3, 4], [4, 5], [8, 1]):
        assert _text(_score(prediction, target, everything, batch_sizes).compute()) == reference


def test_shards_merged_in_either_order_equal_one_process(frames):
    prediction, target = frames
    reference = _text(_score(prediction, target, list(range(SEQUENCES)), [SEQUENCES]).compute())
    even, odd = [0, 2, 4, 6, 8], [7, 5, 3, 1]
    first = _score(prediction, target, even, [2, 3])
    second = _score(prediction, target, odd, [1, 3])
    merged_forward = copy.deepcopy(first).merge(copy.deepcopy(second))
    merged_backward = copy.deepcopy(second).merge(copy.deepcopy(first))
    assert _text(merged_forward.compute()) == reference
    assert _text(merged_backward.compute()) == reference


def test_per_frame_values_do_not_depend_on_batch_composition(frames, monkeypatch):
    prediction, target = frames
    alone = _score(prediction, target, [3], [1])
    crowded = _score(prediction, target, [8, 3, 0, 5, 1], [5])
    _, alone_values = alone.per_sequence_values()
    indices, crowded_values = crowded.per_sequence_values()
    row = int(np.flatnonzero(indices == 3)[0])
    for convention, metrics in alone_values.items():
        for metric, values in metrics.items():
            assert values[0].tobytes() == crowded_values[convention][metric][row].tobytes(), (convention, metric)
    # Chunk sizes are performance knobs only: one sequence and one frame per chunk change nothing.
    reference = _text(_score(prediction, target, list(range(SEQUENCES)), [SEQUENCES]).compute())
    monkeypatch.setattr(accumulator_module, "_CPU_CHUNK_PIXELS", 1)
    monkeypatch.setattr(functional, "_CPU_SSIM_CHUNK_ELEMENTS", 1)
    assert _text(_score(prediction, target, list(range(SEQUENCES)), [SEQUENCES]).compute()) == reference


def test_merging_shards_with_default_indices_is_refused(frames):
    prediction, target = frames
    first, second = MetricAccumulator(horizon=3), MetricAccumulator(horizon=3)
    first.update(prediction[:4], target[:4])
    second.update(prediction[4:], target[4:])
    first.merge(second)
    with pytest.raises(VpbenchError, match="scored more than once; .* sequence_index"):
        first.compute()


def test_merge_refuses_different_conventions_and_frame_sizes(frames):
    prediction, target = frames
    vpbench_only = MetricAccumulator("vpbench")
    with pytest.raises(VpbenchError, match="different conventions"):
        MetricAccumulator().merge(vpbench_only)
    small = MetricAccumulator("vpbench")
    small.update(prediction[:1, :, :, :32, :32], target[:1, :, :, :32, :32])
    large = MetricAccumulator("vpbench")
    large.update(prediction[1:2], target[1:2], sequence_index=[1])
    with pytest.raises(VpbenchError, match="1x64x64 .* 1x32x32"):
        small.merge(large)


def test_all_reduce_is_a_no_op_without_torch_distributed(frames):
    prediction, target = frames
    accumulator = _score(prediction, target, list(range(SEQUENCES)), [SEQUENCES])
    before = _text(accumulator.compute())
    assert not distributed.is_initialized()
    assert _text(accumulator.all_reduce().compute()) == before


def _gloo_rank(rank: int, world: int, init_file: str, output: str) -> None:
    distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    prediction, target = realistic_predictions(digit_sequences(SEQUENCES, 4, seed=5), seed=6)
    prediction, target = torch.from_numpy(prediction).float(), torch.from_numpy(target).float()
    shard = list(range(rank, SEQUENCES, world))  # interleaved, as a DistributedSampler deals them
    accumulator = _score(prediction, target, shard, [len(shard) - 1, 1])
    accumulator.all_reduce()
    with open(f"{output}.{rank}", "w") as handle:
        handle.write(_text(accumulator.compute()))
    try:
        accumulator.update(prediction[:1], target[:1])
    except VpbenchError:
        open(f"{output}.{rank}.refused", "w").close()
    distributed.destroy_process_group()


def test_all_reduce_over_two_gloo_processes_equals_one_process(frames, tmp_path):
    prediction, target = frames
    reference = _text(_score(prediction, target, list(range(SEQUENCES)), [SEQUENCES]).compute())
    output = str(tmp_path / "result")
    multiprocessing.spawn(_gloo_rank, args=(2, str(tmp_path / "init"), output), nprocs=2, join=True)
    for rank in range(2):
        with open(f"{output}.{rank}") as handle:
            assert handle.read() == reference
        assert os.path.exists(f"{output}.{rank}.refused"), "update after all_reduce must be refused"


def test_deterministic_log10_is_accurate_and_position_independent():
    values = torch.cat([torch.logspace(-300, 300, 997, dtype=torch.float64), torch.rand(1003, dtype=torch.float64)])
    logs = deterministic_log10(values)
    expected = torch.tensor([math.log10(v) for v in values.tolist()], dtype=torch.float64)
    assert torch.allclose(logs, expected, rtol=4e-16, atol=4e-16)
    # The same value gives the same bits alone, at a vector tail, or inside a long vector.
    for index in (0, 5, 999, 1999):
        for length in (1, 3, 17):
            window = values[max(0, index - length + 1) : index + 1]
            assert deterministic_log10(window)[-1].item() == logs[index].item()
