"""`vpbench sweep`: validates the whole grid first, runs it (in-process or as parallel one-thread jobs),
skips what is stored under exactly the spec `run` would resolve, emits a Slurm job array on request."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from _engine_helpers import smoke_config

from vpbench.engine import spec as spec_module
from vpbench.engine import sweep_plan
from vpbench.engine.provenance import machine_id
from vpbench.engine.run import run
from vpbench.engine.suite import load_suite, select_configs
from vpbench.engine.sweep import grid, plan_sweep, run_sweep, slurm_script
from vpbench.errors import VpbenchError


def test_sweep_runs_each_model_once_and_skips_stored_records(tmp_path):
    template = dataclasses.replace(smoke_config(tmp_path), model="")
    calls = []

    def runner(config):
        calls.append(config.model)
        return run(config)

    first = run_sweep(plan_sweep(grid(template, ["zeros", "last-frame"])), runner, log=lambda line: None)
    second = run_sweep(plan_sweep(grid(template, ["zeros", "last-frame"])), runner, log=lambda line: None)
    assert first == [("zeros", "done"), ("last-frame", "done")]
    assert second == [("zeros", "skipped"), ("last-frame", "skipped")]
    assert calls == ["zeros", "last-frame"]


def test_an_unknown_model_anywhere_in_the_grid_fails_before_anything_runs(tmp_path):
    template = dataclasses.replace(smoke_config(tmp_path), model="")
    with pytest.raises(VpbenchError, match="unknown model 'convlstn'; did you mean 'convlstm'"):
        plan_sweep(grid(template, ["zeros", "convlstn"]))
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()


def test_the_skip_check_uses_the_preset_run_resolves_by_default(tmp_path, monkeypatch):
    """No --preset: sweep must look for the records `run` writes (it once looked for `small` ones always)."""
    monkeypatch.setattr(spec_module, "DEFAULTS", dataclasses.replace(spec_module.DEFAULTS, preset_cpu="smoke"))
    template = dataclasses.replace(smoke_config(tmp_path), model="", preset=None)
    (record,) = run(dataclasses.replace(template, model="zeros"))
    assert record.model.preset == "smoke"
    (item,) = plan_sweep(grid(template, ["zeros"]))
    assert item.stored and item.spec.preset == "smoke"


def test_two_jobs_run_side_by_side_with_one_thread_each(tmp_path):
    template = dataclasses.replace(smoke_config(tmp_path), model="", threads=None)
    items = plan_sweep(grid(template, ["zeros", "last-frame"]))
    lines = []
    outcome = run_sweep(items, runner=None, jobs=2, log=lines.append)
    assert outcome == [("zeros", "done"), ("last-frame", "done")]
    assert sum("started" in line and "(1 thread(s))" in line for line in lines) == 2
    assert len(list((tmp_path / "results" / "synthetic").glob("*.json"))) == 2
    logs = list((tmp_path / "runs" / "sweep-logs").glob("*.log"))
    assert len(logs) == 2 and all("evaluated 16/16 clips" in log.read_text() for log in logs)
    assert all(re.search(r"\| spec \w+ \| started \d{4}-\d\d-\d\dT\d\d:\d\d", log.read_text()) for log in logs)  # when
    assert [state for _, state in run_sweep(plan_sweep(grid(template, ["zeros"])), None, jobs=2)] == ["skipped"]


def test_slurm_script_is_a_job_array_over_the_models():
    script = slurm_script(["convlstm", "srvp"], ["--dataset", "mmnist", "--steps", "100"])
    assert "#SBATCH --array=0-1" in script
    assert "MODELS=(convlstm srvp)" in script
    assert 'vpbench run --model "${MODELS[$SLURM_ARRAY_TASK_ID]}" --dataset mmnist --steps 100' in script


def _two_entry_suite(tmp_path):
    (tmp_path / "suite.json").write_text(
        '{"version": 1, "entries": ['
        '{"name": "a", "dataset": "mmnist", "models": ["zeros", "srvp", "mim", "convlstm"], "steps": 600},'
        '{"name": "b", "dataset": "mmnist", "models": ["zeros"], "preset": "smoke"}]}'
    )
    return load_suite(tmp_path / "suite.json")


def test_suite_models_choose_and_order_the_runs(tmp_path):
    """`--models mim,srvp` runs those two, mim first: a long campaign lands its cheapest models first."""
    entries = _two_entry_suite(tmp_path)
    configs = select_configs(entries, ["a"], ["mim", "srvp"], tmp_path)
    assert [config.model for config in configs] == ["mim", "srvp"]
    assert all(config.steps == 600 for config in configs)
    everything = select_configs(entries, None, None, tmp_path)
    assert [config.model for config in everything] == ["zeros", "srvp", "mim", "convlstm", "zeros"]


def test_a_suite_entry_may_checkpoint_more_often_than_it_validates_without_changing_its_spec(tmp_path):
    """A long campaign checkpoints every few minutes: that is execution, so the record's spec is the same."""
    from vpbench.engine.spec import resolve_spec

    (tmp_path / "suite.json").write_text(
        '{"version": 1, "entries": ['
        '{"name": "a", "dataset": "mmnist", "models": ["srvp"], "steps": 600, "val_every": 200},'
        '{"name": "b", "dataset": "mmnist", "models": ["srvp"], "steps": 600, "val_every": 200,'
        ' "checkpoint_every": 50}]}'
    )
    plain, frequent = select_configs(load_suite(tmp_path / "suite.json"), None, None, tmp_path)
    assert frequent.checkpoint_every == 50 and plain.checkpoint_every is None
    plain_spec, frequent_spec = resolve_spec(plain, "cpu"), resolve_spec(frequent, "cpu")
    assert (plain_spec.checkpoint_every, frequent_spec.checkpoint_every) == (200, 50)
    assert plain_spec.spec_hash == frequent_spec.spec_hash


def test_suite_models_and_entries_that_are_not_declared_are_refused(tmp_path):
    entries = _two_entry_suite(tmp_path)
    with pytest.raises(VpbenchError, match=r"--models \['convlstm'\] not in the chosen suite entries"):
        select_configs(entries, ["b"], ["convlstm"], tmp_path)
    with pytest.raises(VpbenchError, match=r"^unknown suite entry 'c'\. Valid suite entries: a, b$"):
        select_configs(entries, ["c"], None, tmp_path)



def test_a_suite_run_takes_a_thread_count_but_refuses_settings_the_suite_fixes(tmp_path, vpbench_cli):
    """`--threads 2` with `--suite` gives a lone long run both cores (it once was silently ignored: the run
    trained on one thread); `--steps` and the like would train another budget than the suite declares, so they
    are one-line errors rather than ignored."""

    from vpbench.engine.spec import resolve_spec

    entries = _two_entry_suite(tmp_path)
    (one,), (two,) = (select_configs(entries, ["b"], None, tmp_path, threads=n) for n in (None, 2))
    assert two.threads == 2 and resolve_spec(two, "cpu").threads == 2
    assert resolve_spec(two, "cpu").spec_hash == resolve_spec(one, "cpu").spec_hash  # the same run, resumable
    for given in (["--steps", "100"], ["--preset", "small", "--seed", "1"]):
        code, _, error = vpbench_cli("sweep", "--suite", str(tmp_path / "suite.json"), *given)
        assert code == 2 and "with --suite: the suite fixes every run's settings" in error
        assert all(option in error for option in given if option.startswith("--"))


@pytest.mark.parametrize("models", ["", " , "])
def test_an_empty_models_list_is_refused_not_read_as_all(tmp_path, vpbench_cli, models):
    """`--models "$EMPTY"` started the whole grid of thirteen models, as the default 'all' does."""
    folders = ["--results-dir", str(tmp_path / "results"), "--runs-dir", str(tmp_path / "runs")]
    code, _, error = vpbench_cli("sweep", "--models", models, "--dataset", "synthetic", "--steps", "1", *folders)
    assert code == 2
    assert error == f"error: --models {models!r} names no model; give a,b,... or 'all'\n"
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results").exists()


def test_plan_says_where_each_run_stands_from_its_files_alone(tmp_path, vpbench_cli):
    """`sweep --plan` (a campaign's status): stored, trained awaiting evaluation, at step k of N with the
    pace from the training log, or not started; it trains nothing and writes nothing."""

    from vpbench.engine.checkpoint import load_checkpoint, save_checkpoint
    from vpbench.engine.sweep_plan import progress

    template = dataclasses.replace(smoke_config(tmp_path), model="")
    run(dataclasses.replace(template, model="convgru"))
    run(dataclasses.replace(template, model="zeros"))
    convgru, zeros, convlstm = plan_sweep(grid(template, ["convgru", "zeros", "convlstm"]))
    assert progress(convgru) == "stored" and progress(zeros) == "stored" and progress(convlstm) == "not started"
    convlstm.run_dir.mkdir(parents=True)
    (convlstm.run_dir / "spec.json").write_text("{}")  # what a run writes before its first checkpoint
    assert progress(convlstm).startswith("started, no checkpoint yet; not running, run folder last written 0 min ago")
    (convlstm.run_dir / "spec.json").unlink()

    for record in (tmp_path / "results" / "synthetic").glob("convgru__*"):
        record.unlink()  # trained, but its records are gone: evaluation is what a sweep would do next
    (convgru,) = plan_sweep(grid(template, ["convgru"]))
    assert progress(convgru).startswith("trained (12 of 12 steps); evaluation next; last validation (step 12, 48 ")

    last = convgru.run_dir / "last.pt"
    state = load_checkpoint(last)
    payload = {key: value for key, value in state.items() if key not in ("format", "version")}
    save_checkpoint(last, {**payload, "step": 4})  # as if killed after the checkpoint at step 4
    text = progress(convgru, now=last.stat().st_mtime + 600)
    assert text.startswith("checkpointed at step 4 of 12 (logged step 12), about ") and "min ago" in text
    # (a log line this test's run wrote while the machine was busy is set aside, and said so)
    pattern = (
        r" s per step \(1 thread\)( \(\d+ contended log lines? set aside\))?; "
        r"last validation \(step 12, 48 sequences\): MSE 0\."
    )
    assert re.search(pattern, text), text
    assert "; not running, run folder last written 10 min ago" in text
    # A process that holds the run's lock is training it, however old its files (and a restored folder that
    # nobody trains is "not running", however fresh).
    from filelock import FileLock

    with FileLock(str(convgru.run_dir / ".lock")):
        assert "; training now, run folder last written 10 min ago" in progress(convgru, now=last.stat().st_mtime + 600)
    assert "; not running," in progress(convgru)

    before = sorted(path.name for path in tmp_path.rglob("*"))
    code, out, _ = vpbench_cli("sweep", "--dataset", "synthetic", "--models", "convgru,convlstm", "--preset", "smoke",
                               "--protocol", "4->4", "--steps", "12", "--batch-size", "4", "--test-size", "16",
                               "--val-size", "8", "--val-every", "4", "--data-option", "size=64", "--device", "cpu",
                               "--plan", "--results-dir", str(tmp_path / "results"),
                               "--runs-dir", str(tmp_path / "runs"))
    assert code == 0, out
    assert "convgru (seed 42, spec " in out and "checkpointed at step 4 of 12" in out and "convlstm" in out
    assert out.splitlines()[-1].startswith("training left: about ")  # the campaign total closes the plan
    assert out.splitlines()[-1].endswith("no pace measured for convlstm (not counted)")
    assert sorted(path.name for path in tmp_path.rglob("*")) == before


def stored_convgru_run(tmp_path):
    """A stored 12-step convgru smoke run: (a 36-step config of the same step cost that trains from step 0,
    the records, the 4->4 record, its seconds per step). From step 0: `--no-resume`, or it would continue the
    stored run (engine/continuation.py) and its estimates would price 24 steps."""
    from vpbench.results.store import load_records

    template = dataclasses.replace(smoke_config(tmp_path), model="")
    run(dataclasses.replace(template, model="convgru"))
    records = load_records(tmp_path / "results")
    (stored,) = [record for record in records if record.protocol.name == "4->4"]
    longer = dataclasses.replace(template, steps=36, resume=False)
    return longer, records, stored, stored.training.wall_time_s / stored.training.steps


def test_plan_paces_unstarted_runs_by_a_stored_run_of_the_same_step_cost(tmp_path):
    """A run not started yet is estimated from the longest stored run that agrees on everything a step costs
    (model, its configuration, data, batch, device, threads), whatever its budget; a different batch size is
    another cost, and an untrained predictor needs no training."""
    from vpbench.engine.sweep_plan import campaign_estimate, progress, stored_pace
    longer, records, stored, seconds_per_step = stored_convgru_run(tmp_path)
    convgru, zeros, convlstm = plan_sweep(grid(longer, ["convgru", "zeros", "convlstm"]))
    assert not convgru.stored and convgru.spec.spec_hash != stored.spec_hash
    pace = stored_pace(convgru.spec, records)
    assert pace.seconds_per_step == pytest.approx(seconds_per_step)
    assert pace.stored_run == f"its stored 12-step run {stored.spec_hash[:8]}"
    assert progress(convgru, records=records) == (
        f"not started; about {36 * seconds_per_step / 60:.0f} min of training at {seconds_per_step:.1f} s per step "
        f"(the pace of its stored 12-step run {stored.spec_hash[:8]})"
    )
    assert progress(convlstm, records=records) == "not started"  # nothing measured its step

    (other_batch,) = plan_sweep(grid(dataclasses.replace(longer, batch_size=2), ["convgru"]))
    assert stored_pace(other_batch.spec, records) is None

    line = campaign_estimate([convgru, zeros, convlstm], records, jobs=2)
    hours = 36 * seconds_per_step / 3600
    assert line == (
        f"training left: about {hours:.1f} h in one job; about {hours:.1f} h of wall time with --jobs 2 "
        "(evaluation not included); no pace measured for convlstm (not counted)"
    )
    # With one job the wall time is the total: the line says what two jobs would take instead.
    assert campaign_estimate([convgru, zeros, convlstm], records, jobs=1) == line


def test_plan_counts_only_the_steps_a_continued_run_adds(tmp_path):
    """A longer budget of a finished constant-schedule run continues it (engine/continuation.py): the plan
    prices the steps it adds, not the whole budget; with --no-resume, the whole budget."""
    fresh_config, records, _, seconds_per_step = stored_convgru_run(tmp_path)
    (continued,) = plan_sweep(grid(dataclasses.replace(fresh_config, resume=True), ["convgru"]))
    assert sweep_plan.training_left(continued, records)[0] == pytest.approx((36 - 12) * seconds_per_step)
    shorter_run = next((tmp_path / "runs" / "synthetic").iterdir()).name
    assert sweep_plan.progress(continued, records=records).startswith(
        f"not started; continues the finished run {shorter_run}; about "
    )
    (fresh,) = plan_sweep(grid(fresh_config, ["convgru"]))
    assert sweep_plan.training_left(fresh, records)[0] == pytest.approx(36 * seconds_per_step)


def test_runs_not_started_are_paced_by_their_stored_run_scaled_to_the_campaigns_logged_paces(
    tmp_path, monkeypatch
):
    """Stored short runs measured elsewhere overstate a campaign several times over: once an unfinished run has
    logged a pace, its ratio to its own stored run's scales the estimates of the runs not started."""
    from vpbench.engine.sweep_plan import PaceScale, campaign_estimate, pace_scale, progress, stored_pace
    longer, records, stored, seconds_per_step = stored_convgru_run(tmp_path)
    (resumed,) = plan_sweep(grid(longer, ["convgru"]))
    assert pace_scale([resumed], records) is None  # nothing logged here yet
    resumed.run_dir.mkdir(parents=True)
    (resumed.run_dir / "last.pt").write_bytes(b"")  # pace_scale reads only its existence, progress its step (patched)
    logged = 1 / (0.25 * seconds_per_step)  # four times the stored run's steps per second
    # A checkpointed run that has logged no pace yet is paced like a run not started: its stored run, scaled.
    monkeypatch.setattr(sweep_plan, "checkpoint_step", lambda path: 6)
    (resumed.run_dir / "train_log.jsonl").write_text("")
    half = PaceScale(0.5, (("convgru", 0.5),))
    assert "scaled by 0.50)" in progress(resumed, records=records, scale=half)
    (resumed.run_dir / "train_log.jsonl").write_text(
        "".join(json.dumps({"event": "train", "step": 10 * i, "steps_per_s": logged}) + "\n" for i in range(1, 4))
    )
    scale = pace_scale([resumed], records)
    assert scale.factor == pytest.approx(0.25) and scale.ratios[0][0] == "convgru"
    assert scale.describe() == (
        "runs not started are paced by their stored run scaled by 0.25: the median of the logged paces here "
        "over their stored runs' (convgru 0.25)"
    )

    (fresh,) = plan_sweep(grid(dataclasses.replace(longer, steps=48), ["convgru"]))
    pace = stored_pace(fresh.spec, records, half)
    assert pace.seconds_per_step == pytest.approx(0.5 * seconds_per_step)
    assert progress(fresh, records=records, scale=half) == (
        f"not started; about {48 * 0.5 * seconds_per_step / 60:.0f} min of training at "
        f"{0.5 * seconds_per_step:.1f} s per step (the pace of its stored 12-step run {stored.spec_hash[:8]}, "
        f"{seconds_per_step:.1f} s, scaled by 0.50)"
    )
    hours = 48 * 0.5 * seconds_per_step / 3600
    assert campaign_estimate([fresh], records, jobs=1, scale=half).startswith(f"training left: about {hours:.1f} h")


def test_the_wall_time_of_a_campaign_follows_the_pool_order():
    """Runs start in grid order on the first free job, so a long run last ends the campaign late."""
    from vpbench.engine.sweep_plan import wall_seconds

    assert wall_seconds([3, 1, 1, 1], jobs=2) == 3
    assert wall_seconds([1, 1, 1, 3], jobs=2) == 4
    assert wall_seconds([1, 1, 1, 3], jobs=1) == 6


def test_the_pace_of_a_resumed_run_is_its_current_segments_once_it_has_one(tmp_path):
    """A run resumed at two threads (or on another machine) goes on at the new pace: once the segment since
    the last resume has logged a few paces, the estimate is theirs, not a median drowned by the old segment's."""
    from vpbench.engine.sweep_plan import SEGMENT_PACES, LogTail, _training_log_tail

    log = tmp_path / "train_log.jsonl"

    def write(events):
        log.write_text("".join(json.dumps(event) + "\n" for event in events))

    slow = [{"event": "train", "step": 10 * i, "steps_per_s": 0.4} for i in range(1, 31)]
    fast = [{"event": "train", "step": 300 + 10 * i, "steps_per_s": 1.1} for i in range(1, SEGMENT_PACES + 1)]
    write([*slow, {"event": "resume", "step": 300}, *fast])
    assert _training_log_tail(log) == LogTail(300 + 10 * SEGMENT_PACES, 1.1, None, None)
    # The trainer names the segment's threads after the resume: the pace is quoted with them.
    two_threads = {"event": "segment", "step": 300, "threads": 2, "machine": "m1"}
    write([*slow, {"event": "resume", "step": 300}, two_threads, *fast])
    assert _training_log_tail(log) == LogTail(300 + 10 * SEGMENT_PACES, 1.1, None, 2, {2: 1.1}, machine="m1")
    # Too short a segment to trust yet: the recent lines of the whole log, as before, of no one thread count.
    write([*slow, two_threads, *fast[: SEGMENT_PACES - 1]])
    tail = _training_log_tail(log)
    assert (tail.steps_per_second, tail.threads) == (0.4, None)
    # ... unless every one of those lines was logged at one thread count: a run just resumed in the layout it
    # trained in before is still quoted at it.
    one_thread = {"event": "segment", "step": 0, "threads": 1, "machine": "m1"}
    write([one_thread, *slow, {**one_thread, "step": 300}])
    assert _training_log_tail(log) == LogTail(300, 0.4, None, 1, {1: 0.4}, machine="m1")
    write([one_thread, *slow, two_threads, *fast[: SEGMENT_PACES - 1]])
    assert _training_log_tail(log).threads is None
    # A kept machine resuming at the thread count it trained at before, after another machine's long segment:
    # its own earlier lines at that count, not the other machine's recent ones.
    elsewhere = [{**line, "step": 300 + line["step"], "steps_per_s": 0.2} for line in slow]
    resumed = [{**line, "step": 600 + line["step"]} for line in slow[:1]]
    write([one_thread, *slow[:SEGMENT_PACES], {**one_thread, "machine": "m2"}, *elsewhere, one_thread, *resumed])
    assert _training_log_tail(log) == LogTail(610, 0.4, None, 1, {1: 0.4}, machine="m1")


def test_the_pace_sets_aside_log_lines_whose_process_did_not_get_its_cpu(tmp_path):
    """A test suite beside a one-thread job leaves it about two thirds of a core and a third of its pace; those
    lines would make `--plan` price the rest of the campaign as if the suite ran all along. They are set aside
    (and counted) where the line says what CPU its process got and the segment its thread count; a log with
    nothing else still has a pace, and the thread-cost comparison sets them aside too."""
    from vpbench.engine.sweep_plan import CONTENDED_SHARE, Pace, _training_log_tail

    log = tmp_path / "train_log.jsonl"

    def line(step, pace, cpu):
        return {"event": "train", "step": step, "steps_per_s": pace, "cpu_per_s": cpu, "load": 2.0}

    alone = [line(10 * i, 0.45, 0.98) for i in range(1, 5)]
    beside_tests = [line(40 + 10 * i, 0.15, 0.66) for i in range(1, 4)]
    events = [{"event": "segment", "step": 0, "threads": 1, "machine": "m1"}, *alone, *beside_tests]
    log.write_text("".join(json.dumps(event) + "\n" for event in events))
    tail = _training_log_tail(log)
    assert (tail.steps_per_second, tail.contended, tail.paces_by_threads) == (0.45, 3, {1: 0.45})
    assert Pace(1 / tail.steps_per_second, threads=1, contended=tail.contended).describe() == (
        "2.2 s per step (1 thread) (3 contended log lines set aside)"
    )
    # At two threads the share is of two cores: 1.5 CPU seconds per second is contended, 1.94 is not.
    assert 1.5 < CONTENDED_SHARE * 2 < 1.94
    two = [{"event": "segment", "step": 0, "threads": 2}, line(10, 0.9, 1.94), line(20, 0.3, 1.5)]
    two += [line(30, 0.8, 1.9), line(40, 1.0, 1.93)]
    log.write_text("".join(json.dumps(event) + "\n" for event in two))
    assert (_training_log_tail(log).steps_per_second, _training_log_tail(log).contended) == (0.9, 1)
    # Nothing but contended lines: their pace, none set aside.
    log.write_text("".join(json.dumps(event) + "\n" for event in [events[0], *beside_tests]))
    assert (_training_log_tail(log).steps_per_second, _training_log_tail(log).contended) == (0.15, 0)
    # Lines of a segment that did not name its threads (older logs) cannot be judged: they count.
    log.write_text("".join(json.dumps(event) + "\n" for event in [alone[0], *beside_tests]))
    assert (_training_log_tail(log).steps_per_second, _training_log_tail(log).contended) == (0.15, 0)


def write_log(run_dir, segments):
    """A training log of (threads, steps per second, lines[, machine]) segments, each opened by the trainer's
    segment event (logged on this machine unless the segment names another)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    events, step = [], 0
    for threads, steps_per_second, lines, *where in segments:
        named = where[0] if where else machine_id()
        events.append({"event": "segment", "step": step, "threads": threads, "machine": named})
        for _ in range(lines):
            step += 10
            events.append({"event": "train", "step": step, "steps_per_s": steps_per_second})
    (run_dir / "train_log.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    (run_dir / "last.pt").write_bytes(b"")  # only its existence is read here, its step is patched


def test_the_campaign_total_prices_each_layout_with_the_thread_cost_the_logs_measured(tmp_path, monkeypatch):
    """A pace logged at one thread beside another job is about twice one logged at two threads alone. Where
    runs have logged both, their ratio converts every run's pace to the layout each total states: one job at
    two threads, or two jobs at one thread each; and the scale for runs not started no longer depends on the
    layout the campaign happens to train in."""
    from vpbench.engine.sweep_plan import campaign_estimate, pace_scale, thread_cost

    longer, records, stored, seconds_per_step = stored_convgru_run(tmp_path)
    convgru, convlstm = plan_sweep(grid(longer, ["convgru", "convlstm"]))  # 36 steps each, at step 6 (patched)
    monkeypatch.setattr(sweep_plan, "checkpoint_step", lambda path: 6)
    assert thread_cost([convgru, convlstm]) is None  # nothing logged yet
    write_log(convgru.run_dir, [(1, 1 / 2000, 3), (2, 1 / 1000, 3)])  # now at two threads, 1,000 s per step
    write_log(convlstm.run_dir, [(1, 1 / 3000, 3)])
    assert thread_cost([convgru, convlstm]).ratios == (("convgru", pytest.approx(2.0)),)  # one count: no ratio
    write_log(convlstm.run_dir, [(2, 1 / 2000, 4), (1, 1 / 3000, 3)])  # now at one thread, 3,000 s per step
    cost = thread_cost([convgru, convlstm])
    assert (cost.fewer, cost.more) == (1, 2) and cost.factor == pytest.approx(1.75)  # median of 2.0 and 1.5
    assert thread_cost([dataclasses.replace(convgru, stored=True), convlstm]) == cost  # a finished run's log counts
    assert cost.describe() == (
        "a step at 1 thread takes 1.75x its time at 2 threads: the median over the runs that logged both on this "
        "machine (convgru 2.00, convlstm 1.50)"
    )
    # One job at two threads: 30 steps x 1,000 s + 30 x 3,000 s / 1.75. Two jobs at one thread: the longer of
    # 30 x 1,000 s x 1.75 and 30 x 3,000 s. Unconverted, the first would read 33.3 h.
    assert campaign_estimate([convgru, convlstm], records, jobs=2, cost=cost) == (
        f"training left: about {(30_000 + 90_000 / 1.75) / 3600:.1f} h in one job at 2 threads; about "
        f"{90_000 / 3600:.1f} h of wall time with --jobs 2 at 1 thread each (evaluation not included)"
    )
    assert campaign_estimate([convgru, convlstm], records, jobs=2).startswith(
        f"training left: about {120_000 / 3600:.1f} h in one job;"
    )
    # The scale: convgru's pace, converted to two threads, over its stored run's.
    scale = pace_scale([convgru, convlstm], records, cost)
    assert scale.factor == pytest.approx(1000 / seconds_per_step) and scale.threads == 2
    write_log(convgru.run_dir, [(2, 1 / 1000, 3), (1, 1 / 2000, 3)])  # resumed at one thread
    assert pace_scale([convgru, convlstm], records, cost).factor == pytest.approx(1000 / seconds_per_step * 2 / 1.75)
    assert pace_scale([convgru, convlstm], records).factor == pytest.approx(2000 / seconds_per_step)


def test_the_thread_cost_compares_paces_that_one_machine_logged(tmp_path):
    """Machines drawn here differ up to twofold in speed at every thread count, so a ratio of paces from two
    machines measures the machines: a log that trained at one count on one machine and at the other on the next
    holds no ratio, one from before logs named their machine compares nothing, and the runs that measured it on
    this machine outrank those that measured it elsewhere."""
    from vpbench.engine.sweep_plan import thread_cost

    longer, *_ = stored_convgru_run(tmp_path)
    convgru, convlstm = plan_sweep(grid(longer, ["convgru", "convlstm"]))
    write_log(convgru.run_dir, [(2, 1 / 1000, 3, "earlier"), (1, 1 / 3000, 3)])  # two machines: no ratio
    write_log(convlstm.run_dir, [(1, 1 / 3900, 3, "earlier"), (2, 1 / 1000, 3, "earlier")])
    cost = thread_cost([convgru, convlstm])
    assert (cost.factor, cost.here) == (pytest.approx(3.9), False)
    assert cost.describe().endswith("both on another machine (none here yet) (convlstm 3.90)")
    write_log(convgru.run_dir, [(2, 1 / 1000, 3, "earlier"), (1, 1 / 3000, 3), (2, 1 / 1700, 3)])
    cost = thread_cost([convgru, convlstm])
    assert (cost.factor, cost.here, cost.ratios) == (pytest.approx(3000 / 1700), True, (("convgru", cost.factor),))
    # A log whose segments do not name their machine: its paces may come from any number of machines.
    unnamed = [{"event": "segment", "step": 0, "threads": 1}, {"event": "segment", "step": 30, "threads": 2}]
    unnamed[1:1] = [{"event": "train", "step": 10 * i, "steps_per_s": 1 / 3900} for i in range(1, 4)]
    unnamed += [{"event": "train", "step": 30 + 10 * i, "steps_per_s": 1 / 1000} for i in range(1, 4)]
    (convlstm.run_dir / "train_log.jsonl").write_text("".join(json.dumps(event) + "\n" for event in unnamed))
    assert thread_cost([convlstm]) is None
