"""Learning curves beyond the committed figure: `vpbench extrapolate` (the fit and its edge cases, on records
whose curves follow a known law, so the crossing it reports can be checked by hand) and `vpbench plot
progress` (curves of runs still training, read from their logs)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import numpy as np
import pytest
from _records import make_record, store

from vpbench.errors import VpbenchError
from vpbench.results.curves import extrapolate_crossings
from vpbench.results.store import load_records
from vpbench.results.table import TableOptions

SEQUENCES = range(400, 4801, 400)


def with_curve(model: str, law) -> tuple:
    record, arrays = make_record(model, test_size=16)
    curve = [{"step": s // 8, "sequences": s, "wall_time_s": float(s), "mse": 0.03, "ssim": law(s)} for s in SEQUENCES]
    return dataclasses.replace(record, training=dataclasses.replace(record.training, curve=curve)), arrays


def rising(s: int) -> float:
    return 0.1 + 0.1 * math.log(s / 1000) if s >= 1600 else 0.95  # with outliers early


def falling(s: int) -> float:
    return 0.5 - 0.01 * math.log(s)


@pytest.fixture
def results(tmp_path):
    rising_run, falling_run = with_curve("srvp", rising), with_curve("convgru", falling)
    store(tmp_path, [rising_run, falling_run, make_record("zeros", test_size=16)])
    return tmp_path


def validation_ssim(record) -> float:
    return record.training.curve[-1]["ssim"]


def test_the_fit_solves_for_the_sanity_rows_value_from_the_chosen_points_only(results):
    records = load_records(results)
    target, crossings = extrapolate_crossings(records, "ssim", TableOptions(), "zeros", 1600, results)
    (zeros,) = [record for record in records if record.model.name == "zeros"]
    # The curves are validation scores, so the target is zeros' score on the validation clips, not its test score.
    assert target == validation_ssim(zeros) != zeros.metrics["vpbench"]["overall"]["ssim"]
    srvp, convgru = crossings
    assert srvp.model == "srvp" and srvp.points == 9 and srvp.slope == pytest.approx(0.1)
    assert srvp.sequences == pytest.approx(1000 * math.exp((target - 0.1) / 0.1), rel=1e-6)
    assert convgru.model == "convgru" and convgru.sequences is None  # moving away from the target: no crossing
    everything = extrapolate_crossings(load_records(results), "ssim", TableOptions(), "zeros", 0, results)[1]
    assert everything[0].slope != pytest.approx(0.1)  # the early outlier is what from_sequences leaves out


def test_a_fit_through_fewer_points_is_held_against_where_the_whole_curve_got(results, monkeypatch, vpbench_cli):
    """`through_sequences` fits only the points up to there (as early as a run still training has come), while
    `reached` is where the whole curve first met the target: an early fit beside what the curve did next."""
    records = load_records(results)
    target, crossings = extrapolate_crossings(records, "ssim", TableOptions(), "zeros", 0, results, 1200)
    srvp, convgru = crossings
    assert (srvp.points, srvp.last_sequences) == (3, 1200)  # the early outliers only: 400, 800, 1,200
    assert srvp.slope == pytest.approx(0.0) and srvp.sequences is None  # flat there, so no crossing
    # Where each whole curve first met the target, past the fitted points too (srvp's 0.95 outlier at 400 is above
    # any SSIM `zeros` gets on these clips).
    for crossing, law in ((srvp, rising), (convgru, falling)):
        assert crossing.reached == next((s for s in SEQUENCES if law(s) >= target), None)
    assert srvp.reached == 400
    later = extrapolate_crossings(records, "ssim", TableOptions(), "zeros", 1600, results, 3200)[1][0]
    assert (later.model, later.points, later.last_sequences) == ("srvp", 5, 3200)
    assert later.slope == pytest.approx(0.1)  # the same line through fewer of its points
    with pytest.raises(VpbenchError, match="3\\+ validation points from 1,600 through 2,000 sequences"):
        extrapolate_crossings(records, "ssim", TableOptions(), "zeros", 1600, results, 2000)

    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = vpbench_cli("extrapolate", "--results-dir", str(results), "--through-sequences", "3200")
    assert code == 0, out
    assert "fitted from 1,600 through 3,200 sequences" in out and "curve reached it at" in out


def test_bad_requests_are_one_line_errors(results):
    records = load_records(results)
    with pytest.raises(VpbenchError, match=r"no 'last-frame' row in .*sanity rows here: \['zeros'\]"):
        extrapolate_crossings(records, "ssim", TableOptions(), "last-frame", 1600, results)
    with pytest.raises(VpbenchError, match="3\\+ validation points from 99,999 sequences on"):
        extrapolate_crossings(records, "ssim", TableOptions(), "zeros", 99_999, results)
    with pytest.raises(VpbenchError, match="extrapolate a test metric"):
        extrapolate_crossings(records, "loss", TableOptions(), "zeros", 1600, results)


def test_cli_prints_each_models_crossing(results, monkeypatch, vpbench_cli):
    monkeypatch.setenv("COLUMNS", "160")
    code, out, _ = vpbench_cli("extrapolate", "--results-dir", str(results))
    assert code == 0, out
    assert "srvp" in out and " sequences" in out and "never (moving away)" in out


def test_progress_draws_unfinished_runs_from_their_logs_beside_the_sanity_rows(tmp_path, vpbench_cli):
    """`plot progress` watches a campaign: a finished run and one cut off mid-way (solid / dotted, labelled
    with its step), the stored sanity row as a line, written beside the runs, never under results/."""
    import shutil

    from _engine_helpers import smoke_config

    from vpbench.engine.run import run
    from vpbench.results.curves import progress_figure, run_curves

    run(smoke_config(tmp_path, model="convgru"))
    run(smoke_config(tmp_path, model="zeros"))
    (finished,) = [path for path in (tmp_path / "runs" / "synthetic").iterdir() if path.name.startswith("convgru")]
    cut = finished.with_name(finished.name.replace("convgru", "convlstm").replace("__", "__x", 1))
    shutil.copytree(finished, cut)
    spec = json.loads((cut / "spec.json").read_text())
    (cut / "spec.json").write_text(json.dumps({**spec, "model": "convlstm"}))
    log = (cut / "train_log.jsonl").read_text().splitlines()
    kept = [line for line in log if json.loads(line).get("step", 0) <= 8 and '"done"' not in line]
    (cut / "train_log.jsonl").write_text("\n".join(kept) + '\n{"event": "train", "st')  # killed mid-line

    curves = run_curves(tmp_path / "runs")
    assert sorted(c.spec["model"] for c in curves) == ["convgru", "convlstm"]  # zeros has no curve
    figure = progress_figure(curves, "ssim", "sequences", load_records(tmp_path / "results"))
    axes = figure.axes[0]
    labels = sorted(text.get_text() for text in axes.texts)
    assert labels == ["convgru (done)", "convlstm (step 8 of 12)", "zeros (validation)"]
    styles = {line.get_linestyle() for line in axes.lines}
    assert {"-", ":", "--"} <= styles

    code, _, error = vpbench_cli("plot", "progress", "--runs-dir", str(tmp_path / "runs"), "--formats", "png",
                                 "--results-dir", str(tmp_path / "results"), "--fit", "--from-sequences", "8")
    assert code == 0, error
    assert (tmp_path / "runs" / "progress_ssim_sequences.png").is_file()
    assert not (tmp_path / "results" / "figures").exists()


def test_progress_gives_two_runs_of_one_model_their_own_colour(tmp_path):
    """A width pilot beside the preset's run of the same model was drawn in the model's one colour, so its
    curve, its fit and its label could not be told from the other run's."""
    import shutil

    from _engine_helpers import smoke_config
    from matplotlib.colors import to_hex

    from vpbench.engine.run import run
    from vpbench.results.curves import progress_figure, run_curves

    run(smoke_config(tmp_path, model="convgru"))
    (preset_run,) = (tmp_path / "runs" / "synthetic").iterdir()
    pilot = preset_run.with_name(preset_run.name[:-16] + "0" * 16)
    shutil.copytree(preset_run, pilot)
    spec = json.loads((pilot / "spec.json").read_text())
    hidden = spec["model_config"]["hidden_channels"]
    (pilot / "spec.json").write_text(json.dumps({**spec, "model_config": {**spec["model_config"],
                                                                           "hidden_channels": hidden + 1}}))
    figure = progress_figure(run_curves(tmp_path / "runs"), "ssim", "sequences", [])
    colours = {text.get_text(): to_hex(text.get_color()) for text in figure.axes[0].texts}
    assert sorted(colours) == ["convgru (done)", f"convgru hidden_channels={hidden + 1} (done)"]
    assert len(set(colours.values())) == 2


def test_progress_refuses_runs_of_two_settings_in_one_line(tmp_path):
    from _engine_helpers import smoke_config

    from vpbench.engine.run import run
    from vpbench.results.curves import progress_figure, run_curves

    run(smoke_config(tmp_path, model="convgru"))
    run(smoke_config(tmp_path, model="convgru", steps=8))
    with pytest.raises(VpbenchError, match="the runs span 2 settings .*12 steps x 4.*add --dataset/--protocol"):
        progress_figure(run_curves(tmp_path / "runs"), "ssim")
    assert len(run_curves(tmp_path / "runs", steps=8)) == 1
    with pytest.raises(VpbenchError, match="no run folder under nowhere has a validation point"):
        progress_figure([], "ssim", where=" under nowhere")
    with pytest.raises(VpbenchError, match=r"no runs folder at .*missing; pass the --runs-dir that `vpbench run`"):
        run_curves(tmp_path / "missing")  # a typo in --runs-dir is named, not reported as "no validation yet"


def fake_run(runs_dir, model: str, law, test_size: int = 16, until: int = 4800, model_config: dict | None = None,
             **spec_changes):
    """A run folder as the trainer leaves it mid-campaign: its spec and a log of validation points."""
    varied = json.dumps([model_config, spec_changes], sort_keys=True)
    spec_hash = f"{test_size:08d}" + hashlib.sha256(varied.encode()).hexdigest()[:8]
    folder = runs_dir / "mmnist" / f"{model}__small__10-10__seed42__{spec_hash}"
    folder.mkdir(parents=True)
    spec = {"version": 1, "model": model, "dataset": "mmnist", "data_source": "offline-5k", "train_protocol": "10->10",
            "preset": "small", "steps": 10_000, "batch_size": 8, "val_size": 256, "test_size": test_size, "seed": 42}
    if model_config is not None:
        spec["model_config"] = model_config
    spec.update(spec_changes)
    (folder / "spec.json").write_text(json.dumps(spec))
    events = [{"event": "validation", "step": s // 8, "sequences": s, "ssim": law(s)} for s in SEQUENCES if s <= until]
    (folder / "train_log.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))


def test_extrapolate_runs_fits_a_campaign_still_training_against_the_stored_sanity_row(
    tmp_path, vpbench_cli, monkeypatch
):
    from vpbench.results.curves import extrapolate_runs, run_curves

    store(tmp_path / "results", [make_record("zeros", test_size=16)])
    fake_run(tmp_path / "runs", "srvp", lambda s: 0.1 + 0.1 * math.log(s / 1000), until=3200)
    fake_run(tmp_path / "runs", "predrnn", lambda s: 0.5, until=2000)  # two points from 1,600 on: no fit
    runs = run_curves(tmp_path / "runs")
    target, (srvp, predrnn) = extrapolate_runs(runs, load_records(tmp_path / "results"), "ssim")
    assert target == validation_ssim(load_records(tmp_path / "results")[0])
    assert srvp.points == 5 and srvp.last_sequences == 3200 and srvp.slope == pytest.approx(0.1)
    assert srvp.sequences == pytest.approx(1000 * math.exp((target - 0.1) / 0.1), rel=1e-6)
    # A run too young to fit is listed, not dropped: its last point, and no slope or crossing.
    assert (predrnn.model, predrnn.points, predrnn.last_sequences, predrnn.fitted) == ("predrnn", 2, 2000, False)
    assert predrnn.slope is None and predrnn.sequences is None

    monkeypatch.setenv("COLUMNS", "160")
    code, out, _ = vpbench_cli("extrapolate", "--runs-dir", str(tmp_path / "runs"), "--results-dir",
                               str(tmp_path / "results"))
    assert code == 0 and "srvp" in out and "validation ssim under" in out
    assert "no fit: 2 of 3 points needed from 1,600 sequences on" in out

    other = tmp_path / "other"
    fake_run(other, "srvp", lambda s: 0.3, test_size=64)  # no sanity row was evaluated on these test clips
    with pytest.raises(VpbenchError, match=r"no stored 'zeros' record on the runs' setting .*64 test clips"):
        extrapolate_runs(run_curves(other), load_records(tmp_path / "results"), "ssim")


def test_a_step_validated_again_after_a_hard_kill_is_one_point_the_later(tmp_path):
    """A kill between a validation's log line and its checkpoint makes the resumed run validate that step again:
    the log then holds it twice, and the curve and its fit must count it once, as the run that went on saw it."""
    from vpbench.results.curves import run_curves

    fake_run(tmp_path / "runs", "srvp", lambda s: 0.1 + 0.1 * math.log(s / 1000), until=3200)
    (log,) = (tmp_path / "runs").rglob("train_log.jsonl")
    again = {"event": "validation", "step": 300, "sequences": 2400, "ssim": 0.2}
    with log.open("a") as handle:
        handle.write(json.dumps({"event": "resume", "step": 250}) + "\n" + json.dumps(again) + "\n")
    (run,) = run_curves(tmp_path / "runs")
    assert [point["step"] for point in run.points] == [50, 100, 150, 200, 250, 300, 350, 400]
    assert run.points[5]["ssim"] == 0.2


def test_two_runs_of_one_model_go_by_what_differs_from_its_preset(tmp_path):
    """A variant trained beside the preset's run (here SRVP with the paper's dropout) is named by its changed arguments
    in fits and figures, not by a spec hash (and two unnamed "srvp" rows were indistinguishable)."""
    from vpbench.registry import get_preset
    from vpbench.results.curves import extrapolate_runs, run_curves, run_labels

    preset = dict(get_preset("srvp", "small").model)
    store(tmp_path / "results", [make_record("zeros", test_size=16)])
    fake_run(tmp_path / "runs", "srvp", lambda s: 0.1 + 0.05 * math.log(s / 1000), model_config=preset)
    variant = {**preset, "dropout": 0.5, "attention_dropout": 0.2}
    fake_run(tmp_path / "runs", "srvp", lambda s: 0.1 + 0.1 * math.log(s / 1000), model_config=variant)
    curves = run_curves(tmp_path / "runs")
    assert sorted(run_labels(curves).values()) == ["srvp", "srvp attention_dropout=0.2 dropout=0.5"]
    _, crossings = extrapolate_runs(curves, load_records(tmp_path / "results"), "ssim")
    assert [c.model for c in crossings] == ["srvp attention_dropout=0.2 dropout=0.5", "srvp"]  # the nearest first


def test_a_run_with_another_schedule_or_learning_rate_goes_by_it(tmp_path):
    """`vpbench run --schedule onecycle` (or `--lr`) beside the preset's run: the curves are named by the training
    setting that differs, not by a spec hash (`run_labels` looked at model arguments only)."""
    import dataclasses

    from vpbench.registry import get_preset, settings_that_train
    from vpbench.results.curves import run_curves, run_labels

    preset = get_preset("srvp", "small")
    optimizer = settings_that_train(dataclasses.asdict(preset.train))
    config, lr = dict(preset.model), preset.train.lr
    fake_run(tmp_path, "srvp", lambda s: 0.3, model_config=config, optimizer=optimizer, learning_rate=lr)
    onecycle = {**optimizer, "schedule": "onecycle"}
    fake_run(tmp_path, "srvp", lambda s: 0.4, model_config=config, optimizer=onecycle, learning_rate=lr)
    fake_run(tmp_path, "srvp", lambda s: 0.5, model_config=config, optimizer=optimizer, learning_rate=lr / 2)
    assert sorted(run_labels(run_curves(tmp_path)).values()) == ["srvp", "srvp lr=0.0005", "srvp schedule=onecycle"]


def test_progress_fit_draws_each_runs_extrapolation_to_the_budget_and_where_it_meets_zeros(tmp_path):
    """`plot progress --fit`: the same log-linear fit as `extrapolate`, straight on a log axis, out to the
    budget (10,000 steps x 8 here), with an x where it meets the sanity row; a run too young to fit has none."""
    from vpbench.results.curves import progress_figure, run_curves

    store(tmp_path / "results", [make_record("zeros", test_size=16)])
    fake_run(tmp_path / "runs", "srvp", lambda s: -0.4 + 0.3 * math.log(s / 1000))  # meets zeros (0.22) at ~7,800
    fake_run(tmp_path / "runs", "predrnn", lambda s: 0.5, until=2000)  # two points from 1,600 on: no fit
    records = load_records(tmp_path / "results")
    target = validation_ssim(records[0])
    figure = progress_figure(run_curves(tmp_path / "runs"), "ssim", "sequences", records, fit_from=1600)
    axes = figure.axes[0]
    assert axes.get_xscale() == "log"
    (fit,) = [line for line in axes.lines if line.get_linestyle() == "-."]  # srvp's only
    xs, ys = fit.get_data()
    assert xs[0] == 1600 and xs[-1] == pytest.approx(80_000)
    assert ys == pytest.approx(-0.4 + 0.3 * np.log(xs / 1000))
    (meets,) = [line for line in axes.lines if line.get_marker() == "x"]
    assert meets.get_xdata()[0] == pytest.approx(1000 * math.exp((target + 0.4) / 0.3), rel=1e-6)
    assert meets.get_ydata()[0] == target

    with pytest.raises(VpbenchError, match="the fit is drawn against training sequences"):
        progress_figure(run_curves(tmp_path / "runs"), "ssim", "time", records, fit_from=1600)
    runs = run_curves(tmp_path / "runs")
    with pytest.raises(VpbenchError, match=r"no stored 'last-frame' record .*stored sanity rows there: \['zeros'\]"):
        progress_figure(runs, "ssim", sanity_records=records, fit_from=1600, against="last-frame")


def test_a_sanity_record_without_a_validation_score_is_named_not_read_at_its_test_score(tmp_path):
    """A sanity record stored before sanity rows carried a validation score: a fit must not be solved for its test
    score (the curves are on other clips), so it is a one-line error that says what to do; a figure still draws
    its line, labelled as the test score it is."""
    from vpbench.results.curves import curves_figure, extrapolate_runs, progress_figure, run_curves

    zeros, arrays = make_record("zeros", test_size=16)
    older = dataclasses.replace(zeros, training=dataclasses.replace(zeros.training, curve=[]))
    store(tmp_path / "results", [with_curve("srvp", rising), (older, arrays)])
    records = load_records(tmp_path / "results")
    with pytest.raises(VpbenchError, match=r"'zeros' record .* has no ssim on the validation clips .*rerun"):
        extrapolate_crossings(records, "ssim", TableOptions(), "zeros", 1600, tmp_path / "results")
    figure = curves_figure(records, "ssim", TableOptions(), results_dir=tmp_path / "results")
    assert "zeros (test)" in [text.get_text() for text in figure.axes[0].texts]

    fake_run(tmp_path / "runs", "srvp", rising)
    runs = run_curves(tmp_path / "runs")
    with pytest.raises(VpbenchError, match=r"'zeros' record .* has no ssim on the validation clips"):
        extrapolate_runs(runs, records, "ssim")
    labels = [text.get_text() for text in progress_figure(runs, "ssim", sanity_records=records).axes[0].texts]
    assert "zeros (test)" in labels

    fake_run(tmp_path / "fewer", "srvp", rising, val_size=128)  # zeros scored on 256 validation clips
    with pytest.raises(VpbenchError, match=r"scored on 256 validation clips and the curves on 128; .*--val-size 128"):
        extrapolate_runs(run_curves(tmp_path / "fewer"), [zeros], "ssim")


def test_a_parameter_free_run_stores_its_score_on_the_validation_clips(tmp_path):
    """`zeros` predicts black frames, so its validation MSE is the mean squared target pixel of the validation
    clips, computed here from the clips themselves; one point at step 0, apart from its test score."""
    import torch
    from _engine_helpers import smoke_config

    from vpbench.data import open_split
    from vpbench.engine.run import run

    (record,) = run(smoke_config(tmp_path, model="zeros"))
    (point,) = record.training.curve
    assert (point["step"], point["sequences"]) == (0, 0)
    clips = torch.stack([open_split("synthetic", "val", 8, None, size=64)[index] for index in range(8)])
    expected = (clips[:, 4:].double() / 255).pow(2).mean().item()
    assert point["mse"] == pytest.approx(expected, rel=1e-5) and point["loss"] == pytest.approx(expected, rel=1e-5)
    assert record.training.best_validation_loss == point["loss"]
    assert point["mse"] != record.metrics["vpbench"]["overall"]["mse"]  # other clips
