"""The model registry: names, presets, errors, third-party entry points."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from vpbench import registry
from vpbench.errors import VpbenchError
from vpbench.modeling import VideoPredictor
from vpbench.registry import Preset, create_model, get_model_entry, list_models, register_model

PRESETS = {"paper": Preset(), "small": Preset(), "smoke": Preset()}


def test_sanity_predictors_are_registered_with_all_presets():
    for name in ("last-frame", "zeros"):
        entry = get_model_entry(name)
        assert set(entry.presets) >= {"paper", "small", "smoke"}
    context = torch.rand(2, 10, 1, 8, 8)
    torch.testing.assert_close(create_model("last-frame")(context, 3), context[:, -1:].expand(-1, 3, -1, -1, -1))
    assert create_model("zeros")(context, 3).abs().sum() == 0


def test_unknown_model_suggests_the_closest_name():
    with pytest.raises(VpbenchError, match="unknown model 'last_frame'; did you mean 'last-frame'"):
        create_model("last_frame")


def test_unknown_preset_lists_valid_presets():
    with pytest.raises(VpbenchError, match="Valid preset of model 'zeros's: paper, small, smoke"):
        create_model("zeros", "huge")


def test_unexpected_override_is_a_one_line_error():
    with pytest.raises(VpbenchError, match="rejected its arguments"):
        create_model("zeros", "smoke", hidden_channels=3)


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


def test_third_party_models_register_through_entry_points(monkeypatch):
    module = types.ModuleType("vpbench_thirdparty_plugin")

    def load_plugin():
        @register_model("plugin-copy", family="plugin", paper="a plugin", presets=PRESETS)
        class PluginCopy(VideoPredictor):
            def forward(self, context, horizon, target=None, teacher_forcing=0.0):
                return context[:, -1:].repeat(1, horizon, 1, 1, 1)

        return PluginCopy

    module.load_plugin = load_plugin
    monkeypatch.setitem(sys.modules, "vpbench_thirdparty_plugin", module)

    class FakeEntryPoint:
        value = "vpbench_thirdparty_plugin:load_plugin"

        def load(self):
            return load_plugin()

    monkeypatch.setattr(registry, "entry_points", lambda group: [FakeEntryPoint()] if group == "vpbench.models" else [])
    monkeypatch.setattr(registry, "_loaded", False)
    try:
        assert "plugin-copy" in list_models() and "zeros" in list_models()
        entry = get_model_entry("plugin-copy")
        assert entry.source.startswith("entry point vpbench_thirdparty_plugin")
        assert create_model("plugin-copy")(torch.rand(1, 4, 1, 8, 8), 2).shape == (1, 2, 1, 8, 8)
    finally:
        registry._REGISTRY.pop("plugin-copy", None)
