"""Realistic result records for table / compare / plot / check tests, without training anything.

Each model gets a fixed quality factor; per-sequence values are drawn around a horizon-growing error curve
(deterministic per model, seed and protocol), and the record's overall and per-horizon numbers are the
means of those per-sequence values — exactly the relation the real evaluator guarantees — so bootstrap
intervals computed from the stored arrays bracket the stored numbers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import zlib
from pathlib import Path

import numpy as np

from vpbench.engine.spec import RunSpec
from vpbench.protocols import parse_protocol
from vpbench.results.schema import (
    DatasetInfo,
    EfficiencyInfo,
    ModelInfo,
    ProtocolInfo,
    Provenance,
    Record,
    TrainingInfo,
)
from vpbench.results.sequences import sequence_key
from vpbench.results.store import write_record

CONVENTIONS = ("vpbench", "openstl", "predrnn", "srvp-paper")
PIXELS = 64 * 64

# family, quality (error multiplier: lower is better), parameters, MACs per 10->10 sequence
MODELS: dict[str, tuple[str, float, int, int]] = {
    "srvp": ("rnn+attention", 0.70, 2_300_000, 9_000_000_000),
    "srvp-wo-sa": ("rnn+attention", 0.76, 2_200_000, 8_600_000_000),
    "srvp-wo-rfa": ("rnn+attention", 0.80, 2_100_000, 8_400_000_000),
    "srvp-wo-crossatt": ("rnn+attention", 0.78, 2_000_000, 8_100_000_000),
    "convgru": ("rnn", 1.00, 1_800_000, 7_200_000_000),
    "convlstm": ("rnn", 1.10, 1_900_000, 3_300_000_000),
    "predrnn": ("rnn", 0.95, 2_900_000, 6_900_000_000),
    "predrnn++": ("rnn", 0.92, 4_700_000, 10_300_000_000),
    "mim": ("rnn", 0.98, 4_600_000, 10_800_000_000),
    "simvp": ("cnn", 0.85, 7_000_000, 1_200_000_000),
    "mimo-vp": ("transformer", 0.82, 3_100_000, 2_500_000_000),
    "last-frame": ("reference", 2.60, 0, 0),
    "zeros": ("reference", 3.40, 0, 0),
}


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("|".join(map(str, parts)).encode()))


def fake_checksum(dataset: str, source: str, protocol: str, test_size: int) -> str:
    """A stand-in for the SHA-256 of the test clips: equal for every model evaluated on the same clips."""
    return hashlib.sha256(f"{dataset}|{source}|{protocol}|{test_size}".encode()).hexdigest()


def _per_sequence(model: str, quality: float, protocol: str, seed: int, test_size: int, horizon: int):
    """Per-pixel MSE on [0, 1] per (sequence, horizon step), growing with the horizon."""
    steps = np.arange(1, horizon + 1)
    curve = quality * (0.010 + 0.0035 * steps)
    # a hard test sequence is hard for every model (that is what makes paired tests sharp) ...
    difficulty = _rng("difficulty", protocol).lognormal(0.0, 0.25, size=(test_size, 1))
    # ... and each model adds its own small per-frame variation
    noise = _rng(model, protocol, seed).lognormal(0.0, 0.08, size=(test_size, horizon))
    return curve[None, :] * difficulty * noise


def _metrics_from_mse(mse: np.ndarray) -> dict[str, np.ndarray]:
    mae = 2.2 * np.sqrt(mse) * 0.35
    psnr = 10 * np.log10(1.0 / mse)
    ssim = np.clip(1.0 - 9.0 * mse, 0.05, 1.0)
    return {"mse": mse, "mae": mae, "psnr": psnr, "ssim": ssim}


def _convention_arrays(convention: str, mse: np.ndarray) -> dict[str, np.ndarray]:
    base = _metrics_from_mse(mse)
    sums = {"mse_sum": base["mse"] * PIXELS, "mae_sum": base["mae"] * PIXELS}
    if convention == "vpbench":  # the metric engine's names: per pixel and per-frame sums
        return {**base, **sums}
    if convention == "openstl":  # per-frame sums, SSIM with data_range=2 (inflated)
        return {**sums, "psnr": base["psnr"], "ssim": 1.0 - (1.0 - base["ssim"]) / 2}
    if convention == "predrnn":  # PSNR/SSIM on uint8 floor(x*255)
        return {**sums, "psnr": base["psnr"] - 0.05, "ssim": base["ssim"]}
    raise ValueError(convention)


def _summary(arrays: dict[str, np.ndarray]) -> dict[str, dict]:
    return {
        "overall": {name: float(values.mean()) for name, values in arrays.items()},
        "per_horizon": {name: values.mean(axis=0).tolist() for name, values in arrays.items()},
    }


def validation_point(metrics: dict) -> dict[str, float]:
    """A sanity row's one curve point (its score on the validation clips), as the engine stores it: set apart
    from its test score, as real validation and test clips are, so a test can tell which one was used."""
    overall = metrics.get("vpbench", {}).get("overall", {})
    point = {"step": 0, "sequences": 0, "wall_time_s": 0.0}
    if "mse" in overall:
        point["loss"] = point["mse"] = overall["mse"] * 0.95
    if "ssim" in overall:
        point["ssim"] = overall["ssim"] + 0.006
    return point


def make_record(
    model: str = "convgru",
    *,
    preset: str = "small",
    dataset: str = "mmnist",
    source: str = "offline-5k",
    protocol: str = "10->10",
    train_protocol: str | None = None,
    seed: int = 42,
    test_size: int = 64,
    conventions: tuple[str, ...] = CONVENTIONS,
    quality: float | None = None,
    device: str = "cpu (x86_64, 2 threads)",
    checksum: str | None = None,
    options: dict | None = None,
    frame_shape: tuple[int, int, int] = (1, 64, 64),
    steps: int = 300,
) -> tuple[Record, dict[str, np.ndarray]]:
    """A record plus its per-sequence arrays ('<convention>.<metric>' -> (N,), 'sequence_index')."""
    family, default_quality, parameters, macs = MODELS[model]
    quality = default_quality if quality is None else quality
    parsed = parse_protocol(protocol)
    mse = _per_sequence(model, quality, protocol, seed, test_size, parsed.horizon)
    metrics: dict[str, dict] = {}
    per_sequence: dict[str, np.ndarray] = {}
    for convention in conventions:
        if convention == "srvp-paper":  # pooled over the test set: no per-sequence values
            pooled = mse.mean(axis=0) * 255**2
            psnr = 10 * np.log10(255**2 / pooled)
            ssim = np.clip(1.0 - 9.0 * mse.mean(axis=0) * 1.3, 0.05, 1.0)
            per_horizon = {"mse": pooled.tolist(), "psnr": psnr.tolist(), "ssim": ssim.tolist()}
            overall = {name: float(np.mean(values)) for name, values in per_horizon.items()}
            metrics[convention] = {"overall": overall, "per_horizon": per_horizon}
            continue
        arrays = _convention_arrays(convention, mse)
        metrics[convention] = _summary(arrays)
        # as the metric engine keeps them: one value per sequence, the mean over its horizons
        per_sequence.update({sequence_key(convention, name): values.mean(axis=1) for name, values in arrays.items()})
    if per_sequence:
        per_sequence["sequence_index"] = np.arange(test_size)
    regions = {
        "definition": "static pixels: ground truth identical in every target frame of the sequence",
        "static_pixel_fraction": 0.8,
        "static": _summary({"mse": mse * 0.15, "mae": np.sqrt(mse * 0.15)}),
        "moving": _summary({"mse": mse * 4.0, "mae": np.sqrt(mse * 4.0)}),
    }
    trained = family != "reference"
    scale = parsed.horizon / 10
    threads = re.fullmatch(r"cpu \(.*, (\d+) threads?\)", device)
    spec = RunSpec(
        model=model,
        preset=preset,
        model_config={"hidden": 32},
        dataset=dataset,
        data_source=source,
        data_options=dict(options or {}),
        frame_shape=tuple(frame_shape),
        protocols=(parsed.name,),
        train_protocol=train_protocol or parsed.name,
        steps=steps if trained else 0,
        batch_size=8,
        learning_rate=1e-3,
        optimizer={"optimizer": "adam", "lr": 1e-3},
        seed=seed,
        val_size=256,
        val_every=30,
        test_size=test_size,
        conventions=tuple(conventions),
        budget=f"--steps {steps}" if trained else "none",
        threads=int(threads.group(1)) if threads else None,
        eval_batch_size=16,
    )
    record = Record(
        model=ModelInfo(
            model,
            preset,
            {"hidden": 32},
            f"{zlib.crc32(model.encode()):016x}",
            family,
            "mse",
            parameters,
            int(macs * scale),
        ),
        dataset=DatasetInfo(
            name=dataset,
            source=source,
            test_checksum=checksum or fake_checksum(dataset, source, protocol, test_size),
            test_size=test_size,
            frame_shape=list(frame_shape),
            options=dict(options or {}),
        ),
        protocol=ProtocolInfo(parsed.name, parsed.context, parsed.horizon, train_protocol or parsed.name),
        training=TrainingInfo(
            steps=steps if trained else 0,
            batch_size=8,
            budget=f"--steps {steps}" if trained else "none",
            optimizer={"optimizer": "adam", "lr": 1e-3},
            selected_step=steps if trained else 0,
            best_validation_loss=0.02 if trained else None,
            validation_metric="mse of eval-mode predictions on 256 validation clips",
            wall_time_s=float(steps) if trained else 0.0,
            trained=trained,
            curve=[] if trained else [validation_point(metrics)],
        ),
        efficiency=EfficiencyInfo(
            parameters=parameters,
            macs_per_sequence=int(macs * scale),
            throughput_sequences_per_s=(5e4 if not trained else 2e10 / max(macs, 1)),
            peak_memory_mb=512.0,
            peak_memory_kind="cpu-max-rss",
            device=device,
            eval_batch_size=16,
        ),
        provenance=Provenance(
            seed=seed,
            code_version="abc123def456",
            vpbench_version="0.1.0",
            torch_version="2.13.0",
            python_version="3.11.9",
            device=device,
            created_at="2025-11-25T10:00:00+00:00",
            evaluation_wall_time_s=12.0,
            command=f"vpbench run --model {model} --dataset {dataset}",
        ),
        metrics=metrics,
        regions=regions,
        spec=spec.to_dict(),
        spec_hash=spec.spec_hash,
    )
    return record, per_sequence


def variant_record(record_and_arrays, spec_hash: str, **config):
    """The same model with other arguments: another config, spec and record id (a second run of one model)."""
    record, arrays = record_and_arrays
    model = dataclasses.replace(record.model, config={**record.model.config, **config})
    spec = {**record.spec, "model_config": model.config}
    return dataclasses.replace(record, model=model, spec=spec, spec_hash=spec_hash), arrays


def leaderboard_records(models=tuple(MODELS), **kwargs) -> list[tuple[Record, dict[str, np.ndarray]]]:
    return [make_record(model, **kwargs) for model in models]


def store(results_dir: Path, pairs) -> list[Record]:
    """Write (record, per-sequence) pairs with the real store; returns the records as written."""
    for record, arrays in pairs:
        write_record(results_dir, record, arrays)
    return [record for record, _ in pairs]


def store_samples(results_dir: Path, record: Record, indices=(0, 1), seed: int = 0) -> Path:
    """A `<record id>.samples.npz` as the engine writes it; context/target depend only on the test index."""
    from vpbench.results.sequences import samples_path

    channels, height, width = record.dataset.frame_shape
    contexts, targets, predictions = [], [], []
    for index in indices:
        clip = _rng("clip", index).integers(
            0, 256, size=(record.protocol.context + record.protocol.horizon, channels, height, width)
        )
        clip = clip.astype(np.uint8)
        contexts.append(clip[: record.protocol.context])
        targets.append(clip[record.protocol.context :])
        noise = _rng(record.model.name, index, seed).integers(-40, 40, size=targets[-1].shape)
        predictions.append(np.clip(targets[-1].astype(int) + noise, 0, 255).astype(np.uint8))
    path = samples_path(results_dir, record)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        index=np.asarray(indices),
        context=np.stack(contexts),
        target=np.stack(targets),
        prediction=np.stack(predictions),
    )
    return path
