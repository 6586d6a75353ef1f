"""The command-line contract: JSON alone on stdout, one-line errors with exit code 2, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def vpbench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vpbench", *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_models_json_lists_sanity_predictors_with_presets_and_costs():
    result = vpbench("models", "--json")
    assert result.returncode == 0, result.stderr
    models = {row["name"]: row for row in json.loads(result.stdout)}
    for name in ("last-frame", "zeros"):
        assert set(models[name]["presets"]) == {"paper", "small", "smoke"}
        assert models[name]["presets"]["small"]["parameters"] == 0


def test_models_with_a_name_shows_each_presets_arguments_training_and_note():
    """Preset notes (how a preset differs from the paper, what a step costs) were only in `--json`."""
    from vpbench.registry import get_preset

    result = vpbench("models", "st-lstm")  # an old name resolves, as everywhere else
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert text.startswith("predrnn (rnn;")
    for preset in ("paper", "small", "smoke"):
        facts = get_preset("predrnn", preset)
        assert f"{preset}: params" in text
        assert " ".join(facts.note.split()) in text
        assert ", ".join(f"{key}={value}" for key, value in facts.model.items()) in text
        assert f"training: {facts.train.optimizer} lr {facts.train.lr:g}," in text
        # The training line ends with the paper's budget only when the preset quotes one (smoke does not).
        budget = " ".join(facts.train.paper_budget.split())
        ending = f"batch {facts.train.batch_size}" + (f"; the paper's budget: {budget}" if budget else "")
        assert f"{ending} note: {' '.join(facts.note.split())}" in text

    as_json = json.loads(vpbench("models", "srvp", "--json").stdout)
    assert as_json["name"] == "srvp" and set(as_json["presets"]) == {"paper", "small", "smoke"}
    unknown = vpbench("models", "srvq")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "did you mean 'srvp'" in unknown.stderr


def test_models_in_a_narrow_terminal_prints_every_number_whole():
    """At 80 columns the six-column table folded prose a word per line and cut MACs to `705.62G /`…"""
    import os

    listing = json.loads(vpbench("models", "--json").stdout)
    result = subprocess.run(
        [sys.executable, "-m", "vpbench", "models"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout and max(len(line) for line in result.stdout.splitlines()) <= 80
    flat = " ".join(result.stdout.split())
    from vpbench.cli.catalog import _giga, _millions

    for row in listing:
        presets = [row["presets"][name] for name in ("paper", "small", "smoke")]
        params = " / ".join(_millions(preset["parameters"]) for preset in presets)
        macs = " / ".join(_giga(preset["macs_per_sequence"]) for preset in presets)
        assert f"{row['name']} ({row['family']}): params {params}; MACs {macs}" in flat


def test_datasets_json_lists_every_dataset_with_file_status(tmp_path):
    result = vpbench("datasets", "--json", "--data-root", str(tmp_path))
    assert result.returncode == 0, result.stderr
    datasets = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(datasets) == {"mmnist", "kth", "human36m", "synthetic"}
    assert datasets["mmnist"]["shape"] == [1, 64, 64]
    assert all(not f["present"] and f["path"].startswith(str(tmp_path)) for f in datasets["mmnist"]["files"])


def test_unknown_command_is_a_usage_error_without_traceback():
    result = vpbench("nosuch")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "No such command" in result.stderr


def test_score_prints_json_for_every_convention_and_rejects_mismatched_shapes(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (8, 4, 32, 32), dtype=np.uint8)
    np.save(tmp_path / "target.npy", target)
    np.save(tmp_path / "pred.npy", (target * 0.8).astype(np.uint8))
    np.save(tmp_path / "short.npy", target[:, :2])
    result = vpbench("score", "--pred", str(tmp_path / "pred.npy"), "--target", str(tmp_path / "target.npy"), "--json")
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert {"vpbench", "openstl", "predrnn", "srvp-paper"} <= set(scores)
    assert len(scores["vpbench"]["per_horizon"]["mse"]) == 4 and scores["vpbench"]["overall"]["mse"] > 0
    bad = vpbench("score", "--pred", str(tmp_path / "short.npy"), "--target", str(tmp_path / "target.npy"))
    assert bad.returncode == 2 and "does not match target shape" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_model_costs_are_counted_once_then_read_from_the_cache(tmp_path, monkeypatch):
    """`vpbench models` counted MACs for every preset on every call (20-40 s); counts are now cached per
    model, preset arguments, frame shape, code and torch version, and the numbers are identical."""
    from vpbench import catalog
    from vpbench.engine import provenance

    monkeypatch.setenv("VPBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(provenance, "code_version", lambda: "0123456789ab")
    counted = []
    real_count = catalog.count_macs
    monkeypatch.setattr(catalog, "count_macs", lambda *a, **k: counted.append(1) or real_count(*a, **k))
    monkeypatch.setattr(catalog, "list_models", lambda: ["zeros", "convgru"])
    first = catalog.describe_models()
    assert len(counted) == 4 and (tmp_path / "costs.json").exists()
    second = catalog.describe_models()
    assert len(counted) == 4 and second == first  # zeros: three presets, one set of arguments
    monkeypatch.setattr(provenance, "code_version", lambda: "0123456789ab-dirty")  # uncommitted code: count again
    catalog.describe_models()
    assert len(counted) == 4 + 6  # every preset counted, nothing cached
    # One preset through the same cache: counted once, then read (what the README's paper comparison uses).
    monkeypatch.setattr(provenance, "code_version", lambda: "0123456789ab")
    listed = {key: first[1]["presets"]["paper"][key] for key in ("parameters", "macs_per_sequence")}
    assert catalog.cached_preset_cost("convgru", "paper") == listed and len(counted) == 10  # from the cache
    (tmp_path / "costs.json").unlink()
    assert catalog.cached_preset_cost("convgru", "paper") == listed and len(counted) == 11  # counted, stored
    assert catalog.cached_preset_cost("convgru", "paper") == listed and len(counted) == 11  # read back


def test_the_model_listing_is_served_from_cache_until_any_source_file_changes(tmp_path, monkeypatch):
    """A warm `vpbench models` answers without importing torch; an edited source file, another torch or a new
    plugin changes the fingerprint, so a stale listing is never shown."""
    import os

    from vpbench import listing_cache, registry

    assert listing_cache.ENTRY_POINT_GROUP == registry.ENTRY_POINT_GROUP
    monkeypatch.setenv("VPBENCH_CACHE", str(tmp_path))
    source = tmp_path / "model_source.py"
    source.write_text("x = 1\n")
    real_files = listing_cache._files
    monkeypatch.setattr(listing_cache, "_files", lambda: real_files() + [source])
    assert listing_cache.cached_listing() is None
    rows = [{"name": "zeros", "presets": {}}]
    listing_cache.store_listing(rows)
    assert listing_cache.cached_listing() == rows
    source.write_text("x = 2  # an edit\n")
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    assert listing_cache.cached_listing() is None
    result = vpbench("models", "--json")  # a real process: the listing it prints is the registry's
    assert result.returncode == 0 and "srvp" in {row["name"] for row in json.loads(result.stdout)}


def test_cli_help_quotes_the_defaults_the_spec_uses():
    """The CLI does not import engine.spec (it loads torch), so its help texts repeat the numbers: keep them equal."""
    from vpbench.cli import common as cli
    from vpbench.engine.spec import DEFAULTS as defaults

    help_of = {name: getattr(cli, name).__metadata__[0].help for name in ("Steps", "TestSize", "ValSize", "Seed")}
    assert f"CPU default {defaults.steps_cpu})" in help_of["Steps"]
    assert f"CPU default {defaults.test_size_cpu})" in help_of["TestSize"]
    assert f"default {defaults.val_size_cpu} on CPU, {defaults.val_size_cuda} on CUDA" in help_of["ValSize"]
    assert f"default {defaults.seed})" in help_of["Seed"]


def test_the_command_list_reflows_each_commands_summary():
    """Docstrings wrap at the source's line length; the command list must join those lines, not break each one
    mid-sentence in its column (what typer's "rich" markup mode did)."""
    import os

    result = vpbench("--help", env={**os.environ, "COLUMNS": "250", "TERM": "dumb"})
    assert result.returncode == 0
    line = next(line for line in result.stdout.splitlines() if " eval " in line)
    assert "(training facts such as seed, batch size and learning rate come from the checkpoint)" in line


def test_the_end_of_run_table_shows_each_conventions_own_numbers_and_how_to_read_them():
    """The quick start's closing table showed '-' for the MSE/MAE of the conventions that report per-frame
    sums, and srvp-paper's 0-255 pooled MSE (~2,000) and near-0 dB PSNR with nothing saying why."""
    from pathlib import Path

    from vpbench.cli.running import metrics_summary_lines
    from vpbench.metrics.conventions import CONVENTIONS
    from vpbench.results.store import load_records

    results = Path(__file__).resolve().parents[1] / "results"
    records = [r for r in load_records(results) if r.model.name == "srvp" and r.training.steps == 600]
    assert {r.protocol.name for r in records} == {"10->10", "10->30"}
    lines = metrics_summary_lines(records)
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in lines if line.startswith("  10->")}
    assert len(rows) == 8
    for record in records:
        for convention, values in record.metrics.items():
            mse, mae, psnr, ssim = rows[(record.protocol.name, convention)]
            overall = values["overall"]
            assert float(mse) == round(overall.get("mse", overall.get("mse_sum")), 4)
            expected_mae = overall.get("mae", overall.get("mae_sum"))
            assert mae == "-" if expected_mae is None else float(mae) == round(expected_mae, 4)
            assert float(ssim) == round(overall["ssim"], 4)
    legend = [line.strip() for line in lines if not line.startswith("  10->") and line.startswith("  ")]
    assert legend[1:] == [f"{name}: {convention.reading}" for name, convention in CONVENTIONS.items()]
    assert "0-255" in CONVENTIONS["srvp-paper"].reading and "summed" in CONVENTIONS["openstl"].reading


def test_a_data_root_or_runs_dir_under_a_file_is_one_line(tmp_path, vpbench_cli):
    """`data fetch --data-root FILE` and `sweep --jobs 2 --runs-dir FILE` ended in mkdir's NotADirectoryError."""
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    commands = {
        "--data-root": ["data", "fetch", "mmnist", "--data-root", str(blocker)],
        "--runs-dir": ["sweep", "--models", "convgru,zeros", "--dataset", "synthetic", "--preset", "smoke",
                       "--steps", "1", "--jobs", "2", "--runs-dir", str(blocker),
                       "--results-dir", str(tmp_path / "results")],
    }  # fmt: skip
    for option, arguments in commands.items():
        code, _, error = vpbench_cli(*arguments)
        assert code == 2 and "Traceback" not in error, error
        assert f": {blocker} is a file, not a folder; pass another {option}\n" in error
    assert blocker.read_text() == "keep me"


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["tabel"], "No such command 'tabel'. Did you mean 'table'? See 'vpbench --help'"),
        (["table", "--seed", "1"], "No such option: --seed (Possible options: --steps, --vs); see 'vpbench table"),
        (["table", "--metric"], "Option '--metric' requires an argument; see 'vpbench table --help'"),
        (["plot", "horizon", "--metric"], "Option '--metric' requires an argument; see 'vpbench plot horizon --help'"),
        (["plot", "horizon", "--metrc", "ssim"], "No such option: --metrc (Possible options: --metric)"),
        (["run", "--model", "srvp", "--steps", "abc"], "Invalid value for '--steps'"),
    ],
)
def test_a_usage_error_click_finds_is_one_line_with_exit_code_2(vpbench_cli, arguments, says):
    """Mistyped options and missing values are a user's mistake like any other: one line, not click's boxed
    usage message (DESIGN.md: one line on stderr naming what was wrong and what to do, exit code 2)."""
    code, out, error = vpbench_cli(*arguments)
    assert code == 2 and out == "" and error.count("\n") == 1
    assert error.startswith("error: ") and says in error


def test_a_command_group_without_a_command_prints_its_help_and_help_exits_0(vpbench_cli):
    for arguments, expected_code in ((["plot"], 2), (["plot", "--help"], 0)):
        code, out, error = vpbench_cli(*arguments)
        assert code == expected_code and "horizon" in out and error == ""


def test_help_shows_no_value_type_for_an_on_off_flag(vpbench_cli):
    """`--per-horizon <bool>` (typer 0.29's default) reads as if the flag took a value; `--per-horizon true`
    then fails."""
    code, out, _ = vpbench_cli("table", "--help")
    flag_lines = [line for line in out.splitlines() if "--per-horizon" in line or "--help " in line]
    assert code == 0 and len(flag_lines) == 2
    assert all("<bool>" not in line for line in flag_lines), flag_lines
    assert any("<str>" in line for line in out.splitlines() if "--protocol" in line)


def test_help_and_errors_name_positional_arguments_as_the_help_texts_do(vpbench_cli):
    """`compare`'s help speaks of MODEL@STEPS and `land`'s of SOURCE: the usage line and a missing-argument error
    use the same upper-case names."""
    code, out, _ = vpbench_cli("land", "--help")
    assert code == 0 and "SOURCE" in out.splitlines()[1]
    code, _, error = vpbench_cli("compare", "srvp")
    assert code == 2 and "Missing argument 'MODEL_B'" in error
