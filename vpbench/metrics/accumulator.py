"""Streaming, mergeable metric accumulation: feed batches, merge shards, read every convention at the end.

Why this module exists: evaluation must not hold the test set in memory (except srvp-paper's uint8
buffers, which its arithmetic needs), must not wait on metrics, and sharded evaluation must give exactly
the single-process numbers. Float running sums are not associative, so nothing here is a float sum:

* each frame's value is an exact integer (fixed-point numerator over a fixed denominator, see
  functional.py) computed from that frame alone;
* per-horizon totals are Python integers (unbounded: no overflow), summed from int64 tensors split into
  31-bit halves so that a batch sum cannot overflow either;
* per-sequence values and srvp-paper buffers are keyed by sequence index and sorted at `compute()`
  (stored in `RowStore` blocks, so that keeping them does not fragment memory).

Integer addition is associative and commutative, so any batching, any sharding and any merge order give
bit-identical `compute()` output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from vpbench.errors import VpbenchError
from vpbench.metrics.conventions import CONVENTION_NAMES, CONVENTIONS, FrameMetric, get_convention
from vpbench.metrics.functional import Scratch
from vpbench.metrics.jsonvalues import to_json_number, to_json_numbers
from vpbench.metrics.pooled import srvp_paper_horizon
from vpbench.metrics.prepared import FrameGeometry, PreparedChunk
from vpbench.metrics.regions import REGIONS_DEFINITION, region_sums
from vpbench.metrics.rowstore import RowStore
from vpbench.metrics.validation import as_tensor, validate_layout, validate_values
from vpbench.precision import float32_exact

_HALF_BITS = 31
_LOW_MASK = (1 << _HALF_BITS) - 1
# Sequences per chunk: about this many pixels per chunk on the CPU (cache-sized temporaries), the whole
# batch on a GPU.
_CPU_CHUNK_PIXELS = 1 << 21
_REGION_ROWS = ("static_squared", "static_absolute", "total_squared", "total_absolute")


@dataclass
class _State:
    """Everything an accumulator knows; plain Python/numpy so that it pickles for all_gather_object."""

    conventions: tuple[str, ...] = ()
    keep_per_sequence: bool = True
    geometry: FrameGeometry | None = None
    horizon: int | None = None
    sequences: int = 0
    next_index: int = 0
    denominators: dict[str, int] = field(default_factory=dict)
    horizon_sums: dict[str, list[int]] = field(default_factory=dict)
    infinite_counts: dict[str, list[int]] = field(default_factory=dict)
    static_pixels: int = 0
    per_sequence_index: RowStore = field(default_factory=RowStore)
    per_sequence_values: RowStore = field(default_factory=RowStore)  # (columns,) float32 rows
    pooled_index: RowStore = field(default_factory=RowStore)
    pooled_frames: RowStore = field(default_factory=RowStore)  # (2, T, C, H, W) uint8: prediction, target


class MetricAccumulator:
    """Accumulates every requested convention over a stream of (B, T, C, H, W) batches.

    `conventions`: names from `CONVENTIONS`. `horizon`: expected T (None: taken from the first batch).
    `device`: where the arithmetic runs (None: the device of the first prediction). `keep_per_sequence`:
    keep one float32 value per sequence and metric (mean over horizons) for bootstrap statistics.
    """

    def __init__(
        self,
        conventions: Iterable[str] | str = CONVENTION_NAMES,
        horizon: int | None = None,
        device: torch.device | str | None = None,
        keep_per_sequence: bool = True,
    ) -> None:
        names = (conventions,) if isinstance(conventions, str) else tuple(conventions)
        if not names:
            raise VpbenchError(f"choose at least one convention from: {', '.join(CONVENTION_NAMES)}")
        for name in names:
            get_convention(name)
        if len(set(names)) != len(names):
            raise VpbenchError(f"conventions listed twice: {', '.join(names)}")
        if horizon is not None and (not isinstance(horizon, int) or horizon < 1):
            raise VpbenchError(f"horizon must be a positive integer; got {horizon!r}")
        self.conventions = names
        self.device = torch.device(device) if device is not None else None
        self.keep_per_sequence = keep_per_sequence
        self._state = _State(names, keep_per_sequence, horizon=horizon)
        self._reduced = False
        self._scratch = Scratch()  # temporaries reused across chunks and batches (never part of the state)
        frame_conventions = [CONVENTIONS[n] for n in names if not CONVENTIONS[n].pooled]
        self._columns = tuple(f"{c.name}/{m}" for c in frame_conventions for m in c.metrics)
        self._unit_ssim_ranges = tuple(sorted({r for c in frame_conventions for r in c.unit_ssim_ranges}))

    # ------------------------------------------------------------------------------------------ update
    @float32_exact()  # SSIM's windows are convolutions: no TF32 on a GPU (vpbench.precision)
    def update(self, prediction: torch.Tensor, target: torch.Tensor, sequence_index: object = None) -> None:
        """Add a batch. prediction/target: (B, T, C, H, W), uint8 or float ([0, 1]; predictions may stray
        into [-15, 16] and are clipped where a convention clips). sequence_index: (B,) test-set indices of
        the sequences (needed when shards are merged; default: consecutive numbers in arrival order)."""
        if self._reduced:
            raise VpbenchError("this accumulator was already all-reduced; create a new one to score more")
        prediction, target = as_tensor(prediction, "prediction"), as_tensor(target, "target")
        validate_layout(prediction, target)
        indices = self._sequence_indices(sequence_index, prediction.shape[0])
        validate_values(prediction, target, indices)
        batch, horizon, channels, height, width = prediction.shape
        if batch == 0:
            return
        self._check_layout(horizon, FrameGeometry(channels, height, width))
        device = self.device if self.device is not None else prediction.device
        self.device = device
        prediction, target = prediction.to(device), target.to(device)
        per_chunk = batch
        if device.type == "cpu":
            per_chunk = max(1, _CPU_CHUNK_PIXELS // (horizon * channels * height * width))
        with torch.no_grad():
            for start in range(0, batch, per_chunk):
                stop = min(batch, start + per_chunk)
                chunk = PreparedChunk(
                    prediction[start:stop],
                    target[start:stop],
                    self._state.geometry,
                    self._unit_ssim_ranges,
                    self._scratch,
                )
                self._add_chunk(chunk, indices[start:stop].numpy())
        self._state.sequences += batch
        self._state.next_index = max(self._state.next_index, int(indices.max()) + 1)

    def _sequence_indices(self, sequence_index: object, batch: int) -> torch.Tensor:
        if sequence_index is None:
            start = self._state.next_index
            return torch.arange(start, start + batch, dtype=torch.int64)
        if isinstance(sequence_index, torch.Tensor):
            indices = sequence_index.detach().to("cpu", torch.int64, copy=True).reshape(-1)
        else:
            indices = torch.from_numpy(np.array(sequence_index, dtype=np.int64).reshape(-1))
        if indices.numel() != batch:
            raise VpbenchError(f"sequence_index has {indices.numel()} entries for {batch} sequences")
        if batch and int(indices.min()) < 0:
            raise VpbenchError("sequence_index entries must be non-negative")
        return indices

    def _check_layout(self, horizon: int, geometry: FrameGeometry) -> None:
        state = self._state
        if state.horizon is not None and horizon != state.horizon:
            raise VpbenchError(f"batch has horizon {horizon} but earlier batches had horizon {state.horizon}")
        if state.geometry is not None and geometry != state.geometry:
            old, new = state.geometry, geometry
            raise VpbenchError(
                f"batch frames are {new.channels}x{new.height}x{new.width} (CxHxW) but earlier batches were "
                f"{old.channels}x{old.height}x{old.width}"
            )
        state.horizon, state.geometry = horizon, geometry

    def _add_chunk(self, chunk: PreparedChunk, indices: np.ndarray) -> None:
        state = self._state
        metrics: dict[str, FrameMetric] = {}
        for name in self.conventions:
            convention = CONVENTIONS[name]
            if convention.pooled:
                prediction, target = chunk.round_uint8
                state.pooled_index.append(indices)
                state.pooled_frames.append(torch.stack((prediction, target), dim=1).cpu().numpy())
            else:
                for metric, values in convention.frame_metrics(chunk).items():
                    metrics[f"{name}/{metric}"] = values
        regions = region_sums(chunk)
        squared, absolute = chunk.clipped_frame_sums
        rows = [metrics[c].numerators for c in self._columns]
        rows += [regions["static_squared"], regions["static_absolute"], squared, absolute]
        keys = list(self._columns) + [f"regions/{r}" for r in _REGION_ROWS]
        stacked = torch.stack(rows)  # (rows, B, T) int64
        high, low = stacked >> _HALF_BITS, stacked & _LOW_MASK
        horizon_high, horizon_low = high.sum(dim=1).tolist(), low.sum(dim=1).tolist()
        infinite = [metrics[c].infinite for c in self._columns]
        for row, key in enumerate(keys):
            sums = [(h << _HALF_BITS) + lo for h, lo in zip(horizon_high[row], horizon_low[row], strict=True)]
            _add_into(state.horizon_sums, key, sums)
        for key, mask in zip(self._columns, infinite, strict=True):
            counts = mask.sum(dim=0).tolist() if mask is not None else [0] * len(horizon_high[0])
            _add_into(state.infinite_counts, key, counts)
        if not state.denominators:
            state.denominators = {c: metrics[c].denominator for c in self._columns}
        state.static_pixels += int(regions["static_pixels"].sum())
        if self.keep_per_sequence and self._columns:
            state.per_sequence_index.append(indices)
            state.per_sequence_values.append(self._per_sequence_values(high, low, infinite))

    def _per_sequence_values(self, high: torch.Tensor, low: torch.Tensor, infinite: list) -> np.ndarray:
        """(B, columns) float32: each sequence's mean over horizons, from its exact integer sums."""
        columns = len(self._columns)
        horizon = high.shape[2]
        exact = high[:columns].sum(dim=2).to(torch.float64) * float(1 << _HALF_BITS)
        exact += low[:columns].sum(dim=2).to(torch.float64)
        denominators = torch.tensor(
            [float(horizon * self._state.denominators[c]) for c in self._columns],
            dtype=torch.float64,
            device=exact.device,
        )
        values = exact / denominators[:, None]
        for column, mask in enumerate(infinite):
            if mask is not None:
                values[column] = torch.where(mask.any(dim=1), torch.inf, values[column])
        return values.T.to(torch.float32).cpu().numpy()

    # ------------------------------------------------------------------------------------- merging
    def merge(self, other: MetricAccumulator) -> MetricAccumulator:
        """Add another accumulator's batches into this one (in place; returns self). Order-independent."""
        if not isinstance(other, MetricAccumulator):
            raise VpbenchError(f"can only merge another MetricAccumulator, not {type(other).__name__}")
        self._merge_state(other._state)
        return self

    def _merge_state(self, other: _State) -> None:
        state = self._state
        if (other.conventions, other.keep_per_sequence) != (state.conventions, state.keep_per_sequence):
            raise VpbenchError(
                "cannot merge accumulators with different conventions or keep_per_sequence settings: "
                f"{state.conventions}, {state.keep_per_sequence} / {other.conventions}, {other.keep_per_sequence}"
            )
        if other.sequences == 0:
            return
        self._check_layout(other.horizon, other.geometry)
        for key, sums in other.horizon_sums.items():
            _add_into(state.horizon_sums, key, sums)
        for key, counts in other.infinite_counts.items():
            _add_into(state.infinite_counts, key, counts)
        state.denominators = state.denominators or dict(other.denominators)
        state.sequences += other.sequences
        state.next_index = max(state.next_index, other.next_index)
        state.static_pixels += other.static_pixels
        for mine, theirs in (
            (state.per_sequence_index, other.per_sequence_index),
            (state.per_sequence_values, other.per_sequence_values),
            (state.pooled_index, other.pooled_index),
            (state.pooled_frames, other.pooled_frames),
        ):
            mine.extend(theirs)

    def all_reduce(self, group: object = None) -> MetricAccumulator:
        """Combine the accumulators of all ranks of torch.distributed `group` (default: the world), so that
        every rank holds the totals; rank order does not matter. A no-op when torch.distributed is not
        initialised (a single process). After this, `update()` is refused (it would double count)."""
        import torch.distributed as distributed

        if not (distributed.is_available() and distributed.is_initialized()):
            return self
        if self._reduced:
            raise VpbenchError("this accumulator was already all-reduced; reducing again would double count")
        gathered: list[_State | None] = [None] * distributed.get_world_size(group)
        distributed.all_gather_object(gathered, self._state, group=group)
        self._state = _State(self.conventions, self.keep_per_sequence, horizon=self._state.horizon)
        for state in gathered:
            self._merge_state(state)
        self._reduced = True
        return self

    # ------------------------------------------------------------------------------------- results
    @float32_exact()
    def compute(self) -> dict:
        """Results as a JSON-serialisable dict (non-finite numbers as "inf"/"-inf"/"nan"); see the package
        docstring for the layout. Does not change the accumulator."""
        state = self._state
        if state.sequences == 0:
            raise VpbenchError("no sequences were scored; call update() with at least one batch first")
        count, horizon = state.sequences, state.horizon
        result: dict = {}
        order, per_sequence = self._sorted_per_sequence()
        for name in self.conventions:
            if CONVENTIONS[name].pooled:
                result[name] = self._pooled_result()
                continue
            overall, per_horizon = {}, {}
            for metric in CONVENTIONS[name].metrics:
                key = f"{name}/{metric}"
                sums, infinite = state.horizon_sums[key], state.infinite_counts[key]
                denominator = state.denominators[key]
                per_horizon[metric] = to_json_numbers(
                    _mean(s, i, count * denominator) for s, i in zip(sums, infinite, strict=True)
                )
                overall[metric] = to_json_number(_mean(sum(sums), sum(infinite), count * horizon * denominator))
            result[name] = {"overall": overall, "per_horizon": per_horizon}
        result["regions"] = self._regions_result()
        if self.keep_per_sequence and self._columns:
            result["per_sequence"] = {"sequence_index": order.tolist()}
            for column, key in enumerate(self._columns):
                name, metric = key.split("/")
                result["per_sequence"].setdefault(name, {})[metric] = to_json_numbers(per_sequence[:, column])
        result["sequences"] = count
        result["horizon"] = horizon
        return result

    def per_sequence_values(self) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
        """(sorted sequence indices, {convention: {metric: float32 values}}), for `vpbench.metrics.stats`."""
        if not self.keep_per_sequence:
            raise VpbenchError("per-sequence values were not kept; use MetricAccumulator(keep_per_sequence=True)")
        order, values = self._sorted_per_sequence()
        table: dict[str, dict[str, np.ndarray]] = {}
        for column, key in enumerate(self._columns):
            name, metric = key.split("/")
            table.setdefault(name, {})[metric] = values[:, column]
        return order, table

    def _sorted_per_sequence(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._state.per_sequence_index.count:
            return np.zeros(0, np.int64), np.zeros((0, len(self._columns)), np.float32)
        indices, values = self._state.per_sequence_index.gather(), self._state.per_sequence_values.gather()
        order = np.argsort(indices, kind="stable")
        _check_unique(indices[order])
        return indices[order], values[order]

    def _pooled_result(self) -> dict:
        indices = self._state.pooled_index.gather()
        order = np.argsort(indices, kind="stable")
        _check_unique(indices[order])
        per_horizon: dict[str, list] = {"mse": [], "psnr": [], "ssim": []}
        notes: list[str] = []
        for step in range(self._state.horizon):
            prediction = self._state.pooled_frames.gather((0, step))[order]  # (N, C, H, W), test-set order
            target = self._state.pooled_frames.gather((1, step))[order]
            values, note = srvp_paper_horizon(prediction, target, self.device or torch.device("cpu"))
            for metric, value in values.items():
                per_horizon[metric].append(value)
            if note and note not in notes:
                notes.append(note)
        overall = {metric: to_json_number(np.mean(values)) for metric, values in per_horizon.items()}
        result = {"overall": overall, "per_horizon": {m: to_json_numbers(v) for m, v in per_horizon.items()}}
        if notes:
            result["notes"] = notes
        return result

    def _regions_result(self) -> dict:
        state = self._state
        geometry, count, horizon = state.geometry, state.sequences, state.horizon
        scale = 2**geometry.unit_bits
        static_pixels = state.static_pixels
        moving_pixels = count * geometry.pixels - static_pixels
        sums = {row: state.horizon_sums[f"regions/{row}"] for row in _REGION_ROWS}
        result: dict = {
            "definition": REGIONS_DEFINITION,
            "static_pixel_fraction": static_pixels / (count * geometry.pixels),
        }
        for region, pixels in (("static", static_pixels), ("moving", moving_pixels)):
            per_horizon: dict[str, list] = {}
            overall: dict[str, float | str] = {}
            for metric, kind in (("mse", "squared"), ("mae", "absolute")):
                if region == "static":
                    region_sums_ = sums[f"static_{kind}"]
                else:
                    region_sums_ = [t - s for t, s in zip(sums[f"total_{kind}"], sums[f"static_{kind}"], strict=True)]
                per_horizon[metric] = to_json_numbers(_ratio(s, scale * pixels) for s in region_sums_)
                overall[metric] = to_json_number(_ratio(sum(region_sums_), scale * pixels * horizon))
            result[region] = {"overall": overall, "per_horizon": per_horizon}
        return result


def _add_into(table: dict[str, list[int]], key: str, values: list[int]) -> None:
    if key in table:
        table[key] = [a + b for a, b in zip(table[key], values, strict=True)]
    else:
        table[key] = list(values)


def _mean(total: int, infinite: int, denominator: int) -> float:
    """Exact rational total/denominator rounded once (Python int division), or +inf if a frame was."""
    return float("inf") if infinite else total / denominator


def _ratio(total: int, denominator: int) -> float:
    return total / denominator if denominator else float("nan")


def _check_unique(sorted_indices: np.ndarray) -> None:
    repeated = sorted_indices[1:][sorted_indices[1:] == sorted_indices[:-1]]
    if repeated.size:
        raise VpbenchError(
            f"sequence index {int(repeated[0])} was scored more than once; when merging shards, pass each "
            "batch's test-set indices as update(..., sequence_index=...)"
        )
