"""`score_arrays` / `score_files`: predictions from any code base, (N, T, H, W) or (N, T, C, H, W)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from metrics_reference import REFERENCES, digit_sequences, realistic_predictions

from vpbench.errors import VpbenchError
from vpbench.metrics import score_arrays, score_files
from vpbench.metrics.score import summary_lines


@pytest.fixture(scope="module")
def arrays() -> tuple[np.ndarray, np.ndarray]:
    """(8, 3, 32, 32) float32 prediction and target, no channel axis."""
    prediction, target = realistic_predictions(digit_sequences(8, 4, size=32, seed=15), seed=16)
    return prediction[:, :, 0].astype(np.float32), target[:, :, 0].astype(np.float32)


def test_score_files_equals_score_arrays_and_the_references(arrays, tmp_path):
    prediction, target = arrays
    np.save(tmp_path / "prediction.npy", prediction)
    np.save(tmp_path / "target.npy", target)
    from_files = score_files(tmp_path / "prediction.npy", tmp_path / "target.npy", batch_size=3)
    assert from_files == score_arrays(prediction, target)
    json.dumps(from_files, allow_nan=False)
    reference = REFERENCES["srvp-paper"](prediction[:, :, None], target[:, :, None])
    np.testing.assert_allclose(
        from_files["srvp-paper"]["per_horizon"]["ssim"], reference["per_horizon"]["ssim"], rtol=1e-9
    )
    assert len(from_files["vpbench"]["per_horizon"]["psnr"]) == 3
    assert "per_sequence" not in from_files
    lines = summary_lines(from_files)
    assert any(line.strip().startswith("vpbench:") for line in lines)
    srvp_paper = next(i for i, line in enumerate(lines) if line.strip().startswith("srvp-paper:"))
    assert "0-255" in lines[srvp_paper + 1]  # how to read its pooled 0-255 numbers, under them


def test_uint8_files_with_a_channel_axis_are_accepted(arrays, tmp_path):
    prediction, target = (np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)[:, :, None] for a in arrays)
    np.save(tmp_path / "p.npy", prediction)
    np.save(tmp_path / "t.npy", target)
    result = score_files(tmp_path / "p.npy", tmp_path / "t.npy", ["predrnn"])
    assert set(result) == {"predrnn", "regions", "sequences", "horizon"} and result["sequences"] == 8


def test_bad_files_give_one_line_errors(arrays, tmp_path):
    prediction, target = arrays
    np.save(tmp_path / "target.npy", target)
    cases = {
        "missing": (tmp_path / "nothing.npy", "prediction file .* does not exist"),
        "corrupt": (tmp_path / "corrupt.npy", "is not a .npy file"),
        "text": (tmp_path / "text.npy", "is not a .npy file .*a text or other file"),
        "truncated": (tmp_path / "truncated.npy", "cannot read prediction file"),
        "npz": (tmp_path / "archive.npz", "is an .npz archive"),
        "object": (tmp_path / "object.npy", "cannot read prediction file"),
        "shape": (tmp_path / "shape.npy", r"prediction shape \(8, 3, 32, 31\) does not match"),
        "dtype": (tmp_path / "dtype.npy", "dtype int64"),
        "range": (tmp_path / "range.npy", "look like 0-255 values; divide by 255"),
        "centred": (tmp_path / "centred.npy", r"look normalised around zero.*add 0.5"),
        "symmetric": (tmp_path / "symmetric.npy", r"look normalised around zero.*\(x \+ 1\) / 2"),
    }
    (tmp_path / "text.npy").write_text("0.1 0.2 0.3\n0.4 0.5 0.6\n")
    np.save(tmp_path / "centred.npy", target - 0.5)
    np.save(tmp_path / "symmetric.npy", target * 2 - 1)
    (tmp_path / "corrupt.npy").write_bytes(b"not a numpy file at all")
    np.save(tmp_path / "truncated.npy", prediction)
    data = (tmp_path / "truncated.npy").read_bytes()
    (tmp_path / "truncated.npy").write_bytes(data[: len(data) // 2])
    np.savez(tmp_path / "archive.npz", prediction=prediction)
    np.save(tmp_path / "object.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "shape.npy", prediction[..., :31])
    np.save(tmp_path / "dtype.npy", prediction.astype(np.int64))
    np.save(tmp_path / "range.npy", prediction * 255)
    for name, (path, message) in cases.items():
        with pytest.raises(VpbenchError, match=message) as error:
            score_files(path, tmp_path / "target.npy")
        assert "\n" not in str(error.value), name


def test_slightly_negative_predictions_are_scored_not_refused(arrays):
    """Models overshoot a little below 0 (vpbench clips them); only a centred normalisation is an error."""
    prediction, target = arrays
    result = score_arrays(prediction - 0.02, target, ["vpbench"])
    assert result["sequences"] == 8


def test_arrays_of_the_wrong_rank_are_refused(arrays):
    prediction, target = arrays
    with pytest.raises(VpbenchError, match=r"expected \(N, T, H, W\) or \(N, T, C, H, W\)"):
        score_arrays(prediction[0], target[0])


def test_score_names_a_missing_cuda_device_in_one_line_and_prints_a_conventions_notes(
    arrays, tmp_path, monkeypatch, vpbench_cli
):
    """`score --device cuda` on a machine without CUDA ended in torch's AssertionError traceback; srvp-paper's
    SSIM of fewer than 7 sequences printed nan without the note that says why."""

    import torch


    prediction, target = arrays
    np.save(tmp_path / "p.npy", prediction[:3])
    np.save(tmp_path / "t.npy", target[:3])
    arguments = ["score", "--pred", str(tmp_path / "p.npy"), "--target", str(tmp_path / "t.npy")]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _, error = vpbench_cli(*arguments, "--device", "cuda")
    assert code == 2
    assert error == "error: --device cuda was asked for but no CUDA device is available; use --device cpu\n"
    code, output, _ = vpbench_cli(*arguments, "--device", "cpu")
    assert code == 0 and "note: srvp-paper SSIM needs at least 7 sequences" in output
