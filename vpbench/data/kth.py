"""KTH Actions (Schuldt et al., 2004): 25 people, 6 actions, 4 scenarios; grayscale 160x120 at 25 fps.

Prepared once (`vpbench data prepare kth --source DIR`) from either form the data circulates in:
  * the raw videos `personXX_ACTION_dY_uncomp.avi` (the six zips from KTH, anywhere under DIR), or
  * the per-video JPEG folders of PredRNN / OpenSTL's `kth_action` archive,
    `ACTION/personXX_ACTION_dY_uncomp/image_NNNN.jpg` (frame numbers give the order).
Frames become gray (ITU-R 601 luma, which equals each channel for KTH's gray content), stretched to
size x size like PredRNN / OpenSTL (whole 160x120 frame, bilinear without antialiasing, as cv2.resize).

Splits by person, as PredRNN / OpenSTL: persons 1-16 train, 17-25 test. vpbench carves validation from the
training persons: person 16 is validation, persons 1-15 train, so model selection never sees the test set.

Clips (stride "openstl", the default) follow PredRNN's / OpenSTL's window rule: windows of `clip_length`
consecutive frames anchored at each video's last frame and stepping backwards, non-overlapping for
boxing, handclapping, handwaving and walking, every 3 frames for jogging and running (short, fast actions);
the same rule on every split. An integer stride gives evenly spaced windows instead. Videos shorter than
the clip are skipped, and the split reports how many (`skipped_videos`).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from vpbench.data import _video
from vpbench.data.base import DataFile, DatasetSpec, register_dataset
from vpbench.errors import VpbenchError

ACTIONS = ("boxing", "handclapping", "handwaving", "jogging", "running", "walking")
FAST_ACTIONS = ("jogging", "running")  # OpenSTL/PredRNN: windows every 3 frames for these
FAST_STRIDE = 3
SPLIT_PERSONS = {"train": tuple(range(1, 16)), "val": (16,), "test": tuple(range(17, 26))}
DEFAULT_SIZE = 64
RAW_URL = "http://www.csc.kth.se/cvap/actions/"
PREPARE_HINT = "vpbench data prepare kth --source DIR"
FETCH_NOTE = (
    "KTH is not downloaded automatically (no SHA-256 or MD5 is published to verify it): download "
    + ", ".join(f"{action}.zip" for action in ACTIONS)
    + f" from {RAW_URL}, unzip them into one folder DIR and run `{PREPARE_HINT}`"
)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_VIDEO_NAME = re.compile(r"^person(\d{2})_(" + "|".join(ACTIONS) + r")_d([1-4])(?:_uncomp)?$", re.IGNORECASE)
_FRAME_NUMBER = re.compile(r"(\d+)\D*$")
AVI_FRAME_SLACK = 2  # decoders may drop a frame or two at the end; more missing means a truncated file


def _video_key(name: str) -> tuple[int, str, int] | None:
    match = _VIDEO_NAME.match(name)
    return (int(match.group(1)), match.group(2).lower(), int(match.group(3))) if match else None


def find_videos(source: Path) -> tuple[str, list[tuple[tuple[int, str, int], Path]]]:
    """Recognise the layout under `source`: ("avi", files) or ("jpeg-folders", folders), sorted by
    (person, action, scenario). Raises when neither or both are there, or a video appears twice."""
    if not source.is_dir():
        raise VpbenchError(f"KTH source {source} is not a folder; {FETCH_NOTE}")
    avis, folders = {}, {}
    for directory, files in _video.walk_folders(source):
        for file in files:
            key = _video_key(Path(file).stem) if file.lower().endswith(".avi") else None
            if key is not None:
                _add_unique(avis, key, Path(directory) / file)
        key = _video_key(Path(directory).name)
        if key is not None and any(f.lower().endswith(IMAGE_SUFFIXES) for f in files):
            _add_unique(folders, key, Path(directory))
    if avis and folders:
        raise VpbenchError(
            f"{source} holds both KTH .avi files ({len(avis)}) and JPEG folders ({len(folders)}); "
            "point --source at one of them"
        )
    if not avis and not folders:
        raise VpbenchError(
            f"no KTH videos under {source}: expected personXX_ACTION_dY_uncomp.avi files or JPEG folders "
            "ACTION/personXX_ACTION_dY_uncomp/image_NNNN.jpg"
        )
    found = avis or folders
    return ("avi" if avis else "jpeg-folders"), sorted(found.items())


def _add_unique(found: dict, key: tuple, path: Path) -> None:
    if key in found:
        raise VpbenchError(f"KTH video found twice: {found[key]} and {path}; keep one copy")
    found[key] = path


def read_avi(path: Path) -> np.ndarray:
    """Decode a KTH .avi to gray uint8 (T, H, W); a corrupt or truncated file is a one-line error."""
    import av  # PyAV: FFmpeg bindings, imported here so that opening a prepared cache does not need it

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            declared = stream.frames
            frames = [frame.to_ndarray(format="gray") for frame in container.decode(stream)]
    except (av.FFmpegError, IndexError, ValueError) as error:
        raise VpbenchError(f"cannot decode {path} ({error}); the file is corrupt — unzip it again") from None
    if not frames or (declared and len(frames) < declared - AVI_FRAME_SLACK):
        raise VpbenchError(
            f"{path} is truncated: decoded {len(frames)} of the {declared} frames its header declares; "
            "unzip it again"
        )
    return np.stack(frames)


def read_jpeg_folder(folder: Path) -> tuple[np.ndarray, list[int], str]:
    """Gray frames (T, H, W) of one video folder in frame-number order, the numbers, and a SHA-256 of
    the image files' bytes; an unreadable image is a one-line error naming it."""
    from PIL import Image, UnidentifiedImageError

    numbered = []
    for file in os.listdir(folder):
        match = _FRAME_NUMBER.search(Path(file).stem)
        if file.lower().endswith(IMAGE_SUFFIXES) and match:
            numbered.append((int(match.group(1)), file))
    numbered.sort()
    digest, frames = hashlib.sha256(), []
    for _, file in numbered:
        data = (folder / file).read_bytes()
        digest.update(data)
        try:
            with Image.open(io.BytesIO(data)) as image:
                frames.append(np.asarray(image.convert("L")))
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise VpbenchError(f"cannot read image {folder / file} ({error}); extract it again") from None
    shapes = {frame.shape for frame in frames}
    if len(shapes) != 1:
        raise VpbenchError(f"images in {folder} have different sizes {sorted(shapes)}; extract it again")
    return np.stack(frames), [number for number, _ in numbered], digest.hexdigest()


def _contiguous_runs(numbers: list[int]) -> list[tuple[int, int]]:
    """(start, stop) index ranges of consecutive frame numbers: windows never span a missing frame."""
    runs, start = [], 0
    for index in range(1, len(numbers) + 1):
        if index == len(numbers) or numbers[index] != numbers[index - 1] + 1:
            runs.append((start, index))
            start = index
    return runs


def prepare_kth(
    source: str | os.PathLike,
    root: Path,
    size: int | str = DEFAULT_SIZE,
    progress: _video.Progress | None = None,
) -> dict[str, Any]:
    """Decode every KTH video under `source` into `<root>/kth/prepared-<size>/`; returns the manifest."""
    size = _video.parse_size("kth", size)
    source = Path(source).expanduser().resolve()
    layout, videos = find_videos(source)

    def fill(writer: _video.FrameWriter) -> dict[str, Any]:
        entries = []
        for done, ((person, action, scenario), path) in enumerate(videos):
            name = f"person{person:02d}_{action}_d{scenario}"
            if layout == "avi":
                gray, numbers = read_avi(path), None
                source_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                gray, numbers, source_sha256 = read_jpeg_folder(path)
            runs = _contiguous_runs(numbers) if numbers else [(0, len(gray))]
            frames = _video.resize_frames(gray[:, None], size, "bilinear")
            for part, (start, stop) in enumerate(runs):
                offset, length, frames_sha256 = writer.add_video([frames[start:stop]])
                entries.append(
                    {
                        "name": name if len(runs) == 1 else f"{name}#{part}",
                        "person": person,
                        "action": action,
                        "scenario": scenario,
                        "split": split_of_person(person),
                        "offset": offset,
                        "length": length,
                        "source": str(path.relative_to(source)),
                        "source_sha256": source_sha256,
                        "source_size": [int(s) for s in gray.shape[1:]],
                        "frames_sha256": frames_sha256,
                    }
                )
            if progress:
                progress(done + 1, len(videos), name)
        return {
            "dataset": "kth",
            "source": str(source),
            "layout": layout,
            "settings": {
                "size": size,
                "channels": 1,
                "color": "gray (ITU-R 601 luma)",
                "resize": "whole frame stretched to square, bilinear, no antialiasing (as cv2.resize)",
            },
            "counts": _counts(entries),
            "videos": entries,
        }

    return _video.write_cache(_video.cache_dir(root, "kth", size), (1, size, size), fill)


def split_of_person(person: int) -> str | None:
    for split, persons in SPLIT_PERSONS.items():
        if person in persons:
            return split
    return None


def _counts(entries: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {}
    for split in SPLIT_PERSONS:
        lengths = [e["length"] for e in entries if e["split"] == split]
        counts[split] = {
            "videos": len(lengths),
            "frames": sum(lengths),
            "shortest": min(lengths, default=0),
            "longest": max(lengths, default=0),
        }
    return counts


def window_starts(length: int, clip_length: int, stride: int) -> list[int]:
    """Starts of windows anchored at the video's end and stepping back by `stride`, in ascending order."""
    return list(range(length - clip_length, -1, -stride))[::-1]


def parse_stride(stride: int | str) -> int | None:
    """None for the OpenSTL rule, else a positive integer stride."""
    if str(stride).lower() == "openstl":
        return None
    try:
        value = int(stride)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise VpbenchError(f"kth stride must be 'openstl' or a positive whole number of frames, got {stride!r}")
    return value


def open_kth(
    split: str,
    clip_length: int,
    root: Path,
    size: int | str = DEFAULT_SIZE,
    stride: int | str = "openstl",
) -> _video.WindowClips:
    size, fixed_stride = _video.parse_size("kth", size), parse_stride(stride)
    directory, manifest, frames = _video.open_cache(root, "kth", size, DEFAULT_SIZE, PREPARE_HINT)
    videos = [v for v in manifest["videos"] if v["split"] == split]
    if not videos:
        persons = SPLIT_PERSONS[split]
        named = str(persons[0]) if len(persons) == 1 else f"{persons[0]}-{persons[-1]}"
        raise VpbenchError(
            f"the KTH cache at {directory} has no video of the {split} persons ({named}); "
            f"prepare it from a source that holds them"
        )
    starts, skipped = [], 0
    for video in videos:
        step = fixed_stride or (FAST_STRIDE if video["action"] in FAST_ACTIONS else clip_length)
        local = window_starts(video["length"], clip_length, step)
        if not local:
            skipped += 1
        starts.extend(video["offset"] + s for s in local)
    if not starts:
        longest = max((v["length"] for v in videos), default=0)
        raise VpbenchError(
            f"kth {split}: no video has the {clip_length} frames the protocol needs "
            f"({len(videos)} videos, longest {longest} frames); choose a shorter protocol"
        )
    dataset = _video.WindowClips(frames, starts, clip_length, source=f"kth-{manifest['layout']}-{size}")
    dataset.skipped_videos = skipped
    dataset.cache_sha256 = manifest["frames_sha256"]
    return dataset


def _source_note(root: Path) -> str:
    return _video.source_note(root, "kth", f"not prepared: run `{PREPARE_HINT}` (see `vpbench data fetch kth`)")


SPEC = register_dataset(
    DatasetSpec(
        name="kth",
        channels=1,
        height=DEFAULT_SIZE,
        width=DEFAULT_SIZE,
        protocols=("10->10", "10->20", "10->40"),
        patch_size=2,
        description="KTH Actions, gray; persons 1-15 train, 16 validation, 17-25 test; prepared from .avi or JPEGs",
        open=open_kth,
        files=(
            DataFile("kth/prepared-64/manifest.json", f"prepared 64x64 cache ({PREPARE_HINT})"),
        ),
        options={
            "size": "64 (default) or 128: frame side; each size is prepared separately",
            "stride": "openstl (default: PredRNN/OpenSTL windows) or a whole number of frames",
        },
        source_note=_source_note,
    )
)
