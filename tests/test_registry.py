"""The model registry: names, presets, errors, third-party entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from vpbench import registry
from vpbench.errors import VpbenchError
from vpbench.modeling import VideoPredictor
from vpbench.registry import Preset, create_model, get_model_entry, register_model

PRESETS = {"paper": Preset(), "small": Preset(), "smoke": Preset()}


def test_sanity_predictors_are_registered_with_all_presets():
    for name in ("last-frame", "zeros"):
        entry = get_model_entry(name)
        assert set(entry.presets) >= {"paper", "small", "smoke"}
    context = torch.rand(2, 10, 1, 8, 8)
    torch.testing.assert_close(create_model("last-frame")(context, 3), context[:, -1:].expand(-1, 3, -1, -1, -1))
    assert create_model("zeros")(context, 3).abs().sum() == 0


@pytest.mark.parametrize("name", ["predrnn", "mim"])
def test_an_argument_read_from_the_spec_is_the_built_models(name):
    """The continuation check reads the scheduled-sampling stop from the spec alone (no model built): given in
    the config, or the constructor's default through the `**kwargs` hand-over."""
    from vpbench.registry import built_argument, model_kwargs

    configured = create_model(name, "smoke", **model_kwargs(name, "smoke"))
    assert built_argument(name, model_kwargs(name, "smoke"), "sampling_stop_iter") == configured.sampling_stop_iter
    by_default = get_model_entry(name).cls(channels=1, height=16, width=16, context_length=2)
    assert built_argument(name, {}, "sampling_stop_iter") == by_default.sampling_stop_iter == 50_000


def test_an_argument_the_model_does_not_take_reads_as_none():
    from vpbench.registry import built_argument, model_kwargs

    assert built_argument("srvp", model_kwargs("srvp", "smoke"), "sampling_stop_iter") is None
    assert not hasattr(create_model("srvp", "smoke"), "sampling_stop_iter")


def test_unknown_model_suggests_the_closest_name():
    with pytest.raises(VpbenchError, match="unknown model 'last_frame'; did you mean 'last-frame'"):
        create_model("last_frame")


def test_unknown_preset_lists_valid_presets():
    message = r"unknown preset 'huge' of model 'zeros'\. Valid presets: paper, small, smoke"
    with pytest.raises(VpbenchError, match=message):
        create_model("zeros", "huge")


def test_a_wrong_model_argument_is_a_one_line_error_that_says_what_to_type():
    """A misspelt --model-option once surfaced as Python's "unexpected keyword argument", a non-number as
    "'<' not supported between instances of 'str' and 'int'", an out-of-range one as a torch traceback."""
    with pytest.raises(VpbenchError, match="model 'zeros' takes no arguments; got hidden_channels"):
        create_model("zeros", "smoke", hidden_channels=3)
    with pytest.raises(VpbenchError, match="unknown argument 'hiden_channels' of model 'srvp'; did you mean "
                       r"'hidden_channels'\? Valid arguments: attention_dropout, dropout, hidden_channels, "):
        create_model("srvp", "smoke", hiden_channels=3)
    with pytest.raises(VpbenchError, match="did you mean 'variant'"):  # an argument of a parent class
        create_model("mim", "smoke", variantt="paper")
    with pytest.raises(VpbenchError, match=r"argument dropout takes a number \(the smoke preset's is 0.5\), got 'abc'"):
        create_model("srvp", "smoke", dropout="abc")
    with pytest.raises(VpbenchError, match="rejected its arguments: dropout probability has to be between 0 and 1"):
        create_model("srvp", "smoke", dropout=2)


def test_duplicate_names_and_missing_presets_are_errors():
    with pytest.raises(ValueError, match="registered twice"):
        register_model("zeros", family="x", paper="x", presets=PRESETS)(type("Again", (VideoPredictor,), {}))
    with pytest.raises(ValueError, match="lacks presets"):
        register_model("incomplete", family="x", paper="x", presets={"paper": Preset()})(type("I", (), {}))


def test_deprecated_names_still_resolve():
    registry.DEPRECATED_NAMES["old-zeros"] = "zeros"
    try:
        assert get_model_entry("old-zeros").name == "zeros"
    finally:
        del registry.DEPRECATED_NAMES["old-zeros"]


PLUGIN_MODULE = """
import torch
from vpbench.modeling import VideoPredictor
from vpbench.registry import Preset, register_model

PRESETS = {name: Preset(model={"channels_hidden": 4}) for name in ("paper", "small", "smoke")}


def register():
    @register_model("tiny-plugin", family="plugin", paper="a third-party package", presets=PRESETS)
    class TinyPlugin(VideoPredictor):
        \"\"\"Last context frame through one learned 3x3 conv, repeated over the horizon.\"\"\"

        def __init__(self, channels=1, height=64, width=64, context_length=10, channels_hidden=4):
            super().__init__(channels=channels, height=height, width=width, context_length=context_length)
            self.conv = torch.nn.Conv2d(channels, channels, 3, padding=1)

        def forward(self, context, horizon, target=None, teacher_forcing=0.0):
            frame = torch.sigmoid(self.conv(context[:, -1]))
            return frame[:, None].repeat(1, horizon, 1, 1, 1)
"""


def _install_plugin(root, entry_point: str, module_source: str) -> dict:
    """A real installed distribution (a dist-info beside its module on PYTHONPATH), as pip leaves one."""
    (root / "vpbench_tiny_plugin.py").write_text(module_source)
    info = root / "vpbench_tiny_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vpbench-tiny-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[vpbench.models]\ntiny = {entry_point}\n")
    return {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}


def _vpbench(env, *args, cwd):
    return subprocess.run(
        [sys.executable, "-c", "from vpbench.cli import main; main()", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=600,
    )


def test_an_installed_plugin_package_is_listed_and_trained_like_a_builtin(tmp_path):
    env = _install_plugin(tmp_path, "vpbench_tiny_plugin:register", PLUGIN_MODULE)
    listed = _vpbench(env, "models", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    (row,) = [row for row in json.loads(listed.stdout) if row["name"] == "tiny-plugin"]
    assert row["family"] == "plugin" and row["presets"]["small"]["parameters"] == 10
    trained = _vpbench(
        env, "run", "--model", "tiny-plugin", "--dataset", "synthetic", "--preset", "smoke", "--steps", "2",
        "--batch-size", "2", "--protocol", "4->4", "--test-size", "4", "--val-size", "2", "--device", "cpu",
        "--data-option", "size=16", "--no-table", cwd=tmp_path,
    )
    assert trained.returncode == 0, trained.stderr
    (record,) = (tmp_path / "results" / "synthetic").glob("tiny-plugin__smoke__*.json")
    assert json.loads(record.read_text())["training"]["steps"] == 2


def test_a_plugin_that_fails_to_import_is_reported_in_one_line(tmp_path):
    env = _install_plugin(tmp_path, "vpbench_tiny_plugin", "import a_package_that_is_not_installed\n")
    listed = _vpbench(env, "models", "--json", cwd=tmp_path)
    assert listed.returncode == 0
    warnings = [line for line in listed.stderr.splitlines() if "vpbench_tiny_plugin" in line]
    assert len(warnings) == 1 and "failed to load (ModuleNotFoundError" in warnings[0]
    assert "zeros" in {row["name"] for row in json.loads(listed.stdout)}  # built-ins still work
