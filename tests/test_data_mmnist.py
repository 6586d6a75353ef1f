"""Moving MNIST: real offline digits, a fixed disjoint split, deterministic generation, standard files."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest

from vpbench.data import open_split
from vpbench.data.mmnist import STEP, trajectories
from vpbench.data.mnist import IDX_IMAGES_MAGIC, load_offline_pool, read_idx, split_offline_pool
from vpbench.errors import VpbenchError

# SHA-256 of the first clips of the generated offline test sets. If this changes, every stored mmnist
# record's data checksum changes too: bump the generator deliberately, never by accident.
OFFLINE_TEST_CHECKSUM_20_FRAMES_50_CLIPS = "79ef110507660300b1aba0f677883853efa4bba0d899a08108f63892ccae79c3"
OFFLINE_TEST_CHECKSUM_40_FRAMES_20_CLIPS = "fb672969d52bb8a65227ded5514676cde7b69c0be929776ab4e6d2d481fb18c4"


def _digest(image: np.ndarray) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


def test_offline_pool_splits_are_disjoint_and_class_balanced():
    images, labels, _ = load_offline_pool()
    splits = {name: split_offline_pool(name) for name in ("train", "val", "test")}
    assert sum(len(s) for s in splits.values()) == len(images) == 5000
    hashes = {name: {_digest(d) for d in digits} for name, digits in splits.items()}
    assert not hashes["train"] & hashes["test"]
    assert not hashes["train"] & hashes["val"]
    assert not hashes["val"] & hashes["test"]
    label_of = {_digest(d): int(label) for d, label in zip(images, labels, strict=True)}
    for name, fraction in (("train", 0.7), ("val", 0.1), ("test", 0.2)):
        counts = np.bincount([label_of[h] for h in hashes[name]], minlength=10)
        expected = fraction * np.bincount(labels, minlength=10)
        assert np.all(np.abs(counts - expected) <= 1.5), (name, counts, expected)


def test_generated_test_set_is_identical_across_runs_and_machines():
    assert open_split("mmnist", "test", 20).checksum(limit=50) == OFFLINE_TEST_CHECKSUM_20_FRAMES_50_CLIPS
    assert open_split("mmnist", "test", 40).checksum(limit=20) == OFFLINE_TEST_CHECKSUM_40_FRAMES_20_CLIPS


def test_clips_are_uint8_two_real_digits_moving_about_3_6_px_per_frame():
    test = open_split("mmnist", "test", 20)
    assert test.source == "offline-5k" and len(test) == 10_000
    clip = test[3]
    assert clip.shape == (20, 1, 64, 64) and str(clip.dtype) == "torch.uint8"
    ink = (clip[:, 0].numpy() > 0).sum(axis=(1, 2))
    assert np.all(ink > 60), "each frame shows digit strokes"
    paths = trajectories(np.random.default_rng(0), 4000, 20).astype(float)
    # Continuous speed is STEP * 36 = 3.6 px per frame; rounding to pixels keeps the mean close to it.
    speed = np.linalg.norm(np.diff(paths, axis=1), axis=-1)
    assert 3.3 < speed.mean() < 3.7 and STEP * 36 == pytest.approx(3.6)
    assert paths.min() == 0 and paths.max() == 36


def test_training_clips_are_fresh_each_epoch_and_reproducible():
    train = open_split("mmnist", "train", 20)
    first = train[5].clone()
    train.set_epoch(1)
    assert not np.array_equal(first.numpy(), train[5].numpy())
    train.set_epoch(0)
    assert np.array_equal(first.numpy(), train[5].numpy())


def test_validation_set_is_not_the_test_set():
    val, test = open_split("mmnist", "val", 20), open_split("mmnist", "test", 20)
    assert len(val) == 1000
    assert val.checksum(limit=10) != test.checksum(limit=10)


def _write_idx(path, images: np.ndarray, *, magic: int = IDX_IMAGES_MAGIC, truncate: int = 0) -> None:
    header = magic.to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in images.shape)
    payload = header + images.tobytes()
    with gzip.open(path, "wb") as handle:
        handle.write(payload[: len(payload) - truncate])


def test_idx_reader_round_trips_and_names_corrupt_files(tmp_path):
    digits = np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    good, short, wrong = tmp_path / "good.gz", tmp_path / "short.gz", tmp_path / "wrong.gz"
    _write_idx(good, digits)
    _write_idx(short, digits, truncate=100)
    _write_idx(wrong, digits, magic=0x00000801)
    assert np.array_equal(read_idx(good, IDX_IMAGES_MAGIC), digits)
    with pytest.raises(VpbenchError, match="short.gz is truncated"):
        read_idx(short, IDX_IMAGES_MAGIC)
    with pytest.raises(VpbenchError, match="wrong.gz is not an MNIST IDX file"):
        read_idx(wrong, IDX_IMAGES_MAGIC)


def _standard_files(root, clips: int = 12):
    folder = root / "mmnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    _write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (5_100, 28, 28), dtype=np.uint8))
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (30, 28, 28), dtype=np.uint8))
    sequences = rng.integers(0, 256, (20, clips, 64, 64), dtype=np.uint8)
    np.save(folder / "mnist_test_seq.npy", sequences)
    return sequences


def test_standard_files_are_used_when_present(tmp_path):
    sequences = _standard_files(tmp_path)
    test = open_split("mmnist", "test", 20, root=tmp_path)
    assert test.source == "standard" and len(test) == 12
    assert np.array_equal(test[4][:, 0].numpy(), sequences[:, 4])
    # 10->30 needs 40 frames: generated deterministically from the standard *test* digits instead.
    long = open_split("mmnist", "test", 40, root=tmp_path)
    assert long.source == "standard-digits-generated" and long[0].shape == (40, 1, 64, 64)
    assert open_split("mmnist", "train", 20, root=tmp_path).source == "standard"


def test_corrupt_standard_test_file_is_named(tmp_path):
    _standard_files(tmp_path)
    (tmp_path / "mmnist" / "mnist_test_seq.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(VpbenchError, match="mnist_test_seq.npy is corrupt"):
        open_split("mmnist", "test", 20, root=tmp_path)


def test_missing_standard_digits_say_how_to_fetch(tmp_path):
    with pytest.raises(VpbenchError, match="vpbench data fetch mmnist"):
        open_split("mmnist", "train", 20, root=tmp_path, source="standard")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: open_split("mnist", "test", 20), "did you mean 'mmnist'"),
        (lambda: open_split("mmnist", "testing", 20), "unknown split 'testing'"),
        (lambda: open_split("mmnist", "test", 20, colour=True), "has no option"),
        (lambda: open_split("mmnist", "test", 20, source="web"), "unknown mmnist source"),
        (lambda: open_split("mmnist", "test", 20, size="1e3"), "mmnist option size must be a whole number >= 1"),
        (lambda: open_split("mmnist", "test", 20, size="0"), "mmnist option size must be a whole number >= 1"),
    ],
)
def test_bad_names_list_the_valid_ones(call, message):
    with pytest.raises(VpbenchError, match=message):
        call()


def test_clip_shorter_than_protocol_is_a_clear_error(tmp_path):
    _standard_files(tmp_path)
    from vpbench.data.mmnist import load_standard_test_file

    with pytest.raises(VpbenchError, match="clips have 20 frames but the protocol needs 40"):
        load_standard_test_file(tmp_path / "mmnist" / "mnist_test_seq.npy", 40)


def test_synthetic_shapes_any_geometry_and_deterministic():
    clips = open_split("synthetic", "test", 12, channels=3, height=24, width=20)
    clip = clips[0]
    assert clip.shape == (12, 3, 24, 20) and clip.max() > 0
    assert np.array_equal(clip.numpy(), open_split("synthetic", "test", 12, channels=3, height=24, width=20)[0].numpy())
    assert not np.array_equal(clip[0].numpy(), clip[-1].numpy()), "shapes move"
