"""The prepared-video cache shared by KTH and Human3.6M: frames once, in one uint8 file, plus a manifest.

Decoding thousands of .avi files or hundreds of thousands of JPEGs on every run is slow and makes results
depend on the decoder at hand, so each dataset is prepared once into a folder

    <data root>/<dataset>/prepared-<size>/
        frames.npy     uint8 (total frames, C, H, W), every video's frames back to back (memory-mapped)
        manifest.json  where each video's frames are (offset, length), its split facts (person, subject,
                       ...), source files and checksums, the preparation settings, skipped inputs

Clips are cut at open time as windows over those videos, so one cache serves every protocol. The folder is
written under a temporary name and renamed into place at the end: a cache either exists whole or not at
all. `frames.npy` is a standard .npy file; its header is written last, once the frame count is known,
in a fixed 256-byte slot (the format allows space padding up to a multiple of 64 bytes).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vpbench.data.base import ClipDataset, int_option
from vpbench.errors import VpbenchError
from vpbench.files import make_folder

FORMAT_VERSION = 1
FRAMES_FILE = "frames.npy"
MANIFEST_FILE = "manifest.json"
HEADER_BYTES = 256
Progress = Callable[[int, int, str], None]  # (done, total, current item)


def walk_folders(source: Path) -> Iterable[tuple[str, list[str]]]:
    """(folder, file names) for each folder under `source`, in sorted order, following symbolic links (data
    is often linked in from another disk) but entering each real folder once: a link back up the tree
    would otherwise walk in circles and report every video as "found twice"."""
    seen: set[tuple[int, int]] = set()
    for directory, subdirectories, files in os.walk(source, followlinks=True):
        identity = os.stat(directory)
        if (identity.st_dev, identity.st_ino) in seen:
            subdirectories.clear()
            continue
        seen.add((identity.st_dev, identity.st_ino))
        subdirectories.sort()
        yield directory, files


def cache_dir(root: Path, dataset: str, size: int) -> Path:
    return Path(root) / dataset / f"prepared-{size}"


def prepared_sizes(root: Path, dataset: str) -> list[int]:
    """Frame sizes with a complete prepared cache (a manifest) under `<root>/<dataset>/`."""
    sizes = []
    for manifest in (Path(root) / dataset).glob(f"prepared-*/{MANIFEST_FILE}"):
        suffix = manifest.parent.name.removeprefix("prepared-")
        if suffix.isdigit():
            sizes.append(int(suffix))
    return sorted(sizes)


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A version-1.0 .npy header for a C-ordered uint8 array, padded with spaces to HEADER_BYTES."""
    text = repr({"descr": "|u1", "fortran_order": False, "shape": tuple(shape)})
    body_length = HEADER_BYTES - 10  # magic (6) + version (2) + header length (2)
    body = text.encode("latin1").ljust(body_length - 1) + b"\n"
    if len(body) != body_length:
        raise ValueError(f"shape {shape} does not fit a {HEADER_BYTES}-byte .npy header")
    return b"\x93NUMPY\x01\x00" + body_length.to_bytes(2, "little") + body


class FrameWriter:
    """Appends uint8 frames (T, C, H, W) to a .npy file whose length is known only at the end."""

    def __init__(self, path: Path, frame_shape: tuple[int, int, int]) -> None:
        self.path = path
        self.frame_shape = tuple(frame_shape)
        self.count = 0
        self.digest = hashlib.sha256()
        self.handle = open(path, "wb")
        self.handle.write(b"\0" * HEADER_BYTES)

    def add_video(self, chunks: Iterable[np.ndarray]) -> tuple[int, int, str]:
        """Append one video given as chunks of frames (T, C, H, W); returns (offset, length, SHA-256 of
        its frame bytes). Chunks let a long video stream through without sitting in memory whole."""
        offset, video_digest = self.count, hashlib.sha256()
        for frames in chunks:
            if frames.dtype != np.uint8 or frames.shape[1:] != self.frame_shape:
                raise ValueError(f"expected uint8 (T, {self.frame_shape}) frames, got {frames.dtype} {frames.shape}")
            data = np.ascontiguousarray(frames).tobytes()
            self.handle.write(data)
            self.digest.update(data)
            video_digest.update(data)
            self.count += len(frames)
        return offset, self.count - offset, video_digest.hexdigest()

    def close(self) -> str:
        """Write the header; returns the SHA-256 of all frame bytes (the cache's content identity)."""
        self.handle.seek(0)
        self.handle.write(_npy_header((self.count, *self.frame_shape)))
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        return self.digest.hexdigest()


def write_cache(
    directory: Path,
    frame_shape: tuple[int, int, int],
    fill: Callable[[FrameWriter], dict[str, Any]],
) -> dict[str, Any]:
    """Build a cache folder atomically: `fill(writer)` appends frames and returns the manifest body.

    The folder is assembled beside `directory` under a temporary name and swapped in at the end; on any
    error the temporary folder is removed and an existing cache is left untouched.
    """
    make_folder(directory.parent, "--data-root", writing=directory)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.partial-", dir=directory.parent))
    try:
        writer = FrameWriter(staging / FRAMES_FILE, frame_shape)
        try:
            manifest = fill(writer)
        finally:
            frames_sha256 = writer.close()
        manifest = {
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "frame_shape": list(frame_shape),
            "total_frames": writer.count,
            "frames_sha256": frames_sha256,
            **manifest,
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")
        retired = None
        if directory.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old-", dir=directory.parent))
            os.replace(directory, retired / directory.name)
        os.replace(staging, directory)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def read_manifest(directory: Path, prepare_hint: str) -> dict[str, Any]:
    """The manifest of a prepared cache; a missing or stale cache is a one-line error saying what to run."""
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise VpbenchError(f"no prepared cache at {directory}; run `{prepare_hint}` (it writes {directory})")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise VpbenchError(f"{path} is unreadable ({error}); run `{prepare_hint}` again") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise VpbenchError(
            f"{directory} was prepared by another vpbench version (cache format "
            f"{manifest.get('format_version')}, need {FORMAT_VERSION}); run `{prepare_hint}` again"
        )
    return manifest


def open_frames(directory: Path, manifest: dict[str, Any], prepare_hint: str) -> np.ndarray:
    """Memory-map frames.npy and check it against the manifest (a truncated file names itself)."""
    path = directory / FRAMES_FILE
    expected = (manifest["total_frames"], *manifest["frame_shape"])
    try:
        frames = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise VpbenchError(f"{path} is missing or corrupt ({error}); run `{prepare_hint}` again") from None
    if frames.dtype != np.uint8 or tuple(frames.shape) != expected:
        raise VpbenchError(
            f"{path} holds {frames.dtype} {tuple(frames.shape)} but its manifest says uint8 {expected}; "
            f"run `{prepare_hint}` again"
        )
    return frames


def open_cache(
    root: Path, dataset: str, size: int, default_size: int, prepare_hint: str
) -> tuple[Path, dict[str, Any], np.ndarray]:
    """The prepared cache of `dataset` at `size`: its folder, checked manifest and memory-mapped frames.
    Errors name the exact `vpbench data prepare` command for that size."""
    hint = prepare_hint if size == default_size else f"{prepare_hint} --size {size}"
    directory = cache_dir(root, dataset, size)
    manifest = read_manifest(directory, hint)
    return directory, manifest, open_frames(directory, manifest, hint)


def source_note(root: Path, dataset: str, missing: str) -> str:
    """`vpbench datasets`'s line about a prepared dataset: its prepared sizes, or `missing` when none."""
    prepared = prepared_sizes(root, dataset)
    if not prepared:
        return missing
    return "prepared: " + ", ".join(f"{s}x{s}" for s in prepared)


def resize_frames(frames: np.ndarray, size: int, mode: str) -> np.ndarray:
    """Resize uint8 frames (T, C, H, W) to (T, C, size, size), rounding back to uint8.

    No antialiasing, half-pixel centres: the same sampling as OpenCV's `cv2.resize` (INTER_LINEAR for
    "bilinear", INTER_CUBIC for "bicubic", both a = -0.75 cubic), which PredRNN's and OpenSTL's loaders
    use — so frames match theirs up to uint8 rounding.
    """
    if frames.shape[-2:] == (size, size):
        return np.ascontiguousarray(frames)
    tensor = torch.from_numpy(np.ascontiguousarray(frames)).float()
    resized = F.interpolate(tensor, size=(size, size), mode=mode, align_corners=False, antialias=False)
    return resized.round_().clamp_(0, 255).to(torch.uint8).numpy()


class WindowClips(ClipDataset):
    """Clips of `clip_length` consecutive cached frames starting at each of `starts` (global frame index).

    Pickling (DataLoader workers under the spawn start method) sends the file path, not the frames: each
    worker maps the file itself. `cache_sha256` identifies the whole prepared cache (cheap, from the
    manifest); `skipped_videos` / `dropped_windows` count what was too short for `clip_length`.
    """

    cache_sha256: str = ""
    skipped_videos: int = 0
    dropped_windows: int = 0

    def __init__(self, frames: np.memmap, starts: Sequence[int], clip_length: int, source: str) -> None:
        self.frames = frames
        self.frames_path = str(frames.filename)
        self.starts = np.asarray(starts, dtype=np.int64)
        self.clip_length = clip_length
        self.source = source

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> torch.Tensor:
        start = int(self.starts[index])
        return torch.from_numpy(np.array(self.frames[start : start + self.clip_length]))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "frames": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.frames = np.load(self.frames_path, mmap_mode="r")


def parse_size(dataset: str, size: int | str) -> int:
    """The prepared frames' side in pixels (a `size` option, text on the command line)."""
    return int_option(dataset, "size (frame side in pixels, e.g. 64 or 128)", size, 8)
