"""`vpbench check`, the regression gate: it passes on consistent results and fails — exit 1, with a table of
stored vs current numbers — when a stored number is edited by hand, the data changed, the leaderboard is
stale, or a re-run of a smoke record moves a number beyond the stated tolerance."""

from __future__ import annotations

import copy
import json

import pytest
from _records import make_record, store

from vpbench.data import open_split
from vpbench.gate import rerun_record, run_check
from vpbench.results.check import (
    CheckReport,
    Tolerance,
    compare_numbers,
    environment_differences,
    metric_of,
    render_report,
)
from vpbench.results.leaderboard import leaderboard_path, render_leaderboard
from vpbench.results.store import load_records

TEST_SIZE = 8


def synthetic(model: str, preset: str = "small", **kwargs):
    """A record on the synthetic data set whose checksum is the real one, so the data check can run."""
    checksum = open_split("synthetic", "test", 20, size=TEST_SIZE).checksum(limit=TEST_SIZE)
    return make_record(
        model,
        preset=preset,
        dataset="synthetic",
        source="synthetic-shapes",
        checksum=checksum,
        test_size=TEST_SIZE,
        options={"size": TEST_SIZE},
        frame_shape=(1, 16, 16),
        **kwargs,
    )


@pytest.fixture
def results(tmp_path):
    store(tmp_path, [synthetic(m) for m in ("srvp", "convgru", "simvp", "last-frame", "zeros")])
    store(tmp_path, [synthetic(m, preset="smoke") for m in ("convgru", "zeros")])
    records = load_records(tmp_path)
    leaderboard_path(tmp_path).write_text(render_leaderboard(records, tmp_path))
    return tmp_path


def same_record(record, results_dir):
    return copy.deepcopy(record)


def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=1))


def test_consistent_results_pass_every_check(results):
    report = run_check(results, rerunner=same_record)
    assert report.ok, render_report(report)
    assert report.records == 7 and report.checksums_verified == 7 and report.rerun == 2
    assert render_report(report).splitlines()[1] == "OK: every check passed"


def test_hand_edited_number_fails_with_a_readable_diff(results, vpbench_cli):
    code, out, _ = vpbench_cli("check", "--results-dir", str(results), "--no-rerun")
    assert code == 0 and "OK: every check passed" in out
    path = next(results.glob("synthetic/srvp__small__*.json"))
    stored = json.loads(path.read_text())["metrics"]["vpbench"]["overall"]["ssim"]
    edit_json(path, lambda data: data["metrics"]["vpbench"]["overall"].update(ssim=stored + 0.05))

    code, out, _ = vpbench_cli("check", "--results-dir", str(results), "--no-rerun")
    assert code == 1
    assert "FAILED" in out
    line = next(line for line in out.splitlines() if "overall ≠ mean of its per-horizon values" in line)
    assert "metrics.vpbench.ssim" in line and f"{stored + 0.05:.6g}" in line and f"{stored:.6g}" in line
    assert "overall ≠ mean of the stored per-sequence values" in out
    assert "leaderboard.md" in out and f"vpbench render --results-dir {results}" in out
    assert any(line.startswith("-| srvp | ") for line in out.splitlines())  # the diff of the stale leaderboard


def test_edited_per_horizon_value_and_stale_leaderboard_are_caught(results):
    path = next(results.glob("synthetic/convgru__small__*.json"))
    edit_json(path, lambda data: data["metrics"]["openstl"]["per_horizon"]["mse_sum"].__setitem__(3, 1.0))
    leaderboard_path(results).write_text(leaderboard_path(results).read_text().replace("convgru", "convgrU"))
    report = run_check(results, rerun=False)
    checks = {(finding.check, finding.message.split(":")[0]) for finding in report.findings}
    assert ("consistency", "metrics.openstl.mse_sum") in checks
    assert any(finding.check == "leaderboard" for finding in report.findings)
    assert any(line.startswith("+") and "convgru" in line for line in report.leaderboard_diff)


def test_changed_test_data_fail_the_checksum_check(results):
    path = next(results.glob("synthetic/simvp__small__*.json"))
    edit_json(path, lambda data: data["dataset"].update(test_checksum="0" * 64))
    report = run_check(results, rerun=False)
    [finding] = [finding for finding in report.findings if finding.check == "checksum"]
    assert finding.where.startswith("synthetic/simvp") and finding.stored == "000000000000…"


def test_unknown_names_and_broken_files_are_reported_not_raised(results):
    edit_json(next(results.glob("synthetic/srvp__small__*.json")), lambda d: d["model"].update(name="srvpp"))
    edit_json(
        next(results.glob("synthetic/simvp__small__*.json")),
        lambda d: d["metrics"].update(unknown=d["metrics"]["vpbench"]),
    )
    (results / "synthetic" / "broken.json").write_text('{"schema_version": 2}')
    report = run_check(results, rerun=False)
    messages = "\n".join(f"{f.check}: {f.message}" for f in report.findings)
    assert "model: unknown model 'srvpp'; did you mean 'srvp'?" in messages
    assert "path: this record belongs at" in messages  # its file name no longer matches its identity
    assert "convention: unknown convention 'unknown'" in messages
    assert "schema: " in messages and "section 'model' is missing" in messages


def test_rerun_differences_beyond_the_tolerance_fail(results):
    def drifted(record, results_dir):
        now = copy.deepcopy(record)
        overall = now.metrics["vpbench"]["overall"]
        overall["mse"] *= 1 + 1e-3
        now.metrics["vpbench"]["per_horizon"]["ssim"][0] *= 1 + 1e-6  # within 1e-4: not a difference
        now.model.parameters += 1
        return now

    report = run_check(results, rerunner=drifted)
    reruns = [finding for finding in report.findings if finding.check == "re-run"]
    assert {finding.message for finding in reruns} == {
        "metrics.vpbench.overall.mse",
        "model.parameters changed (compared exactly)",
    }
    assert len(reruns) == 4  # two smoke records, two differences each
    mse = next(finding for finding in reruns if finding.message.endswith(".mse"))
    assert mse.now == pytest.approx(mse.stored * (1 + 1e-3))
    assert (
        "|now − stored| ≤ max(1e-07, floor) + 0.0001·|stored| (0.002·|stored| in another torch or CPU kernel set "
        "than the record's); floors: ssim 0.0001, psnr 0.01"
    ) in render_report(report)
    assert not Tolerance().allows(1.0, 1.001) and Tolerance().allows(1.0, 1.00001)


def test_ssim_and_psnr_floors_absorb_uint8_rounding_flips_but_not_real_changes():
    tolerance = Tolerance()
    # another CPU: near-zero SSIM of a smoke model moved 1.3e-5 (13% relative), PSNR 2e-3 dB — both allowed
    assert tolerance.allows(7.54694e-05, 7.25456e-05 - 1e-5, "ssim")
    assert tolerance.allows(9.46223, 9.46039, "psnr")
    # the same moves are differences for metrics proportional to the error, and a real change fails everywhere
    assert not tolerance.allows(7.54694e-05, 6.25456e-05, "mse")
    assert not tolerance.allows(0.0022, 0.0024, "ssim") and not tolerance.allows(9.46, 9.49, "psnr")
    assert [metric_of(n) for n in ("metrics.predrnn.per_horizon.ssim[3]", "regions.static.overall.mse")] == [
        "ssim",
        "mse",
    ]


def test_a_rerun_on_other_cpu_kernels_or_torch_is_named_in_the_report():
    stored, _ = synthetic("convgru", preset="smoke")
    stored.provenance.cpu_kernels, stored.provenance.torch_version = "AVX2", "2.13.0+cpu"
    now = copy.deepcopy(stored)
    assert environment_differences(stored, now) == []
    now.provenance.cpu_kernels, now.provenance.torch_version = "AVX512", "2.14.1+cpu"
    [line] = environment_differences(stored, now)
    assert line == f"{stored.record_id}: torch 2.13.0+cpu -> 2.14.1+cpu, CPU kernels AVX2 -> AVX512"
    stored.provenance.cpu_kernels = ""  # records made before the field existed do not say: nothing to compare
    now.provenance.torch_version = stored.provenance.torch_version
    assert environment_differences(stored, now) == []


def test_a_rerun_on_other_cpu_kernels_is_held_to_the_looser_measured_tolerance():
    """AVX2 -> AVX512 moved a smoke record's number by 4.1e-4 relative: a difference there, not a regression; on
    the record's own kernels the same move fails, and a changed equation (percent) fails on any."""
    stored, _ = synthetic("convgru", preset="smoke")
    stored.provenance.cpu_kernels = "AVX2"
    moved = copy.deepcopy(stored)
    moved.metrics["srvp-paper"]["per_horizon"]["mse"][1] *= 1 + 4.1e-4
    assert [f.message for f in compare_numbers(stored, moved, Tolerance())] == ["metrics.srvp-paper.per_horizon.mse[2]"]
    moved.provenance.cpu_kernels = "AVX512"
    assert compare_numbers(stored, moved, Tolerance()) == []
    moved.metrics["srvp-paper"]["per_horizon"]["mse"][1] *= 1.01
    assert len(compare_numbers(stored, moved, Tolerance())) == 1
    report = CheckReport(environment=environment_differences(stored, moved))
    assert "compared within 0.002 relative" in render_report(report)


def test_compare_numbers_walks_per_horizon_and_regions():
    stored, _ = synthetic("convgru")
    now = copy.deepcopy(stored)
    now.regions["moving"]["per_horizon"]["mae"][2] += 0.5
    del now.metrics["predrnn"]["per_horizon"]["psnr"][-1]
    names = {finding.message for finding in compare_numbers(stored, now, Tolerance())}
    assert names == {
        "regions.moving.per_horizon.mae[3]",
        "metrics.predrnn.per_horizon.psnr[10] is missing from the re-run",
    }


def test_rerun_record_asks_the_engine_for_exactly_the_stored_run(monkeypatch, tmp_path):
    import vpbench.engine.run as engine

    record, _ = synthetic("convgru", preset="smoke")
    seen = {}

    def fake_run(config, progress=None):
        seen["config"] = config
        return [copy.deepcopy(record)]

    monkeypatch.setattr(engine, "run", fake_run)
    assert rerun_record(record, tmp_path, _cache={}).metrics == record.metrics
    config = seen["config"]
    assert (config.model, config.preset, config.dataset, config.protocols) == (
        "convgru",
        "smoke",
        "synthetic",
        ["10->10"],
    )
    assert config.steps == record.training.steps and config.seed == record.provenance.seed
    assert config.test_size == TEST_SIZE and config.data_options == {"size": TEST_SIZE}
    assert config.device == "cpu" and config.write_records is False and config.val_size == 256
    assert config.conventions == tuple(record.metrics) and config.batch_size == record.training.batch_size
    assert config.val_every == record.spec["val_every"] and config.learning_rate == record.spec["learning_rate"]


def test_rerun_uses_the_thread_count_the_record_was_made_with(monkeypatch, tmp_path):
    """CPU reductions depend on the thread count; a re-run at another count drifts by ~1e-6 and the gate
    would fail a correct change, so the re-run pins the record's count and restores the caller's after."""
    import torch

    import vpbench.engine.run as engine

    record, _ = synthetic("convgru", preset="smoke")
    before = torch.get_num_threads()
    wanted = 1 if before != 1 else 2
    record.spec["threads"] = wanted
    seen = {}

    def fake_run(config, progress=None):
        seen["threads"] = torch.get_num_threads()
        return [copy.deepcopy(record)]

    monkeypatch.setattr(engine, "run", fake_run)
    rerun_record(record, tmp_path, _cache={})
    assert seen["threads"] == wanted
    assert torch.get_num_threads() == before


def test_a_parameter_free_record_reruns_from_its_stored_spec(tmp_path):
    """Sanity predictors store learning rate 0 in their spec; re-running them once failed --lr validation."""
    from _engine_helpers import smoke_config

    from vpbench.engine.run import run

    (record,) = run(smoke_config(tmp_path, model="zeros"))
    assert record.spec["learning_rate"] == 0.0
    again = rerun_record(record, tmp_path, _cache={})
    assert again.metrics == record.metrics and again.spec_hash == record.spec_hash


def test_pending_is_noted_while_missing_and_fails_once_stored(tmp_path):
    """A suite entry's `pending` list is what the README quotes as "not stored yet": a missing model listed
    there is a note, a missing model not listed is a failure, and a listed model whose records are all stored
    fails too, naming the list to edit."""
    from _engine_helpers import smoke_config

    from vpbench.engine.run import run
    from vpbench.gate import suite_entries, suite_records

    results = tmp_path / "results"
    results.mkdir()
    entry = {
        "name": "track",
        "dataset": "synthetic",
        "preset": "smoke",
        "models": ["zeros", "last-frame"],
        "protocols": ["4->4"],
        "steps": 12,
        "batch_size": 4,
        "test_size": 16,
        "val_size": 8,
        "val_every": 4,
    }

    def check_with(pending):
        (results / "suite.json").write_text(json.dumps({"version": 1, "entries": [{**entry, "pending": pending}]}))
        text = render_leaderboard(suite_records(results), results, suite_entries(results))
        leaderboard_path(results).write_text(text)
        return run_check(results, rerun=False)

    run(smoke_config(tmp_path, model="zeros", checkpoint_every=None, data_options={}))
    report = check_with(["last-frame"])
    assert report.ok and any("last-frame seed 42: pending" in note for note in report.notes)
    # The leaderboard says so too, or its table would read as if last-frame were left out.
    assert "- `track` (synthetic, smoke preset, 12 steps): last-frame\n" in leaderboard_path(results).read_text()
    report = check_with([])
    assert not report.ok and any("no record made with the entry's spec" in f.message for f in report.findings)
    report = check_with(["zeros", "last-frame"])
    assert not report.ok
    assert [f.message for f in report.findings] == [
        f"listed as pending but stored; remove 'zeros' from track's pending list in {results / 'suite.json'}"
    ]


@pytest.mark.parametrize("command", ["check", "render", "upgrade-records"])
def test_a_mistyped_results_folder_is_an_error_not_an_empty_pass(tmp_path, vpbench_cli, command):
    """`check --results-dir typo` passed ("OK") over zero records, and `render` created the folder to write a
    leaderboard of nothing into it."""
    missing = tmp_path / "resutls"
    code, _, error = vpbench_cli(command, "--results-dir", str(missing))
    assert code == 2
    assert error == f"error: results folder {missing} does not exist; pass --results-dir DIR\n"
    assert not missing.exists()
