"""Carry a campaign's run folders through git, for machines that do not keep them.

A session here may start on a fresh machine that holds only what landed on main, and a long-track run needs 10-30
CPU-hours: many sessions. So when a session ends, each run's spec, training log and, where they are small enough
to commit, its checkpoints are copied into `campaign/runs/` (the layout of a runs folder), and when the next one
starts they are copied back and the sweep resumes from them. A run whose checkpoints are too large to commit
still carries its log, so its learning curve survives even though its training cannot.

    python tools/carry_runs.py save RUNS     # RUNS -> campaign/runs (stop the sweep first for checkpoints)
    python tools/carry_runs.py restore RUNS  # before starting it: campaign/runs -> RUNS (only runs that can resume)

Nothing is lost either way: `save` skips a run that is still training (its lock is held; the others are saved, so a
finished run can land while the sweep trains the rest) unless only its log would travel (its checkpoints are too
large to commit), which it copies up to the last whole line without stopping it; it never replaces a carried log by
a shorter one (a run restarted from scratch on a fresh machine), and `restore` never replaces a checkpoint that is
further along than the carried one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from vpbench.engine.checkpoint import load_checkpoint
from vpbench.engine.run import is_training
from vpbench.errors import VpbenchError
from vpbench.files import atomic_write, read_json_lines

ROOT = Path(__file__).resolve().parents[1]
CARRIED = ROOT / "campaign" / "runs"
CHECKPOINTS = ("last.pt", "best.pt")
LOGS = ("spec.json", "train_log.jsonl")
MAX_CHECKPOINT_MB = 3.0  # "never commit checkpoints over a few MB": the SRVP family and convgru fit, the rest do not


def run_folders(runs: Path) -> list[Path]:
    """Run folders of a runs folder (RUNS/DATASET/RUN/spec.json)."""
    return sorted(spec.parent for spec in runs.glob("*/*/spec.json"))


def logged_step(folder: Path) -> int:
    """The last step the run's training log reached (0 without a log)."""
    log = folder / "train_log.jsonl"
    events = read_json_lines(log) if log.is_file() else []
    return max((event.get("step", 0) for event in events), default=0)


def checkpoint_step(path: Path) -> int:
    return load_checkpoint(path)["step"] if path.is_file() else -1


def copy(source: Path, target: Path) -> None:
    """Copy through a temporary file and a rename, so a target is never half-written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(source, partial)
    os.replace(partial, target)


def copy_whole_lines(source: Path, target: Path) -> None:
    """Copy a log up to its last complete line, never half-written either: a run still training may be halfway
    through writing a line."""
    text = source.read_bytes()
    atomic_write(target, lambda handle: handle.write(text[: text.rfind(b"\n") + 1]), "wb")


def save(runs: Path, carried: Path, max_mb: float = MAX_CHECKPOINT_MB) -> list[str]:
    """Copy every run of `runs` into `carried`; what was done, one line per run. A run still training is carried
    only when its checkpoints are too large to travel anyway: its log so far, without stopping it."""
    report = []
    for folder in run_folders(runs):
        name = f"{folder.parent.name}/{folder.name}"
        sizes = {file: (folder / file).stat().st_size / 1e6 for file in CHECKPOINTS if (folder / file).is_file()}
        too_large = {file: size for file, size in sizes.items() if size > max_mb}
        training = is_training(folder)
        if training and not too_large:  # its checkpoints would travel: they and the log must be of one moment
            report.append(f"{name}: skipped, still training (its lock is held); stop it and save again to carry it")
            continue
        target = carried / folder.parent.name / folder.name
        reached, carried_reached = logged_step(folder), logged_step(target)
        if reached < carried_reached:
            report.append(
                f"{name}: kept the carried log (step {carried_reached}); this one is behind it "
                f"(step {reached}), a restart"
            )
            continue
        if too_large:
            for file in CHECKPOINTS:  # a carried checkpoint must never fall behind its carried log
                (target / file).unlink(missing_ok=True)
        copy(folder / "spec.json", target / "spec.json")
        if (folder / "train_log.jsonl").is_file():
            copy_whole_lines(folder / "train_log.jsonl", target / "train_log.jsonl")
        for file in () if too_large else sizes:
            copy(folder / file, target / file)
        if too_large:
            biggest = max(too_large.values())
            now = ", still training" if training else ""
            report.append(f"{name}: log only, step {reached}{now} (checkpoints {biggest:.1f} MB > {max_mb:g} MB)")
        elif not sizes:
            report.append(f"{name}: log only, step {reached} (no checkpoint written yet)")
        else:
            report.append(f"{name}: step {checkpoint_step(target / 'last.pt')}, checkpoints carried")
    return report


def restore(carried: Path, runs: Path) -> list[str]:
    """Copy back every carried run that can resume (it has last.pt) unless `runs` holds it further along."""
    report = []
    for folder in run_folders(carried):
        name = f"{folder.parent.name}/{folder.name}"
        if not (folder / "last.pt").is_file():
            report.append(f"{name}: not restored (no checkpoint carried; its log is history)")
            continue
        target = runs / folder.parent.name / folder.name
        here, there = checkpoint_step(target / "last.pt"), checkpoint_step(folder / "last.pt")
        if here >= there:
            report.append(f"{name}: kept {target} (step {here}, carried {there})")
            continue
        for file in CHECKPOINTS + LOGS:
            if (folder / file).is_file():
                copy(folder / file, target / file)
        report.append(f"{name}: restored at step {there}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["save", "restore"])
    parser.add_argument("runs", type=Path, help="the sweep's runs folder (its --runs-dir)")
    parser.add_argument("--carried", type=Path, default=CARRIED, help="the committed copy [campaign/runs]")
    args = parser.parse_args(argv)
    if args.action == "save" and not args.runs.is_dir():
        raise SystemExit(f"{args.runs}: no such runs folder; pass the sweep's --runs-dir")
    try:
        report = save(args.runs, args.carried) if args.action == "save" else restore(args.carried, args.runs)
    except VpbenchError as error:  # a corrupt or foreign checkpoint: one line, and nothing copied over it
        raise SystemExit(f"carry_runs {args.action}: {error}") from None
    print("\n".join(report) or "no runs", file=sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
