"""Downloads that can be trusted: streamed, resumable, checksum-verified, atomically renamed.

A dataset file is fetched into `<name>.part` beside its destination and renamed into place only after its
checksum matches, so a file at its final path is always complete and verified. An interrupted transfer
resumes from the partial file's size with an HTTP Range request (and restarts cleanly if the server
ignores Range). SHA-256 is preferred; MD5 is accepted where a publisher only gives MD5 (MNIST's mirrors
do) — it guards against corruption, not against tampering. Only the standard library is used.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vpbench.data.base import DataFile, data_root, get_dataset_spec
from vpbench.errors import VpbenchError
from vpbench.files import prepare_output

CHUNK_BYTES = 1 << 20
USER_AGENT = "vpbench-downloader/1 (+python urllib)"
Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)


def file_digest(path: str | os.PathLike, algorithm: str) -> str:
    """Hex digest of a file, read in chunks (big files never sit in memory)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def expected_digest(sha256: str | None, md5: str | None) -> tuple[str, str] | None:
    """The checksum to verify against: SHA-256 when published, else MD5, else None."""
    if sha256:
        return "sha256", sha256.lower()
    if md5:
        return "md5", md5.lower()
    return None


def verify_file(path: str | os.PathLike, sha256: str | None = None, md5: str | None = None) -> bool:
    """True when the file exists and matches its checksum (or exists and has none to match)."""
    path = Path(path)
    if not path.is_file():
        return False
    expected = expected_digest(sha256, md5)
    return expected is None or file_digest(path, expected[0]) == expected[1]


def _open(url: str, start: int, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if start > 0:
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=timeout)


def _resumes_at(response, start: int) -> bool:
    """Did the server honour our Range request, starting exactly where the partial file ends?"""
    if start == 0 or response.status != 206:
        return False
    match = re.match(r"bytes\s+(\d+)-", response.headers.get("Content-Range", ""))
    return bool(match) and int(match.group(1)) == start


def _transfer(url: str, part: Path, timeout: float, progress: Progress | None) -> None:
    """Stream `url` into `part`, appending when the server resumes, restarting when it does not."""
    start = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, start, timeout)
    except urllib.error.HTTPError as error:
        if error.code != 416 or start == 0:  # 416: nothing left after `start`; the .part may be complete
            raise
        return
    with response:
        resumed = _resumes_at(response, start)
        written = start if resumed else 0
        length = response.headers.get("Content-Length")
        total = written + int(length) if length and length.isdigit() else None
        with open(part, "ab" if resumed else "wb") as handle:
            while chunk := response.read(CHUNK_BYTES):
                handle.write(chunk)
                written += len(chunk)
                if progress:
                    progress(written, total)
    if total is not None and written < total:
        raise ConnectionError(f"connection closed after {written} of {total} bytes")


def download(
    url: str,
    destination: str | os.PathLike,
    sha256: str | None = None,
    md5: str | None = None,
    timeout: float = 30.0,
    progress: Progress | None = None,
) -> Path:
    """Download `url` to `destination` (resuming a previous `.part`), verify it, rename it into place.

    Raises a one-line VpbenchError when the server cannot be reached (saying which file to put where, and
    from where) or when the checksum does not match (the partial file is deleted; other files are kept).
    """
    destination = prepare_output(Path(destination), "--data-root")
    part = destination.with_name(destination.name + ".part")
    try:
        _transfer(url, part, timeout, progress)
    except (OSError, http.client.HTTPException) as error:  # URLError, refused, reset, timeout, short read
        reason = getattr(error, "reason", None) or error
        kept = " (the partial file is kept; fetching again resumes it)" if part.exists() else ""
        raise VpbenchError(
            f"cannot download {destination.name} from {url}: {reason}{kept}; when offline, download it "
            f"elsewhere and put it at {destination}"
        ) from None
    expected = expected_digest(sha256, md5)
    if expected is not None:
        algorithm, value = expected
        actual = file_digest(part, algorithm)
        if actual != value:
            part.unlink(missing_ok=True)
            raise VpbenchError(
                f"checksum mismatch for {destination.name} from {url} ({algorithm} {actual}, expected {value}); "
                f"the partial file was deleted — fetch again, or put a good copy at {destination}"
            )
    os.replace(part, destination)
    return destination


def fetch_files(
    files: tuple[DataFile, ...] | list[DataFile],
    root: str | os.PathLike,
    timeout: float = 30.0,
    progress: Callable[[DataFile, int, int | None], None] | None = None,
) -> list[dict[str, Any]]:
    """Fetch every file that has a URL; files already present and verified are skipped.

    A present file that fails its checksum is downloaded again (it is replaced only once the new copy
    verifies). Returns one row per file: path, status ("present", "downloaded", "manual"), checksum kind.
    """
    root = Path(root)
    rows = []
    for entry in files:
        target = root / entry.relative_path
        expected = expected_digest(entry.sha256, entry.md5)
        row = {"path": str(target), "url": entry.url, "checksum": expected[0] if expected else None}
        if entry.url is None:
            row["status"] = "present" if target.exists() else "manual"
        elif verify_file(target, entry.sha256, entry.md5):
            row["status"] = "present"
        else:
            report = (lambda done, total, entry=entry: progress(entry, done, total)) if progress else None
            download(entry.url, target, entry.sha256, entry.md5, timeout=timeout, progress=report)
            row["status"] = "downloaded"
        rows.append(row)
    return rows


def fetch_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    timeout: float = 30.0,
    progress: Callable[[DataFile, int, int | None], None] | None = None,
) -> list[dict[str, Any]]:
    """Fetch every downloadable file of dataset `name` into the data root (see `fetch_files`)."""
    spec = get_dataset_spec(name)
    return fetch_files(spec.files, data_root(root), timeout=timeout, progress=progress)

