"""The engine: exact resume, validation-based selection, sharded evaluation, guards, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from _engine_helpers import SMOKE_MODEL, run_dir, smoke_config, weights

from vpbench.engine import run as run_module
from vpbench.engine.checkpoint import load_checkpoint, save_checkpoint
from vpbench.engine.provenance import machine_id
from vpbench.engine.run import run
from vpbench.errors import RunFailed, VpbenchError
from vpbench.files import read_json_lines
from vpbench.results.store import load_records


def smoke_command(folder: Path, *, steps: int, checkpoint_every: int, val_every: int) -> list[str]:
    """`vpbench run` on the command line with the settings of `smoke_config` (for kill/signal tests)."""
    return [
        sys.executable, "-m", "vpbench", "run", "--model", SMOKE_MODEL, "--dataset", "synthetic",
        "--preset", "smoke", "--protocol", "4->4", "--steps", str(steps), "--batch-size", "4",
        "--test-size", "16", "--val-size", "8", "--val-every", str(val_every),
        "--checkpoint-every", str(checkpoint_every), "--device", "cpu", "--results-dir", str(folder / "results"),
        "--runs-dir", str(folder / "runs"), "--data-option", "size=64",
    ]  # fmt: skip


def assert_same_weights(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


def test_records_are_written_with_provenance_and_round_trip(tmp_path):
    (record,) = run(smoke_config(tmp_path))
    (stored,) = load_records(tmp_path / "results")
    assert stored.to_dict() == json.loads(json.dumps(record.to_dict()))
    assert stored.training.steps == 12 and stored.training.trained
    assert stored.dataset.source == "synthetic-shapes" and len(stored.dataset.test_checksum) == 64
    assert stored.model.parameters > 0 and stored.model.macs_per_sequence > 0
    assert stored.provenance.torch_version == torch.__version__ and stored.provenance.seed == 42
    assert stored.provenance.cpu_kernels == torch.backends.cpu.get_cpu_capability() != ""  # names the kernel set
    assert set(stored.metrics) == {"vpbench", "openstl", "predrnn", "srvp-paper"}
    assert len(stored.metrics["vpbench"]["per_horizon"]["mse"]) == 4
    assert (tmp_path / "results" / "synthetic" / stored.per_sequence_file).exists()
    record_file = next((tmp_path / "results" / "synthetic").glob("*.json"))
    assert record_file.stat().st_size < 1_000_000


def test_best_checkpoint_is_chosen_on_validation_never_test(tmp_path, monkeypatch):
    """Resolving the spec may open the test split to name its data source; no test clip is read before
    training (and selection) have ended."""
    real_open, real_train = run_module.open_split, run_module.train
    test_sets, reads_at_training = [], []

    def open_and_count(name, split, *args, **kwargs):
        dataset = real_open(name, split, *args, **kwargs)
        if split == "test":
            test_sets.append(dataset)
        return dataset

    def test_clips_read() -> int:
        return sum(getattr(dataset, "clips_read", 0) for dataset in test_sets)

    def spy_train(*args, **kwargs):
        reads_at_training.append(test_clips_read())
        return real_train(*args, **kwargs)

    dataset_type = type(real_open("synthetic", "test", 8, size=4))
    real_getitem = dataset_type.__getitem__

    def counting_getitem(self, index):
        self.clips_read = getattr(self, "clips_read", 0) + 1
        return real_getitem(self, index)

    monkeypatch.setattr(dataset_type, "__getitem__", counting_getitem)
    monkeypatch.setattr(run_module, "open_split", open_and_count)
    monkeypatch.setattr(run_module, "train", spy_train)
    (record,) = run(smoke_config(tmp_path, steps=16))
    assert reads_at_training == [0], "test clips were read before training ended"
    assert test_clips_read() > 0, "the evaluation never read the test split (the spy is broken)"
    events = [json.loads(line) for line in (run_dir(tmp_path) / "train_log.jsonl").read_text().splitlines()]
    validations = {e["step"]: e["loss"] for e in events if e["event"] == "validation"}
    best_step = min(validations, key=validations.get)
    assert record.training.selected_step == best_step
    assert record.training.best_validation_loss == pytest.approx(validations[best_step])
    paces = [e for e in events if e["event"] == "train"]
    assert paces and all({"steps_per_s", "cpu_per_s", "load"} <= set(e) for e in paces)


def test_resume_after_kill_matches_uninterrupted_run(tmp_path):
    uninterrupted = tmp_path / "a"
    run(smoke_config(uninterrupted, steps=300, checkpoint_every=5, val_every=50))
    reference = weights(run_dir(uninterrupted) / "last.pt")

    killed = tmp_path / "b"
    command = smoke_command(killed, steps=300, checkpoint_every=5, val_every=50) + ["--no-table"]
    # Same thread count as this process: CPU kernels are deterministic for a fixed number of threads.
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    checkpoint = None
    while time.time() < deadline and process.poll() is None:
        found = list((killed / "runs").glob("synthetic/*/last.pt"))
        if found:
            checkpoint = found[0]
            break
        time.sleep(0.02)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert checkpoint is not None, "the run never wrote a checkpoint"
    killed_at = load_checkpoint(checkpoint)["step"]
    assert killed_at < 300, "the run finished before it could be killed; the test proves nothing"

    run(smoke_config(killed, steps=300, checkpoint_every=5, val_every=50))
    assert_same_weights(weights(checkpoint), reference)
    # Each training process names where its segment starts, its thread count and its machine (`sweep --plan`
    # compares thread counts only within one machine).
    log = read_json_lines(checkpoint.parent / "train_log.jsonl")
    segments = [event for event in log if event["event"] == "segment"]
    threads, machine = torch.get_num_threads(), machine_id()
    assert machine and segments == [
        {"event": "segment", "step": step, "threads": threads, "machine": machine} for step in (0, killed_at)
    ]


def test_the_log_line_a_hard_kill_cut_short_does_not_swallow_the_next_event(tmp_path):
    """The end of a session kills a run without a catchable signal, possibly mid-line; the resumed run's first
    event was glued onto the cut line and skipped with it by every reader."""
    from vpbench.engine.trainer import JsonLog

    path = tmp_path / "train_log.jsonl"
    path.write_text(json.dumps({"event": "train", "step": 10}) + '\n{"event": "train", "st')
    log = JsonLog(path, enabled=True)
    log.write(event="resume", step=10)
    log.write(event="train", step=20)
    assert read_json_lines(path) == [
        {"event": "train", "step": 10},
        {"event": "resume", "step": 10},
        {"event": "train", "step": 20},
    ]
    JsonLog(tmp_path / "new.jsonl", enabled=True).write(event="start")
    assert (tmp_path / "new.jsonl").read_text() == '{"event": "start"}\n'


def test_a_checkpoint_write_cut_short_by_a_hard_kill_is_removed_when_the_run_resumes(tmp_path, capsys):
    """A kill mid-save leaves atomic_write's hidden temporary (23 MB for mimo-vp's small preset) in the run
    folder, where nothing else would ever delete it."""
    run(smoke_config(tmp_path))
    partial = run_dir(tmp_path) / ".last.pt.k1ll3d.tmp"
    partial.write_bytes(b"PK\x03\x04 cut short")
    for record_file in (tmp_path / "results").rglob("*.json"):
        record_file.unlink()  # so the same command trains (resumes) again instead of returning the records
    run(smoke_config(tmp_path))
    assert not partial.exists()
    assert (run_dir(tmp_path) / ".lock").exists() and (run_dir(tmp_path) / "last.pt").exists()
    assert ".last.pt.k1ll3d.tmp, a write that a killed process left unfinished" in capsys.readouterr().err


def test_sigterm_saves_a_checkpoint_and_the_same_command_resumes(tmp_path):
    command = smoke_command(tmp_path, steps=100000, checkpoint_every=100000, val_every=100000)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((tmp_path / "runs").glob("synthetic/*/train_log.jsonl")):
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "checkpoint saved" in stderr and "Traceback" not in stderr
    assert load_checkpoint(run_dir(tmp_path) / "last.pt")["step"] > 0


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from vpbench.baselines.convgru import ConvGRU

    real_loss = ConvGRU.training_loss

    def poisoned(self, context, target, step):
        loss = real_loss(self, context, target, step)
        return loss * float("nan") if step >= 6 else loss

    monkeypatch.setattr(ConvGRU, "training_loss", poisoned)
    with pytest.raises(RunFailed, match="loss became nan at step 6; the last good checkpoint"):
        run(smoke_config(tmp_path))
    assert load_checkpoint(run_dir(tmp_path) / "last.pt")["step"] == 6
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.json"))


def test_parameter_free_predictors_are_evaluated_without_training(tmp_path):
    (record,) = run(smoke_config(tmp_path, model="last-frame"))
    assert not record.training.trained and record.training.steps == 0
    assert record.model.parameters == 0


def test_eval_of_a_stored_checkpoint_reproduces_the_run(tmp_path):
    (trained,) = run(smoke_config(tmp_path))
    best = run_dir(tmp_path) / "best.pt"
    (again,) = run(smoke_config(tmp_path, checkpoint=best, results_dir=tmp_path / "again"))
    assert again.metrics == trained.metrics


def test_the_best_checkpoint_holds_weights_and_facts_not_the_resume_state(tmp_path):
    """best.pt is only evaluated: without Adam's moments it is a third of last.pt's size (what is carried)."""
    run(smoke_config(tmp_path))
    best, last = (load_checkpoint(run_dir(tmp_path) / name) for name in ("best.pt", "last.pt"))
    assert {"optimizer", "scheduler", "rng"} <= set(last)
    assert not {"optimizer", "scheduler", "rng"} & set(best)
    assert best["model"].keys() == last["model"].keys() and best["spec"] == last["spec"]
    assert (run_dir(tmp_path) / "best.pt").stat().st_size < (run_dir(tmp_path) / "last.pt").stat().st_size


def test_model_that_does_not_fit_the_frames_says_which(tmp_path):
    with pytest.raises(VpbenchError, match="divisible"):
        run(smoke_config(tmp_path, model="convlstm", data_options={"size": 64, "height": 18, "width": 18}))


def test_unwritable_results_directory_fails_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(VpbenchError, match=f"results: {blocker} is a file, not a folder; pass another --results-dir$"):
        run(smoke_config(tmp_path, results_dir=blocker / "results"))
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("budget", [{"steps": 2}, {"steps": None, "time_budget_s": 5.0}])
def test_unwritable_runs_directory_is_one_line_before_training_or_calibrating(tmp_path, budget):
    """A file given as --runs-dir ended in NotADirectoryError from mkdir, after the model was built."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    message = f"cannot write {blocker}: {blocker} is a file, not a folder; pass another --runs-dir$"
    with pytest.raises(VpbenchError, match=message):
        run(smoke_config(tmp_path, runs_dir=blocker, **budget))
    assert blocker.read_text() == "not a folder"


def test_corrupt_and_tampered_checkpoints_are_refused(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(VpbenchError, match="corrupt"):
        load_checkpoint(corrupt)

    tampered = tmp_path / "tampered.pt"
    torch.save({"format": "vpbench-checkpoint", "version": 1, "payload": Path("/etc/passwd")}, tampered)
    with pytest.raises(VpbenchError, match="refusing to load"):
        load_checkpoint(tampered)

    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(VpbenchError, match="not a vpbench checkpoint"):
        load_checkpoint(foreign)

    good = tmp_path / "good.pt"
    save_checkpoint(good, {"model": {"w": torch.ones(2)}})
    assert torch.equal(load_checkpoint(good)["model"]["w"], torch.ones(2))


@pytest.mark.parametrize("loader", ["vpbench", "foreign"])
def test_both_checkpoint_loaders_refuse_bad_files_in_one_line(tmp_path, loader):
    """vpbench's own checkpoints and other code bases' go through one safe loader, with one set of messages."""
    from vpbench.interop import load_foreign_state_dict

    load = load_checkpoint if loader == "vpbench" else load_foreign_state_dict
    text = tmp_path / "notes.pt"
    text.write_text("these are not weights\n")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"state_dict": {"w": torch.ones(1)}, "origin": Path("/etc/passwd")}, unsafe)
    for path, message in (
        (tmp_path / "missing.pt", "does not exist; pass"),
        (text, "is not a torch file"),
        (corrupt, "is corrupt or truncated"),
        (unsafe, "holds objects other than tensors and plain data"),
    ):
        with pytest.raises(VpbenchError, match=message) as caught:
            load(path)
        assert "\n" not in str(caught.value)


def test_corrupt_record_is_named_and_never_overwritten(tmp_path):
    run(smoke_config(tmp_path, model="zeros"))
    (path,) = (tmp_path / "results" / "synthetic").glob("*.json")
    path.write_text("{ half a record")
    with pytest.raises(VpbenchError, match=str(path.name)):
        run(smoke_config(tmp_path, model="zeros"))
    assert path.read_text() == "{ half a record"


def test_protocol_longer_than_the_test_clips_is_a_clear_error(tmp_path, monkeypatch):
    import numpy as np

    from vpbench.data.base import ArrayClips

    real_open = run_module.open_split

    def short_test_clips(name, split, clip_length, *args, **kwargs):
        if split == "test":
            return ArrayClips(np.zeros((4, 6, 1, 16, 16), np.uint8), clip_length, source="six-frame clips")
        return real_open(name, split, clip_length, *args, **kwargs)

    monkeypatch.setattr(run_module, "open_split", short_test_clips)
    with pytest.raises(VpbenchError, match="clips have 6 frames but the protocol needs 8"):
        run(smoke_config(tmp_path, model="zeros"))


def test_records_name_the_code_that_trained_and_evaluated_them(tmp_path, monkeypatch):
    """A record's code_version is the code its process loaded (pinned when the run starts, not read from the
    checkout when the record is written hours later), and `training.trained_by` lists the code of every
    training segment of a resumed run."""
    from vpbench.engine import provenance
    from vpbench.engine import run as run_module
    from vpbench.engine import trainer as trainer_module
    from vpbench.engine.checkpoint import save_checkpoint

    def use_version(version):
        for module in (provenance, run_module, trainer_module):
            monkeypatch.setattr(module, "code_version", lambda: version)

    use_version("v1")
    (first,) = run(smoke_config(tmp_path))
    assert first.provenance.code_version == "v1" and first.training.trained_by == ["v1"]

    last = run_dir(tmp_path) / "last.pt"
    results = tmp_path / "results" / "synthetic"

    def rewind(step, versions):
        state = load_checkpoint(last)
        payload = {key: value for key, value in state.items() if key not in ("format", "version", "code_versions")}
        save_checkpoint(last, {**payload, "step": step, **({"code_versions": versions} if versions else {})})
        for path in results.glob("convgru__*"):
            path.unlink()

    rewind(4, ["v1"])  # killed at step 4; the checkout moved on before the resume
    use_version("v2")
    (resumed,) = run(smoke_config(tmp_path))
    assert resumed.training.trained_by == ["v1", "v2"] and resumed.provenance.code_version == "v2"

    rewind(12, ["v1", "v2"])  # trained; only the evaluation is left to a third version
    use_version("v3")
    (evaluated,) = run(smoke_config(tmp_path))
    assert evaluated.training.trained_by == ["v1", "v2"] and evaluated.provenance.code_version == "v3"

    rewind(4, None)  # a checkpoint written before checkpoints named their code
    (legacy,) = run(smoke_config(tmp_path))
    assert legacy.training.trained_by == ["unrecorded", "v3"]


def test_records_name_the_cpu_kernels_of_every_training_segment(tmp_path, monkeypatch):
    """A run resumed on a machine with other CPU kernels (AVX2, then AVX512) rounds differently from there on:
    `training.trained_on` says so, in order; evaluating elsewhere adds nothing."""
    from vpbench.engine import trainer as trainer_module

    def use_kernels(kernels):
        monkeypatch.setattr(trainer_module, "kernels_or_gpu", lambda device, autocast=False: kernels)

    use_kernels("AVX2")
    (first,) = run(smoke_config(tmp_path))
    assert first.training.trained_on == ["AVX2"]
    last = run_dir(tmp_path) / "last.pt"
    state = load_checkpoint(last)
    payload = {key: value for key, value in state.items() if key not in ("format", "version")}
    save_checkpoint(last, {**payload, "step": 4})  # stopped at step 4 on the first machine
    for path in (tmp_path / "results" / "synthetic").glob("convgru__*"):
        path.unlink()
    use_kernels("AVX512")
    (resumed,) = run(smoke_config(tmp_path))
    assert resumed.training.trained_on == ["AVX2", "AVX512"]
    assert load_checkpoint(last)["trained_on"] == ["AVX2", "AVX512"]


def test_the_code_version_is_read_once_per_process(monkeypatch):
    from vpbench.engine import provenance

    provenance.code_version.cache_clear()
    pinned = provenance.code_version()
    monkeypatch.setattr(provenance.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(OSError("moved")))
    assert provenance.code_version() == pinned  # a checkout that changes later does not change the answer


def test_a_cpu_segment_names_its_thread_count_when_it_is_not_one(monkeypatch):
    """Two threads split a convolution's sums differently from one (the losses differ in the last bits), so a
    training segment run with more threads must say so; one thread, the default, reads as the bare kernel set."""
    from vpbench.engine import provenance

    monkeypatch.setattr(provenance, "cpu_kernels", lambda device: "AVX512")
    cpu = torch.device("cpu")
    monkeypatch.setattr(provenance.torch, "get_num_threads", lambda: 1)
    assert provenance.kernels_or_gpu(cpu) == "AVX512"
    monkeypatch.setattr(provenance.torch, "get_num_threads", lambda: 2)
    assert provenance.kernels_or_gpu(cpu) == "AVX512, 2 threads"


def test_a_gpu_segment_names_the_gpu_and_whether_it_trained_under_bf16_autocast(monkeypatch):
    """CUDA training runs under bf16 autocast (the engine's default there): a record trained so must say it, as
    its numbers are not those of a float32 run on the same GPU."""
    from vpbench.engine import provenance

    monkeypatch.setattr(provenance.torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    gpu = torch.device("cuda")
    assert provenance.kernels_or_gpu(gpu, autocast=True) == "NVIDIA H200, bf16 autocast"
    assert provenance.kernels_or_gpu(gpu) == "NVIDIA H200"


def test_no_resume_starts_over_but_keeps_the_earlier_checkpoints_and_log(tmp_path, capsys):
    """--no-resume overwrote `last.pt` at its first checkpoint and appended its steps to the earlier log."""

    first = run(smoke_config(tmp_path, steps=4))
    directory = run_dir(tmp_path)
    earlier = {name: (directory / name).read_bytes() for name in ("last.pt", "best.pt", "train_log.jsonl")}
    for path in (tmp_path / "results").rglob("*.json"):
        path.unlink()  # the record is stored, so the same spec would not train at all
    again = run(smoke_config(tmp_path, steps=4, resume=False))
    (aside,) = directory.glob("replaced-*")
    assert {name: (aside / name).read_bytes() for name in earlier} == earlier
    assert f"kept in {aside}" in capsys.readouterr().err

    def validated_steps(path):
        return [event["step"] for event in read_json_lines(path) if event["event"] == "validation"]

    assert validated_steps(directory / "train_log.jsonl") == validated_steps(aside / "train_log.jsonl") == [4]
    assert again[0].metrics == first[0].metrics  # the same spec from scratch: the same numbers


def test_a_pace_window_tells_a_busy_process_from_one_that_waits():
    """`cpu_per_s` is CPU seconds per wall second: about 1 for one thread that computes, about 0 for one that waits
    (as a job does when other work has its core), so a slow log line says which it was."""
    from vpbench.engine.trainer import PaceWindow

    window = PaceWindow()
    deadline = time.perf_counter() + 0.3
    while time.perf_counter() < deadline:
        window.steps += 1
    busy = window.close()
    time.sleep(0.3)
    waiting = window.close()
    assert busy["cpu_per_s"] > 0.3 and waiting["cpu_per_s"] < 0.1
    assert waiting["steps_per_s"] == 0 and busy["steps_per_s"] > 0
    assert busy["load"] >= 0
