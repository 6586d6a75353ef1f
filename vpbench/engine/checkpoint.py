"""Checkpoints: everything needed to resume exactly, written atomically, loaded safely.

A checkpoint holds the model, optimizer and scheduler states, the RNG states, the data position and the
best validation result so far. It is written to a temporary file and renamed, so a kill at any moment
leaves either the previous or the new checkpoint, never half of one. Loading uses `weights_only=True`:
a file holding anything but tensors and plain data is refused, never executed.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import torch

from vpbench.errors import VpbenchError
from vpbench.results.store import atomic_write

FORMAT = "vpbench-checkpoint"
VERSION = 1


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


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    document = {"format": FORMAT, "version": VERSION, **payload}
    atomic_write(Path(path), lambda handle: torch.save(document, handle), mode="wb")


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a vpbench checkpoint; corrupt, tampered or foreign files get a one-line refusal."""
    path = Path(path)
    if not path.exists():
        raise VpbenchError(f"checkpoint {path} does not exist")
    try:
        document = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else "unsafe content"
        raise VpbenchError(
            f"checkpoint {path} holds objects other than tensors and plain data ({first_line[:120]}); "
            "refusing to load it — it is not a vpbench checkpoint or was tampered with"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise VpbenchError(
            f"checkpoint {path} is corrupt or truncated ({str(error)[:120]}); delete it to retrain"
        ) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise VpbenchError(f"{path} is not a vpbench checkpoint (no '{FORMAT}' marker); refusing to load it")
    if document.get("version") != VERSION:
        raise VpbenchError(f"checkpoint {path} has format version {document.get('version')}, expected {VERSION}")
    return document
