"""The reference-code converters for srvp-repo, simvp-repo and mimo-vp-repo refuse what they cannot map,
in one line naming the key: a missing key, a key of another model or variant, a shape vpbench cannot take.
Their successful mappings are tested against the authors' own outputs in tests/test_golden_models.py."""

from __future__ import annotations

import pytest
import torch
from _golden import load_golden

from vpbench.errors import VpbenchError
from vpbench.interop import convert_state_dict


def _error(source: str, model: str, state: dict) -> str:
    with pytest.raises(VpbenchError) as error:
        convert_state_dict(source, model, state)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_key_is_named():
    _, state, _ = load_golden("srvp")
    del state["step2.sf_conv.0.bias"]
    assert "lacks 'step2.sf_conv.0.bias'" in _error("srvp-repo", "srvp", state)


def test_key_of_a_dropped_module_is_named():
    # A full SRVP checkpoint given as Without-CrossAtt: its head is too narrow before any key is looked at.
    _, state, _ = load_golden("srvp")
    assert "needs 40 head input channels" in _error("srvp-repo", "srvp-wo-crossatt", state)
    # An ablation checkpoint with a stray module left in: the first unmapped key is named.
    _, ablated, _ = load_golden("srvp-wo-sa")
    ablated["step1.sa.Wq.weight"] = torch.zeros(8, 8, 1, 1)
    assert "key 'step1.sa.Wq.weight' has no place in vpbench's srvp-wo-sa" in _error(
        "srvp-repo", "srvp-wo-sa", ablated)


def test_rfa_frame_feature_copies_must_be_one_module():
    _, state, _ = load_golden("srvp")
    state["enc_sc.lpconv.layers.2.0.weight"] = state["enc_sc.lpconv.layers.2.0.weight"] + 1
    assert "'enc_sc.lpconv.layers.2.0.weight' differs from" in _error("srvp-repo", "srvp", state)


def test_convgru_reads_the_backbone_and_head_of_the_srvp_code_base():
    _, state, _ = load_golden("convgru")
    converted = convert_state_dict("srvp-repo", "convgru", state)
    assert set(converted) == {key for key in converted if key.startswith(("backbone.", "head."))}
    assert torch.equal(converted["backbone.forecaster.cells.1.gates_from_hidden.weight"],
                       state["forecast.cell1.h2h.weight"])


def test_mimo_vp_strips_data_parallel_prefix_and_transposes_the_last_head_conv():
    _, state, _ = load_golden("mimo-vp")
    converted = convert_state_dict("mimo-vp-repo", "mimo-vp", {f"module.{k}": v for k, v in state.items()})
    assert torch.equal(converted["head.1.weight"], state["decoder.conv.3.weight"].transpose(0, 1))
    assert torch.equal(converted["query_stem.0.weight"], state["conv.0.weight"])


def test_mimo_vp_refuses_multichannel_patches():
    _, state, _ = load_golden("mimo-vp")
    state["encoder.conv.0.weight"] = torch.zeros(4, 12, 3, 3)
    assert "needs 4 input channels" in _error("mimo-vp-repo", "mimo-vp", state)


def test_simvp_checks_inception_kernels_and_names_unmapped_keys():
    _, state, _ = load_golden("simvp")
    state["hid.enc.0.layers.1.conv.weight"] = torch.zeros(8, 1, 3, 3)
    assert "5x5 kernel in Inception branch 1" in _error("simvp-repo", "simvp", state)
    _, state, _ = load_golden("simvp")
    state["hid.extra.weight"] = torch.zeros(1)
    assert "key 'hid.extra.weight' has no place" in _error("simvp-repo", "simvp", state)


def test_model_a_source_does_not_map_is_refused():
    _, state, _ = load_golden("simvp")
    assert "maps simvp, not srvp" in _error("simvp-repo", "srvp", state)
