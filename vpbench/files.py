"""File helpers every layer may use (engine, results, data): atomic writes, content hashes, JSON-lines logs.

Why here: checkpoints (engine) and records (results) both need "all or nothing" writes, and neither package
may import the other's internals; this module imports nothing of vpbench but its error type.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from vpbench.errors import VpbenchError

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, write: Callable[[object], None], mode: str = "w") -> None:
    """Write through a temporary file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
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


def remove_partial_writes(folder: Path) -> list[Path]:
    """Delete the temporaries of `atomic_write` calls that a hard kill (SIGKILL, a lost machine) cut short:
    the `except` above never ran for them, and a checkpoint's can be hundreds of MB. Call only while holding
    the folder's lock, so no live write is among them. Returns what was removed."""
    removed = [path for path in Path(folder).glob(".*.tmp") if path.is_file()]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def make_folder(folder: Path, option: str, writing: Path | None = None) -> Path:
    """`mkdir -p folder` for a path the user gave with `option`; a file in the way, or no permission, is one
    line naming the option (it was mkdir's FileExistsError / NotADirectoryError traceback)."""
    folder = Path(folder)
    what = writing or folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        raise VpbenchError(f"cannot write {what}: {blocker} is a file, not a folder; pass another {option}") from None
    except OSError as error:
        raise VpbenchError(f"cannot write {what} ({error.strerror}); pass another {option}") from None
    return folder


def prepare_output(path: Path, option: str = "--output") -> Path:
    """Make the folder of a file the user named (see `make_folder`); returns the file's path."""
    path = Path(path)
    make_folder(path.parent, option, writing=path)
    return path


def cache_dir() -> Path:
    """Where vpbench keeps what it can recompute (counted costs, the model listing): $VPBENCH_CACHE, else
    $XDG_CACHE_HOME/vpbench, else ~/.cache/vpbench (beside the default data root)."""
    if os.environ.get("VPBENCH_CACHE"):
        return Path(os.environ["VPBENCH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vpbench"


def looks_like_torch_file(path: Path) -> bool:
    """Whether `path` starts as `torch.save` writes: a zip archive (torch >= 1.6) or a pickle (older). Lets
    loaders say "not a torch file" for a text or other file instead of torch's pickle-security message."""
    with Path(path).open("rb") as handle:
        head = handle.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json_lines(path: Path) -> list[dict]:
    """The events of a JSON-lines log such as a run's `train_log.jsonl` (none if it does not exist). A line cut
    short by a kill is skipped: the others still tell the run's story. Read while the run appends to it
    (`sweep --plan`, `plot progress`)."""
    import json

    if not Path(path).exists():
        return []
    events = []
    for line in Path(path).read_text().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events
