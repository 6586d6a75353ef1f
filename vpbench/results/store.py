"""Reading and writing result records: atomic, locked, and never silently overwriting a damaged file.

Layout: `<results dir>/<dataset>/<record id>.json` with its per-sequence values in `<record id>.npz`.
Writers take a file lock on the results directory, write to a temporary file in the same folder and
rename it into place, so a reader never sees half a record and two concurrent runs never interleave.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from filelock import FileLock

from vpbench.errors import VpbenchError
from vpbench.results.schema import Record

LOCK_NAME = ".vpbench.lock"
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, write: Callable[[object], None], mode: str = "w") -> None:
    """Write through a temporary file in the same folder, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(mode, dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o666 & ~_UMASK)  # temporary files are private; results are not
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def ensure_writable(results_dir: Path) -> None:
    """Fail before any work is done if results cannot be stored."""
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=results_dir, prefix=".probe.", delete=True)
        probe.close()
    except OSError as error:
        raise VpbenchError(
            f"results directory {results_dir} is not writable ({error.strerror}); pass --results-dir DIR"
        ) from None


def record_path(results_dir: Path, record: Record) -> Path:
    return Path(results_dir) / record.dataset.name / f"{record.record_id}.json"


def load_record(path: Path) -> Record:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VpbenchError(
            f"record {path} is unreadable or corrupt ({error}); restore it from version control"
        ) from None
    return Record.from_dict(data, origin=str(path))


def load_records(results_dir: Path) -> list[Record]:
    """Every record under `results_dir`, sorted by path; a corrupt one is named, never skipped."""
    results_dir = Path(results_dir)
    if not results_dir.exists():
        return []
    return [load_record(path) for path in sorted(results_dir.glob("*/*.json"))]


def write_record(results_dir: Path, record: Record, per_sequence: dict[str, np.ndarray] | None = None) -> Path:
    """Store `record` (and its per-sequence arrays) atomically under a lock; returns the JSON path."""
    results_dir = Path(results_dir)
    ensure_writable(results_dir)
    path = record_path(results_dir, record)
    with FileLock(str(results_dir / LOCK_NAME)):
        if path.exists():
            load_record(path)  # a damaged existing record is reported, not silently replaced
        if per_sequence:
            record.per_sequence_file = path.with_suffix(".npz").name
            atomic_write(path.with_suffix(".npz"), lambda f: np.savez_compressed(f, **per_sequence), mode="wb")
        text = json.dumps(record.to_dict(), indent=1, allow_nan=False, sort_keys=False)
        atomic_write(path, lambda f: f.write(text + "\n"))
    return path


def load_per_sequence(results_dir: Path, record: Record) -> dict[str, np.ndarray]:
    if not record.per_sequence_file:
        return {}
    path = Path(results_dir) / record.dataset.name / record.per_sequence_file
    try:
        with np.load(path) as arrays:
            return {key: arrays[key] for key in arrays.files}
    except (OSError, ValueError) as error:
        raise VpbenchError(f"per-sequence file {path} is missing or corrupt ({error})") from None
