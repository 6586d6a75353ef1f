"""`vpbench sweep`: runs a grid, skips what is stored, emits a Slurm job array on request."""

from __future__ import annotations

import dataclasses

from _engine_helpers import smoke_config

from vpbench.engine.run import run
from vpbench.engine.sweep import run_sweep, slurm_script


def test_sweep_runs_each_model_once_and_skips_stored_records(tmp_path):
    template = dataclasses.replace(smoke_config(tmp_path), model="")
    calls = []

    def runner(config):
        calls.append(config.model)
        return run(config)

    first = run_sweep(template, ["zeros", "last-frame"], runner, log=lambda line: None)
    second = run_sweep(template, ["zeros", "last-frame"], runner, log=lambda line: None)
    assert first == [("zeros", "done"), ("last-frame", "done")]
    assert second == [("zeros", "skipped"), ("last-frame", "skipped")]
    assert calls == ["zeros", "last-frame"]


def test_slurm_script_is_a_job_array_over_the_models():
    script = slurm_script(["convlstm", "srvp"], ["--dataset", "mmnist", "--steps", "100"])
    assert "#SBATCH --array=0-1" in script
    assert "MODELS=(convlstm srvp)" in script
    assert 'vpbench run --model "${MODELS[$SLURM_ARRAY_TASK_ID]}" --dataset mmnist --steps 100' in script
