"""Human3.6M (Ionescu et al., 2014) for video prediction: RGB frames, 4 -> 4 with a frame step of 5.

Human3.6M needs a license, so vpbench never downloads it; `vpbench data prepare human36m --source DIR`
reads the layout OpenSTL (after STRPM) uses and makes it a uint8 cache:
  DIR/images/S1_Directions.54138969_000001.jpg   frames, `<clip prefix><6-digit frame number>.jpg`
  DIR/train.txt, DIR/test.txt                     windows, one per line: `<clip prefix>,<begin>,<end>`
Without the meta files, any folder of numbered frames works (clips are grouped by folder and file-name
prefix, the subject read from the `S<n>` in the path). Frames are read every 5th frame (the protocol's
step), stretched to size x size: images wider than 256 px are first brought to 256x256 (bilinear, as
OpenSTL's resize script), then bicubic without antialiasing (as its loader's cv2.resize INTER_CUBIC).

Splits:
  * `split_by="subject"` (default): S1, S5, S6, S7, S8 train; S9, S11 test. Validation: whole recordings
    (all cameras of one take) of the training subjects — sorted by (subject, take), every 10th starting
    with the 5th — so no validation frame is a training frame and the test subjects stay unseen. Windows
    are those of the meta files (every 25 frames) when present, else every 25 frames from each clip's start.
  * `split_by="window"`: OpenSTL's own split for comparison: test = the windows of test.txt, train = the
    windows of train.txt. Both files draw windows from every subject, and neighbouring windows of one clip
    overlap (40 frames every 25), so test frames are seen in training — leaky by construction. OpenSTL
    validates on the test set; vpbench takes validation from train.txt (the windows of the validation
    recordings above) instead.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vpbench.data import _video
from vpbench.data.base import DataFile, DatasetSpec, register_dataset
from vpbench.errors import VpbenchError

TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
VALIDATION_EVERY, VALIDATION_FIRST = 10, 4  # of training recordings sorted: indices 4, 14, 24, ...
FRAME_STEP = 5
WINDOW_EVERY = 5  # in steps: a window every 25 frames, as in the meta files
MIN_WINDOW_FRAMES = 8  # 4 -> 4
OPENSTL_SIDE = 256  # OpenSTL's layout holds 256x256 images
DEFAULT_SIZE = 64
SPLITS = ("subject", "window")
META_FILES = {"train": "train.txt", "test": "test.txt"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
CHUNK_FRAMES = 16  # frames decoded at once: 16 full-size (1000x1000) frames are ~200 MB as float
PREPARE_HINT = "vpbench data prepare human36m --source DIR"
FETCH_NOTE = (
    "Human3.6M needs a license: register at http://vision.imar.ro/human3.6m/, get the frames in OpenSTL's "
    f"layout (DIR/images/*.jpg with train.txt and test.txt) and run `{PREPARE_HINT}`"
)
_SUBJECT = re.compile(r"(?<![A-Za-z0-9])S(\d{1,2})(?![0-9])")
_CAMERA = re.compile(r"\.(\d{6,})")
_NUMBERED = re.compile(r"^(.*?)(\d+)$")


def describe_clip(name: str) -> dict[str, str | None]:
    """Subject (`S9`), camera id and recording (the clip name without its camera) from a clip name."""
    subject = _SUBJECT.search(name)
    camera = _CAMERA.search(name)
    return {
        "subject": f"S{int(subject.group(1))}" if subject else None,
        "camera": camera.group(1) if camera else None,
        "recording": _CAMERA.sub("", name).strip("/_."),
    }


def read_meta(source: Path) -> dict[str, dict[str, list[int]]]:
    """{clip prefix: {"train": [begins], "test": [begins], "end": [ends]}} from train.txt / test.txt."""
    clips: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"train": [], "test": [], "end": []})
    for split, file in META_FILES.items():
        path = source / file
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            fields = [field.strip() for field in line.split(",")]
            if fields == [""]:
                continue
            if len(fields) != 3 or not fields[1].isdigit() or not fields[2].isdigit():
                raise VpbenchError(f"{path}, line {number}: expected `<clip prefix>,<begin>,<end>`, got {line!r}")
            clips[fields[0]][split].append(int(fields[1]))
            clips[fields[0]]["end"].append(int(fields[2]))
    return dict(clips)


def scan_frames(source: Path) -> dict[str, dict[int, Path]]:
    """{clip name: {frame number: file}} for every numbered image under `source` (no meta files)."""
    clips: dict[str, dict[int, Path]] = defaultdict(dict)
    for directory, files in _video.walk_folders(source):
        for file in files:
            stem, suffix = os.path.splitext(file)
            match = _NUMBERED.match(stem)
            if suffix.lower() in IMAGE_SUFFIXES and match:
                prefix = os.path.relpath(os.path.join(directory, match.group(1)), source)
                clips[prefix.replace(os.sep, "/")][int(match.group(2))] = Path(directory) / file
    return dict(clips)


def _frame_path(source: Path, prefix: str, number: int) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        path = source / f"{prefix}{number:06d}{suffix}"
        if path.is_file():
            return path
    return None


def _read_rgb(path: Path, digest) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        data = path.read_bytes()
        digest.update(data)
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise VpbenchError(f"cannot read image {path} ({error}); extract it again") from None


def resize_rgb(frames: np.ndarray, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, 3, size, size): OpenSTL's two stages (to 256 if larger, then to size)."""
    frames = np.ascontiguousarray(frames.transpose(0, 3, 1, 2))
    if max(frames.shape[-2:]) > OPENSTL_SIDE and size < OPENSTL_SIDE:
        frames = _video.resize_frames(frames, OPENSTL_SIDE, "bilinear")
    return _video.resize_frames(frames, size, "bicubic")


def _grid_frames(paths: Iterator[Path], size: int, digest, shapes: set) -> Iterator[np.ndarray]:
    """Decode and resize frames in chunks, so a long clip never sits in memory at full resolution."""
    chunk = []
    for path in paths:
        image = _read_rgb(path, digest)
        shapes.add(image.shape)
        if len(shapes) > 1:
            raise VpbenchError(f"{path} is {image.shape[1]}x{image.shape[0]}, unlike the clip's other frames")
        chunk.append(image)
        if len(chunk) == CHUNK_FRAMES:
            yield resize_rgb(np.stack(chunk), size)
            chunk = []
    if chunk:
        yield resize_rgb(np.stack(chunk), size)


def _clip_plan(source: Path) -> tuple[str, list[dict[str, Any]]]:
    """Which frames of which clips to read: ("openstl-meta" | "image-folders", [clip plans])."""
    meta = read_meta(source)
    plans = []
    if meta:
        for prefix, windows in sorted(meta.items()):
            begins = sorted(set(windows["train"] + windows["test"]))
            first = begins[0]
            if any((b - first) % FRAME_STEP for b in begins):
                raise VpbenchError(f"meta windows of {prefix} do not share one phase modulo {FRAME_STEP}")
            # OpenSTL's lines span 70 frames (15 steps); read to the furthest end, at least one 4->4 window
            last = max(max(windows["end"]), begins[-1] + FRAME_STEP * (MIN_WINDOW_FRAMES - 1))
            listed = {split: windows[split] for split in META_FILES}
            plans.append({"name": prefix, "first": first, "last": last, "meta": listed, "files": None})
        return "openstl-meta", plans
    for name, frames in sorted(scan_frames(source).items()):
        first = min(frames)
        plans.append({"name": name, "first": first, "last": max(frames), "meta": None, "files": frames})
    if not plans:
        raise VpbenchError(
            f"no Human3.6M frames under {source}: expected images/S1_Directions.54138969_000001.jpg "
            "(OpenSTL's layout) with train.txt and test.txt, or folders of numbered frames"
        )
    return "image-folders", plans


def prepare_human36m(
    source: str | os.PathLike,
    root: Path,
    size: int | str = DEFAULT_SIZE,
    progress: _video.Progress | None = None,
) -> dict[str, Any]:
    """Read every clip's frames at step 5 into `<root>/human36m/prepared-<size>/`; returns the manifest."""
    size = _video.parse_size("human36m", size)
    source = Path(source).expanduser().resolve()
    if not source.is_dir():
        raise VpbenchError(f"Human3.6M source {source} is not a folder; {FETCH_NOTE}")
    layout, plans = _clip_plan(source)

    def fill(writer: _video.FrameWriter) -> dict[str, Any]:
        entries, skipped = [], []
        for done, plan in enumerate(plans):
            numbers = range(plan["first"], plan["last"] + 1, FRAME_STEP)
            if plan["files"] is None:
                paths = [_frame_path(source, plan["name"], n) for n in numbers]
            else:
                paths = [plan["files"].get(n) for n in numbers]
            missing = paths.index(None) if None in paths else None
            if missing is not None:  # stop at the first missing frame: windows never span a gap
                paths = paths[:missing]
            if not paths:
                skipped.append({"name": plan["name"], "reason": f"frame {plan['first']} not found"})
                continue
            digest, shapes = hashlib.sha256(), set()
            offset, length, frames_sha256 = writer.add_video(_grid_frames(iter(paths), size, digest, shapes))
            entry = {"name": plan["name"], **describe_clip(plan["name"]), "first_frame": plan["first"]}
            entry.update(offset=offset, length=length, source_sha256=digest.hexdigest())
            entry.update(source_size=list(next(iter(shapes))[:2]), frames_sha256=frames_sha256)
            if missing is not None:
                entry["ends_before_missing_frame"] = numbers[missing]
            if plan["meta"] is not None:
                entry["windows"] = {
                    split: sorted((b - plan["first"]) // FRAME_STEP for b in begins)
                    for split, begins in plan["meta"].items()
                }
            entries.append(entry)
            if progress:
                progress(done + 1, len(plans), plan["name"])
        if not entries:
            raise VpbenchError(
                f"none of the {len(plans)} clips has its first frame under {source} "
                f"(e.g. {plans[0]['name']}{plans[0]['first']:06d}.jpg); check --source"
            )
        return {
            "dataset": "human36m",
            "source": str(source),
            "layout": layout,
            "settings": {
                "size": size,
                "channels": 3,
                "color": "RGB",
                "frame_step": FRAME_STEP,
                "resize": "to 256x256 bilinear if larger, then bicubic; no antialiasing (as OpenSTL's cv2)",
            },
            "videos": entries,
            "skipped": skipped,
        }

    return _video.write_cache(_video.cache_dir(root, "human36m", size), (3, size, size), fill)


def validation_recordings(videos: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(subject, recording) pairs held out for validation: every 10th training recording from the 5th."""
    recordings = sorted({(v["subject"], v["recording"]) for v in videos if v["subject"] in TRAIN_SUBJECTS})
    return set(recordings[VALIDATION_FIRST::VALIDATION_EVERY])


def split_windows(videos: list[dict[str, Any]], split: str, mode: str) -> list[tuple[dict[str, Any], list[int]]]:
    """[(video, window starts in steps)] of one split under the subject or window split."""
    held_out = validation_recordings(videos)
    chosen = []
    for video in videos:
        is_validation = (video["subject"], video["recording"]) in held_out
        meta = video.get("windows")
        if mode == "window":
            if meta is None:
                raise VpbenchError(
                    "split_by='window' reproduces OpenSTL's train.txt / test.txt, but this cache was prepared "
                    f"without them; put both in the source folder and run `{PREPARE_HINT}` again"
                )
            if split == "test":
                starts = meta["test"]
            elif is_validation == (split == "val"):
                starts = meta["train"]
            else:
                continue
        else:
            home = "test" if video["subject"] in TEST_SUBJECTS else None
            if video["subject"] in TRAIN_SUBJECTS:
                home = "val" if is_validation else "train"
            if home != split:
                continue
            if meta is not None:
                starts = sorted(set(meta["train"]) | set(meta["test"]))
            else:
                starts = list(range(0, video["length"], WINDOW_EVERY))
        chosen.append((video, starts))
    return chosen


def open_human36m(
    split: str,
    clip_length: int,
    root: Path,
    size: int | str = DEFAULT_SIZE,
    split_by: str = "subject",
) -> _video.WindowClips:
    size = _video.parse_size("human36m", size)
    if split_by not in SPLITS:
        raise VpbenchError(f"unknown human36m split '{split_by}'; valid: {', '.join(SPLITS)}")
    directory, manifest, frames = _video.open_cache(root, "human36m", size, DEFAULT_SIZE, PREPARE_HINT)
    chosen = split_windows(manifest["videos"], split, split_by)
    if not chosen:
        raise VpbenchError(
            f"the Human3.6M cache at {directory} has no clip in the {split} split ({split_by} split: train "
            f"{'/'.join(TRAIN_SUBJECTS)}, test {'/'.join(TEST_SUBJECTS)}, validation every "
            f"{VALIDATION_EVERY}th training recording from the {VALIDATION_FIRST + 1}th); prepare more of the data"
        )
    starts, dropped = [], 0
    for video, local in chosen:
        fitting = [s for s in local if s + clip_length <= video["length"]]
        dropped += len(local) - len(fitting)
        starts.extend(video["offset"] + s for s in fitting)
    if not starts:
        raise VpbenchError(
            f"human36m {split} ({split_by} split): no window of {clip_length} frames at step {FRAME_STEP} "
            f"fits the prepared clips ({dropped} too short); choose a shorter protocol"
        )
    dataset = _video.WindowClips(frames, starts, clip_length, source=f"human36m-{size}-{split_by}-split")
    dataset.dropped_windows = dropped
    dataset.cache_sha256 = manifest["frames_sha256"]
    return dataset


def _source_note(root: Path) -> str:
    return _video.source_note(root, "human36m", f"not prepared (licensed data): run `{PREPARE_HINT}`")


SPEC = register_dataset(
    DatasetSpec(
        name="human36m",
        channels=3,
        height=DEFAULT_SIZE,
        width=DEFAULT_SIZE,
        protocols=("4->4",),
        description="Human3.6M, RGB, frame step 5; subject split (S1,S5-S8 / S9,S11) or OpenSTL's window split",
        open=open_human36m,
        files=(DataFile("human36m/prepared-64/manifest.json", f"prepared 64x64 cache ({PREPARE_HINT})"),),
        options={
            "size": "64 (default): frame side; each size is prepared separately",
            "split_by": "subject (default: S1,S5-S8 train, S9,S11 test) or window (OpenSTL's leaky split)",
        },
        source_note=_source_note,
    )
)
