"""Paired comparison of two models' records: only on the same test sequences, with an interval and p-value
that reflect the per-sequence differences."""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pandas as pd
import pytest
from _records import make_record, store, variant_record

from vpbench.errors import VpbenchError
from vpbench.results.compare import compare_models, compare_records, comparison_lines, comparison_records
from vpbench.results.store import load_records


def by_metric(comparison, convention="vpbench"):
    return {row.metric: row for row in comparison.rows if row.convention == convention}


def test_a_clearly_better_model_is_significant_and_its_interval_excludes_zero(tmp_path):
    store(tmp_path, [make_record("srvp", test_size=48), make_record("convgru", test_size=48)])
    [comparison] = compare_models(load_records(tmp_path), "srvp", "convgru", tmp_path)
    rows = by_metric(comparison)
    mse, ssim = rows["mse"], rows["ssim"]
    assert mse.difference == pytest.approx(mse.value_a - mse.value_b) and mse.difference < 0
    assert mse.interval[0] < mse.difference < mse.interval[1] < 0
    assert mse.p_value < 0.01 and mse.sequences == 48
    assert ssim.interval[0] > 0 and ssim.verdict("srvp", "convgru") == "srvp better"
    assert mse.verdict("srvp", "convgru") == "srvp better"  # lower MSE is better: direction from METRICS


def test_two_equal_models_show_no_significant_difference(tmp_path):
    store(tmp_path, [make_record("srvp", test_size=48), make_record("srvp-wo-sa", quality=0.70, test_size=48)])
    [comparison] = compare_models(load_records(tmp_path), "srvp", "srvp-wo-sa", tmp_path)
    mse = by_metric(comparison)["mse"]
    assert mse.interval[0] < 0 < mse.interval[1]
    assert mse.p_value > 0.05 and mse.verdict("srvp", "srvp-wo-sa").startswith("no significant difference")


def test_pooled_convention_is_reported_without_a_test(tmp_path):
    store(tmp_path, [make_record("srvp", test_size=16), make_record("convgru", test_size=16)])
    [comparison] = compare_models(load_records(tmp_path), "srvp", "convgru", tmp_path, conventions=("srvp-paper",))
    assert {row.convention for row in comparison.rows} == {"srvp-paper"}
    assert all(row.p_value is None and row.interval is None for row in comparison.rows)
    assert all("pooled" in row.verdict("srvp", "convgru") for row in comparison.rows)


def test_records_on_different_test_sets_are_refused(tmp_path):
    store(tmp_path, [make_record("srvp", test_size=16), make_record("convgru", test_size=24)])
    records = {record.model.name: record for record in load_records(tmp_path)}
    with pytest.raises(VpbenchError, match="different test sets"):
        compare_records(records["srvp"], records["convgru"], tmp_path)
    with pytest.raises(VpbenchError, match="no records on the same test set"):
        compare_models(list(records.values()), "srvp", "convgru", tmp_path)


def test_an_unknown_metric_is_named_before_the_records_are_searched(tmp_path):
    """`compare srvp predrnn --metric sim` answered that the two records were ambiguous (or 'share no metric'),
    never that the metric name was wrong."""
    store(tmp_path, [make_record("srvp", test_size=16), make_record("convgru", test_size=16)])
    store(tmp_path, [make_record("convgru", seed=7, test_size=16)])  # ambiguous: the metric is checked first
    with pytest.raises(VpbenchError, match=r"compare --metric shows one of .*; not 'sim' \(did you mean 'ssim'\?\)$"):
        compare_models(load_records(tmp_path), "srvp", "convgru", tmp_path, metrics=["sim"])
    [comparison] = compare_models(load_records(tmp_path), "srvp", "convgru", tmp_path, seed=42, metrics=iter(["ssim"]))
    assert {row.metric for row in comparison.rows} == {"ssim"}


def test_a_model_with_only_ci_fixture_records_is_pointed_to_their_preset(tmp_path):
    """`compare` on a folder of smoke runs said 'no record matches' with the records right there; `table`
    shows such records when nothing else exists, `compare` keeps them apart unless asked."""
    store(tmp_path, [make_record(name, test_size=16, preset="smoke") for name in ("srvp", "convgru")])
    with pytest.raises(VpbenchError, match="; only smoke-preset CI fixtures match: add --preset smoke$"):
        compare_models(load_records(tmp_path), "srvp", "convgru", tmp_path)
    assert compare_models(load_records(tmp_path), "srvp", "convgru", tmp_path, preset="smoke")
    with pytest.raises(VpbenchError, match="'mim' matches the filters; `vpbench table` lists the stored ones$"):
        compare_models(load_records(tmp_path), "mim", "convgru", tmp_path)
    with pytest.raises(VpbenchError, match="'srvp' matches the filters; `vpbench table` lists the stored ones$"):
        compare_models(load_records(tmp_path), "srvp", "convgru", tmp_path, seed=99)  # no fixture matches either


def test_several_matching_records_ask_for_a_filter(tmp_path):
    store(tmp_path, [make_record("srvp", test_size=16), make_record("convgru", test_size=16)])
    store(tmp_path, [make_record("convgru", seed=7, test_size=16)])
    records = load_records(tmp_path)
    with pytest.raises(VpbenchError, match="add --preset, --seed or --steps"):
        compare_models(records, "srvp", "convgru", tmp_path)
    [comparison] = compare_models(records, "srvp", "convgru", tmp_path, seed=42)
    assert comparison.record_b.provenance.seed == 42


def test_two_budgets_of_both_models_ask_for_steps_and_steps_pairs_that_budget(tmp_path):
    store(tmp_path, [make_record(m, test_size=16) for m in ("srvp", "convgru")])
    store(tmp_path, [make_record(m, test_size=16, steps=3000) for m in ("srvp", "convgru")])
    records = load_records(tmp_path)
    with pytest.raises(VpbenchError, match=r"300 steps x 8.*3000 steps x 8|3000 steps x 8.*300 steps x 8"):
        compare_models(records, "srvp", "convgru", tmp_path)
    [comparison] = compare_models(records, "srvp", "convgru", tmp_path, steps=3000)
    assert comparison.record_a.training.steps == comparison.record_b.training.steps == 3000


def test_one_comparison_per_protocol(tmp_path):
    for protocol in ("10->10", "10->30"):
        store(tmp_path, [make_record(m, protocol=protocol, test_size=16) for m in ("srvp", "convgru")])
    comparisons = compare_models(load_records(tmp_path), "srvp", "convgru", tmp_path, metrics=("ssim",))
    assert sorted(c.record_a.protocol.name for c in comparisons) == ["10->10", "10->30"]
    for comparison in comparisons:  # ssim under each of the four conventions; the pooled one is untested
        assert [row.metric for row in comparison.rows] == ["ssim"] * 4
        assert sum(row.p_value is not None for row in comparison.rows) == 3


def test_misaligned_per_sequence_files_are_refused(tmp_path):
    srvp, srvp_arrays = make_record("srvp", test_size=16)
    convgru, convgru_arrays = make_record("convgru", test_size=16)
    convgru_arrays["sequence_index"] = np.arange(16) + 100
    store(tmp_path, [(srvp, srvp_arrays), (convgru, convgru_arrays)])
    with pytest.raises(VpbenchError, match="different test sequences"):
        compare_models(load_records(tmp_path), "srvp", "convgru", tmp_path)


def test_cli_compare_json_and_csv(tmp_path, vpbench_cli):
    store(tmp_path, [make_record("srvp", test_size=16), make_record("convgru", test_size=16)])
    for fmt in ("json", "csv", "md", "rich"):
        arguments = ["srvp", "convgru", "--results-dir", str(tmp_path), "--metric", "mse,ssim", "--format", fmt]
        code, out, _ = vpbench_cli("compare", *arguments)
        assert code == 0
        if fmt == "json":
            rows = json.loads(out)
            assert [row["metric"] for row in rows] == ["mse", "ssim"] and rows[0]["p_value"] < 0.05
        elif fmt == "csv":
            assert list(pd.read_csv(io.StringIO(out))["metric"]) == ["mse", "ssim"]
        elif fmt == "md":
            assert "| vpbench | MSE ↓ |" in out and "srvp better" in out
        else:
            assert "paired test sequences" in out and "<0.001" in out
    records = load_records(tmp_path)
    assert len(comparison_records(compare_models(records, "srvp", "convgru", tmp_path))) == 17


def test_steps_keeps_an_untrained_model_out_of_a_budget_as_table_does(tmp_path):
    """One `--steps` rule for table, compare and plot (sections.within_budget): the sanity predictors join
    every budget, but a trainable model evaluated untrained is a 0-step run, not a member of the 600-step
    track."""
    import dataclasses

    from vpbench.results.sections import within_budget

    record, arrays = make_record("convgru", test_size=16)
    untrained = dataclasses.replace(record, training=dataclasses.replace(record.training, steps=0, trained=False))
    others = [make_record("srvp", test_size=16, steps=600), make_record("zeros", test_size=16)]
    store(tmp_path, [(untrained, arrays), *others])
    records = {r.model.name: r for r in load_records(tmp_path)}
    assert within_budget(records["zeros"], 600) and within_budget(records["zeros"], 0)
    assert not within_budget(records["convgru"], 600) and within_budget(records["convgru"], 0)
    with pytest.raises(VpbenchError, match="no record of model 'convgru' at 600 steps matches the filters"):
        compare_models(list(records.values()), "srvp", "convgru", tmp_path, steps=600)
    [comparison] = compare_models(list(records.values()), "srvp", "zeros", tmp_path, steps=600)
    assert comparison.record_b.model.name == "zeros"


def test_a_model_against_itself_at_another_budget(tmp_path):
    """MODEL@STEPS picks one budget per side, so `compare srvp@600 srvp@10000` asks whether ten times the
    training helped; the sides are labelled by budget, and a malformed budget is a one-line error."""
    longer = make_record("srvp", test_size=16, steps=10000, quality=0.5)  # a different model state: other errors
    store(tmp_path, [make_record("srvp", test_size=16, steps=600), longer])
    records = load_records(tmp_path)
    with pytest.raises(VpbenchError, match="srvp has 2 records .*add --preset, --seed or --steps"):
        compare_models(records, "srvp", "srvp", tmp_path)
    [comparison] = compare_models(records, "srvp@600", "srvp@10000", tmp_path, metrics=("ssim",))
    assert (comparison.record_a.training.steps, comparison.record_b.training.steps) == (600, 10000)
    assert comparison.labels == ("srvp@600", "srvp@10000")
    assert comparison.title.startswith("srvp@600 vs srvp@10000 · mmnist")
    line = comparison_lines(comparison)[0]
    assert "srvp@600 − srvp@10000" in line and line["verdict"] == "srvp@10000 better"
    store(tmp_path, [make_record("convgru", test_size=16, steps=10000), make_record("zeros", test_size=16)])
    records = load_records(tmp_path)
    [across] = compare_models(records, "srvp@600", "convgru@10000", tmp_path, metrics=("ssim",))
    assert across.labels == ("srvp@600", "convgru@10000")  # two budgets stay visible across models
    [against_zeros] = compare_models(records, "srvp@600", "zeros", tmp_path, metrics=("ssim",))
    assert against_zeros.labels == ("srvp", "zeros")  # a sanity row has no budget to show
    with pytest.raises(VpbenchError, match="no record of model 'srvp' at 999 steps matches"):
        compare_models(records, "srvp@600", "srvp@999", tmp_path)
    with pytest.raises(VpbenchError, match=r"'srvp@ten': the part after '@' is a training budget in steps"):
        compare_models(records, "srvp@ten", "srvp@600", tmp_path)


def test_two_variants_of_one_model_are_named_by_what_differs_and_picked_by_spec(tmp_path):
    """Two runs of one model that differ only in an argument: `table` and `compare` name each by the argument,
    the ambiguity error lists MODEL#SPEC for each, and MODEL#SPEC picks one."""
    wide = make_record("srvp", test_size=16)
    narrow = variant_record(make_record("srvp", test_size=16, quality=0.5), "abcdef0123456789", hidden=16)
    store(tmp_path, [wide, narrow])
    records = load_records(tmp_path)
    wide_spec = wide[0].spec_hash[:8]
    with pytest.raises(VpbenchError, match=rf"srvp#{wide_spec} \(hidden=32, .*srvp#abcdef01 \(hidden=16, .*MODEL#SPEC"):
        compare_models(records, "srvp", "srvp", tmp_path)
    [comparison] = compare_models(records, f"srvp#{wide_spec}", "srvp#abcdef", tmp_path, metrics=("mse",))
    assert comparison.labels == ("srvp (hidden=32)", "srvp (hidden=16)")
    assert comparison.record_b.model.config["hidden"] == 16
    with pytest.raises(VpbenchError, match="'srvp#zz': the part after '#' is the start of a spec hash"):
        compare_models(records, "srvp#zz", "srvp", tmp_path)
    with pytest.raises(VpbenchError, match="no record of model 'srvp' with a spec starting 0000"):
        compare_models(records, "srvp#0000", "srvp", tmp_path)
    from vpbench.results.table import TableOptions, build_table

    [section] = build_table(records, TableOptions(), tmp_path).sections
    assert sorted(row.label for row in section.rows) == ["srvp (hidden=16)", "srvp (hidden=32)"]


def test_variants_that_differ_in_nothing_shown_are_named_by_spec(tmp_path):
    from vpbench.results.sections import variant_label, variant_suffixes

    first, _ = make_record("srvp", test_size=16)
    second = dataclasses.replace(first, spec_hash="abcdef0123456789")
    suffixes = variant_suffixes([first, second])
    assert [variant_label(r, s) for r, s in zip([first, second], suffixes, strict=True)] == [
        (f"srvp#{first.spec_hash[:8]}", ""),
        ("srvp#abcdef01", ""),
    ]  # the form `compare MODEL#SPEC` takes
    other_seed, _ = make_record("srvp", test_size=16, seed=7)
    assert variant_suffixes([first, other_seed]) == [["seed 42"], ["seed 7"]]


def test_settings_that_cannot_change_training_do_not_name_a_variant():
    """`paper_budget` is text, and the plateau settings act only under the plateau schedule: a record written
    before they were stored (None) is not a variant because of them; under that schedule they name one."""
    from vpbench.results.sections import SPEC_MARK, variant_suffixes

    first, _ = make_record("srvp", test_size=16)

    def with_settings(**settings):
        training = dataclasses.replace(first.training, optimizer={**first.training.optimizer, **settings})
        return dataclasses.replace(first, training=training, spec_hash="abcdef0123456789")

    older = with_settings(paper_budget="150 epochs", plateau_patience=None, plateau_every_sequences=None)
    assert variant_suffixes([first, older]) == [[SPEC_MARK], [SPEC_MARK]]
    plateau = {"schedule": "plateau", "plateau_patience": 2}
    assert variant_suffixes([with_settings(**plateau), with_settings(**plateau | {"plateau_patience": 3})]) == [
        ["plateau_patience=2"],
        ["plateau_patience=3"],
    ]


def test_variants_with_many_differences_go_by_spec_and_the_differences_are_written_out(tmp_path):
    first = make_record("srvp", test_size=16)
    other = variant_record(
        make_record("srvp", test_size=16, quality=0.5),
        "abcdef0123456789",
        hidden=16,
        dropout=0.5,
        attention_dropout=0.2,
    )
    store(tmp_path, [first, other])
    records = load_records(tmp_path)
    spec = first[0].spec_hash[:8]
    [comparison] = compare_models(records, f"srvp#{spec}", "srvp#abcdef01", tmp_path, metrics=("mse",))
    assert comparison.labels == (f"srvp#{spec}", "srvp#abcdef01")
    assert comparison.title.endswith(
        f" · srvp#{spec}: hidden=32, dropout=None, attention_dropout=None"
        " · srvp#abcdef01: hidden=16, dropout=0.5, attention_dropout=0.2"
    )
    from vpbench.results.table import TableOptions, build_table

    [section] = build_table(records, TableOptions(), tmp_path).sections
    assert sorted(row.label for row in section.rows) == [f"srvp#{spec}", "srvp#abcdef01"]
    assert "srvp#abcdef01: hidden=16, dropout=0.5, attention_dropout=0.2" in section.notes


def test_a_record_compared_with_itself_is_refused(tmp_path):
    """`compare srvp srvp` printed a difference of 0 with p = 1 as if two runs had been compared."""
    store(tmp_path, [make_record("srvp", test_size=16), make_record("convgru", test_size=16)])
    records = load_records(tmp_path)
    (srvp,) = [record for record in records if record.model.name == "srvp"]
    for name in ("srvp", f"srvp#{srvp.spec_hash[:8]}"):
        with pytest.raises(VpbenchError, match=rf"^both names select the same record \({srvp.record_id}\); "):
            compare_models(records, "srvp", name, tmp_path)
