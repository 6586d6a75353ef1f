"""Score predictions made by any code base: the library function behind `vpbench score`.

Why this module exists: a metric engine is only trusted if anyone can feed it their own arrays and
recompute a paper's number. `score_files` reads two .npy files — predictions and ground truth, shaped
(N, T, H, W) or (N, T, C, H, W), uint8 or float on [0, 1] — and returns the same JSON-serialisable dict
as `MetricAccumulator.compute()`. Files are memory-mapped and scored in batches, so the streaming
conventions never hold the whole array (srvp-paper keeps its uint8 buffers, as it must).
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Iterable

import numpy as np
import torch

from vpbench.errors import VpbenchError
from vpbench.metrics.accumulator import MetricAccumulator
from vpbench.metrics.conventions import CONVENTION_NAMES, CONVENTIONS

DEFAULT_BATCH_SIZE = 32


def _as_sequences(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 4:
        return array[:, :, None]
    if array.ndim == 5:
        return array
    raise VpbenchError(f"{name} has shape {array.shape}; expected (N, T, H, W) or (N, T, C, H, W) frames")


def score_arrays(
    prediction: np.ndarray,
    target: np.ndarray,
    conventions: Iterable[str] | str = CONVENTION_NAMES,
    *,
    keep_per_sequence: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: torch.device | str | None = None,
) -> dict:
    """Score `prediction` against `target` (numpy arrays, (N, T, H, W) or (N, T, C, H, W), uint8 or float
    on [0, 1]) under `conventions`; returns `MetricAccumulator.compute()`'s dict."""
    for name, array in (("prediction", prediction), ("target", target)):
        if not isinstance(array, np.ndarray):
            raise VpbenchError(f"{name} must be a numpy array; got {type(array).__name__}")
        if array.dtype != np.uint8 and not np.issubdtype(array.dtype, np.floating):
            raise VpbenchError(f"{name} has dtype {array.dtype}; expected uint8, or float with values in [0, 1]")
    if prediction.shape != target.shape:
        raise VpbenchError(f"prediction shape {prediction.shape} does not match target shape {target.shape}")
    for name, array in (("prediction", prediction), ("target", target)):
        _check_float_range(array, name)
    prediction, target = _as_sequences(prediction, "prediction"), _as_sequences(target, "target")
    if prediction.shape[0] == 0:
        raise VpbenchError("the arrays hold no sequences (N = 0)")
    accumulator = MetricAccumulator(
        conventions, horizon=prediction.shape[1], device=device, keep_per_sequence=keep_per_sequence
    )
    for start in range(0, prediction.shape[0], batch_size):
        stop = min(prediction.shape[0], start + batch_size)
        accumulator.update(
            np.array(prediction[start:stop]),  # a writable copy of just this batch (files are mmap'ed)
            np.array(target[start:stop]),
            sequence_index=np.arange(start, stop),
        )
    return accumulator.compute()


def _check_float_range(array: np.ndarray, name: str) -> None:
    """Catch the common normalisation mistakes before they give plausible but wrong numbers: floats centred on
    zero ([-0.5, 0.5] or [-1, 1]) or on the 0-255 scale. Every convention assumes [0, 1]."""
    if not np.issubdtype(array.dtype, np.floating) or array.size == 0:
        return
    with warnings.catch_warnings():  # an all-NaN array is the non-finite check's to name, in one line
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = float(np.nanmin(array)), float(np.nanmax(array))
    if low < -0.25 and high <= 1.0 + 1e-6:
        shift = "add 0.5" if high <= 0.5 + 1e-6 else "compute (x + 1) / 2"
        raise VpbenchError(
            f"{name} floats span [{low:.3g}, {high:.3g}]: they look normalised around zero, but every convention "
            f"expects [0, 1]; {shift} before saving (or save uint8 frames)"
        )
    if high > 1.5:
        raise VpbenchError(
            f"{name} floats reach {high:.3g}: they look like 0-255 values; divide by 255 or save uint8 frames"
        )


def load_frames(path: str | os.PathLike, name: str) -> np.ndarray:
    """Memory-map a .npy file of frames, or raise a one-line VpbenchError saying what is wrong with it."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise VpbenchError(f"{name} file '{path}' does not exist")
    if os.path.isdir(path):
        raise VpbenchError(f"{name} path '{path}' is a directory; expected a .npy file")
    if zipfile.is_zipfile(path):
        raise VpbenchError(f"{name} file '{path}' is an .npz archive; save a single array with numpy.save")
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic != b"\x93NUMPY":
        raise VpbenchError(
            f"{name} file '{path}' is not a .npy file (it does not start with numpy's header; a text or other "
            "file?); save the array with numpy.save"
        )
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise VpbenchError(f"cannot read {name} file '{path}' as a .npy array ({detail})") from None
    if not isinstance(array, np.ndarray):
        raise VpbenchError(f"{name} file '{path}' does not hold a single array")
    return array


def score_files(
    prediction_path: str | os.PathLike,
    target_path: str | os.PathLike,
    conventions: Iterable[str] | str = CONVENTION_NAMES,
    **options: object,
) -> dict:
    """`score_arrays` on two .npy files (memory-mapped); `options` are score_arrays' keyword arguments."""
    prediction = load_frames(prediction_path, "prediction")
    target = load_frames(target_path, "target")
    return score_arrays(prediction, target, conventions, **options)


def summary_lines(result: dict) -> list[str]:
    """Human-readable lines for the CLI's non-JSON output: per convention its overall metrics, then how to read
    them (scales differ by orders of magnitude between conventions)."""
    lines = [f"{result['sequences']} sequences, horizon {result['horizon']}"]
    for name in CONVENTION_NAMES:
        if name in result:
            values = ", ".join(f"{metric} {_format(value)}" for metric, value in result[name]["overall"].items())
            lines.append(f"{name:>11}: {values}")
            lines.append(f"{'':>11}  ({CONVENTIONS[name].reading})")
            lines += [f"{'':>11}  note: {note}" for note in result[name].get("notes") or ()]
    regions = result["regions"]
    lines.append(
        f"{'regions':>11}: static MSE {_format(regions['static']['overall']['mse'])}, moving MSE "
        f"{_format(regions['moving']['overall']['mse'])} ([0, 1] scale; "
        f"{100 * regions['static_pixel_fraction']:.1f}% of pixels static)"
    )
    return lines


def _format(value: float | str) -> str:
    return value if isinstance(value, str) else f"{value:.6g}"
