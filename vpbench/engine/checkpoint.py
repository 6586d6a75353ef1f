"""Checkpoints: everything needed to resume exactly, written atomically, loaded safely.

A checkpoint holds the model, optimizer and scheduler states, the RNG states, the data position and the
best validation result so far, and the run spec it belongs to. It is written to a temporary file and
renamed, so a kill at any moment leaves either the previous or the new checkpoint, never half of one.
Loading uses `weights_only=True`: a file holding anything but tensors and plain data is refused, never
executed; and a SHA-256 over every tensor's bytes, stored at save time, is verified at load time, so bytes
flipped inside the weights are reported instead of silently evaluated.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
import random
from pathlib import Path
from typing import Any

import torch

from vpbench.errors import VpbenchError
from vpbench.files import atomic_write, looks_like_torch_file

FORMAT = "vpbench-checkpoint"
VERSION = 2  # 2: run spec + content hash


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, _, gauss = random.getstate()
    random.setstate((version, tuple(state["python"]), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def content_hash(payload: Any) -> str:
    """SHA-256 over the bytes of every tensor in `payload` (nested dicts/lists), in a fixed order."""
    digest = hashlib.sha256()

    def visit(value: Any, where: str) -> None:
        if isinstance(value, torch.Tensor):
            digest.update(where.encode())
            digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            for key in sorted(value, key=str):
                visit(value[key], f"{where}/{key}")
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                visit(item, f"{where}/{index}")

    visit(payload, "")
    return digest.hexdigest()


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    document = {"format": FORMAT, "version": VERSION, **payload}
    document["content_sha256"] = content_hash(payload)
    atomic_write(Path(path), lambda handle: torch.save(document, handle), mode="wb")


def check_torch_file(path: Path, *, expect: str) -> Path:
    """One-line errors, before any work is done, unless `path` exists and starts as `torch.save` writes.
    `expect` says which file the user should pass instead."""
    path = Path(path)
    if not path.exists():
        raise VpbenchError(f"checkpoint {path} does not exist; {expect}")
    if not looks_like_torch_file(path):
        raise VpbenchError(f"{path} is not a torch file (not written by torch.save); {expect}")
    return path


def load_torch_file(path: Path, *, expect: str, if_corrupt: str, map_location: str | torch.device = "cpu") -> Any:
    """`torch.load(weights_only=True)` with one-line errors for a missing, foreign, unsafe or corrupt file.

    The one safe loader for every checkpoint vpbench reads, its own and other code bases'; `expect` says
    which file to pass instead, `if_corrupt` what to do about a damaged one."""
    path = check_torch_file(path, expect=expect)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "unsafe content"
        raise VpbenchError(
            f"checkpoint {path} holds objects other than tensors and plain data ({first_line[:120]}); "
            f"refusing to load it — {expect}"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise VpbenchError(f"checkpoint {path} is corrupt or truncated ({str(error)[:120]}); {if_corrupt}") from None


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a vpbench checkpoint; corrupt, tampered or foreign files get a one-line refusal."""
    path = Path(path)
    document = load_torch_file(
        path, expect="pass a vpbench best.pt or last.pt", if_corrupt="delete it to retrain", map_location=map_location
    )
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise VpbenchError(f"{path} is not a vpbench checkpoint (no '{FORMAT}' marker); refusing to load it")
    if document.get("version") != VERSION:
        raise VpbenchError(
            f"checkpoint {path} has format version {document.get('version')}, this vpbench reads {VERSION} "
            "(older checkpoints carry no run spec); retrain it, or score its weights with --from"
        )
    stored = document.pop("content_sha256", None)
    payload = {key: value for key, value in document.items() if key not in ("format", "version")}
    if stored is None or content_hash(payload) != stored:
        raise VpbenchError(
            f"checkpoint {path} fails its content check (its tensors differ from the SHA-256 stored when it was "
            "saved, or it has none); it is damaged — delete it to retrain"
        )
    return document


def checkpoint_position(path: Path) -> tuple[str | None, int]:
    """(the spec hash a checkpoint belongs to, the step it holds). Loading one reads and hashes every tensor (0.4 s
    for simvp's 195 MB), and one `sweep --plan` asks several times per run (its line, the campaign total, the
    runs it may continue): each file version is read once."""
    stat = Path(path).stat()
    return _checkpoint_position(Path(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _checkpoint_position(path: Path, modified_ns: int, size: int) -> tuple[str | None, int]:
    state = load_checkpoint(path)
    return state.get("identity", {}).get("spec_hash"), state["step"]
