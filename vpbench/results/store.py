"""Reading and writing result records: atomic, locked, and never replacing a stored record.

Layout: `<results dir>/<dataset>/<record id>.json`, its per-sequence values in `<record id>.npz` and its sample
predictions in `<record id>.samples.npz`. The record id contains the run spec's hash, so another budget or
test size is another record; a record that exists is never replaced (the engine does not re-run a stored
spec). A record is written as one unit: the companion files first, each atomically, then the JSON, which
names them with their SHA-256 — a JSON that exists is complete, and a damaged companion is detected by every
reader in one line.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from filelock import FileLock

from vpbench.errors import VpbenchError
from vpbench.files import atomic_write, file_sha256, make_folder
from vpbench.results.schema import Record

__all__ = ["atomic_write", "load_record", "load_records", "write_record", "load_per_sequence", "load_samples"]

LOCK_NAME = ".vpbench.lock"


def ensure_writable(folder: Path, option: str = "--results-dir") -> None:
    """Fail before any work is done if results (or, with option="--runs-dir", checkpoints) cannot be stored."""
    make_folder(folder, option)
    try:
        tempfile.NamedTemporaryFile(dir=folder, prefix=".probe.", delete=True).close()
    except OSError as error:
        noun = option.removeprefix("--").replace("-dir", " directory")
        raise VpbenchError(f"{noun} {folder} is not writable ({error.strerror}); pass another {option}") from None


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


def existing_results_dir(results_dir: str | Path) -> Path:
    """The folder a command that reads or rewrites a results folder works on (check, render, upgrade), which
    must exist: a mistyped --results-dir must not pass `check` with nothing in it, nor make `render` create it."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise VpbenchError(f"results folder {results_dir} does not exist; pass --results-dir DIR")
    return results_dir


def load_records(results_dir: Path) -> list[Record]:
    """Every record under `results_dir`, sorted by path; a corrupt one is named, never skipped."""
    results_dir = Path(results_dir)
    if not results_dir.exists():
        return []
    return [load_record(path) for path in sorted(results_dir.glob("*/*.json"))]


class RecordExists(VpbenchError):
    """A record with this id (same model, data, protocol, seed and run spec) is already stored."""


def write_record(
    results_dir: Path,
    record: Record,
    per_sequence: dict[str, np.ndarray] | None = None,
    samples: dict[str, np.ndarray] | None = None,
) -> Path:
    """Store `record` with its companion arrays as one unit under a lock; returns the JSON path.

    Never replaces: an existing record of the same id raises RecordExists (the same spec gives the same
    numbers; delete the file to recompute it on purpose).
    """
    results_dir = Path(results_dir)
    ensure_writable(results_dir)
    path = record_path(results_dir, record)
    with FileLock(str(results_dir / LOCK_NAME)):
        if path.exists():
            raise RecordExists(f"{path} is already stored (same run spec); delete it to recompute it")
        record.files = {}
        for suffix, arrays in ((".npz", per_sequence), (".samples.npz", samples)):
            if not arrays:
                continue
            companion = path.with_name(path.stem + suffix)
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **arrays)
            atomic_write(companion, lambda f, data=buffer.getvalue(): f.write(data), mode="wb")
            record.files[companion.name] = file_sha256(companion)
            if suffix == ".npz":
                record.per_sequence_file = companion.name
        text = json.dumps(record.to_dict(), indent=1, allow_nan=False, sort_keys=False)
        atomic_write(path, lambda f: f.write(text + "\n"))
    return path


def _load_companion(results_dir: Path, record: Record, name: str) -> dict[str, np.ndarray]:
    """Arrays of a companion file, verified against the SHA-256 its record names; one-line errors."""
    path = Path(results_dir) / record.dataset.name / name
    if not path.exists():
        raise VpbenchError(f"{path} is missing (named by record {record.record_id}); restore it from version control")
    expected = record.files.get(name)
    if expected and file_sha256(path) != expected:
        raise VpbenchError(
            f"{path} is damaged (its SHA-256 differs from the one record {record.record_id} stores); "
            "restore it from version control or re-run the record"
        )
    try:
        with np.load(path) as arrays:
            return {key: arrays[key] for key in arrays.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise VpbenchError(f"{path} is corrupt ({type(error).__name__}); restore it or re-run the record") from None


def load_per_sequence(results_dir: Path, record: Record) -> dict[str, np.ndarray]:
    if not record.per_sequence_file:
        return {}
    return _load_companion(results_dir, record, record.per_sequence_file)


def samples_name(record: Record) -> str:
    return f"{record.record_id}.samples.npz"


def load_samples(results_dir: Path, record: Record) -> dict[str, np.ndarray] | None:
    """The stored sample predictions of `record`, or None if it has none."""
    name = samples_name(record)
    if name not in record.files and not (Path(results_dir) / record.dataset.name / name).exists():
        return None
    return _load_companion(results_dir, record, name)
