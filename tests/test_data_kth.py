"""KTH on tiny fixtures in the real layouts: raw personXX_ACTION_dY_uncomp.avi files and PredRNN/OpenSTL
JPEG folders. Each frame is a flat gray level that encodes (video, frame), so order and splits are checked
on the pixels themselves."""

from __future__ import annotations

import json
import pickle

import av
import numpy as np
import pytest
import torch
from PIL import Image

from vpbench.data import commands, open_split
from vpbench.data._video import resize_frames
from vpbench.data.kth import prepare_kth, window_starts
from vpbench.errors import VpbenchError

SIZE = 16
# (person, action, frames): persons 1-2 train, 16 validation, 17 test; walking of person 2 is short.
VIDEOS = [
    (1, "boxing", 45),
    (1, "jogging", 30),
    (2, "walking", 12),
    (16, "boxing", 25),
    (17, "running", 26),
    (17, "handwaving", 40),
]


def level(video: int, frame: int) -> int:
    return 20 + (video * 37 + frame * 3) % 200


def write_avi(path, video: int, length: int) -> None:
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 40, 30, "yuv420p"
        stream.bit_rate, stream.codec_context.gop_size = 8_000_000, 1  # near-lossless: levels survive
        for frame in range(length):
            image = np.full((30, 40, 3), level(video, frame), np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture()
def avi_source(tmp_path):
    source = tmp_path / "kth-raw"
    for video, (person, action, length) in enumerate(VIDEOS):
        (source / action).mkdir(parents=True, exist_ok=True)
        write_avi(source / action / f"person{person:02d}_{action}_d1_uncomp.avi", video, length)
    return source


@pytest.fixture()
def jpeg_source(tmp_path):
    source = tmp_path / "kth_action"
    for video, (person, action, length) in enumerate(VIDEOS):
        folder = source / action / f"person{person:02d}_{action}_d1_uncomp"
        folder.mkdir(parents=True)
        for frame in range(length):
            if (person, action, frame) == (1, "boxing", 30):
                continue  # a missing frame: windows must not span it
            image = np.full((30, 40, 3), level(video, frame), np.uint8)
            Image.fromarray(image).save(folder / f"image_{frame + 1:04d}.jpg", quality=95)
    return source


def expected_order():
    return sorted(range(len(VIDEOS)), key=lambda v: (VIDEOS[v][0], VIDEOS[v][1]))


def test_prepare_from_avi_writes_sorted_gray_cache_with_manifest(avi_source, tmp_path):
    manifest = prepare_kth(avi_source, tmp_path / "data", size=SIZE)
    directory = tmp_path / "data" / "kth" / f"prepared-{SIZE}"
    assert json.loads((directory / "manifest.json").read_text()) == manifest
    frames = np.load(directory / "frames.npy", mmap_mode="r")
    assert frames.dtype == np.uint8 and frames.shape == (sum(v[2] for v in VIDEOS), 1, SIZE, SIZE)
    assert manifest["layout"] == "avi" and manifest["settings"]["size"] == SIZE
    names = [v["name"] for v in manifest["videos"]]
    assert names == sorted(names) and names[0] == "person01_boxing_d1"
    assert [v["split"] for v in manifest["videos"]] == ["train", "train", "train", "val", "test", "test"]
    assert manifest["counts"]["train"] == {"videos": 3, "frames": 87, "shortest": 12, "longest": 45}
    for entry, video in zip(manifest["videos"], expected_order(), strict=True):
        means = frames[entry["offset"] : entry["offset"] + entry["length"]].mean(axis=(1, 2, 3))
        assert entry["length"] == VIDEOS[video][2]
        np.testing.assert_allclose(means, [level(video, f) for f in range(entry["length"])], atol=3)
    again = prepare_kth(avi_source, tmp_path / "again", size=SIZE)
    assert again["frames_sha256"] == manifest["frames_sha256"]  # deterministic


def test_splits_follow_persons_and_openstl_windows(avi_source):
    commands.prepare("kth", avi_source, size=SIZE)
    train = open_split("kth", "train", 20, size=SIZE)
    # boxing (45 frames): non-overlapping windows anchored at the end -> starts 5, 25; jogging (30): every
    # 3 frames from the end -> 1, 4, 7, 10; walking (12 frames) is shorter than the clip: skipped.
    assert len(train) == 2 + 4 and train.skipped_videos == 1
    first = train[0]
    assert first.shape == (20, 1, SIZE, SIZE) and first.dtype == torch.uint8
    np.testing.assert_allclose(first.float().mean(dim=(1, 2, 3)), [level(0, f) for f in range(5, 25)], atol=3)
    val, test = open_split("kth", "val", 20, size=SIZE), open_split("kth", "test", 20, size=SIZE)
    assert len(val) == 1 and len(test) == 2 + 3  # handwaving 40 -> 0, 20; running 26 -> 0, 3, 6
    assert abs(val[0].float().mean() - np.mean([level(3, f) for f in range(5, 25)])) < 3
    assert train.source == "kth-avi-16" and train.checksum() != test.checksum()
    assert window_starts(45, 20, 20) == [5, 25] and window_starts(30, 20, 3) == [1, 4, 7, 10]
    assert len(open_split("kth", "train", 20, size=SIZE, stride="5")) == 6 + 3  # 5, 10, ..., 25 and 0, 5, 10
    payload = pickle.dumps(train)  # what a spawned DataLoader worker receives: the path, not the frames
    assert len(payload) < 2_000 and torch.equal(pickle.loads(payload)[3], train[3])


def test_protocol_longer_than_every_video_is_a_clear_error(avi_source):
    commands.prepare("kth", avi_source, size=SIZE)
    with pytest.raises(VpbenchError, match="no video has the 50 frames.*shorter protocol"):
        open_split("kth", "test", 50, size=SIZE)


def test_split_without_its_persons_is_a_clear_error(avi_source, tmp_path):
    for video in avi_source.rglob("person1[67]_*.avi"):
        video.unlink()
    prepare_kth(avi_source, tmp_path, size=SIZE)
    with pytest.raises(VpbenchError, match="no video of the val persons \\(16\\)"):
        open_split("kth", "val", 20, root=tmp_path, size=SIZE)


def test_missing_cache_tells_how_to_prepare_it(tmp_path):
    with pytest.raises(VpbenchError) as error:
        open_split("kth", "train", 20, root=tmp_path)
    message = str(error.value)
    assert "vpbench data prepare kth --source DIR" in message and str(tmp_path / "kth" / "prepared-64") in message


def test_corrupt_and_truncated_videos_are_named(avi_source, tmp_path):
    broken = avi_source / "boxing" / "person03_boxing_d2_uncomp.avi"
    broken.write_bytes(b"RIFF" + bytes(500))
    with pytest.raises(VpbenchError, match="cannot decode .*person03_boxing_d2_uncomp.avi"):
        prepare_kth(avi_source, tmp_path, size=SIZE)
    long_video = tmp_path / "long.avi"
    write_avi(long_video, 0, 200)
    with av.open(str(long_video)) as container:
        positions = [packet.pos for packet in container.demux(video=0) if packet.size]
    broken.write_bytes(long_video.read_bytes()[: positions[100] - 8])  # cut cleanly before frame 100's chunk
    with pytest.raises(VpbenchError, match="person03_boxing_d2_uncomp.avi is truncated: decoded 100 of the 200"):
        prepare_kth(avi_source, tmp_path, size=SIZE)
    assert not (tmp_path / "kth" / f"prepared-{SIZE}").exists()  # nothing half-written is left
    assert not list((tmp_path / "kth").iterdir())  # nor any staging folder


def test_jpeg_folders_are_read_in_frame_order_and_gaps_split_videos(jpeg_source, tmp_path):
    manifest = prepare_kth(jpeg_source, tmp_path, size=SIZE)
    assert manifest["layout"] == "jpeg-folders"
    boxing = [v for v in manifest["videos"] if v["name"].startswith("person01_boxing")]
    assert [(v["name"], v["length"]) for v in boxing] == [("person01_boxing_d1#0", 30), ("person01_boxing_d1#1", 14)]
    frames = np.load(tmp_path / "kth" / f"prepared-{SIZE}" / "frames.npy", mmap_mode="r")
    second = boxing[1]
    means = frames[second["offset"] : second["offset"] + second["length"]].mean(axis=(1, 2, 3))
    np.testing.assert_allclose(means, [level(0, f) for f in range(31, 45)], atol=3)
    train = open_split("kth", "train", 20, root=tmp_path, size=SIZE)
    assert len(train) == 1 + 4  # boxing: one window in the 30-frame run, none in the 14-frame run


def test_ambiguous_or_empty_sources_are_rejected(avi_source, jpeg_source, tmp_path):
    (jpeg_source / "extra.avi").write_bytes(b"")
    (jpeg_source / "person05_walking_d4_uncomp.avi").write_bytes(b"")
    with pytest.raises(VpbenchError, match="both KTH .avi files"):
        prepare_kth(jpeg_source, tmp_path, size=SIZE)
    (tmp_path / "empty").mkdir()
    with pytest.raises(VpbenchError, match="no KTH videos under"):
        prepare_kth(tmp_path / "empty", tmp_path, size=SIZE)


def test_truncated_cache_is_named(avi_source, tmp_path):
    prepare_kth(avi_source, tmp_path, size=SIZE)
    frames_file = tmp_path / "kth" / f"prepared-{SIZE}" / "frames.npy"
    frames_file.write_bytes(frames_file.read_bytes()[:-SIZE * SIZE * 3])
    with pytest.raises(VpbenchError, match="frames.npy"):
        open_split("kth", "train", 20, root=tmp_path, size=SIZE)


def test_fetch_and_info_commands(avi_source):
    with pytest.raises(VpbenchError, match="boxing.zip.*prepare kth"):
        commands.fetch("kth")
    summary = commands.prepare("kth", avi_source, size=SIZE)
    assert summary["videos"] == len(VIDEOS) and "videos" not in summary["counts"]
    report = commands.info("kth")
    assert [cache["settings"]["size"] for cache in report["prepared"]] == [SIZE]
    assert report["prepared"][0]["frames_sha256"] == summary["frames_sha256"]
    with pytest.raises(VpbenchError, match="no option"):
        commands.prepare("kth", avi_source, colour="red")
    with pytest.raises(VpbenchError, match="nothing to prepare"):
        commands.prepare("synthetic", avi_source)


def test_resize_matches_opencv_sampling():
    # Without antialiasing and with half-pixel centres, halving is the mean of each 2x2 block (what
    # cv2.resize INTER_LINEAR does); an antialiased resize would blur across blocks.
    frames = np.random.default_rng(0).integers(0, 128, (2, 1, 8, 8)).astype(np.uint8) * 2
    halved = resize_frames(frames, 4, "bilinear")
    blocks = frames.reshape(2, 1, 4, 2, 4, 2).astype(float).mean(axis=(3, 5))
    np.testing.assert_array_equal(halved, np.round(blocks).astype(np.uint8))


@pytest.mark.parametrize("size", ["abc", "4", 2.5])
def test_a_size_option_that_is_not_a_frame_side_is_one_line(tmp_path, size):
    """The frame side goes through the same whole-number check as every dataset option, before any file."""
    message = r"^kth option size \(frame side in pixels, e.g. 64 or 128\) must be a whole number >= 8, got"
    with pytest.raises(VpbenchError, match=message):
        open_split("kth", "test", 20, tmp_path, size=size)


def test_a_link_back_up_the_source_tree_is_walked_once(avi_source, tmp_path):
    """Data linked in from elsewhere is followed, but a link that leads back up the tree must not make every
    video look "found twice" (nor, with two such links, walk in circles)."""
    plain = prepare_kth(avi_source, tmp_path / "plain", size=SIZE)
    (avi_source / "boxing" / "up").symlink_to(avi_source, target_is_directory=True)
    (avi_source / "walking" / "again").symlink_to(avi_source / "boxing", target_is_directory=True)
    linked = prepare_kth(avi_source, tmp_path / "linked", size=SIZE)
    assert [video["source"] for video in linked["videos"]] == [video["source"] for video in plain["videos"]]
