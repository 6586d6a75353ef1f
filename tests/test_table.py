"""Leaderboard tables from stored records: grouping that never mixes incomparable numbers, best values,
intervals, relative change, published reference rows, and the four renderers."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from _records import leaderboard_records, make_record, store
from rich.console import Console

from vpbench.errors import VpbenchError
from vpbench.results.references import REFERENCE_ROWS, reference_rows
from vpbench.results.render import (
    format_number,
    latex_escape,
    render_csv,
    render_latex,
    render_markdown,
    rich_tables,
)
from vpbench.results.store import load_records
from vpbench.results.table import TableOptions, build_table, records_frame

TRAINED = ("srvp", "convgru", "simvp", "predrnn")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """13 models on mmnist 10->10 and 10->30, stored with their per-sequence values (read-only for tests)."""
    results_dir = tmp_path_factory.mktemp("results")
    store(results_dir, leaderboard_records(test_size=32))
    store(results_dir, leaderboard_records(protocol="10->30", train_protocol="10->10", test_size=32))
    return results_dir, load_records(results_dir)


def rows_of(section):
    return [row.label for row in section.rows]


def test_standard_table_has_every_model_sanity_rows_last_and_best_values_marked(results):
    results_dir, records = results
    table = build_table(records, TableOptions(protocol="10->10"), results_dir)
    assert len(table.sections) == 1
    section = table.sections[0]
    labels = rows_of(section)
    assert len(labels) == 13 and labels[-2:] == ["last-frame", "zeros"]
    assert labels[0] == "srvp"  # sorted by MSE, the best model first
    keys = [column.key for column in section.columns]
    assert keys == ["mse", "mae", "psnr", "ssim", "static mse", "moving mse", "parameters", "macs", "throughput"]
    best = {key: [row.label for row in section.rows if row.cells[key].best] for key in keys}
    assert best["mse"] == ["srvp"] and best["ssim"] == ["srvp"]
    assert best["parameters"] == ["convgru"]  # the parameter-free sanity predictors are not contenders
    assert best["throughput"] == ["simvp"]
    sanity = [row for row in section.rows if row.kind == "sanity"]
    assert all(row.cells["throughput"].value is None for row in sanity)  # a tensor fill is not a speed
    assert any("seq/s would time a tensor fill" in note for note in section.notes)


def test_sources_test_sets_and_conventions_each_get_their_own_table(tmp_path):
    store(tmp_path, leaderboard_records(TRAINED, test_size=16))
    store(tmp_path, leaderboard_records(TRAINED, source="standard", test_size=24))
    records = load_records(tmp_path)
    table = build_table(records, TableOptions(conventions=("vpbench", "openstl")), tmp_path)
    keys = {(s.key.source, s.key.convention) for s in table.sections}
    assert keys == {(src, conv) for src in ("offline-5k", "standard") for conv in ("vpbench", "openstl")}
    for section in table.sections:
        assert {row.record.dataset.source for row in section.rows} == {section.key.source}
        assert section.key.source in section.title and section.key.convention in section.title
    openstl = next(s for s in table.sections if s.key.convention == "openstl")
    assert [c.key for c in openstl.columns][:2] == ["mse_sum", "mae_sum"]  # OpenSTL's MSE is a per-frame sum
    assert not any(c.kind == "region" for c in openstl.columns)  # region errors exist on vpbench's scale only


def test_preset_filter_keeps_the_sanity_rows_of_the_same_test_set(tmp_path):
    store(tmp_path, leaderboard_records(TRAINED, preset="smoke", test_size=16))
    store(tmp_path, leaderboard_records(("convgru", "last-frame", "zeros"), preset="small", test_size=16))
    table = build_table(load_records(tmp_path), TableOptions(preset="smoke"), tmp_path)
    assert len(table.sections) == 1
    assert sorted(rows_of(table.sections[0])) == sorted([*TRAINED, "last-frame", "zeros"])


def test_two_budgets_get_two_sections_and_steps_picks_one(tmp_path):
    """A track and its longer sequel share a results folder: each budget is its own section (both with the
    sanity rows), and --steps shows one; a budget nobody trained is a one-line error naming the stored ones."""
    store(tmp_path, leaderboard_records(("srvp", "convgru", "zeros"), test_size=16, steps=600))
    store(tmp_path, leaderboard_records(("srvp", "convgru"), test_size=16, steps=10000))
    records = load_records(tmp_path)
    both = build_table(records, TableOptions(), tmp_path)
    assert [s.key.budget for s in both.sections] == ["600 steps x 8", "10000 steps x 8"]  # numeric order
    assert all(sorted(rows_of(s)) == ["convgru", "srvp", "zeros"] for s in both.sections)
    long = build_table(records, TableOptions(steps=10000), tmp_path)
    assert [s.key.budget for s in long.sections] == ["10000 steps x 8"]
    assert {row.record.training.steps for row in long.sections[0].rows} == {10000, 0}
    with pytest.raises(VpbenchError, match=r"no records match steps 999.*stored: .*, 10000 steps\)") as refused:
        build_table(records, TableOptions(steps=999), tmp_path)
    stored = str(refused.value).split("stored: ")[1]
    assert stored.index("untrained") < stored.index("600 steps") < stored.index("10000 steps")  # numeric order
    with pytest.raises(VpbenchError, match=r"no records match steps 0, convention"):  # 0 was left out
        build_table(records, TableOptions(steps=0), tmp_path)


def test_smoke_fixtures_are_hidden_unless_asked_for(tmp_path):
    store(tmp_path, leaderboard_records(TRAINED, preset="smoke", test_size=16))
    store(tmp_path, leaderboard_records(("convgru", "last-frame", "zeros"), preset="small", test_size=24))
    records = load_records(tmp_path)
    default = build_table(records, TableOptions(), tmp_path)
    assert [s.key.preset for s in default.sections] == ["small"]
    assert sorted(rows_of(default.sections[0])) == ["convgru", "last-frame", "zeros"]
    asked = build_table(records, TableOptions(preset="smoke"), tmp_path)
    assert {row.record.model.preset for s in asked.sections for row in s.rows} == {"smoke"}
    only_smoke = tmp_path / "only-smoke"
    store(only_smoke, leaderboard_records(TRAINED, preset="smoke", test_size=16))
    alone = build_table(load_records(only_smoke), TableOptions(), only_smoke)
    assert sorted(rows_of(alone.sections[0])) == sorted(TRAINED)


def test_intervals_come_from_per_sequence_values_and_bracket_the_value(results):
    results_dir, records = results
    section = build_table(records, TableOptions(protocol="10->10", metrics=("ssim",)), results_dir).sections[0]
    for row in section.rows:
        cell = row.cells["ssim"]
        assert cell.interval is not None and cell.interval[0] < cell.value < cell.interval[1]
    without_files = build_table(records, TableOptions(protocol="10->10", metrics=("ssim",)), None).sections[0]
    assert all(row.cells["ssim"].interval is None for row in without_files.rows)
    pooled = build_table(records, TableOptions(protocol="10->10", conventions=("srvp-paper",)), results_dir)
    assert all(cell.interval is None for row in pooled.sections[0].rows for cell in row.cells.values())


def test_vs_row_gives_relative_change(results):
    results_dir, records = results
    table = build_table(records, TableOptions(protocol="10->10", metrics=("mse",), vs="convgru"), results_dir)
    section = table.sections[0]
    by_label = {row.label: row for row in section.rows}
    srvp, convgru = by_label["srvp"].cells["mse"], by_label["convgru"].cells["mse"]
    assert srvp.relative == pytest.approx((srvp.value - convgru.value) / convgru.value)
    assert convgru.relative is None and section.vs_label == "convgru"
    assert f"(−{abs(srvp.relative) * 100:.0f}%)" in render_markdown(table)
    with pytest.raises(VpbenchError, match="--vs nosuch"):
        build_table(records, TableOptions(protocol="10->10", vs="nosuch"), results_dir)


def test_per_horizon_view_has_one_column_per_step(results):
    results_dir, records = results
    options = TableOptions(protocol="10->30", metrics=("ssim",), per_horizon=True)
    section = build_table(records, options, results_dir).sections[0]
    steps = [column for column in section.columns if column.kind == "horizon"]
    assert [column.horizon for column in steps] == list(range(1, 31))
    assert section.trained_on == "10->10" and "trained on 10->10" in section.title
    record = next(row.record for row in section.rows if row.label == "srvp")
    assert [next(r for r in section.rows if r.label == "srvp").cells[c.key].value for c in steps] == pytest.approx(
        record.metrics["vpbench"]["per_horizon"]["ssim"]
    )


def test_per_horizon_refuses_a_column_that_has_no_horizons_in_one_line(results):
    """`table --metric macs --per-horizon` said no record had macs while listing macs as available."""
    results_dir, records = results
    for metric in ("macs", "params", "static-mse"):
        options = TableOptions(protocol="10->30", metrics=(metric,), per_horizon=True)
        with pytest.raises(VpbenchError, match=rf"^--per-horizon shows one of mse, .*ssim; not '{metric}'$"):
            build_table(records, options, results_dir)
    options = TableOptions(protocol="10->30", metrics=("SSIM",), per_horizon=True)  # case as elsewhere
    assert build_table(records, options, results_dir).sections[0].key.metric == "ssim"


def test_every_section_says_how_to_read_its_convention(results):
    """A srvp-paper table showed MSE ~2,000 and PSNR ~7 dB beside vpbench's 0.03 and 15 dB with only the
    convention's name in the title to say why (0-255 scale, pooled, PSNR from the predictions' range)."""
    from vpbench.metrics.conventions import CONVENTIONS

    results_dir, records = results
    table = build_table(records, TableOptions(protocol="10->10", dataset="mmnist", reference=True), results_dir)
    assert {section.key.convention for section in table.sections} == {"vpbench", "openstl", "srvp-paper"}
    for section in table.sections:
        convention = CONVENTIONS[section.key.convention]
        assert f"{convention.name} convention: {convention.reading}" in section.notes
    assert "0-255" in CONVENTIONS["srvp-paper"].reading


def test_published_rows_join_only_their_convention_and_are_labelled(results):
    results_dir, records = results
    table = build_table(records, TableOptions(protocol="10->10", dataset="mmnist", reference=True), results_dir)
    by_convention = {section.key.convention: section for section in table.sections}
    assert set(by_convention) == {"vpbench", "openstl", "srvp-paper"}
    assert not any(row.kind == "published" for row in by_convention["vpbench"].rows)
    openstl = [row for row in by_convention["openstl"].rows if row.kind == "published"]
    assert {row.label for row in openstl} >= {"PredRNN (published, OpenSTL)", "MIMO-VP (published, MIMO-VP paper)"}
    predrnn = next(row for row in openstl if row.label == "PredRNN (published, OpenSTL)")
    assert predrnn.cells["mse_sum"].value == 23.97 and predrnn.cells["parameters"].value == 23_800_000
    srvp = next(row for row in by_convention["srvp-paper"].rows if row.label == "SRVP (published, SRVP paper)")
    assert srvp.cells["mse"].value == 935.02 and srvp.cells["ssim"].value == 0.7474
    notes = "\n".join(by_convention["openstl"].notes)
    assert "known bug" in notes and "not vpbench runs" in notes
    assert not any(row.cells[c.key].best for row in openstl for c in by_convention["openstl"].columns)


def test_reference_rows_are_transcribed_with_their_convention():
    assert len(reference_rows("mmnist", "10->10", "srvp-paper")) == 11  # 8 models + 3 ablations
    assert len(reference_rows("mmnist", "10->30", "srvp-paper")) == 8
    assert len(reference_rows("mmnist", "10->10", "openstl")) == 6
    assert len(reference_rows("kth")) == 8 and len(reference_rows("human36m")) == 8
    srvp = next(r for r in reference_rows("mmnist", "10->10", "srvp-paper") if r.model == "srvp")
    # the paper's headline is the mean over horizons of the reference code's per-horizon numbers
    assert sum(srvp.per_horizon["mse"]) / 10 == pytest.approx(srvp.metrics["mse"], abs=0.05)
    assert sum(srvp.per_horizon["ssim"]) / 10 == pytest.approx(srvp.metrics["ssim"], abs=5e-4)
    assert {row.convention for row in REFERENCE_ROWS} == {"srvp-paper", "openstl"}
    assert all(row.source and row.protocol and row.dataset for row in REFERENCE_ROWS)


def test_renderers_show_the_same_table(results):
    results_dir, records = results
    table = build_table(records, TableOptions(protocol="10->10", vs="convgru"), results_dir)
    markdown = render_markdown(table)
    assert markdown.startswith("### mmnist · data offline-5k · 10->10 · convention vpbench")
    assert "| srvp | **0.0" in markdown and "*last-frame (sanity)*" in markdown
    frame = pd.read_csv(io.StringIO(render_csv(table)))
    assert len(frame) == 13 and {"source", "convention", "mse", "mse ci_low", "mse vs convgru"} <= set(frame.columns)
    srvp = frame[frame["row"] == "srvp"].iloc[0]
    assert srvp["mse"] == pytest.approx(table.sections[0].rows[0].cells["mse"].value)
    latex = render_latex(table)
    assert latex.count(r"\toprule") == 1 and r"\bottomrule" in latex and r"\textbf{" in latex
    assert "$-$" in latex and r"\%" in latex  # relative changes, escaped
    assert latex_escape("mse_sum 10->30 5%") == r"mse\_sum 10$\to$30 5\%"
    console = Console(record=True, width=400, file=io.StringIO())
    for rendered in rich_tables(table):
        console.print(rendered)
    assert "srvp-wo-crossatt" in console.export_text()


def test_bad_filters_and_metrics_are_one_line_errors(results):
    results_dir, records = results
    with pytest.raises(VpbenchError, match="did you mean 'ssim'"):
        build_table(records, TableOptions(metrics=("ssmi",)), results_dir)
    with pytest.raises(VpbenchError, match="no records match dataset kth"):
        build_table(records, TableOptions(dataset="kth"), results_dir)
    with pytest.raises(VpbenchError, match="no selected record has mse under convention openstl"):
        build_table(records, TableOptions(metrics=("mse",), conventions=("openstl",)), results_dir)
    with pytest.raises(VpbenchError, match="no result records"):
        build_table([], TableOptions(), results_dir)


def test_records_frame_has_one_row_per_record_and_convention(results):
    results_dir, records = results
    frame = records_frame(records[:4], results_dir)
    assert len(frame) == 4 * 4
    row = frame[(frame.model == records[0].model.name) & (frame.convention == "vpbench")].iloc[0]
    assert row["ssim_ci_low"] < row["ssim"] < row["ssim_ci_high"]


def test_number_format_is_stable():
    from vpbench.results.columns import EFFICIENCY, metric_column

    assert format_number(0.74741, metric_column("ssim")) == "0.7474"
    assert format_number(935.02, metric_column("mse")) == "935.02"
    assert format_number(0.012345, metric_column("mse")) == "0.01235"
    assert format_number(23_800_000, EFFICIENCY["parameters"]) == "23.80M"
    assert format_number(float("inf"), metric_column("psnr")) == "inf"


def test_cli_table_prints_markdown_and_reports_bad_input_in_one_line(results, vpbench_cli):
    results_dir, _ = results
    code, out, _ = vpbench_cli(
        "table",
        "--results-dir",
        str(results_dir),
        "--metric",
        "ssim",
        "--protocol",
        "10->10",
        "--reference",
        "--format",
        "md",
    )
    assert code == 0
    assert "SRVP (published, SRVP paper)" in out and "| srvp |" in out
    code, _, error = vpbench_cli("table", "--results-dir", str(results_dir), "--metric", "ssmi")
    assert code == 2 and "did you mean 'ssim'" in error and "Traceback" not in error


def test_single_record_sections_mark_no_best(tmp_path):
    store(tmp_path, [make_record("srvp", test_size=16)])
    section = build_table(load_records(tmp_path), TableOptions(), tmp_path).sections[0]
    assert not any(cell.best for cell in section.rows[0].cells.values())


def test_intervals_stored_by_the_engine_are_used_as_stored(tmp_path):
    record, arrays = make_record("srvp", test_size=16)
    record.confidence_intervals = {"vpbench": {"ssim": [0.5, 0.9]}}
    store(tmp_path, [(record, arrays)])
    section = build_table(load_records(tmp_path), TableOptions(metrics=("ssim", "mse")), tmp_path).sections[0]
    assert section.rows[0].cells["ssim"].interval == (0.5, 0.9)  # not recomputed
    low, high = section.rows[0].cells["mse"].interval  # no stored interval: bootstrap of the .npz values
    assert low < section.rows[0].cells["mse"].value < high


def test_a_non_finite_value_is_explained_by_its_convention(tmp_path):
    """srvp-paper's PSNR and SSIM are undefined for a constant prediction (data range 0): the table says why
    the zeros row shows -inf / nan instead of leaving the reader to suspect a bug."""
    store(tmp_path, leaderboard_records(("convgru", "zeros"), test_size=16))
    records = load_records(tmp_path)
    finite = build_table(records, TableOptions(protocol="10->10", conventions=("srvp-paper",)), None).sections[0]
    assert not any("own arithmetic" in note for note in finite.notes)
    zeros = next(r for r in records if r.model.name == "zeros" and r.protocol.name == "10->10")
    zeros.metrics["srvp-paper"]["overall"].update(psnr=float("-inf"), ssim=float("nan"))
    section = build_table(records, TableOptions(protocol="10->10", conventions=("srvp-paper",)), None).sections[0]
    (note,) = [note for note in section.notes if "own arithmetic" in note]
    assert note.startswith("inf / nan (zeros) is the srvp-paper convention's") and "SSIM is nan when the range" in note


def _with_zeros_at(results_dir, quality: float):
    """convgru (error multiplier 1.0), simvp (0.85) and the sanity rows, `zeros` made as good as `quality`."""
    pairs = [make_record(model, test_size=16) for model in ("convgru", "simvp", "last-frame")]
    store(results_dir, [*pairs, make_record("zeros", quality=quality, test_size=16)])
    return load_records(results_dir)


def test_a_sanity_row_ahead_of_every_trained_model_is_named_in_a_note(tmp_path):
    """Where `zeros` beats every trained model (SSIM on Moving MNIST at small budgets), the bold "best" marks the
    best of models that all trail it: the table says so under itself, per column and per horizon, and says
    nothing where one trained model is ahead of it."""
    ahead = _with_zeros_at(tmp_path / "ahead", 0.80)
    options = TableOptions(metrics=("mse", "ssim"), protocol="10->10")
    (section,) = build_table(ahead, options, tmp_path / "ahead").sections
    leads = [note for note in section.notes if "better than every trained model" in note]
    assert leads == ["zeros scores better than every trained model on MSE, SSIM: there the ranking is among models "
                     "that all trail it"]
    options = TableOptions(metrics=("ssim",), protocol="10->10", per_horizon=True)
    (per_horizon,) = build_table(ahead, options, tmp_path / "ahead").sections
    assert "zeros scores better than every trained model on ssim overall and at every horizon" in " ".join(
        per_horizon.notes
    )
    between = _with_zeros_at(tmp_path / "between", 0.90)  # behind simvp (0.85), ahead of convgru (1.00)
    (section,) = build_table(between, TableOptions(protocol="10->10"), tmp_path / "between").sections
    assert not [note for note in section.notes if "better than every trained model" in note]


def test_a_section_of_a_suite_entry_still_filling_names_its_missing_models(tmp_path, vpbench_cli):
    """A half-stored campaign's table marks a best model among the few stored; both `vpbench table` and the
    leaderboard must say which declared models are missing there, and only in that entry's sections."""
    import json

    long_budget = [make_record(model, test_size=16, steps=10_000) for model in ("srvp", "predrnn", "zeros")]
    store(tmp_path, [*long_budget, make_record("convgru", test_size=16)])  # convgru: another budget (300 steps)
    entry = {"name": "long", "dataset": "mmnist", "preset": "small", "steps": 10_000, "batch_size": 8,
             "models": ["zeros", "srvp", "predrnn", "convgru", "mim"], "pending": ["convgru", "mim"],
             "protocols": ["10->10"]}
    (tmp_path / "suite.json").write_text(json.dumps({"version": 1, "entries": [entry]}))
    code, out, _ = vpbench_cli("table", "--results-dir", str(tmp_path), "--metric", "ssim",
                               "--convention", "vpbench", "--format", "md")
    assert code == 0
    sections = out.split("### ")[1:]
    assert len(sections) == 2 and "300 steps" in sections[0] and "10000 steps" in sections[1]
    note = "- incomplete: 2 models of the suite entry `long` not stored yet (convgru, mim); ranks and best marks"
    assert note not in sections[0] and note in sections[1]
    entry["pending"] = ["mim"]  # one missing: singular
    (tmp_path / "suite.json").write_text(json.dumps({"version": 1, "entries": [entry]}))
    code, out, _ = vpbench_cli("table", "--results-dir", str(tmp_path), "--metric", "ssim",
                               "--convention", "vpbench", "--format", "md")
    assert "- incomplete: 1 model of the suite entry `long` not stored yet (mim);" in out
    entry["pending"] = []  # complete: no note
    (tmp_path / "suite.json").write_text(json.dumps({"version": 1, "entries": [entry]}))
    code, out, _ = vpbench_cli("table", "--results-dir", str(tmp_path), "--metric", "ssim",
                               "--convention", "vpbench", "--format", "md")
    assert code == 0 and "incomplete" not in out
