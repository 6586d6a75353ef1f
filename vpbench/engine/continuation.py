"""Continue a finished shorter run, where that is exactly the longer run, instead of training from step 0.

Why: a researcher who trained 10,000 steps and now asks for 20,000 should not pay for the first 10,000 again
when they would come out the same, and they do come out the same when nothing in training knows the budget.
The clips of a step are a function of (seed, epoch, position), every random draw comes from the checkpointed
RNG, and a constant or plateau learning rate ignores the step count; so the shorter run's last checkpoint *is*
the longer run's checkpoint at that step (bit for bit on CPU; tests/test_continuation.py holds it to that).
A schedule that spreads over the budget (onecycle, cosine), a scheduled-sampling stop that moves with it, or a
shorter run that ended between two of the longer run's validations breaks the identity; then the run starts
from step 0 as before, and says why. `--no-resume` never continues anything.
"""

from __future__ import annotations

import json
from pathlib import Path

from vpbench.engine.checkpoint import checkpoint_position, load_checkpoint, save_checkpoint
from vpbench.engine.spec import EXECUTION_FIELDS, RunSpec
from vpbench.engine.trainer import BEST, LAST, TRAIN_LOG, scheduled_sampling_stop
from vpbench.errors import VpbenchError
from vpbench.files import atomic_write, read_json_lines
from vpbench.registry import built_argument

BUDGET_FREE_SCHEDULES = ("constant", "plateau")  # learning-rate schedules that do not read the step count


def same_run_but_budget(shorter: RunSpec, longer: RunSpec) -> bool:
    """Whether the two specs differ in nothing hashed but the step count, and `shorter` has fewer steps."""
    ignored = (*EXECUTION_FIELDS, "steps")
    first, second = (
        {key: value for key, value in spec.to_dict().items() if key not in ignored} for spec in (shorter, longer)
    )
    return first == second and 0 < shorter.steps < longer.steps


def why_not_exact(shorter: RunSpec, longer: RunSpec) -> str | None:
    """None when training `shorter` on to `longer.steps` gives exactly `longer`; else why not, for the log."""
    schedule = longer.optimizer.get("schedule")
    if schedule not in BUDGET_FREE_SCHEDULES:
        return f"the {schedule} learning-rate schedule spreads over the whole budget"
    sampling_stop = built_argument(longer.model, longer.model_config, "sampling_stop_iter")  # None: no such stop
    if sampling_stop is not None and scheduled_sampling_stop(sampling_stop, shorter.steps) != scheduled_sampling_stop(
        sampling_stop, longer.steps
    ):
        return "the scheduled-sampling stop moves with the budget"
    if shorter.steps % longer.val_every:
        return f"it ended at step {shorter.steps:,}, between two validations (every {longer.val_every:,} steps)"
    return None


def is_finished(run_dir: Path, spec: RunSpec) -> bool:
    """Whether `run_dir`'s last checkpoint is this spec's, at its final step."""
    last = run_dir / LAST
    if not last.is_file():
        return False
    try:
        return checkpoint_position(last) == (spec.spec_hash, spec.steps)
    except VpbenchError:
        return False  # a damaged checkpoint is not a starting point; its own run reports it when resumed


def find_shorter_run(runs_dir: Path, spec: RunSpec) -> tuple[Path | None, list[str]]:
    """The longest finished shorter run of `spec` that this run can continue exactly (or None), and one line
    for each finished shorter run it cannot continue, saying why."""
    usable: list[tuple[int, Path]] = []
    refused = []
    for spec_file in sorted((Path(runs_dir) / spec.dataset).glob("*/spec.json")):
        try:
            other = RunSpec.from_dict(json.loads(spec_file.read_text()), origin=str(spec_file))
        except (VpbenchError, ValueError):
            continue  # not a run folder this vpbench can read: not a candidate
        if not same_run_but_budget(other, spec) or not is_finished(spec_file.parent, other):
            continue
        reason = why_not_exact(other, spec)
        if reason is None:
            usable.append((other.steps, spec_file.parent))
        else:
            refused.append(f"the finished {other.steps:,}-step run {spec_file.parent} is not continued: {reason}")
    source = max(usable)[1] if usable else None
    return source, refused


def continue_from(source: Path, run_dir: Path, spec: RunSpec) -> int:
    """Start `run_dir` where `source` ended: its checkpoints re-addressed to `spec`, its log copied with a
    `continue` event. `last.pt` is written last, so a kill in between leaves a run folder without one, which
    continues afresh next time. Returns the step this run starts at."""
    try:
        last = load_checkpoint(source / LAST)
        best = load_checkpoint(source / BEST) if (source / BEST).is_file() else None
    except VpbenchError as error:  # its own advice ("delete it to retrain") is for that run, not this one
        raise VpbenchError(
            f"cannot continue the finished run {source.name}, whose checkpoint is unreadable: {error}. This run "
            "has not started: pass --no-resume to train it from step 0 instead"
        ) from None
    if best is not None:
        save_checkpoint(run_dir / BEST, readdressed(best, source, spec))
    events = [*read_json_lines(source / TRAIN_LOG), {"event": "continue", "step": last["step"], "from": source.name}]
    lines = "".join(json.dumps(event) + "\n" for event in events)
    atomic_write(run_dir / TRAIN_LOG, lambda handle: handle.write(lines))
    save_checkpoint(run_dir / LAST, readdressed(last, source, spec))
    return last["step"]


def readdressed(state: dict, source: Path, spec: RunSpec) -> dict:
    """A checkpoint's payload as this run's: its identity and spec, plus the run it was trained as."""
    origin = {"run": source.name, "spec_hash": state["identity"]["spec_hash"], "step": state["step"]}
    payload = {key: value for key, value in state.items() if key not in ("format", "version")}
    payload |= {
        "identity": {"spec_hash": spec.spec_hash},
        "spec": spec.to_dict(),
        "continued_from": [*state.get("continued_from", []), origin],
    }
    return payload
