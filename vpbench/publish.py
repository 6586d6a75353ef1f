"""Keeping the committed results folder whole: land records made elsewhere, redraw what derives from records.

Why: a long campaign runs where the compute is (another checkout, a cluster via `sweep --emit slurm`), so its
records reach `results/` later, by copying. A plain copy can silently keep a stale file, replace a stored
record, or bring a damaged companion, and leaves the suite's `pending` lists and the figures behind. `land`
copies only records the suite declares, after checking each one as `vpbench check` does, refuses to replace a
stored record that differs, takes the landed models off `pending`, and `render` redraws the leaderboard and
the declared figures. An application module, like the gate it builds on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from vpbench.engine.suite import SuiteEntry, suite_path
from vpbench.errors import VpbenchError
from vpbench.files import atomic_write
from vpbench.gate import check_suite, run_status, suite_entries, suite_records
from vpbench.results.check import validate_record
from vpbench.results.figures import DrawnFigures, render_figures
from vpbench.results.leaderboard import leaderboard_path, render_leaderboard
from vpbench.results.sequences import SequenceCache
from vpbench.results.store import LOCK_NAME, existing_results_dir, load_record, record_path


def render(results_dir: Path) -> tuple[Path, DrawnFigures]:
    """Rewrite leaderboard.md and every figure the suite declares from the suite's stored records; returns
    the leaderboard's path and the figures drawn (and not drawn)."""
    results_dir = existing_results_dir(results_dir)
    records = suite_records(results_dir)
    entries = suite_entries(results_dir)
    text = render_leaderboard(records, results_dir, entries)
    atomic_write(leaderboard_path(results_dir), lambda handle: handle.write(text))
    if not suite_path(results_dir).exists():  # a suite with no entries still rewrites the (empty) manifest
        return leaderboard_path(results_dir), DrawnFigures()
    specs = [spec for entry in entries for spec in entry.figures]
    return leaderboard_path(results_dir), render_figures(specs, records, results_dir, entries)


@dataclass
class Landing:
    copied: list[str] = field(default_factory=list)  # record ids
    already_stored: list[str] = field(default_factory=list)  # identical copies were there already
    no_longer_pending: list[str] = field(default_factory=list)  # "<entry>: <model>"


def land(source: Path, results_dir: Path, models: list[str] | None = None, data_root=None) -> Landing:
    """Copy the records under `source` that the suite of `results_dir` declares (only `models`, if given).

    All or nothing: every candidate is checked first (schema, consistency, companion SHA-256s) and so is every
    destination (a stored record that differs is never replaced); only then are files copied, companions
    before the JSON that names them, each atomically, as the store writes them.
    """
    source, results_dir = Path(source), Path(results_dir)
    if not source.is_dir():
        what = "is a file, not" if source.exists() else "does not exist; give"
        raise VpbenchError(f"{source} {what} a results folder made by `vpbench run` or `sweep` elsewhere")
    if not suite_path(results_dir).exists():
        raise VpbenchError(f"{results_dir} has no {suite_path(results_dir).name}: land needs the suite that declares "
                           "the records")
    _, _, declared, entries = check_suite(results_dir, data_root)
    paths = sorted(source.glob("*/*.json"))
    if not paths:
        raise VpbenchError(f"no result records under {source} (expected {source}/<dataset>/<record id>.json)")
    candidates = []
    for path in paths:
        record = load_record(path)
        if record.record_id in declared and (not models or record.model.name in models):
            candidates.append((path, record))
    if not candidates:
        wanted = f" of {', '.join(models)}" if models else ""
        suite = suite_path(results_dir)
        raise VpbenchError(f"no record{wanted} under {source} is declared by {suite}; nothing to land")
    sequences = SequenceCache(source)
    landing, to_copy = Landing(), []
    for path, record in candidates:
        problems = validate_record(record, path, source, sequences)
        if problems:
            raise VpbenchError(f"{path}: {problems[0].message} ({problems[0].check}); nothing landed")
        names = [*record.files, path.name]  # companions first: a JSON that exists is complete
        destination = record_path(results_dir, record)
        if destination.exists():
            if destination.read_bytes() != path.read_bytes():
                raise VpbenchError(
                    f"{destination} is stored and differs from {path}; a stored record is never replaced "
                    "(delete it first to replace it on purpose); nothing landed"
                )
            landing.already_stored.append(record.record_id)
            continue
        to_copy.append((path.parent, destination.parent, names, record.record_id))
    results_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(results_dir / LOCK_NAME)):
        for folder, target, names, record_id in to_copy:
            for name in names:
                data = (folder / name).read_bytes()
                atomic_write(target / name, lambda handle, data=data: handle.write(data), mode="wb")
            landing.copied.append(record_id)
    landing.no_longer_pending = _take_off_pending(entries, results_dir, data_root)
    return landing


def _stored_models(entry: SuiteEntry, results_dir: Path, data_root) -> set[str]:
    """The entry's models with a record for every seed and protocol."""
    incomplete = {model for model, _, spec, _, missing in run_status(entry, results_dir, data_root)
                  if spec is None or missing}
    return set(entry.models) - incomplete


def _take_off_pending(entries: list[SuiteEntry], results_dir: Path, data_root) -> list[str]:
    """Remove every model whose records are now all stored from its entry's `pending` list in suite.json."""
    done = {}
    for entry in entries:
        stored = [model for model in entry.pending if model in _stored_models(entry, results_dir, data_root)]
        if stored:
            done[entry.name] = stored
    if not done:
        return []
    path = suite_path(results_dir)
    document = json.loads(path.read_text())
    for raw in document["entries"]:
        if raw["name"] in done:
            raw["pending"] = [model for model in raw["pending"] if model not in done[raw["name"]]]
    text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    atomic_write(path, lambda handle: handle.write(text))
    return [f"{name}: {model}" for name, models in done.items() for model in models]
