"""`vpbench models` on a warm cache without importing torch (which alone takes ~2 s on a small CPU).

The whole listing (registry data plus counted costs) is cached under a fingerprint of everything it depends
on: the size and modification time of every source file of vpbench's packages and of each plugin's module,
the installed torch version and the Python version. Any edit, upgrade or new plugin changes the fingerprint,
and the listing is rebuilt (and its costs taken from the per-preset cost cache where they still hold).
Imports nothing heavy: pathlib, json, importlib.metadata.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path

PACKAGES = ("vpbench", "vpbench.models", "vpbench.baselines")
ENTRY_POINT_GROUP = "vpbench.models"  # the registry's group (kept equal by a test)


def listing_path() -> Path:
    from vpbench.files import cache_dir

    return cache_dir() / "models.json"


def _files() -> list[Path]:
    files = []
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        for folder in spec.submodule_search_locations or []:
            files += sorted(Path(folder).rglob("*.py"))
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        spec = importlib.util.find_spec(entry_point.value.split(":")[0].split(".")[0])
        if spec is not None and spec.origin:
            files.append(Path(spec.origin))
    return files


def fingerprint() -> str:
    digest = hashlib.sha256()
    for path in _files():
        status = path.stat()
        digest.update(f"{path}|{status.st_size}|{status.st_mtime_ns}\n".encode())
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        digest.update(f"{entry_point.name}={entry_point.value}\n".encode())
    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        torch_version = "none"
    digest.update(f"torch {torch_version} python {sys.version}".encode())
    return digest.hexdigest()


def cached_listing() -> list | None:
    """The cached `describe_models()` rows if the fingerprint still matches, else None."""
    try:
        document = json.loads(listing_path().read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("fingerprint") != fingerprint():
        return None
    return document.get("rows")


def store_listing(rows: list) -> None:
    from vpbench.files import atomic_write

    document = {"fingerprint": fingerprint(), "rows": rows}
    try:
        atomic_write(listing_path(), lambda f: f.write(json.dumps(document)))
    except OSError:
        pass  # a read-only home: the listing is rebuilt next time
