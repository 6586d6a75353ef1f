"""Declared figures: `vpbench render` draws what a suite entry lists, and `vpbench check` fails on a figure
that is missing, drawn from other records than the stored ones, or declared by nobody."""

from __future__ import annotations

import json

import pytest
from _engine_helpers import SMOKE_MODEL, smoke_config
from _records import leaderboard_records, make_record, store

from vpbench.engine.suite import load_suite
from vpbench.errors import VpbenchError
from vpbench.gate import run_check
from vpbench.results.figures import MANIFEST, FigureSpec, render_figures, stale_figures
from vpbench.results.store import load_records
from vpbench.results.table import TableOptions

HORIZON = FigureSpec("horizon", TableOptions(dataset="mmnist", protocol="10->10", preset="small", steps=300), "ssim")


def test_a_figure_drawn_from_other_records_is_stale_until_rendered_again(tmp_path):
    results = tmp_path / "results"
    store(results, leaderboard_records(("convgru", "zeros"), test_size=16))
    rendered = render_figures([HORIZON], load_records(results), results)
    assert [path.name for path in rendered.written] == [f"{HORIZON.name()}.png", f"{HORIZON.name()}.pdf"]
    assert json.loads((results / MANIFEST).read_text())[HORIZON.name()]["command"] == HORIZON.command()
    assert stale_figures([HORIZON], load_records(results), results) == []

    store(results, [make_record("srvp", test_size=16)])  # a new record of the figure's section lands
    (problem,) = stale_figures([HORIZON], load_records(results), results)
    assert problem == (f"figures/{HORIZON.name()}", "drawn from other records than the stored ones, or another "
                       f"pending list; redraw it: vpbench render --results-dir {results}")
    render_figures([HORIZON], load_records(results), results)
    assert stale_figures([HORIZON], load_records(results), results) == []

    store(results, [make_record("simvp", test_size=16, steps=600)])  # another budget: not this figure's records
    assert stale_figures([HORIZON], load_records(results), results) == []


def test_a_figure_of_a_suite_entry_still_filling_says_so_and_is_stale_when_the_pending_list_changes(tmp_path):
    """A figure of a half-stored campaign carries the leaderboard's "incomplete" line; the manifest covers the
    line, so editing the pending list alone makes the figure stale, and a figure of a complete entry keeps
    the plain records hash (stored figures drawn before the line existed stay valid)."""
    from vpbench.results.figures import records_hash

    results = tmp_path / "results"
    store(results, leaderboard_records(("convgru", "zeros"), test_size=16))
    entry = {"name": "long", "dataset": "mmnist", "preset": "small", "steps": 300, "batch_size": 8,
             "models": ["zeros", "convgru", "mim"], "protocols": ["10->10"]}

    def entries(pending):
        (results / "suite.json").write_text(json.dumps({"version": 1, "entries": [{**entry, "pending": pending}]}))
        return load_suite(results / "suite.json")

    records = load_records(results)
    texts = [text.get_text() for text in HORIZON.figure(records, results, entries(["mim"])).texts]
    assert any(t.startswith("incomplete: 1 model of the suite entry `long` not stored yet (mim)") for t in texts)
    render_figures([HORIZON], records, results, entries(["mim"]))
    assert stale_figures([HORIZON], records, results, entries(["mim"])) == []
    stale = stale_figures([HORIZON], records, results, entries(["convgru", "mim"]))  # only the pending list changed
    assert [where for where, _ in stale] == [f"figures/{HORIZON.name()}"]
    assert not any("incomplete" in text.get_text() for text in HORIZON.figure(records, results, entries([])).texts)
    render_figures([HORIZON], records, results, entries([]))
    assert json.loads((results / MANIFEST).read_text())[HORIZON.name()]["records"] == records_hash(
        HORIZON.drawn_from(records)
    )


def test_a_field_added_to_the_record_schema_does_not_make_stored_figures_stale(tmp_path, monkeypatch):
    """A later vpbench adds a field (empty in the records stored before it): the figures still match; a
    changed number still makes them stale."""
    from vpbench.results.schema import Record

    results = tmp_path / "results"
    store(results, leaderboard_records(("convgru", "zeros"), test_size=16))
    render_figures([HORIZON], load_records(results), results)
    to_dict = Record.to_dict
    monkeypatch.setattr(Record, "to_dict", lambda self: {**to_dict(self), "added_later": {"segments": []}})
    assert stale_figures([HORIZON], load_records(results), results) == []
    records = load_records(results)
    records[0].metrics["vpbench"]["overall"]["ssim"] += 0.01
    assert stale_figures([HORIZON], records, results) != []


def test_missing_and_undeclared_figure_files_are_named(tmp_path):
    results = tmp_path / "results"
    store(results, leaderboard_records(("convgru", "zeros"), test_size=16))
    render_figures([HORIZON], load_records(results), results)
    (results / "figures" / f"{HORIZON.name()}.pdf").unlink()
    (results / "figures" / "my_sketch.png").write_bytes(b"png")
    problems = dict(stale_figures([HORIZON], load_records(results), results))
    fix = f"vpbench render --results-dir {results}"
    assert problems[f"figures/{HORIZON.name()}"] == f"declared but no .pdf file; draw it: {fix}"
    assert problems["figures/my_sketch.png"].startswith("no suite entry declares it, so nothing redraws it")


def test_sanity_rows_alone_are_not_drawn_and_not_required(tmp_path):
    results = tmp_path / "results"
    store(results, leaderboard_records(("zeros", "last-frame"), test_size=16))
    rendered = render_figures([HORIZON], load_records(results), results)
    assert rendered.written == [] and rendered.skipped == [f"{HORIZON.name()}: no trained record stored yet"]
    assert stale_figures([HORIZON], load_records(results), results) == []


def test_the_default_name_of_plot_is_the_declared_name(tmp_path, vpbench_cli):
    """`vpbench plot` and `vpbench render` name a figure alike, so a declared figure can be drawn by hand."""
    results = tmp_path / "results"
    store(results, leaderboard_records(("convgru", "zeros"), test_size=16))
    args = ("--dataset", "mmnist", "--preset", "small", "--steps", "300", "--protocol", "10->10")
    assert vpbench_cli("plot", "horizon", *args, "--metric", "ssim", "--results-dir", str(results)).code == 0
    assert (results / "figures" / f"{HORIZON.name()}.png").exists()
    curves = FigureSpec("curves", HORIZON.options, "mse", "time")
    assert curves.name() == "curves_mmnist_10-10_mse_time_300steps"
    assert curves.command() == "vpbench plot curves --dataset mmnist --preset small --steps 300 --protocol '10->10' " \
        "--metric mse --x time"  # quoted: in a shell, 10->10 would write a file named 10


@pytest.mark.parametrize(
    ("figure", "message"),
    [
        ({"plot": "violin", "protocol": "4->4"}, "figure 0: unknown plot 'violin'; choose from horizon, efficiency"),
        ({"plot": "horizon", "protocol": "4->4"}, "figure 0: a horizon figure needs a metric (e.g. ssim)"),
        ({"plot": "curves", "colour": "red"}, "figure 0 must be an object with 'plot' and any of"),
    ],
)
def test_a_bad_figure_declaration_is_one_line_naming_the_entry(tmp_path, figure, message):
    path = tmp_path / "suite.json"
    entry = {"name": "track", "dataset": "synthetic", "models": ["zeros"], "figures": [figure]}
    path.write_text(json.dumps({"version": 1, "entries": [entry]}))
    with pytest.raises(VpbenchError) as error:
        load_suite(path)
    assert f"suite file {path}, entry track: " in str(error.value) and message in str(error.value)
    assert "\n" not in str(error.value)


def test_check_fails_on_an_undrawn_figure_and_render_mends_it(tmp_path, vpbench_cli):
    from vpbench.engine.run import run

    results = tmp_path / "results"
    results.mkdir()
    entry = {"name": "track", "dataset": "synthetic", "preset": "smoke", "models": ["zeros", SMOKE_MODEL],
             "protocols": ["4->4"], "steps": 12, "batch_size": 4, "test_size": 16, "val_size": 8, "val_every": 4,
             "pending": [SMOKE_MODEL], "figures": [{"plot": "horizon", "protocol": "4->4", "metric": "mse"}]}
    (results / "suite.json").write_text(json.dumps({"version": 1, "entries": [entry]}))
    run(smoke_config(tmp_path, model="zeros", checkpoint_every=None, data_options={}))
    assert vpbench_cli("render", "--results-dir", str(results)).code == 0
    assert run_check(results, rerun=False).ok  # sanity rows only: nothing to draw yet, nothing missing

    entry["pending"] = []
    (results / "suite.json").write_text(json.dumps({"version": 1, "entries": [entry]}))
    run(smoke_config(tmp_path, checkpoint_every=None, data_options={}))
    report = run_check(results, rerun=False)
    figure = "figures/horizon_synthetic_4-4_mse_12steps"
    assert (figure, "figure") in {(finding.where, finding.check) for finding in report.findings}
    assert vpbench_cli("render", "--results-dir", str(results)).code == 0
    assert run_check(results, rerun=False).ok


def _campaign(tmp_path):
    """A results folder whose suite still lists SMOKE_MODEL as pending, and one made elsewhere that has it."""
    from vpbench.engine.run import run

    results, elsewhere = tmp_path / "results", tmp_path / "elsewhere"
    results.mkdir()
    entry = {"name": "track", "dataset": "synthetic", "preset": "smoke", "models": ["zeros", SMOKE_MODEL],
             "protocols": ["4->4"], "steps": 12, "batch_size": 4, "test_size": 16, "val_size": 8, "val_every": 4,
             "pending": [SMOKE_MODEL], "figures": [{"plot": "horizon", "protocol": "4->4", "metric": "mse"}]}
    (results / "suite.json").write_text(json.dumps({"version": 1, "entries": [entry]}, indent=1))
    run(smoke_config(tmp_path, model="zeros", checkpoint_every=None, data_options={}))
    run(smoke_config(tmp_path, checkpoint_every=None, data_options={}, results_dir=elsewhere))
    run(smoke_config(tmp_path, model="last-frame", checkpoint_every=None, data_options={}, results_dir=elsewhere))
    return results, elsewhere


def test_land_copies_declared_records_takes_them_off_pending_and_redraws(tmp_path, vpbench_cli):
    results, elsewhere = _campaign(tmp_path)
    assert vpbench_cli("land", str(elsewhere), "--results-dir", str(results)).code == 0
    landed = sorted(path.name for path in (results / "synthetic").iterdir() if SMOKE_MODEL in path.name)
    assert landed == sorted(path.name for path in (elsewhere / "synthetic").iterdir() if SMOKE_MODEL in path.name)
    assert not any("last-frame" in path.name for path in (results / "synthetic").iterdir())  # not declared
    assert json.loads((results / "suite.json").read_text())["entries"][0]["pending"] == []
    assert (results / "figures" / "horizon_synthetic_4-4_mse_12steps.png").exists()
    assert run_check(results, rerun=False).ok

    from vpbench.publish import land

    again = land(elsewhere, results)
    assert again.copied == [] and len(again.already_stored) == 1 and again.no_longer_pending == []
    # A mistyped source was "no result records under X (expected X/<dataset>/<record id>.json)", even for a file.
    code, _, error = vpbench_cli("land", str(tmp_path / "elswhere"), "--results-dir", str(results))
    assert code == 2 and error == f"error: {tmp_path / 'elswhere'} does not exist; give a results folder made by " \
        "`vpbench run` or `sweep` elsewhere\n"
    code, _, error = vpbench_cli("land", str(results / "suite.json"), "--results-dir", str(results))
    assert code == 2 and f"{results / 'suite.json'} is a file, not a results folder" in error


def test_land_never_replaces_a_stored_record_nor_brings_a_damaged_one(tmp_path):
    from vpbench.publish import land

    results, elsewhere = _campaign(tmp_path)
    (record_file,) = (elsewhere / "synthetic").glob(f"{SMOKE_MODEL}*.json")
    (companion,) = (elsewhere / "synthetic").glob(f"{SMOKE_MODEL}*[0-9a-f].npz")
    intact = companion.read_bytes()
    companion.write_bytes(intact[:-8] + b"damaged!")
    with pytest.raises(VpbenchError, match=r"is damaged .* nothing landed$"):
        land(elsewhere, results)
    assert not list((results / "synthetic").glob(f"{SMOKE_MODEL}*"))  # all or nothing
    companion.write_bytes(intact)

    stored = results / "synthetic" / record_file.name
    stored.write_text(record_file.read_text().replace('"seed": 42', '"seed":  42'))  # same record, other bytes
    with pytest.raises(VpbenchError, match="is stored and differs from .*; a stored record is never replaced"):
        land(elsewhere, results)
    assert '"seed":  42' in stored.read_text()
    with pytest.raises(VpbenchError, match="no record of mim under .* is declared by"):
        land(elsewhere, results, models=["mim"])
