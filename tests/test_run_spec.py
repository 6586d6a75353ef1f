"""One run, one resolved spec: defaults decided once, bad values refused once, records keyed by the spec
(never replaced), resume only within a spec, `eval` and `check` rebuilding runs from stored data."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from _engine_helpers import run_dir, smoke_config
from typer.testing import CliRunner

from vpbench.engine import run as run_module
from vpbench.engine import spec as spec_module
from vpbench.engine.checkpoint import load_checkpoint, save_checkpoint
from vpbench.engine.run import run
from vpbench.engine.spec import RunSpec, resolve_spec
from vpbench.errors import VpbenchError
from vpbench.results.store import RecordExists, load_records, write_record

ROOT = Path(__file__).resolve().parent.parent


def test_two_budgets_of_one_model_give_two_records_and_neither_replaces_the_other(tmp_path):
    (short,) = run(smoke_config(tmp_path, steps=4, val_every=2))
    before = {p.name: p.read_bytes() for p in (tmp_path / "results" / "synthetic").iterdir()}
    (longer,) = run(smoke_config(tmp_path, steps=8, val_every=2))
    assert short.spec_hash != longer.spec_hash and short.record_id != longer.record_id
    records = load_records(tmp_path / "results")
    assert sorted(r.training.steps for r in records) == [4, 8]
    for name, content in before.items():  # the first record and its companions are untouched
        assert (tmp_path / "results" / "synthetic" / name).read_bytes() == content
    runs = sorted(p.name for p in (tmp_path / "runs" / "synthetic").iterdir())
    assert len(runs) == 2 and all(short.spec_hash in r or longer.spec_hash in r for r in runs)


def test_the_same_spec_again_is_idempotent_and_writes_nothing(tmp_path, monkeypatch):
    (first,) = run(smoke_config(tmp_path, steps=4, val_every=2))
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "results").rglob("*")}
    monkeypatch.setattr(run_module, "train", lambda *a, **k: pytest.fail("a stored spec was trained again"))
    (again,) = run(smoke_config(tmp_path, steps=4, val_every=2))
    assert again.to_dict() == first.to_dict()
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "results").rglob("*")}


def test_the_store_refuses_to_replace_a_record(tmp_path):
    (record,) = run(smoke_config(tmp_path, model="zeros"))
    with pytest.raises(RecordExists, match="already stored"):
        write_record(tmp_path / "results", record)


def test_a_larger_budget_after_a_finished_run_trains_its_own_run_without_a_traceback(tmp_path):
    """The run directory once ignored the step count: the restored one-cycle schedule then raised torch's
    'Tried to step N times'. Now another budget is another run directory, resumed only by itself."""
    run(smoke_config(tmp_path, model="simvp", steps=4, val_every=2))
    (longer,) = run(smoke_config(tmp_path, model="simvp", steps=8, val_every=2))
    assert longer.training.steps == 8 and len(longer.training.curve) == 4


def test_the_default_cpu_budget_is_a_fixed_step_count_never_a_timing(tmp_path, monkeypatch):
    monkeypatch.setattr(run_module, "calibrate_seconds_per_step", lambda *a, **k: pytest.fail("timed the machine"))
    config = smoke_config(tmp_path, steps=None)
    spec = resolve_spec(config, "cpu", steps_resolver=run_module._steps_resolver(config))
    assert spec.steps == spec_module.DEFAULTS.steps_cpu and spec.budget.startswith("default CPU budget")


def test_a_time_budget_is_calibrated_once_and_recorded(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(run_module, "calibrate_seconds_per_step", lambda *a, **k: calls.append(1) or 0.5)
    config = smoke_config(tmp_path, steps=None, time_budget_s=10.0)
    first = resolve_spec(config, "cpu", steps_resolver=run_module._steps_resolver(config))
    again = resolve_spec(config, "cpu", steps_resolver=run_module._steps_resolver(config))
    assert first.steps == again.steps == 18 and "calibrated" in first.budget and len(calls) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": 0}, "--steps must be an integer >= 1, got 0"),
        ({"steps": -5}, "--steps must be an integer >= 1, got -5"),
        ({"batch_size": 0}, "--batch-size must be an integer >= 1"),
        ({"seed": -1}, "--seed must be an integer >= 0"),
        ({"time_budget_s": 0.0, "steps": None}, "--time-budget must be a positive duration"),
        ({"learning_rate": -1.0}, "--lr must be a positive number"),
        ({"learning_rate": float("nan")}, "--lr must be a positive number"),
        ({"test_size": 0}, "--test-size must be an integer >= 1"),
        ({"data_options": {"size": "abc"}}, "synthetic option size must be a whole number >= 1, got 'abc'"),
        ({"data_options": {"size": "64", "height": "2"}}, "synthetic option height must be a whole number >= 4"),
    ],
)
def test_impossible_values_are_refused_before_anything_runs(tmp_path, change, message):
    with pytest.raises(VpbenchError, match=message.replace("(", r"\(")):
        run(smoke_config(tmp_path, **change))
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("arguments", [["--steps", "0"], ["--steps", "-5"], ["--seed", "-1"], ["--lr", "-1"],
                                       ["--time-budget", "0s"], ["--batch-size", "0"], ["--schedule", "linear"],
                                       ["--data-option", "size=abc"]])
def test_bad_values_on_the_command_line_are_one_line_usage_errors(tmp_path, arguments):
    command = [sys.executable, "-m", "vpbench", "run", "--model", "zeros", "--dataset", "synthetic",
               "--results-dir", str(tmp_path / "results"), "--runs-dir", str(tmp_path / "runs"), *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1, result.stderr
    assert not (tmp_path / "results").exists()


def test_a_protocol_given_twice_is_evaluated_once(tmp_path):
    """`--protocol 4->4 --protocol 4-4` wrote the record, then failed on its own record as 'already stored'."""
    records = run(smoke_config(tmp_path, steps=2, protocols=["4->4", "4-4"]))
    assert [record.protocol.name for record in records] == ["4->4"]
    assert records[0].spec_hash == run(smoke_config(tmp_path, steps=2))[0].spec_hash  # the same spec as once


def test_a_schedule_from_the_command_line_trains_with_it_and_is_its_own_spec(tmp_path, capsys):
    """`--schedule onecycle` on a constant-lr preset: the learning rate moves during training, and the run is a
    new spec (its own folder and record) beside the preset's."""
    (constant,) = run(smoke_config(tmp_path))
    (onecycle,) = run(smoke_config(tmp_path, schedule="onecycle"))
    assert [r.training.optimizer["schedule"] for r in (constant, onecycle)] == ["constant", "onecycle"]
    assert constant.spec_hash != onecycle.spec_hash and constant.record_id != onecycle.record_id
    rates = {}
    for folder in (tmp_path / "runs" / "synthetic").iterdir():
        spec = json.loads((folder / "spec.json").read_text())
        events = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]
        rates[spec["optimizer"]["schedule"]] = {event["lr"] for event in events if event.get("event") == "train"}
    assert len(rates["constant"]) == 1 and len(rates["onecycle"]) > 1
    assert "adam lr 0.001 onecycle, run dir" in capsys.readouterr().err  # the banner says how it trains
    # `vpbench check` re-runs a record from its spec: the schedule has to come back with it.
    from vpbench.gate import config_from_spec

    stored = RunSpec.from_dict(onecycle.spec)
    again = resolve_spec(config_from_spec(stored, list(stored.protocols), tmp_path / "scratch", "check"), "cpu")
    assert again.spec_hash == stored.spec_hash


def test_eval_stores_the_checkpoints_own_seed_batch_size_and_learning_rate(tmp_path):
    (trained,) = run(smoke_config(tmp_path, seed=7, batch_size=4, learning_rate=3e-3))
    best = run_dir(tmp_path) / "best.pt"
    config = dataclasses.replace(
        smoke_config(tmp_path, results_dir=tmp_path / "evaluated"), model=None, dataset=None, preset=None,
        seed=None, batch_size=None, learning_rate=None, steps=None, checkpoint=best,
    )
    (record,) = run(config)
    assert record.provenance.seed == 7 and record.training.batch_size == 4
    assert record.training.optimizer["lr"] == 3e-3 and record.training.steps == trained.training.steps
    assert record.metrics == trained.metrics and record.training.curve == trained.training.curve


def test_eval_refuses_options_that_contradict_the_checkpoint(tmp_path):
    run(smoke_config(tmp_path))
    config = smoke_config(tmp_path, model="simvp", checkpoint=run_dir(tmp_path) / "best.pt")
    with pytest.raises(VpbenchError, match="was trained as --model convgru, not simvp"):
        run(config)
    # One --protocol with another context length: the error says which ones the checkpoint can evaluate (it
    # said "run the others separately", with no others given).
    config = smoke_config(tmp_path, checkpoint=run_dir(tmp_path) / "best.pt", protocols=["2->4"], steps=None)
    with pytest.raises(VpbenchError, match=r"trained on 4->4 and sees 4 context frames; 2->4 needs another count: "
                       r"evaluate protocols 4->N \(e.g. 4->8\)$"):  # fmt: skip
        run(config)


def test_a_spec_round_trips_through_records_and_checkpoints(tmp_path):
    (record,) = run(smoke_config(tmp_path))
    spec = RunSpec.from_dict(record.spec)
    assert spec.spec_hash == record.spec_hash and hash(spec) == hash(RunSpec.from_dict(spec.to_dict()))
    state = load_checkpoint(run_dir(tmp_path) / "best.pt")
    assert state["spec"] == record.spec
    assert dataclasses.replace(spec, threads=4, eval_batch_size=2).spec_hash == spec.spec_hash  # execution only
    assert dataclasses.replace(spec, test_size=8).spec_hash != spec.spec_hash


def test_a_second_process_on_the_same_run_is_refused_not_interleaved(tmp_path):
    from filelock import FileLock

    config = smoke_config(tmp_path)
    spec = run_module.prepare(config).spec
    directory = tmp_path / "runs" / "synthetic" / spec.run_name()
    directory.mkdir(parents=True)
    with FileLock(str(directory / ".lock")):
        with pytest.raises(VpbenchError, match="another vpbench process is running this exact run"):
            run(config)


def test_a_checkpoint_with_flipped_bytes_inside_a_tensor_is_refused(tmp_path):
    path = tmp_path / "good.pt"
    save_checkpoint(path, {"model": {"weight": torch.linspace(0, 1, 4096)}})
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        contents = {name: archive.read(name) for name in names}
    storage = max((n for n in names if "/data/" in n), key=lambda n: len(contents[n]))
    data = bytearray(contents[storage])
    data[1000] ^= 0xFF
    contents[storage] = bytes(data)
    damaged = tmp_path / "damaged.pt"
    with zipfile.ZipFile(damaged, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in names:
            archive.writestr(name, contents[name])
    assert torch.load(damaged, weights_only=True)["model"]["weight"].shape == (4096,)  # torch itself notices nothing
    with pytest.raises(VpbenchError, match="fails its content check"):
        load_checkpoint(damaged)
    load_checkpoint(path)


def test_no_module_of_the_results_package_imports_the_engine():
    for path in sorted((ROOT / "vpbench" / "results").glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = [
            node.module if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in (node.names if isinstance(node, ast.Import) else [None])
        ]
        assert not [m for m in imported if m and m.startswith("vpbench.engine")], path.name


def test_the_readme_quick_start_in_a_checkout_leaves_committed_results_alone(tmp_path):
    """The quick start once replaced the committed record of the same model; now any ad-hoc spec writes its
    own record, `check` ignores it (not in the suite), and the leaderboard is unchanged."""
    from vpbench.gate import run_check

    results = tmp_path / "results"
    suite = {"version": 1, "entries": [{
        "name": "fixtures", "dataset": "synthetic", "preset": "smoke", "models": ["zeros", "convgru"],
        "protocols": ["4->4"], "steps": 12, "batch_size": 4, "test_size": 16, "val_size": 8, "val_every": 4,
    }]}  # fmt: skip
    results.mkdir()
    (results / "suite.json").write_text(json.dumps(suite))
    for model in ("zeros", "convgru"):
        run(smoke_config(tmp_path, model=model, checkpoint_every=None, data_options={}))
    from vpbench.gate import suite_records
    from vpbench.results.leaderboard import leaderboard_path, render_leaderboard

    leaderboard_path(results).write_text(render_leaderboard(suite_records(results), results))
    committed = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}
    assert run_check(results, rerun=False).ok
    run(smoke_config(tmp_path, model="convgru", steps=6, val_every=3, data_options={}))  # an ad-hoc budget
    assert all(p.read_bytes() == content for p, content in committed.items())
    report = run_check(results, rerun=False)
    assert report.ok and any("not declared by the suite" in note for note in report.notes)
    # The committed figures still regenerate: they draw the suite's records, as the leaderboard does (they
    # once drew every record and refused the folder: "the records span 2 test settings").
    from vpbench.cli import app

    for figure in (["horizon", "--metric", "ssim"], ["efficiency", "--metric", "ssim"], ["samples", "--index", "0"]):
        arguments = ["plot", *figure, "--results-dir", str(results), "--protocol", "4->4", "--formats", "png"]
        outcome = CliRunner().invoke(app, arguments)
        assert outcome.exit_code == 0, (figure, outcome.output)


def test_a_run_is_shown_beside_every_stored_budget_of_its_model(tmp_path):
    """Once a longer track lands beside the first, the quick start's closing lines name both leaderboard rows
    of the model, each with its budget (they once showed whichever came first)."""
    from vpbench.cli.running import _context_lines

    results = tmp_path / "results"
    entry = {"dataset": "synthetic", "preset": "small", "models": ["convgru"], "protocols": ["4->4"],
             "batch_size": 4, "test_size": 16, "val_size": 8, "val_every": 2}
    entries = [{**entry, "name": f"track-{steps}", "steps": steps} for steps in (2, 3)]
    results.mkdir()
    (results / "suite.json").write_text(json.dumps({"version": 1, "entries": entries}))
    small = {"preset": "small", "checkpoint_every": None, "data_options": {}, "val_every": 2}
    for steps in (2, 3):
        run(smoke_config(tmp_path, model="convgru", steps=steps, **small))
    adhoc = smoke_config(tmp_path, model="convgru", steps=1, **{**small, "val_every": 1})
    lines = _context_lines(run(adhoc), adhoc)
    assert len(lines) == 1
    assert "leaderboard row (2 steps x 4, 16 clips)" in lines[0]
    assert "leaderboard row (3 steps x 4, 16 clips)" in lines[0]
    assert lines[0].index("(2 steps") < lines[0].index("(3 steps")  # the budgets in order


def test_the_eval_banner_names_the_checkpoint_and_the_clips_the_split_really_has(tmp_path, capsys):
    run(smoke_config(tmp_path, data_options={"size": 12}, test_size=None))
    banner = capsys.readouterr().err
    assert "all 12 test clips" in banner and "first 100" not in banner
    config = dataclasses.replace(
        smoke_config(tmp_path, results_dir=tmp_path / "again", data_options={"size": 12}), model=None,
        dataset=None, preset=None, steps=None, checkpoint=run_dir(tmp_path) / "best.pt",
    )
    run(config)
    banner = capsys.readouterr().err
    assert "no training: evaluating" in banner and "best.pt" in banner
    assert "parameter-free" not in banner and "run dir" not in banner


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["eval", "--checkpoint", "{text}"],
         re.escape("is not a torch file (not written by torch.save); pass a vpbench best.pt")),
        (["eval", "--checkpoint", "{text}", "--from", "openstl", "--model", "convlstm", "--dataset", "synthetic"],
         re.escape("is not a torch file (not written by torch.save); pass the reference code base's")),
        (["eval", "--checkpoint", "{text}", "--from", "openstll", "--model", "convlstm", "--dataset", "synthetic"],
         "unknown checkpoint source 'openstll'; did you mean 'openstl'"),
        (["eval", "--checkpoint", "{text}", "--from", "openstl", "--model", "srvp", "--dataset", "synthetic"],
         "--from openstl maps convlstm, mim, predrnn, predrnn\\+\\+, not srvp"),
        (["upgrade-records", "--results-dir", "{missing}"], "results folder .* does not exist"),
    ],
)
def test_new_entry_points_answer_bad_input_in_one_line(tmp_path, arguments, message):
    text = tmp_path / "notes.pth"
    text.write_text("these are not weights\n")
    arguments = [a.format(text=text, missing=tmp_path / "nowhere") for a in arguments]
    command = [sys.executable, "-m", "vpbench", *arguments, "--results-dir", str(tmp_path / "results")]
    if arguments[0] == "upgrade-records":
        command = [sys.executable, "-m", "vpbench", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("dataset_patch", [2, 8])
def test_only_the_predrnn_family_takes_its_patch_size_from_the_dataset(tmp_path, monkeypatch, dataset_patch):
    """MIMO-VP patchifies by 2 in its paper on Moving MNIST; the dataset's factor (4 there, for the PredRNN
    family) once replaced it, so the track trained MIMO-VP on 8x8 instead of 16x16 tokens."""
    from vpbench.data import base as data_base

    real = data_base.get_dataset_spec

    def with_patch_size(name):
        return dataclasses.replace(real(name), patch_size=dataset_patch)

    monkeypatch.setattr(data_base, "get_dataset_spec", with_patch_size)
    for model in ("convlstm", "predrnn", "predrnn++", "mim"):
        spec = resolve_spec(smoke_config(tmp_path, model=model), "cpu")
        assert spec.model_config["patch_size"] == dataset_patch, model
    mimo = resolve_spec(smoke_config(tmp_path, model="mimo-vp"), "cpu")
    assert mimo.model_config["patch_size"] == 2  # the preset's, whatever the dataset says
    chosen = resolve_spec(smoke_config(tmp_path, model="mimo-vp", model_overrides={"patch_size": 4}), "cpu")
    assert chosen.model_config["patch_size"] == 4  # an explicit --model-option still wins
    assert "patch_size" not in resolve_spec(smoke_config(tmp_path, model="simvp"), "cpu").model_config


@pytest.mark.parametrize("preset", ["paper", "small"])
def test_a_preset_resolved_on_moving_mnist_is_the_preset_unchanged(preset):
    """Moving MNIST is every model's home dataset: what `vpbench run` builds there must be the registered
    preset, argument for argument (the dataset's patch rule once changed MIMO-VP's here; the golden tests
    build models directly and could not see it)."""
    from vpbench.engine.config import RunConfig
    from vpbench.registry import get_preset, list_models

    for model in list_models():
        config = RunConfig(model=model, dataset="mmnist", preset=preset, steps=1, device="cpu")
        assert resolve_spec(config, "cpu").model_config == get_preset(model, preset).model, model


def test_a_whole_number_for_a_float_argument_is_the_same_model_and_the_same_spec(tmp_path):
    """`--model-option dropout=0` once hashed apart from `dropout=0.0` (JSON 0 against 0.0): the same model
    trained twice under two run directories, and a preset set to 0.0 would not find the first run."""
    specs = [
        resolve_spec(smoke_config(tmp_path, model_overrides={"dropout": value}), "cpu") for value in (0, 0.0)
    ]
    assert specs[0].spec_hash == specs[1].spec_hash
    assert specs[0].model_config["dropout"] == 0.0 and isinstance(specs[0].model_config["dropout"], float)
    layers = resolve_spec(smoke_config(tmp_path, model_overrides={"num_layers": 1}), "cpu").model_config
    assert isinstance(layers["num_layers"], int)  # an int argument stays an int
