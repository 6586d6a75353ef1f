"""The README's CPU-track numbers are the stored records' (tools/readme_track.py), and the verdict text follows the
comparisons it reports."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import pytest
from _tools import load_tool

ROOT = Path(__file__).resolve().parents[1]
readme_track = load_tool("readme_track")
# The modules it writes its blocks with (imported from tools/ by it, so these are the very modules it uses).
long_runs_text, srvp_verdicts, track_text = (
    importlib.import_module(name) for name in ("long_runs_text", "srvp_verdicts", "track_text")
)


def carried_spec(model: str) -> dict:
    """The spec of a carried long-track run of `model`: a template for hand-made runs. The carried folder may also
    hold runs of other budgets (a longer budget's pilot), which the long track's blocks leave out."""
    import json

    steps = track_text.Track(ROOT / "results", readme_track.LONG_TRACK).steps
    for path in sorted((ROOT / "campaign" / "runs" / "mmnist").glob(f"{model}__*/spec.json")):
        spec = json.loads(path.read_text())
        if spec["steps"] == steps:
            return spec
    raise AssertionError(f"no carried {steps}-step run of {model}")


def test_the_committed_readme_agrees_with_the_stored_records():
    assert readme_track.main(["--check"]) == 0


def test_check_names_a_block_that_differs_and_rewrite_mends_it(tmp_path, capsys):
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text()
    stale = text.replace("| predrnn | 0.0279", "| predrnn | 0.0278", 1)
    assert stale != text
    readme.write_text(stale)
    assert readme_track.main(["--check", "--readme", str(readme)]) == 1
    assert "track-results" in capsys.readouterr().err
    assert readme.read_text() == stale  # --check writes nothing
    assert readme_track.main(["--readme", str(readme), "--long-figure", str(tmp_path / "progress")]) == 0
    assert readme.read_text() == text
    assert (tmp_path / "progress.png").stat().st_size > 0  # the long track's curves, drawn beside, not in the repo


def test_a_readme_without_a_block_is_refused():
    with pytest.raises(SystemExit, match="no block track-srvp"):
        readme_track.rewrite(
            "<!-- generated: track-results -->\nx\n<!-- end generated: track-results -->\n",
            {"track-results": "y", "track-srvp": "z"},
        )


def test_blocks_outside_the_run_are_kept():
    text = "a\n<!-- generated: long-progress -->\nold\n<!-- end generated: long-progress -->\nb\n"
    assert readme_track.rewrite(text, {}) == (text, [])


def test_the_long_progress_table_names_a_second_run_of_a_model_by_its_arguments(tmp_path):
    """A width pilot (`predrnn` at 12 hidden channels beside the preset's run) once shared the row name
    `predrnn` with the preset's run, so the table could not say which curve was which."""
    import json

    from vpbench.registry import model_kwargs

    spec = carried_spec("predrnn")  # either carried run: widths are set
    for hidden, mse in ((model_kwargs("predrnn", "small")["hidden_channels"], 0.03), (12, 0.04)):
        folder = tmp_path / "mmnist" / f"predrnn__small__10-10__seed42__{hidden:016d}"
        folder.mkdir(parents=True)
        run_spec = {**spec, "model_config": {**spec["model_config"], "hidden_channels": hidden}}
        (folder / "spec.json").write_text(json.dumps(run_spec))
        event = {"event": "validation", "step": 1000, "sequences": 8000, "mse": mse, "ssim": 0.5}
        (folder / "train_log.jsonl").write_text(json.dumps(event) + "\n")
    rows = long_runs_text.long_progress(tmp_path, {}).splitlines()[2:]
    assert rows == [
        "| predrnn | 0.0300 / 0.500 | 0.0300 / 0.500 at 8,000 |",
        "| predrnn hidden_channels=12 | 0.0400 / 0.500 | 0.0400 / 0.500 at 8,000 |",
    ]


def test_the_progress_table_marks_an_unfinished_run_that_can_go_on_only_where_its_log_was_written(tmp_path):
    """mim's 2x run was lost with its machine at step 16,164 (its 12.7 MB checkpoint does not travel), and its
    carried log kept a row that read like a live run while a restart trained from step 0 elsewhere."""
    import json

    spec = carried_spec("mim")
    budget = spec["steps"] * spec["batch_size"]
    machine = "9a40cb56-6fce-4df4-bcb6-c7ff8e0dae30"
    for name, sequences, checkpoint in (("alive", 8000, True), ("done", budget, False), ("stranded", 8000, False)):
        folder = tmp_path / "mmnist" / f"mim__small__10-10__seed42__{name:0>16}"
        folder.mkdir(parents=True)
        (folder / "spec.json").write_text(json.dumps({**spec, "model_config": {"tag": name}}))
        events = [
            {"event": "segment", "step": 0, "threads": 2, "machine": machine},
            {"event": "validation", "step": 1000, "sequences": sequences, "mse": 0.03, "ssim": 0.5},
        ]
        (folder / "train_log.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
        if checkpoint:
            (folder / "last.pt").write_bytes(b"")
    table = long_runs_text.long_progress(tmp_path, {}, spec["steps"])
    latest = {row.split(" | ")[0]: row.rsplit(" | ", 1)[-1] for row in table.splitlines()[2:5]}
    assert sorted(latest.values()) == [
        "0.0300 / 0.500 at 8,000 (log only, machine 9a40cb56) |",
        "0.0300 / 0.500 at 8,000 |",
        f"0.0300 / 0.500 at {budget:,} |",
    ]
    assert "*Log only*" in table
    (tmp_path / "mmnist" / f"mim__small__10-10__seed42__{'stranded':0>16}" / "last.pt").write_bytes(b"")
    assert "log only" not in long_runs_text.long_progress(tmp_path, {}, spec["steps"]).lower()


def test_the_long_track_blocks_leave_out_runs_of_another_budget(tmp_path):
    """The carried folder may also hold a longer budget's pilot (which continues a long-track run where that is
    exact): the long track's table and fits are its own budget's runs only."""
    import json

    spec = carried_spec("mim")
    for steps in (spec["steps"], 2 * spec["steps"]):
        folder = tmp_path / "mmnist" / f"mim__small__10-10__seed42__{steps:016d}"
        folder.mkdir(parents=True)
        (folder / "spec.json").write_text(json.dumps({**spec, "steps": steps}))
        event = {"event": "validation", "step": 1000, "sequences": 8000, "mse": steps / 1e6, "ssim": 0.5}
        (folder / "train_log.jsonl").write_text(json.dumps(event) + "\n")
    rows = long_runs_text.long_progress(tmp_path, {}, spec["steps"]).splitlines()[2:]
    assert rows == [f"| mim | {spec['steps'] / 1e6:.4f} / 0.500 | {spec['steps'] / 1e6:.4f} / 0.500 at 8,000 |"]
    assert len(long_runs_text.curves_with_points(tmp_path, spec["steps"])) == 1
    assert len(long_runs_text.curves_with_points(tmp_path)) == 2


def test_the_progress_table_keeps_ten_columns_at_any_budget(tmp_path):
    """Columns fall every tenth of the budget: 8,000 sequences for the long track, 16,000 at twice its budget, so
    the 2x table does not grow to twenty columns."""
    import json

    spec = carried_spec("mim")
    folder = tmp_path / "mmnist" / "mim__small__10-10__seed42__0000000000000002"
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps({**spec, "steps": 2 * spec["steps"]}))
    events = [
        {"event": "validation", "step": 500 * k, "sequences": 4000 * k, "mse": 0.03, "ssim": 0.5} for k in range(1, 9)
    ]
    (folder / "train_log.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    header = long_runs_text.long_progress(tmp_path, {}, 2 * spec["steps"]).splitlines()[0]
    assert header == "| run | 16,000 | 32,000 | latest |"
    (folder / "spec.json").write_text(json.dumps(spec))
    assert long_runs_text.long_progress(tmp_path, {}, spec["steps"]).splitlines()[0] == (
        "| run | 8,000 | 16,000 | 24,000 | 32,000 | latest |"
    )


def test_the_long_fits_say_where_each_run_reaches_zeros_or_why_it_does_not(tmp_path):
    """One run whose validation SSIM rises by 0.1 per doubling, one that barely rises, one that falls, one with too
    few points: the block gives the first's crossing in sequences and budgets (the line solved by hand), puts the
    second's "beyond" a billion rather than quoting a number of 27 digits, and says why the others have none,
    nearest first; a run named by its spec hash goes by that name."""
    import json

    from vpbench.gate import suite_records
    from vpbench.results.curves import extrapolate_runs, run_curves

    points = {"srvp": [0.3, 0.4, 0.5], "convgru": [0.5, 0.45, 0.4], "predrnn": [0.5, 0.6], "mim": [0.3, 0.301, 0.302]}
    for number, (model, values) in enumerate(points.items()):
        spec = carried_spec(model)
        folder = tmp_path / "mmnist" / f"{model}__small__10-10__seed42__{number:016d}"
        folder.mkdir(parents=True)
        (folder / "spec.json").write_text(json.dumps(spec))
        events = [
            {"event": "validation", "step": 200 * 2**i, "sequences": 1600 * 2**i, "mse": 0.03, "ssim": ssim}
            for i, ssim in enumerate(values)
        ]
        (folder / "train_log.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    zeros, _ = extrapolate_runs(run_curves(tmp_path), suite_records(ROOT / "results"), "ssim")
    crossing = 1600 * 2 ** ((zeros - 0.3) / 0.1)
    text = " ".join(long_runs_text.long_fits(tmp_path, ROOT / "results", {f"{2:016d}": "predrnn, lost"}).split())
    assert f"solved for `zeros`' {zeros:.3f}" in text
    assert text.endswith(
        f"the budget of 80,000: `srvp` ~{float(f'{crossing:.3g}'):,.0f} ({crossing / 80000:.1f}x the budget; points "
        "through 6,400; measured: not yet, highest 0.500 at 6,400); `mim` beyond 1,000,000,000 (points through 6,400; "
        "measured: not yet, highest 0.302 at 6,400); `convgru` never: its fit does not rise (points "
        "through 6,400; measured: not yet, highest 0.500 at 1,600); `predrnn, lost` no fit yet (2 points from 1,600 "
        "sequences on)."
    )


def test_the_backtest_holds_a_part_way_fit_against_what_the_finished_runs_did(tmp_path):
    """Three finished runs whose curves rise 0.1 per doubling up to 6,400 sequences and then part: one keeps
    rising to `zeros`, one flattens below it, one starts slow and jumps past it late. Fitted only as far as the run
    still training has come, the first two fits cross within the budget and the third far beyond; the block names
    which of each group got there."""
    import json
    import math

    from vpbench.gate import suite_records
    from vpbench.results.curves import extrapolate_runs, run_curves

    early = [1600 * 2**i for i in range(6)] + [80000]  # to 51,200, then the budget's end

    def keeps_rising(s):
        return 0.3 + 0.1 * math.log2(s / 1600)

    laws = {
        "mimo-vp": keeps_rising,
        "convgru": lambda s: min(keeps_rising(s), 0.5),
        "predrnn": lambda s: 0.3 + 0.01 * math.log2(s / 1600) if s <= 6400 else 0.8,
        "convlstm": keeps_rising,
    }
    for number, (model, law) in enumerate(laws.items()):
        spec = carried_spec(model)
        folder = tmp_path / "mmnist" / f"{model}__small__10-10__seed42__{number:016d}"
        folder.mkdir(parents=True)
        (folder / "spec.json").write_text(json.dumps(spec))
        until = 6400 if model == "convlstm" else 80000  # the one still training
        events = [
            {"event": "validation", "step": s // 8, "sequences": s, "mse": 0.03, "ssim": law(s)}
            for s in early
            if s <= until
        ]
        (folder / "train_log.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    zeros, _ = extrapolate_runs(run_curves(tmp_path), suite_records(ROOT / "results"), "ssim")
    crossing = 1600 * 2 ** ((zeros - 0.3) / 0.1)  # the fit through 6,400 of mimo-vp, convgru and convlstm alike
    assert 6400 < crossing < 80000 and keeps_rising(51200) >= zeros > keeps_rising(25600)
    rounded = f"~{float(f'{crossing:.3g}'):,.0f}"
    text = " ".join(long_runs_text.long_backtest(tmp_path, ROOT / "results", {}).split())
    assert text.startswith(
        f"**Held against the finished runs.** Fitted only through 6,400 sequences, as `convlstm`'s is so far (its own "
        f"fit: {rounded}), the finished runs' fits put `zeros` at: "
    )
    assert f"`mimo-vp` {rounded} (measured: first at 51,200)" in text
    assert f"`convgru` {rounded} (measured: never, highest 0.500 at 6,400)" in text
    assert text.endswith(
        "Of the 2 whose fit there crossed within the budget, 1 (`mimo-vp`) reached `zeros`; of the 1 whose fit "
        "crossed later or never, 1 (`predrnn`) did."
    )
    # A second run that has come as far shares the sentence: the backtest is made and told once for both.
    twin = tmp_path / "mmnist" / f"simvp__small__10-10__seed42__{len(laws):016d}"
    twin.mkdir()
    (twin / "spec.json").write_text(json.dumps(carried_spec("simvp")))
    events = [{"event": "validation", "step": s // 8, "sequences": s, "mse": 0.03, "ssim": keeps_rising(s)}
              for s in early if s <= 6400]
    (twin / "train_log.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    text = " ".join(long_runs_text.long_backtest(tmp_path, ROOT / "results", {}).split())
    assert text.count("Fitted only through") == 1
    assert text.startswith(
        "**Held against the finished runs.** Fitted only through 6,400 sequences, as `convlstm`'s and `simvp`'s are "
        f"so far (their own fits: {rounded} and {rounded}), the finished runs' fits put `zeros` at: "
    )
    # Once the whole track has finished, the fits are held at half the budget: how far a finished run's fit
    # reaches into a budget twice as long.
    for folder in [*tmp_path.glob("mmnist/convlstm__*"), twin]:
        (folder / "train_log.jsonl").unlink()
    text = " ".join(long_runs_text.long_backtest(tmp_path, ROOT / "results", {}).split())
    assert text.startswith(
        "**Held against the finished runs.** Fitted only through 40,000 sequences, half the budget (as a fit at the "
        "budget's end is read for a budget twice as long), the finished runs' fits put `zeros` at: "
    )
    assert f"`mimo-vp` {rounded} (measured: first at 51,200)" in text
    # A run still training that has no fit yet (one point) leaves nothing to hold: the block waits for its fit.
    (twin / "train_log.jsonl").write_text(json.dumps(events[0]) + "\n")
    assert long_runs_text.long_backtest(tmp_path, ROOT / "results", {}).startswith("No run is both still training")


def test_beside_each_fit_the_curve_says_where_it_reached_zeros_or_how_high_it_got():
    """A fit through a curve that flattened can cross inside the points it was fitted to (the long track's `mim`:
    fitted at ~66,700 sequences, highest 0.765 through 80,000), so each fit is told with what the curve did."""
    curve = [{"sequences": s, "ssim": v} for s, v in [(8000, 0.5), (16000, 0.78), (24000, 0.8), (32000, 0.76)]]
    assert long_runs_text.measured_crossing(curve, 0.771, 80000) == "measured: first at 16,000"
    assert long_runs_text.measured_crossing(curve, 0.9, 80000) == "measured: not yet, highest 0.800 at 24,000"
    assert long_runs_text.measured_crossing(curve, 0.9, 32000) == "measured: never, highest 0.800 at 24,000"


def test_the_budget_gains_are_each_model_before_and_after_on_the_same_clips():
    """Each long-track model's 600-step and 10,000-step records side by side (vpbench convention), shorter budget
    first, and the scores that got worse named from the paired test: the stored `mimo-vp` lost 10->30 MSE to its
    block-wise rollout while gaining everywhere else."""
    track, long_track = track_text.Track(ROOT / "results"), track_text.Track(ROOT / "results", track_text.LONG_TRACK)
    text = readme_track.budget_gains(track, long_track)
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    for model in long_track.stored:
        before, after = (t.record(model, "10->10").metrics["vpbench"]["overall"]["ssim"] for t in (track, long_track))
        assert f"| {before:.3f} → {after:.3f} (p" in rows[model]
    worse = " ".join(text.split("Worse after the longer budget (p < 0.05): ")[1].split())
    assert "`mimo-vp` at 10->30 MSE" in worse
    assert "`predrnn`" not in worse and "10->10 SSIM" not in worse


def test_the_double_gains_are_each_landed_model_against_its_long_record():
    """The 2x track's gains block has one row per model stored at both budgets (long record first), and says that
    none is there yet while every model is pending."""
    long_track = track_text.Track(ROOT / "results", track_text.LONG_TRACK)
    double_track = track_text.Track(ROOT / "results", track_text.DOUBLE_TRACK)
    text = readme_track.budget_gains(long_track, double_track)
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert set(rows) - {"model"} == set(double_track.stored) & set(long_track.stored)
    assert rows.keys() & set(double_track.stored), "no model is stored at both budgets: nothing to check"
    for model in rows.keys() & set(double_track.stored):
        tracks = (long_track, double_track)
        before, after = (t.record(model, "10->30").metrics["vpbench"]["overall"]["mse"] for t in tracks)
        assert f"| {before:.4f} → {after:.4f} (p" in rows[model]
    double_track.__dict__["entry"] = dataclasses.replace(double_track.entry, pending=tuple(double_track.trained))
    assert readme_track.budget_gains(long_track, double_track).startswith("No model has a record at both budgets")


def _cast(track, roles: dict[str, str], pending: tuple[str, ...] = ()):
    """`track` with each role (a model name) played by another stored model's records (theirs, renamed), and
    `pending` as the suite's pending list."""
    stored = track_text.Track(ROOT / "results").records
    track.__dict__["records"] = [r for r in stored if r.model.name not in roles] + [
        dataclasses.replace(record, model=dataclasses.replace(record.model, name=role))
        for role, actor in roles.items()
        for record in stored
        if record.model.name == actor
    ]
    track.__dict__["entry"] = dataclasses.replace(track.entry, pending=pending)
    return track


@pytest.fixture(scope="module")
def stand_in_family():
    """The SRVP family played by other stored models (`srvp` by predrnn, the ablations by mim, convlstm and
    mimo-vp; `convgru` by itself), so the verdicts have known answers: predrnn beats all four on 10->10 MSE and
    SSIM, and their 10->10 MSE order is the poster's."""
    roles = {"srvp": "predrnn", "srvp-wo-sa": "mim", "srvp-wo-crossatt": "convlstm", "srvp-wo-rfa": "mimo-vp"}
    return _cast(track_text.Track(ROOT / "results"), roles)


def test_the_srvp_verdicts_follow_the_comparisons(stand_in_family):
    text = srvp_verdicts.track_srvp(stand_in_family)
    flat = " ".join(text.split())
    assert "SRVP beats its backbone `convgru` at both horizons" in flat
    assert '"each ablation hurts" holds at this budget' in flat
    assert "every step p < 0.001" in flat and "the poster's order (" in flat
    # srvp is predrnn here, so against predrnn nothing differs: the claim is "not shown", not "holds"
    assert '"SRVP is the best recurrent model at 10->10" is not shown: no MSE difference from `predrnn`' in flat
    assert all(len(line) <= track_text.WIDTH for line in text.splitlines())


def test_srvp_that_loses_to_its_backbone_is_said_to_lose():
    track = _cast(track_text.Track(ROOT / "results"), {"srvp": "convgru", "convgru": "predrnn"})
    flat = " ".join(srvp_verdicts.backbone(track).split())
    assert "SRVP loses to its backbone `convgru` at both horizons" in flat
    assert "MSE +0.0" in flat  # srvp minus convgru: positive, srvp worse


def test_ablations_not_stored_yet_are_named_and_the_claim_is_not_judged():
    track = _cast(track_text.Track(ROOT / "results"), {"srvp": "predrnn", "srvp-wo-sa": "mim"})
    track.__dict__["entry"] = dataclasses.replace(track.entry, pending=("srvp-wo-rfa", "srvp-wo-crossatt"))
    track.__dict__["records"] = [r for r in track.records if r.model.name not in track.entry.pending]
    flat = " ".join(srvp_verdicts.track_srvp(track).split())
    assert "against `srvp-wo-sa` (without its standard attention, SA) at 10->10 MSE -0.0017" in flat
    assert '`srvp-wo-rfa` and `srvp-wo-crossatt` are pending, so "each ablation hurts" is not judged yet.' in flat
    assert "holds at this budget" not in flat.split("**The poster's claims")[0]
    assert "SRVP beats its backbone" in flat


def test_a_poster_claim_waits_for_rivals_not_stored_yet_unless_a_stored_one_refutes_it():
    """A long track lands model by model: with `mim` and `convlstm` pending, a claim no stored rival refutes is not
    judged yet, and one a stored rival refutes is refuted, the pending ones named either way."""

    def without_mim_and_convlstm(roles):
        track = _cast(track_text.Track(ROOT / "results"), roles, pending=("mim", "convlstm"))
        track.__dict__["records"] = [r for r in track.records if r.model.name not in ("mim", "convlstm")]
        return " ".join(srvp_verdicts.poster_claims(track).split())

    flat = without_mim_and_convlstm({"srvp": "predrnn", "predrnn": "convgru"})  # srvp (predrnn) beats the stored rivals
    assert '"SRVP is the best recurrent model at 10->10" is not judged yet: `mim` and `convlstm` are pending' in flat
    assert "so far `srvp` has lower MSE than `predrnn`" in flat
    assert "holds at this budget" not in flat
    flat = without_mim_and_convlstm({})  # the 600-step srvp, beaten on MSE by stored rivals
    assert '"SRVP is the best recurrent model at 10->10" does not hold at this budget' in flat
    assert "; `mim` and `convlstm` are still pending." in flat


def test_the_sanity_bullet_names_models_that_miss_or_reach_a_target():
    """`convgru` played by `zeros` misses the MSE target (equal intervals are not disjoint) and, as `zeros` scores
    0.771 against last-frame's 0.652, beats `last-frame` on SSIM."""
    track = track_text.Track(ROOT / "results")
    track = _cast(track, {"convgru": "zeros"}, pending=track.entry.pending)
    flat = " ".join(readme_track.track_sanity(track).split())
    assert "All stored trained models but `convgru` beat `zeros` on MSE with disjoint intervals" in flat
    assert (
        "On SSIM at 10->10, with disjoint intervals, no model beats `zeros` (0.771), `convgru` is level with it; "
        "`convgru` beats `last-frame` (0.652)"
    ) in flat
    assert readme_track.beat(["a", "b", "c", "d"]) == "`a`, `b`, `c` and `d` (four models) beat"
    stored = " ".join(readme_track.track_sanity(track_text.Track(ROOT / "results")).split())
    assert "Every stored trained model beats `zeros` on MSE" in stored and "None beats `zeros` on SSIM" in stored


def test_the_sanity_bullet_says_at_which_horizon_a_model_misses_zeros_on_mse():
    """A model can beat `zeros` at 10->10 and not when rolled out to 10->30 (the long track's `mimo-vp` does):
    the bullet once said it missed "at 10->10 and at 10->30". `convgru` here is played by `predrnn` at 10->10
    and by `zeros` itself at 10->30, where equal intervals are not disjoint."""
    track = track_text.Track(ROOT / "results")
    stored = track.records
    actor = {"10->10": "predrnn", "10->30": "zeros"}
    track.__dict__["records"] = [r for r in stored if r.model.name != "convgru"] + [
        dataclasses.replace(record, model=dataclasses.replace(record.model, name="convgru"))
        for record in stored
        if record.model.name == actor.get(record.protocol.name)
    ]
    flat = " ".join(readme_track.track_sanity(track).split())
    zeros_30 = track.record("zeros", "10->30")
    mean = zeros_30.metrics["vpbench"]["overall"]["mse"]
    low, high = zeros_30.confidence_intervals["vpbench"]["mse"]
    shown = f"{mean:.4f} [{low:.4f}, {high:.4f}]"
    assert (
        "On MSE, with disjoint intervals: at 10->10, every stored trained model beats `zeros`; at 10->30, all but "
        f"`convgru` beat it (`convgru` {shown} against {shown})"
    ) in flat
    assert "at 10->10 and at 10->30" not in flat


def test_a_wrong_results_folder_or_readme_is_one_line(tmp_path):
    with pytest.raises(SystemExit, match="declares no entry 'mmnist-cpu-track'"):
        readme_track.main(["--check", "--results-dir", str(tmp_path)])
    with pytest.raises(SystemExit, match="no such file; pass the repository's README.md"):
        readme_track.main(["--check", "--readme", str(tmp_path / "README.md")])


def test_the_long_figure_draws_the_carried_curves_and_nothing_without_points(tmp_path):
    """The README shows the long track's curves as a figure that a rewrite redraws from the carried logs when they
    change, and keeps (byte for byte) when they do not; a runs folder without validation points draws nothing
    rather than an empty frame."""
    import json

    spec = carried_spec("srvp")
    folder = tmp_path / "runs" / "mmnist" / "srvp__small__10-10__seed42__0000000000000000"
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps(spec))
    assert long_runs_text.long_figure(tmp_path / "runs", ROOT / "results", tmp_path / "empty") is None
    events = [
        {"event": "validation", "step": 200 * 2**i, "sequences": 1600 * 2**i, "mse": 0.03, "ssim": ssim}
        for i, ssim in enumerate([0.3, 0.4, 0.5])
    ]
    (folder / "train_log.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    png = tmp_path / "progress.png"
    assert long_runs_text.long_figure(tmp_path / "runs", ROOT / "results", tmp_path / "progress") == (png, True)
    assert png.read_bytes().startswith(b"\x89PNG")
    assert not (tmp_path / "empty.png").exists()

    png.write_bytes(png.read_bytes() + b"\0")  # stands for the same drawing rendered with another machine's fonts
    kept = png.read_bytes()
    assert long_runs_text.long_figure(tmp_path / "runs", ROOT / "results", tmp_path / "progress") == (png, False)
    assert png.read_bytes() == kept
    events.append({"event": "validation", "step": 1600, "sequences": 12800, "mse": 0.03, "ssim": 0.6})
    (folder / "train_log.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    assert long_runs_text.long_figure(tmp_path / "runs", ROOT / "results", tmp_path / "progress") == (png, True)
    assert png.read_bytes() != kept


def test_the_long_track_blocks_say_what_is_pending_until_its_records_land():
    """The long track's status, results and sanity blocks come from its own suite entry: with nothing stored they
    show the sanity rows and name every pending model; as records land (played here by the 600-step ones) they
    list them, and the sweep command they print is the long track's."""
    long_track = track_text.Track(ROOT / "results", track_text.LONG_TRACK)
    sanity_only = [r for r in track_text.Track(ROOT / "results").records if r.model.name in track_text.SANITY]
    long_track.__dict__["records"] = sanity_only
    long_track.__dict__["entry"] = dataclasses.replace(long_track.entry, pending=tuple(long_track.trained))
    status = " ".join(readme_track.track_status(long_track).split())
    assert status.startswith("**Stored:** none of the 11 trained models yet; both sanity rows. **Pending:** `srvp`")
    assert "--entry mmnist-cpu-long --plan" in status
    assert [line.split(" |")[0] for line in readme_track.track_results(long_track).splitlines()[2:]] == [
        "| *zeros (sanity)*",
        "| *last-frame (sanity)*",
    ]
    assert "written once a trained record is stored" in readme_track.track_sanity(long_track, ".")

    long_track.__dict__["records"] = track_text.Track(ROOT / "results").records
    long_track.__dict__["entry"] = dataclasses.replace(long_track.entry, pending=("mimo-vp",))
    status = " ".join(readme_track.track_status(long_track).split())
    assert status.startswith("**Stored:** 10 of 11 trained models (`srvp`,") and "**Pending:** `mimo-vp`;" in status
    assert len(readme_track.track_results(long_track).splitlines()) == 2 + 10 + 2
    assert readme_track.track_sanity(long_track, ".").rstrip().endswith("(0.652).")


def test_the_records_are_read_again_once_a_record_lands_or_leaves(tmp_path):
    """One process may land a record and then rewrite the README (a campaign script): the cache of the suite's
    records must not serve the folder as it was before."""
    import shutil

    results = tmp_path / "results"
    shutil.copytree(ROOT / "results", results, ignore=shutil.ignore_patterns("figures", "*.npz"))
    before = track_text.declared_records(results)
    assert track_text.declared_records(results) is before  # one load per state of the files
    removed = next(record for record in before if record.model.name == "predrnn")
    (results / removed.dataset.name / f"{removed.record_id}.json").unlink()
    after = track_text.declared_records(results)
    assert len(after) < len(before) and removed.record_id not in {record.record_id for record in after}


def test_the_background_bullet_names_one_model_alone_and_does_not_say_below_once_one_is_not():
    """The long track's first record is one model, and its models may pass `zeros`: the bullet must not call a
    single model a range, nor say SSIM stays below `zeros` when a stored model does not."""
    track = track_text.Track(ROOT / "results")
    below = " ".join(readme_track.track_background(track).split())
    assert below.startswith("- **Why SSIM stays below `zeros`.**") and "mean absolute error is" in below
    alone = _cast(track_text.Track(ROOT / "results"), {}, pending=tuple(m for m in track.trained if m != "predrnn"))
    alone.__dict__["records"] = [r for r in alone.records if r.model.name in ("predrnn", *track_text.SANITY)]
    flat = " ".join(readme_track.track_background(alone).split())
    assert "`predrnn`'s mean absolute error is 0.0" in flat and "(`predrnn`) to" not in flat
    level = _cast(track_text.Track(ROOT / "results"), {"convgru": "zeros"}, pending=track.entry.pending)
    assert " ".join(readme_track.track_background(level).split()).startswith("- **Why SSIM favours `zeros`.**")


def test_the_background_bullet_scores_two_different_greys():
    """Its two greys are the best and the worst model's haze, or one model's and a second level: never one grey
    twice (`predrnn`'s 0.0049 once printed 'a uniform grey of 0.005 ... scores 0.80, of 0.005 still 0.80')."""
    import re

    for name in (track_text.TRACK, track_text.LONG_TRACK):
        flat = " ".join(readme_track.track_background(track_text.Track(ROOT / "results", name)).split())
        (greys,) = re.findall(r"a uniform grey of (\d\.\d+) on black scores \d\.\d+, one of (\d\.\d+) scores", flat)
        assert greys[0] != greys[1], flat


def test_the_width_sentence_gives_each_stored_rival_as_multiples_of_srvp_smallest_first():
    """The `small` presets shrink the papers' models by different factors, so the poster-claim verdicts carry each
    stored rival's parameters and MACs over `srvp`'s, from the records; a pending rival is not named."""
    track = _cast(track_text.Track(ROOT / "results"), {}, pending=("mim",))
    track.__dict__["records"] = [r for r in track.records if r.model.name != "mim"]
    flat = " ".join(srvp_verdicts.widths(track).split())
    srvp, simvp, predrnn = (track.record(m, "10->10").model for m in ("srvp", "simvp", "predrnn"))
    assert f"`srvp`'s {srvp.parameters / 1e3:.1f}k parameters" in flat
    # Two significant digits below 10x, whole multiples above.
    assert (
        f"`simvp` {simvp.parameters / srvp.parameters:.0f}x / {simvp.macs_per_sequence / srvp.macs_per_sequence:.2g}x"
        in flat
    )
    assert f"`predrnn` {predrnn.parameters / srvp.parameters:.0f}x /" in flat
    assert "`mim`" not in flat
    rivals = [m for m in (*srvp_verdicts.RECURRENT, *srvp_verdicts.NON_RECURRENT) if m != "mim"]
    positions = [
        flat.index(f"`{m}` ") for m in sorted(rivals, key=lambda m: track.record(m, "10->10").model.parameters)
    ]
    assert positions == sorted(positions)
    # At the papers' presets SRVP is the costly one: its cost over each rival's, from the counted presets.
    from vpbench.catalog import preset_cost

    paper = {m: preset_cost(m, "paper") for m in ("srvp", "simvp", "convgru")}
    assert f"`srvp`'s {paper['srvp']['parameters'] / 1e6:.1f}M parameters" in flat
    simvp_macs = paper["srvp"]["macs_per_sequence"] / paper["simvp"]["macs_per_sequence"]
    simvp_parameters = paper["srvp"]["parameters"] / paper["simvp"]["parameters"]
    assert simvp_macs > 50 and f"`simvp`'s {simvp_parameters:.2g}x / {simvp_macs:.0f}x" in flat
    assert flat.index("`convgru`'s") < flat.index("`simvp`'s")  # the nearest in compute first
    assert "`mim`'s" not in flat
