"""What CUDA runs do differently, held on the CPU, where CI runs: channels-last weights, bf16 autocast in
training, and no TF32 in anything reported. The first H200 run (`benchmarks/bench_cuda.py`, 2026-12-04) found
the first two broken (ConvGRU-based models and MIMO-VP could not train on a GPU) and the third needed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vpbench.data import open_split
from vpbench.engine.distributed import Distributed
from vpbench.engine.evaluator import evaluate_protocols
from vpbench.engine.run import channels_last
from vpbench.engine.trainer import validate
from vpbench.metrics import MetricAccumulator
from vpbench.precision import float32_exact
from vpbench.protocols import parse_protocol
from vpbench.registry import create_model, get_model_entry, list_models
from vpbench.results.sections import SANITY_FAMILY

TRAINED = [name for name in list_models() if get_model_entry(name).family != SANITY_FAMILY]


@pytest.mark.parametrize("name", TRAINED)
def test_every_model_trains_as_cuda_runs_train_it(name):
    """A training step with channels-last weights under bf16 autocast (CPU autocast follows the same rules as
    CUDA's for the ops these models use), and an eval-mode rollout after it: ConvGRU's fused update mixed a bf16
    candidate with a float32 state, and MIMO-VP's 3-D convolutions had no channels-last layout."""
    torch.manual_seed(0)
    model = channels_last(create_model(name, "smoke", height=32, width=32, context_length=4))
    clips = torch.rand(2, 8, 1, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model.training_loss(clips[:, :4], clips[:, 4:], step=0)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
    model.eval()
    with torch.inference_mode():
        assert model(clips[:, :4], 4).shape == clips[:, 4:].shape


def test_channels_last_stores_4d_weights_channels_last_and_leaves_every_value_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(1, 2, 3), nn.Conv2d(2, 4, 3), nn.Linear(4, 4))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    channels_last(model)
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before[name])
        if parameter.dim() == 4:
            assert parameter.is_contiguous(memory_format=torch.channels_last)
            assert not parameter.is_contiguous()
        else:
            assert parameter.is_contiguous()  # 5-D (no channels-last layout), 2-D and 1-D untouched


class _Probe(nn.Module):
    """Predicts black frames and records whether TF32 was allowed while it predicted."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, context: torch.Tensor, horizon: int) -> torch.Tensor:
        self.seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
        batch, _, channels, height, width = context.shape
        return context.new_zeros(batch, horizon, channels, height, width) + self.weight


@pytest.fixture
def tf32_allowed():
    """TF32 on, as PyTorch's default (cuDNN) or a user's setting leaves it; restored afterwards."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_evaluation_and_validation_predict_without_tf32_and_give_the_setting_back(tf32_allowed):
    protocol = parse_protocol("4->4")
    test_set = open_split("synthetic", "test", protocol.clip_length, size=4, height=16, width=16)
    model = _Probe()
    evaluate_protocols(model, {protocol: test_set}, ("vpbench",), torch.device("cpu"), 2, Distributed())
    clips = torch.stack([test_set[index] for index in range(4)])
    validate(model, clips, protocol.context, torch.device("cpu"), 2)
    assert model.seen and set(model.seen) == {(False, False)}
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == (True, True)


def test_metrics_are_computed_without_tf32_even_when_called_directly(tf32_allowed, monkeypatch):
    """`vpbench score` and every caller reach the metrics through the accumulator, which turns TF32 off itself."""
    import vpbench.metrics.accumulator as accumulator_module

    seen = []
    real = accumulator_module.region_sums

    def probing(*args, **kwargs):
        seen.append(torch.backends.cudnn.allow_tf32)
        return real(*args, **kwargs)

    monkeypatch.setattr(accumulator_module, "region_sums", probing)
    accumulator = MetricAccumulator(("vpbench",), horizon=2)
    accumulator.update(torch.rand(2, 2, 1, 16, 16), torch.rand(2, 2, 1, 16, 16))
    assert seen == [False]
    assert torch.backends.cudnn.allow_tf32


def test_float32_exact_restores_the_setting_when_the_work_fails(tf32_allowed):
    with pytest.raises(RuntimeError), float32_exact():
        assert not torch.backends.cudnn.allow_tf32
        raise RuntimeError("a failed evaluation")
    assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32


def test_the_benchmarks_control_reevaluates_a_stored_checkpoint_to_its_record_exactly(tmp_path):
    """`benchmarks/bench_cuda.py --device cpu` is the control of its GPU comparison: the stored record's own
    checkpoint, evaluated again where it was made, must give every compared number back unchanged."""
    from _engine_helpers import smoke_config

    from vpbench.engine.run import run

    bench = _bench_cuda()
    run(smoke_config(tmp_path))
    (checkpoint,) = (tmp_path / "runs").rglob("best.pt")
    stored = bench.stored_record_of(checkpoint, tmp_path / "results", "4->4")
    result = bench.reevaluate(checkpoint, stored, "4->4", False, tmp_path / "again", "cpu")
    assert result["checksum_equal"] and result["compared"] > 20
    assert result["outside_count"] == 0 and result["largest_relative_difference"] == 0.0


def test_the_benchmark_refuses_a_missing_corrupt_or_unrecorded_checkpoint_in_one_line_before_any_work(
    tmp_path, capsys
):
    from _engine_helpers import smoke_config

    from vpbench.engine.run import run

    bench = _bench_cuda()
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    run(smoke_config(tmp_path, results_dir=tmp_path / "elsewhere"))  # its record is not in tmp_path / "results"
    (trained,) = (tmp_path / "runs").rglob("best.pt")
    capsys.readouterr()  # the smoke run's own log
    for checkpoint, message in (
        (tmp_path / "missing.pt", "does not exist"),
        (tmp_path / "junk.pt", "is not a torch file"),
        (trained, "no stored 4->4 record of spec"),
    ):
        arguments = ["--device", "cpu", "--models", "none", "--protocol", "4->4", "--results-dir",
                     str(tmp_path / "results"), "--checkpoints", str(checkpoint)]
        assert bench.main(arguments) == 2
        error = capsys.readouterr().err
        assert error.startswith("error: ") and message in error and error.count("\n") == 1


def _bench_cuda():
    """benchmarks/bench_cuda.py as a module (the benchmarks folder is not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / "bench_cuda.py"
    spec = importlib.util.spec_from_file_location("bench_cuda", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench
