"""Learning-curve extrapolation (`vpbench extrapolate`): the fit and its edge cases on records whose curves
follow a known law, so the crossing it reports can be checked by hand."""

from __future__ import annotations

import dataclasses
import math
import sys

import pytest
from _records import make_record, store

from vpbench.cli import main
from vpbench.errors import VpbenchError
from vpbench.results.curves import extrapolate_crossings
from vpbench.results.store import load_records
from vpbench.results.table import TableOptions

SEQUENCES = range(400, 4801, 400)


def with_curve(model: str, law) -> tuple:
    record, arrays = make_record(model, test_size=16)
    curve = [{"step": s // 8, "sequences": s, "wall_time_s": float(s), "mse": 0.03, "ssim": law(s)} for s in SEQUENCES]
    return dataclasses.replace(record, training=dataclasses.replace(record.training, curve=curve)), arrays


@pytest.fixture
def results(tmp_path):
    rising = with_curve("srvp", lambda s: 0.1 + 0.1 * math.log(s / 1000) if s >= 1600 else 0.95)  # an outlier early
    falling = with_curve("convgru", lambda s: 0.5 - 0.01 * math.log(s))
    store(tmp_path, [rising, falling, make_record("zeros", test_size=16)])
    return tmp_path


def test_the_fit_solves_for_the_sanity_rows_value_from_the_chosen_points_only(results):
    target, crossings = extrapolate_crossings(load_records(results), "ssim", TableOptions(), "zeros", 1600, results)
    srvp, convgru = crossings
    assert srvp.model == "srvp" and srvp.points == 9 and srvp.slope == pytest.approx(0.1)
    assert srvp.sequences == pytest.approx(1000 * math.exp((target - 0.1) / 0.1), rel=1e-6)
    assert convgru.model == "convgru" and convgru.sequences is None  # moving away from the target: no crossing
    everything = extrapolate_crossings(load_records(results), "ssim", TableOptions(), "zeros", 0, results)[1]
    assert everything[0].slope != pytest.approx(0.1)  # the early outlier is what from_sequences leaves out


def test_bad_requests_are_one_line_errors(results):
    records = load_records(results)
    with pytest.raises(VpbenchError, match=r"no 'last-frame' row with ssim .*sanity rows here: \['zeros'\]"):
        extrapolate_crossings(records, "ssim", TableOptions(), "last-frame", 1600, results)
    with pytest.raises(VpbenchError, match="3\\+ validation points from 99,999 sequences on"):
        extrapolate_crossings(records, "ssim", TableOptions(), "zeros", 99_999, results)
    with pytest.raises(VpbenchError, match="extrapolate a test metric"):
        extrapolate_crossings(records, "loss", TableOptions(), "zeros", 1600, results)


def test_cli_prints_each_models_crossing(results, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["vpbench", "extrapolate", "--results-dir", str(results)])
    monkeypatch.setenv("COLUMNS", "160")
    with pytest.raises(SystemExit) as stopped:
        main()
    out = capsys.readouterr().out
    assert stopped.value.code in (None, 0), out
    assert "srvp" in out and " sequences" in out and "never (moving away)" in out
