"""Human3.6M on tiny fixtures in OpenSTL's layout (images/<clip prefix><NNNNNN>.jpg + train.txt / test.txt)
and in plain per-clip folders. Every frame is one flat colour encoding (clip, frame number), so splits,
frame step and window positions are checked on the pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vpbench.data import commands, open_split
from vpbench.data.human36m import describe_clip, prepare_human36m, resize_rgb
from vpbench.errors import VpbenchError

SIZE = 16
GRID = range(1, 67, 5)  # frames 1, 6, ..., 66: 14 frames at the protocol's step of 5
# S1 has five recordings: the fifth in sorted order (S1_Phoning) is held out for validation.
CLIPS = [
    "S1_Directions.54138969_",
    "S1_Discussion.54138969_",
    "S1_Eating.54138969_",
    "S1_Greeting.54138969_",
    "S1_Phoning.54138969_",
    "S5_Walking.55011271_",
    "S9_Sitting.58860488_",
    "S11_Posing.60457274_",
]


def colour(clip: int, frame: int) -> tuple[int, int, int]:
    return 30 + 25 * clip, 20 + 3 * frame, 128


def write_frame(path, clip: int, frame: int, side: int = 24) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((side, side, 3), colour(clip, frame), np.uint8)).save(path, quality=98)


@pytest.fixture()
def openstl_source(tmp_path):
    source = tmp_path / "human"
    for clip, prefix in enumerate(CLIPS):
        for frame in GRID:
            write_frame(source / "images" / f"{prefix}{frame:06d}.jpg", clip, frame)
    # OpenSTL's meta lines: `<prefix>,<begin>,<begin + 70>`; the window at 1 is train, at 26 test.
    (source / "train.txt").write_text("".join(f"images/{p},1,71\n" for p in CLIPS))
    (source / "test.txt").write_text("".join(f"images/{p},26,96\n" for p in CLIPS))
    return source


def clip_of(sequence: torch.Tensor) -> tuple[int, int]:
    """(clip index, first frame number) decoded from a sequence's first frame colour."""
    red, green, _ = sequence[0].float().mean(dim=(1, 2)).tolist()
    return round((red - 30) / 25), round((green - 20) / 3)


def test_prepare_reads_every_fifth_frame_rgb_and_records_meta_windows(openstl_source, tmp_path):
    manifest = prepare_human36m(openstl_source, tmp_path, size=SIZE)
    assert manifest["layout"] == "openstl-meta" and manifest["settings"]["frame_step"] == 5
    frames = np.load(tmp_path / "human36m" / f"prepared-{SIZE}" / "frames.npy", mmap_mode="r")
    assert frames.shape == (len(CLIPS) * len(GRID), 3, SIZE, SIZE) and frames.dtype == np.uint8
    by_name = {v["name"]: v for v in manifest["videos"]}
    s9 = by_name["images/S9_Sitting.58860488_"]
    assert (s9["subject"], s9["camera"], s9["recording"]) == ("S9", "58860488", "images/S9_Sitting")
    assert s9["windows"] == {"train": [0], "test": [5]} and s9["length"] == len(GRID)
    pixels = frames[s9["offset"] : s9["offset"] + s9["length"]].mean(axis=(2, 3))
    np.testing.assert_allclose(pixels, [colour(CLIPS.index("S9_Sitting.58860488_"), f) for f in GRID], atol=2)


def test_subject_split_keeps_test_subjects_unseen(openstl_source):
    commands.prepare("human36m", openstl_source, size=SIZE)
    splits = {name: open_split("human36m", name, 8, size=SIZE) for name in ("train", "val", "test")}
    seen = {name: sorted(clip_of(split[i]) for i in range(len(split))) for name, split in splits.items()}
    # both meta windows (frames 1 and 26) of every clip, assigned by subject; S1_Phoning validates
    assert seen["train"] == [(c, f) for c in (0, 1, 2, 3, 5) for f in (1, 26)]
    assert seen["val"] == [(4, 1), (4, 26)]
    assert seen["test"] == [(c, f) for c in (6, 7) for f in (1, 26)]
    clip = splits["test"][0]
    assert clip.shape == (8, 3, SIZE, SIZE) and clip.dtype == torch.uint8
    greens = clip.float().mean(dim=(2, 3))[:, 1]  # consecutive clip frames are 5 source frames apart
    np.testing.assert_allclose(greens.diff(), 15, atol=2)
    assert splits["test"].source == f"human36m-{SIZE}-subject-split"


def test_window_split_reproduces_openstl_meta_files(openstl_source):
    commands.prepare("human36m", openstl_source, size=SIZE)
    splits = {name: open_split("human36m", name, 8, size=SIZE, split_by="window") for name in ("train", "val", "test")}
    seen = {name: sorted(clip_of(split[i]) for i in range(len(split))) for name, split in splits.items()}
    assert seen["test"] == [(c, 26) for c in range(len(CLIPS))]  # test.txt: every subject, leaky
    assert seen["train"] == [(c, 1) for c in range(len(CLIPS)) if c != 4]
    assert seen["val"] == [(4, 1)]  # from train.txt, never the test windows
    assert splits["test"].source == f"human36m-{SIZE}-window-split"


def test_longer_protocols_drop_windows_that_run_past_the_clip(openstl_source):
    commands.prepare("human36m", openstl_source, size=SIZE)
    test = open_split("human36m", "test", 10, size=SIZE)  # the window at 26 needs frames up to 71: absent
    assert len(test) == 2 and test.dropped_windows == 2
    with pytest.raises(VpbenchError, match="no window of 20 frames.*shorter protocol"):
        open_split("human36m", "test", 20, size=SIZE)


def test_plain_folders_without_meta_files(tmp_path):
    source = tmp_path / "frames"
    for clip, name in enumerate(("S1/Directions.54138969", "S9/Walking.55011271")):
        for frame in range(1, 62, 5):
            if (clip, frame) != (1, 46):  # a missing frame ends S9's clip there
                write_frame(source / name / f"{frame:06d}.jpg", clip, frame)
    manifest = prepare_human36m(source, tmp_path, size=SIZE)
    assert manifest["layout"] == "image-folders"
    assert [(v["subject"], v["length"]) for v in manifest["videos"]] == [("S1", 13), ("S9", 9)]
    assert manifest["videos"][1]["ends_before_missing_frame"] == 46
    train = open_split("human36m", "train", 8, root=tmp_path, size=SIZE)
    assert sorted(clip_of(train[i]) for i in range(len(train))) == [(0, 1), (0, 26)]  # every 25 frames
    assert len(open_split("human36m", "test", 8, root=tmp_path, size=SIZE)) == 1
    with pytest.raises(VpbenchError, match="no clip in the val split"):  # one training recording: none held out
        open_split("human36m", "val", 8, root=tmp_path, size=SIZE)
    with pytest.raises(VpbenchError, match="split_by='window'.*train.txt"):
        open_split("human36m", "test", 8, root=tmp_path, size=SIZE, split_by="window")


def test_bad_inputs_are_named(openstl_source, tmp_path):
    with pytest.raises(VpbenchError, match="vpbench data prepare human36m --source DIR"):
        open_split("human36m", "test", 8, root=tmp_path / "nothing")
    with pytest.raises(VpbenchError, match="Human3.6M needs a license"):
        commands.fetch("human36m")
    bad = openstl_source / "images" / f"{CLIPS[2]}{11:06d}.jpg"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(VpbenchError, match=f"cannot read image .*{CLIPS[2]}000011.jpg"):
        prepare_human36m(openstl_source, tmp_path, size=SIZE)
    (openstl_source / "test.txt").write_text("images/S9_Sitting.58860488_,26\n")
    with pytest.raises(VpbenchError, match="test.txt, line 1"):
        prepare_human36m(openstl_source, tmp_path, size=SIZE)
    with pytest.raises(VpbenchError, match="unknown human36m split 'frames'"):
        open_split("human36m", "test", 8, split_by="frames")


def test_large_frames_are_resized_in_openstls_two_stages():
    frames = np.zeros((2, 300, 280, 3), np.uint8)
    frames[:, :, 140:] = 200
    resized = resize_rgb(frames, SIZE)
    assert resized.shape == (2, 3, SIZE, SIZE) and resized.dtype == np.uint8
    assert resized[0, 0, 0, 0] == 0 and resized[0, 0, 0, -1] == 200  # stretched, no colour shift
    assert describe_clip("images/S11_Posing_1.60457274_")["subject"] == "S11"


@pytest.mark.parametrize("size", ["abc", "4", 2.5])
def test_a_size_option_that_is_not_a_frame_side_is_one_line(tmp_path, size):
    """The frame side goes through the same whole-number check as every dataset option, before any file."""
    message = r"^human36m option size \(frame side in pixels, e.g. 64 or 128\) must be a whole number >= 8, got"
    with pytest.raises(VpbenchError, match=message):
        open_split("human36m", "test", 20, tmp_path, size=size)


def test_a_link_back_up_the_source_tree_is_walked_once(tmp_path):
    """Each real folder is read once: a link from a clip folder back to the source root would otherwise add
    every clip again under a longer name."""
    source = tmp_path / "frames"
    for clip, name in enumerate(("S1/Directions.54138969", "S9/Walking.55011271")):
        for frame in range(1, 62, 5):
            write_frame(source / name / f"{frame:06d}.jpg", clip, frame)
    plain = prepare_human36m(source, tmp_path / "plain", size=SIZE)
    (source / "S9" / "up").symlink_to(source, target_is_directory=True)
    linked = prepare_human36m(source, tmp_path / "linked", size=SIZE)
    assert [video["name"] for video in linked["videos"]] == [video["name"] for video in plain["videos"]]
