"""Every command that reads stored companion files (per-sequence values, sample predictions) reports a
damaged one in one line instead of a traceback; CI fixtures stay out of `compare`; narrow terminals get
whole numbers, never `…`."""

from __future__ import annotations

import pytest
from _records import make_record, store, store_samples

from vpbench.results.store import load_records


@pytest.fixture
def results(tmp_path):
    store(tmp_path, [make_record(m) for m in ("srvp", "convgru", "zeros")])
    for record in load_records(tmp_path):
        store_samples(tmp_path, record)
    return tmp_path


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    "command",
    [
        ["compare", "srvp", "convgru", "--format", "md"],
        ["check", "--no-rerun", "--no-checksums"],
        ["plot", "samples", "--index", "0"],
        ["table", "--format", "md"],
    ],
)
def test_a_truncated_per_sequence_file_is_one_line_not_a_traceback(results, vpbench_cli, command):
    (path,) = results.glob("mmnist/srvp__*[0-9a-f].npz")
    _truncate(path)
    for sample in results.glob("mmnist/srvp__*.samples.npz"):
        _truncate(sample)
    code, out, err = vpbench_cli(*command, "--results-dir", str(results))
    assert code in (1, 2) and "Traceback" not in err
    message = err if code == 2 else out
    assert "srvp__" in message and ("damaged" in message or "corrupt" in message or "missing" in message)
    if code == 2:
        assert len([line for line in err.splitlines() if line.strip()]) == 1, err


@pytest.mark.parametrize(
    "command",
    [
        ["compare", "srvp", "convgru", "--format", "md"],
        ["check", "--no-rerun", "--no-checksums"],
        ["table", "--format", "md"],
    ],
)
@pytest.mark.parametrize(("where", "value"), [("overall", "x"), ("overall", None), ("per_horizon", ["x"])])
def test_a_hand_edited_metric_names_the_record_not_a_traceback(results, vpbench_cli, command, where, value):
    """A metric edited to a non-number ended in float()'s ValueError (table, compare) or a KeyError (check)."""
    import json

    (path,) = results.glob("mmnist/srvp__*.json")
    data = json.loads(path.read_text())
    data["metrics"]["vpbench"][where]["ssim"] = value
    path.write_text(json.dumps(data))
    code, out, err = vpbench_cli(*command, "--results-dir", str(results))
    assert code in (1, 2) and "Traceback" not in err
    message = err if code == 2 else out
    assert path.name in message.replace("\n", "") and "not a" in message and "restore the record" in message


def test_compare_leaves_out_ci_fixtures_as_table_does(tmp_path):
    from vpbench.errors import VpbenchError
    from vpbench.results.compare import compare_models

    store(tmp_path, [make_record(m, preset="smoke", test_size=16) for m in ("srvp", "convgru")])
    store(tmp_path, [make_record(m) for m in ("srvp", "convgru")])
    (comparison,) = compare_models(load_records(tmp_path), "srvp", "convgru", tmp_path)
    assert comparison.record_a.model.preset == "small"
    with pytest.raises(VpbenchError, match="no record of model 'srvp'"):
        compare_models(load_records(tmp_path), "srvp", "convgru", tmp_path, preset="paper")
    (fixture,) = compare_models(load_records(tmp_path), "srvp", "convgru", tmp_path, preset="smoke")
    assert fixture.record_a.model.preset == "smoke"


def test_an_80_column_terminal_gets_every_number_whole(results, monkeypatch, vpbench_cli):
    monkeypatch.setattr("vpbench.cli.tables.stdout", __import__("rich.console").console.Console(width=80))
    code, out, _ = vpbench_cli("table", "--format", "rich", "--results-dir", str(results))
    assert code == 0
    assert "…" not in out
    srvp = load_records(results)[0]
    assert f"{srvp.metrics['vpbench']['overall']['mse']:.5f}"[:6] in out


def test_compare_in_an_80_column_terminal_falls_back_to_whole_numbers(results, monkeypatch, vpbench_cli):
    monkeypatch.setattr("vpbench.cli.tables.stdout", __import__("rich.console").console.Console(width=80))
    code, out, _ = vpbench_cli("compare", "srvp", "convgru", "--results-dir", str(results))
    assert code == 0
    assert "…" not in out
    assert "| convention | metric | srvp | convgru |" in out  # the Markdown layout, every cell whole
