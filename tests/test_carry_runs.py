"""tools/carry_runs.py: run folders go through git and back without losing a step, a log or a curve."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from _engine_helpers import SMOKE_MODEL, smoke_config, weights
from _tools import load_tool
from filelock import FileLock

from vpbench.engine.checkpoint import load_checkpoint, save_checkpoint
from vpbench.engine.config import RunConfig
from vpbench.engine.run import run
from vpbench.engine.suite import load_suite
from vpbench.errors import RunInterrupted
from vpbench.files import read_json_lines
from vpbench.registry import create_model, get_model_entry

carry_runs = load_tool("carry_runs")
ROOT = Path(__file__).resolve().parents[1]
RUN = "mmnist/srvp__small__10-10__seed42__0123456789abcdef"


def make_run(runs: Path, step: int, name: str = RUN, padding: int = 0) -> Path:
    """A run folder as the trainer leaves it: spec, log up to `step`, last.pt at `step`, best.pt."""
    folder = runs / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.json").write_text(json.dumps({"model": name.split("/")[1].split("__")[0]}))
    events = [{"event": "train", "step": s} for s in range(10, step + 1, 10)]
    (folder / "train_log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    save_checkpoint(folder / "last.pt", {"step": step, "padding": "x" * padding})
    save_checkpoint(folder / "best.pt", {"step": step - step % 50, "padding": "x" * padding})
    (folder / ".lock").touch()
    return folder


def test_a_run_goes_through_git_and_back_and_resumes_where_it_stopped(tmp_path):
    runs, carried, fresh = tmp_path / "runs", tmp_path / "carried", tmp_path / "fresh"
    make_run(runs, step=120)
    assert carry_runs.save(runs, carried) == [f"{RUN}: step 120, checkpoints carried"]
    assert sorted(p.name for p in (carried / RUN).iterdir()) == ["best.pt", "last.pt", "spec.json", "train_log.jsonl"]
    assert carry_runs.restore(carried, fresh) == [f"{RUN}: restored at step 120"]
    assert load_checkpoint(fresh / RUN / "last.pt")["step"] == 120
    assert (fresh / RUN / "train_log.jsonl").read_text() == (runs / RUN / "train_log.jsonl").read_text()


def test_a_real_run_stopped_carried_and_restored_on_another_machine_ends_as_if_never_stopped(tmp_path, monkeypatch):
    """The trainer's own folder: interrupted at step 6 of 12 (a SIGTERM, as at the end of a session), saved,
    restored into an empty runs folder, resumed: the final weights equal those of an uninterrupted run."""
    run(smoke_config(tmp_path / "uninterrupted"))
    model_class = get_model_entry(SMOKE_MODEL).cls
    real_loss = model_class.training_loss

    def stop_at_six(self, context, target, step):
        if step == 6:
            os.kill(os.getpid(), signal.SIGTERM)  # the trainer checkpoints before the next step and stops
        return real_loss(self, context, target, step)

    with monkeypatch.context() as patch:
        patch.setattr(model_class, "training_loss", stop_at_six)
        with pytest.raises(RunInterrupted):
            run(smoke_config(tmp_path / "first-machine"))
    carry_runs.save(tmp_path / "first-machine" / "runs", tmp_path / "git")
    assert carry_runs.restore(tmp_path / "git", tmp_path / "second-machine" / "runs")[0].endswith("restored at step 7")
    run(smoke_config(tmp_path / "second-machine"))
    [(name, resumed)] = [(f.name, f) for f in (tmp_path / "second-machine" / "runs" / "synthetic").iterdir()]
    reference = weights(tmp_path / "uninterrupted" / "runs" / "synthetic" / name / "last.pt")
    final = weights(resumed / "last.pt")
    assert {"event": "resume", "step": 7} in read_json_lines(resumed / "train_log.jsonl")  # not trained again
    assert all(torch.equal(final[key], reference[key]) for key in reference)


def test_restore_never_replaces_a_run_that_is_further_along(tmp_path):
    runs, carried = tmp_path / "runs", tmp_path / "carried"
    make_run(runs, step=100)
    carry_runs.save(runs, carried)
    make_run(runs, step=150)  # this machine kept its runs and trained on
    assert carry_runs.restore(carried, runs) == [f"{RUN}: kept {runs / RUN} (step 150, carried 100)"]
    assert load_checkpoint(runs / RUN / "last.pt")["step"] == 150


def test_large_checkpoints_stay_behind_and_their_log_is_history(tmp_path):
    runs, carried, fresh = tmp_path / "runs", tmp_path / "carried", tmp_path / "fresh"
    make_run(runs, step=60, padding=200_000)
    assert carry_runs.save(runs, carried, max_mb=0.1) == [f"{RUN}: log only, step 60 (checkpoints 0.2 MB > 0.1 MB)"]
    assert sorted(p.name for p in (carried / RUN).iterdir()) == ["spec.json", "train_log.jsonl"]
    assert carry_runs.restore(carried, fresh) == [f"{RUN}: not restored (no checkpoint carried; its log is history)"]
    assert not fresh.exists()


def test_a_run_without_a_checkpoint_yet_carries_its_log(tmp_path):
    runs = tmp_path / "runs"
    folder = make_run(runs, step=30)
    (folder / "last.pt").unlink()
    (folder / "best.pt").unlink()
    assert carry_runs.save(runs, tmp_path / "carried") == [f"{RUN}: log only, step 30 (no checkpoint written yet)"]


def test_a_corrupt_carried_checkpoint_is_one_line_and_nothing_is_restored(tmp_path):
    carried, runs = tmp_path / "carried", tmp_path / "runs"
    make_run(carried, step=50)
    (carried / RUN / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit, match=r"^carry_runs restore: .*last.pt is not a torch file"):
        carry_runs.main(["restore", str(runs), "--carried", str(carried)])
    assert not runs.exists()


def test_a_restarted_run_does_not_replace_the_longer_carried_log(tmp_path):
    runs, carried = tmp_path / "runs", tmp_path / "carried"
    make_run(runs, step=300, padding=200_000)
    carry_runs.save(runs, carried, max_mb=0.1)
    restarted = tmp_path / "fresh-machine"
    make_run(restarted, step=40, padding=200_000)
    report = carry_runs.save(restarted, carried, max_mb=0.1)
    assert report == [f"{RUN}: kept the carried log (step 300); this one is behind it (step 40), a restart"]
    assert carry_runs.logged_step(carried / RUN) == 300


def test_a_run_that_is_still_training_is_skipped_and_the_finished_ones_are_saved(tmp_path):
    """A finished run lands while the sweep trains the others: `save` carries it and leaves the training run's
    carried copy as it was (its files are being written), saying so; once stopped, it is carried too."""
    runs, carried = tmp_path / "runs", tmp_path / "carried"
    training = make_run(runs, step=20)
    finished_name = "mmnist/srvp-wo-sa__small__10-10__seed42__00000000000000ff"
    make_run(runs, step=40, name=finished_name)
    make_run(carried, step=10)  # the training run's copy from an earlier save
    with FileLock(training / ".lock"):
        report = carry_runs.save(runs, carried)
    assert report == [
        f"{finished_name}: step 40, checkpoints carried",
        f"{RUN}: skipped, still training (its lock is held); stop it and save again to carry it",
    ]
    assert load_checkpoint(carried / RUN / "last.pt")["step"] == 10
    assert carry_runs.logged_step(carried / RUN) == 10
    assert carry_runs.save(runs, carried)[1] == f"{RUN}: step 20, checkpoints carried"


def test_a_training_run_whose_checkpoints_stay_behind_carries_its_log_without_stopping(tmp_path):
    """A wide run's checkpoints never travel, so stopping it to carry its log only cost steps: its log is copied
    while it trains, up to the last whole line (the trainer may be halfway through writing one)."""
    runs, carried = tmp_path / "runs", tmp_path / "carried"
    training = make_run(runs, step=60, padding=200_000)
    with (training / "train_log.jsonl").open("a") as log:
        log.write('{"event": "train", "st')  # a line the trainer has not finished
    with FileLock(training / ".lock"):
        report = carry_runs.save(runs, carried, max_mb=0.1)
    assert report == [f"{RUN}: log only, step 60, still training (checkpoints 0.2 MB > 0.1 MB)"]
    assert sorted(p.name for p in (carried / RUN).iterdir()) == ["spec.json", "train_log.jsonl"]
    whole_lines = (training / "train_log.jsonl").read_text().rsplit("\n", 1)[0] + "\n"
    assert (carried / RUN / "train_log.jsonl").read_text() == whole_lines and whole_lines.endswith('"step": 60}\n')


def test_every_committed_carried_run_can_be_read():
    """What is committed under campaign/runs is whole: its checkpoints load, and the log reaches their step (to
    within one logging interval: a run stopped between two log lines checkpoints at the step it reached)."""
    for folder in carry_runs.run_folders(carry_runs.CARRIED):
        last = folder / "last.pt"
        if last.is_file():
            assert carry_runs.checkpoint_step(last) < carry_runs.logged_step(folder) + RunConfig.log_every
        assert (folder / "train_log.jsonl").stat().st_size > 0


def test_the_runs_that_can_be_carried_are_the_ones_the_readme_names():
    """last.pt holds the weights and Adam's two moments: 12 bytes a parameter. Under the limit at the small
    preset: the SRVP family and convgru, which the README's long track runs first for that reason."""
    [entry] = [e for e in load_suite(ROOT / "results" / "suite.json") if e.name == "mmnist-cpu-long"]
    fits = set()
    for name in entry.models:
        model = create_model(name, entry.run["preset"])
        if 12 * sum(p.numel() for p in model.parameters()) / 1e6 <= carry_runs.MAX_CHECKPOINT_MB:
            fits.add(name)
    assert fits - {"zeros", "last-frame"} == {"srvp", "srvp-wo-sa", "srvp-wo-rfa", "srvp-wo-crossatt", "convgru"}
