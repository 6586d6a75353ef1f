"""A longer budget continues a finished shorter run only where that is exactly the longer run from step 0."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from _engine_helpers import smoke_config, weights

from vpbench.engine.checkpoint import load_checkpoint
from vpbench.engine.continuation import same_run_but_budget, why_not_exact
from vpbench.engine.run import prepare, run
from vpbench.errors import VpbenchError
from vpbench.files import read_json_lines


def run_dirs(root) -> dict[int, object]:
    """steps -> run folder, for the runs under `root`."""
    return {load_checkpoint(path)["spec"]["steps"]: path.parent for path in (root / "runs").glob("synthetic/*/last.pt")}


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def without_times(curve: list[dict]) -> list[dict]:
    return [{key: value for key, value in point.items() if key != "wall_time_s"} for point in curve]


@pytest.mark.parametrize("schedule", [None, "plateau"])  # the preset's constant rate; a plateau schedule's state
def test_a_longer_budget_continues_the_finished_run_and_ends_where_training_from_scratch_does(
    tmp_path, capsys, schedule
):
    """The smoke convgru has dropout, so this also holds the RNG stream across the two runs to account."""
    continued, scratch = tmp_path / "continued", tmp_path / "scratch"
    run(smoke_config(continued, steps=8, schedule=schedule))
    capsys.readouterr()
    [longer_record] = run(smoke_config(continued, steps=16, schedule=schedule))
    message = capsys.readouterr().err
    [reference_record] = run(smoke_config(scratch, steps=16, schedule=schedule))

    shorter_dir, longer_dir = run_dirs(continued)[8], run_dirs(continued)[16]
    assert f"continuing the finished run {shorter_dir} from step 8" in message
    assert "its 8 steps are this run's first 8" in message
    for name in ("last.pt", "best.pt"):
        assert_same_weights(weights(longer_dir / name), weights(run_dirs(scratch)[16] / name))
    assert without_times(longer_record.training.curve) == without_times(reference_record.training.curve)
    assert longer_record.training.selected_step == reference_record.training.selected_step
    assert longer_record.metrics == reference_record.metrics
    shorter_hash = load_checkpoint(shorter_dir / "last.pt")["identity"]["spec_hash"]
    assert longer_record.training.continued_from == [{"run": shorter_dir.name, "spec_hash": shorter_hash, "step": 8}]
    assert reference_record.training.continued_from == []
    # The longer run's log tells its whole story: the shorter run's events, where it continued, its own steps.
    events = read_json_lines(longer_dir / "train_log.jsonl")
    assert {"event": "continue", "step": 8, "from": shorter_dir.name} in events
    assert [e["step"] for e in events if e["event"] == "validation"] == [4, 8, 12, 16]
    # The shorter run is left as it was: its checkpoints still name it, and its records stay its own.
    assert load_checkpoint(shorter_dir / "last.pt")["step"] == 8
    assert load_checkpoint(shorter_dir / "last.pt")["continued_from"] == []


def test_a_budget_aware_schedule_starts_from_step_zero_and_says_why(tmp_path, capsys):
    run(smoke_config(tmp_path, steps=8, schedule="onecycle"))
    capsys.readouterr()
    [record] = run(smoke_config(tmp_path, steps=16, schedule="onecycle"))
    assert "the onecycle learning-rate schedule spreads over the whole budget; training from step 0" in (
        capsys.readouterr().err
    )
    assert record.training.continued_from == []
    assert read_json_lines(run_dirs(tmp_path)[16] / "train_log.jsonl")[0]["step"] == 0


def test_no_resume_unfinished_or_different_runs_are_not_continued(tmp_path, capsys):
    run(smoke_config(tmp_path, steps=8, seed=7))  # another seed: another run, never continued
    [record] = run(smoke_config(tmp_path, steps=16, resume=False))
    assert record.training.continued_from == []
    assert "continuing" not in capsys.readouterr().err


def test_the_conditions_of_an_exact_continuation(tmp_path):
    base = prepare(smoke_config(tmp_path, steps=8)).spec
    longer = dataclasses.replace(base, steps=16, threads=2, budget="--steps 16")  # execution fields may differ
    assert same_run_but_budget(base, longer)
    assert not same_run_but_budget(longer, base), "a longer run is never a start for a shorter one"
    assert not same_run_but_budget(dataclasses.replace(base, seed=1), longer)
    assert not same_run_but_budget(dataclasses.replace(base, learning_rate=1.0), longer)
    assert why_not_exact(base, longer) is None
    cosine = {**base.optimizer, "schedule": "cosine"}
    assert "cosine" in why_not_exact(base, dataclasses.replace(longer, optimizer=cosine))
    plateau = {**base.optimizer, "schedule": "plateau"}
    assert why_not_exact(base, dataclasses.replace(longer, optimizer=plateau)) is None
    # PredRNN's sampling stop is 62.5% of the budget unless the spec's is earlier; without one in the spec it is
    # the constructor's (50,000), as in the built model.
    for stop, exact in [(4, True), (500, False), (None, False)]:
        config = {} if stop is None else {"sampling_stop_iter": stop}
        pair = [dataclasses.replace(spec, model="predrnn", model_config=config) for spec in (base, longer)]
        assert (why_not_exact(*pair) is None) == exact, stop
        assert exact or "scheduled-sampling stop" in why_not_exact(*pair)
    odd = dataclasses.replace(base, steps=6)
    assert "between two validations" in why_not_exact(odd, longer)


@pytest.mark.parametrize("damage", ["missing", "unfinished"])
def test_a_shorter_run_without_its_final_checkpoint_is_not_a_start(tmp_path, damage):
    run(smoke_config(tmp_path, steps=8))
    last = run_dirs(tmp_path)[8] / "last.pt"
    if damage == "missing":
        last.unlink()
    else:
        state = load_checkpoint(last)
        from vpbench.engine.checkpoint import save_checkpoint

        state["step"] = 4
        save_checkpoint(last, {k: v for k, v in state.items() if k not in ("format", "version")})
    [record] = run(smoke_config(tmp_path, steps=16))
    assert record.training.continued_from == []


def test_a_damaged_best_checkpoint_in_the_source_stops_with_what_to_type_and_touches_nothing(tmp_path):
    run(smoke_config(tmp_path, steps=8))
    source = run_dirs(tmp_path)[8]
    (source / "best.pt").write_bytes((source / "best.pt").read_bytes()[:-100])
    before = {path.name: path.read_bytes() for path in source.iterdir() if path.is_file()}
    with pytest.raises(VpbenchError, match=r"cannot continue the finished run .*pass --no-resume to train it from"):
        run(smoke_config(tmp_path, steps=16))
    assert {path.name: path.read_bytes() for path in source.iterdir() if path.is_file()} == before
    [record] = run(smoke_config(tmp_path, steps=16, resume=False))
    assert record.training.continued_from == []
