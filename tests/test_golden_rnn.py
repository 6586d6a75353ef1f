"""Golden reference tests for the PredRNN family: OpenSTL's own code, run once at a tiny configuration
in float64 (tests/golden/README.md says which commit, which patches and how to regenerate), against
ours loaded with the same weights through the `--from openstl` converter.

Each golden file holds OpenSTL's state_dict (its key names), the input frames, OpenSTL's fully
autoregressive prediction, and its training loss and gradient norm for one fixed teacher-forcing mask.
Everything runs in float64, so the only differences left are summation order: 1e-12 is far below any
equation, gate-order, wiring or mapping mistake (those move the numbers by 1e-3 or more).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vpbench.interop import convert_state_dict
from vpbench.registry import create_model

GOLDEN = Path(__file__).parent / "golden"
MODELS = ["convlstm", "predrnn", "predrnn++", "mim"]
TOLERANCE = 1e-12  # absolute, float64; values are O(0.1-1); measured differences are <= 1.1e-15
STATE_PREFIX = "reference_state_dict/"


def load_golden(name: str) -> dict:
    with np.load(GOLDEN / f"{name}.npz", allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["config"] = json.loads(str(arrays["config"]))
    return arrays


def reference_state_dict(golden: dict) -> dict[str, torch.Tensor]:
    return {
        key[len(STATE_PREFIX) :]: torch.from_numpy(value).double()
        for key, value in golden.items()
        if key.startswith(STATE_PREFIX)
    }


def build_from_reference(name: str, golden: dict):
    """Our model at the golden configuration, in float64, holding OpenSTL's weights (strict load)."""
    config = golden["config"]
    model = create_model(
        name,
        "smoke",
        channels=config["channels"],
        height=config["height"],
        width=config["width"],
        context_length=config["context_length"],
        patch_size=config["patch_size"],
        num_layers=config["num_layers"],
        hidden_channels=config["hidden_channels"],
        filter_size=config["filter_size"],
    ).double()
    model.load_state_dict(convert_state_dict("openstl", name, reference_state_dict(golden)), strict=True)
    return model


def split_frames(golden: dict) -> tuple[torch.Tensor, torch.Tensor]:
    frames = torch.from_numpy(golden["frames"]).double()
    context_length = golden["config"]["context_length"]
    return frames[:, :context_length], frames[:, context_length:]


@pytest.mark.parametrize("name", MODELS)
def test_autoregressive_prediction_matches_openstl(name):
    golden = load_golden(name)
    model = build_from_reference(name, golden).eval()
    context, target = split_frames(golden)
    with torch.no_grad():
        prediction = model(context, target.shape[1])
    expected = torch.from_numpy(golden["prediction"])
    assert expected.std() > 0.1  # a prediction that moves, so that a wrong equation cannot hide in it
    torch.testing.assert_close(prediction, expected, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("name", MODELS)
def test_training_loss_and_gradient_norm_match_openstl(name, monkeypatch):
    """Training with OpenSTL's mask: sequence 0 gets the ground truth at the first decision, sequence 1 at
    the second (scheduled sampling's coins, fixed). The gradient norm covers the weights OpenSTL has: its
    convolutions carry no biases (the converter gives ours zeros), so our bias gradients have no reference."""
    golden = load_golden(name)
    model = build_from_reference(name, golden).train()
    context, target = split_frames(golden)
    mask = torch.from_numpy(golden["train_mask"])
    assert mask.any() and not mask.all()
    monkeypatch.setattr(model, "_sampling_coins", lambda *args: mask)
    loss = model.training_loss(context, target, step=1)  # mid-schedule: the coins are consulted
    loss.backward()
    weights = [p.grad for n, p in model.named_parameters() if not n.endswith(".bias")]
    gradient_norm = torch.sqrt(sum(grad.square().sum() for grad in weights))
    assert loss.item() == pytest.approx(golden["loss"].item(), abs=TOLERANCE, rel=0)
    assert gradient_norm.item() == pytest.approx(golden["grad_norm"].item(), abs=TOLERANCE, rel=0)


def test_vpbench_eval_from_openstl_scores_the_reference_weights(tmp_path, vpbench_cli, monkeypatch):
    """`vpbench eval --checkpoint their.pth --from openstl` loads an OpenSTL-layout state_dict (the golden
    configuration's) and scores exactly the model whose predictions equal OpenSTL's (tests above)."""

    from vpbench.data import open_split
    from vpbench.engine.distributed import Distributed
    from vpbench.engine.evaluator import evaluate
    from vpbench.protocols import parse_protocol
    from vpbench.results.store import load_records

    golden = load_golden("convlstm")
    config = golden["config"]
    torch.save({"state_dict": {k: v.float() for k, v in reference_state_dict(golden).items()}}, tmp_path / "their.pth")
    protocol = f"{config['context_length']}->3"
    side = {"height": config["height"], "width": config["width"]}
    options = [f"--data-option={k}={v}" for k, v in {"size": 8, **side}.items()]
    model_options = [
        f"--model-option={key}={config[key]}" for key in ("patch_size", "num_layers", "hidden_channels", "filter_size")
    ]
    arguments = [
        "eval", "--checkpoint", str(tmp_path / "their.pth"), "--from", "openstl", "--model", "convlstm",
        "--preset", "smoke", "--dataset", "synthetic", "--protocol", protocol, "--device", "cpu",
        "--results-dir", str(tmp_path / "results"), *options, *model_options,
    ]  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert vpbench_cli(*arguments).code == 0
    (record,) = load_records(tmp_path / "results")
    assert record.training.trained and "--from openstl" in record.training.budget
    assert record.model.config["hidden_channels"] == config["hidden_channels"]

    model = build_from_reference("convlstm", golden).float().eval()
    test_set = open_split("synthetic", "test", config["context_length"] + 3, size=8, **side)
    expected = evaluate(model, test_set, parse_protocol(protocol), ("vpbench",), torch.device("cpu"), 8, Distributed())
    assert record.metrics["vpbench"] == expected.results["vpbench"]
