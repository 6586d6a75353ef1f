"""Protocols of one context length are scored from one rollout of the longest horizon — the exact numbers
of separate passes, with the shorter protocols' forward passes saved."""

from __future__ import annotations

import pytest
import torch

from vpbench.data import open_split
from vpbench.engine.distributed import Distributed
from vpbench.engine.evaluator import evaluate, evaluate_protocols
from vpbench.protocols import parse_protocol
from vpbench.registry import create_model

SHORT, LONG = parse_protocol("4->4"), parse_protocol("4->8")


def _test_sets():
    return {p: open_split("synthetic", "test", p.clip_length, size=20, height=16, width=16) for p in (SHORT, LONG)}


@pytest.mark.parametrize("name", ["convgru", "simvp", "srvp", "mimo-vp", "predrnn"])
def test_one_rollout_gives_the_numbers_of_separate_passes(name):
    torch.manual_seed(0)
    model = create_model(name, "smoke", channels=1, height=16, width=16, context_length=4)
    calls = []
    forward = model.forward

    def counting(context, horizon, *args, **kwargs):
        calls.append(horizon)
        return forward(context, horizon, *args, **kwargs)

    model.forward = counting
    sets = _test_sets()
    conventions = ("vpbench", "predrnn", "srvp-paper")
    together = evaluate_protocols(model, sets, conventions, torch.device("cpu"), 8, Distributed(), count=20)
    shared_calls = list(calls)
    calls.clear()
    for protocol, test_set in sets.items():
        alone = evaluate(model, test_set, protocol, conventions, torch.device("cpu"), 8, Distributed(), count=20)
        assert together[protocol].results == alone.results, protocol.name
        for key in ("prediction", "target", "index"):
            assert (together[protocol].samples[key] == alone.samples[key]).all()
    assert shared_calls == [8, 4, 8, 8]  # 3 batches of the long rollout + one check at the short horizon
    assert len(calls) == 6


def test_clips_that_are_not_prefixes_are_evaluated_in_their_own_pass(monkeypatch):
    model = create_model("last-frame", "smoke", channels=1, height=16, width=16, context_length=4)
    sets = _test_sets()
    shifted = open_split("synthetic", "test", SHORT.clip_length, size=20, height=16, width=16)
    methods = {"__len__": lambda self: 20, "__getitem__": lambda self, i: shifted[(i + 1) % 20]}
    sets[SHORT] = type("Shifted", (), methods)()
    together = evaluate_protocols(model, sets, ("vpbench",), torch.device("cpu"), 8, Distributed(), count=20)
    alone = evaluate(model, sets[SHORT], SHORT, ("vpbench",), torch.device("cpu"), 8, Distributed(), count=20)
    assert together[SHORT].results == alone.results
