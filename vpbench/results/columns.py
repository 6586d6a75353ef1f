"""Table columns as data: what a column shows, where its value comes from in a record, and which way is better.

Whether higher is better comes from the metric engine's definitions (`vpbench.metrics`), so the leaderboard
marks best values without special cases; efficiency columns (parameters, MACs, throughput) are defined here
because they are properties of the record, not metrics of predictions.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from vpbench.errors import VpbenchError, unknown_name
from vpbench.results.schema import Record

REGIONS = ("static", "moving")


@dataclass(frozen=True)
class Column:
    key: str  # unique within a section: "mse", "static mse", "parameters", "ssim@3"
    title: str
    kind: str  # "metric" | "region" | "efficiency" | "horizon"
    metric: str = ""
    horizon: int = 0
    region: str = ""
    higher_is_better: bool | None = None

    @property
    def header(self) -> str:
        if self.kind == "horizon":  # the section title says which way is better; keep 30 columns narrow
            return self.title
        return self.title + {True: " ↑", False: " ↓", None: ""}[self.higher_is_better]


def higher_is_better(metric: str) -> bool | None:
    """Direction of a metric from the metric engine's definitions; None when it has no direction."""
    from vpbench.metrics.conventions import METRICS

    definition = METRICS.get(metric)
    return None if definition is None else bool(definition.higher_is_better)


def metric_title(metric: str) -> str:
    """'mse' -> 'MSE', 'mse_sum' -> 'MSE/frame' (the per-frame sum PredRNN and OpenSTL report)."""
    if metric.endswith("_sum"):
        return metric[: -len("_sum")].upper() + "/frame"
    return metric.upper().replace("_", " ")


def prediction_metric(name: str, what: str) -> str:
    """`name` as one of the metric engine's metrics, for views that need a value per horizon or per prediction
    (a per-horizon table or figure, the efficiency figure's y axis); parameters, MACs, throughput and region
    errors have none, so they are refused here in one line, not deeper down as "no record has macs"."""
    from vpbench.metrics.conventions import METRICS

    metric = name.strip().lower().replace("-", "_")
    if metric not in METRICS:
        close = difflib.get_close_matches(metric, list(METRICS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise VpbenchError(f"{what} shows one of {', '.join(METRICS)}; not '{name}'{hint}")
    return metric


def metric_column(metric: str) -> Column:
    return Column(metric, metric_title(metric), "metric", metric=metric, higher_is_better=higher_is_better(metric))


def region_column(region: str, metric: str) -> Column:
    return Column(
        f"{region} {metric}",
        f"{region} {metric_title(metric)}",
        "region",
        metric=metric,
        region=region,
        higher_is_better=higher_is_better(metric),
    )


EFFICIENCY = {
    "parameters": Column("parameters", "params", "efficiency", higher_is_better=False),
    "macs": Column("macs", "MACs/seq", "efficiency", higher_is_better=False),
    "throughput": Column("throughput", "seq/s", "efficiency", higher_is_better=True),
    "memory": Column("memory", "peak MB", "efficiency", higher_is_better=False),
}
EFFICIENCY_ALIASES = {"params": "parameters", "flops": "macs", "speed": "throughput", "peak-memory": "memory"}


def horizon_columns(metric: str, horizon: int) -> list[Column]:
    """Per-horizon view of one metric: columns 1..horizon, then the record's overall value."""
    direction = higher_is_better(metric)
    columns = [
        Column(f"{metric}@{step}", str(step), "horizon", metric=metric, horizon=step, higher_is_better=direction)
        for step in range(1, horizon + 1)
    ]
    overall = metric_column(metric)
    return columns + [Column(overall.key, "overall", "metric", metric=metric, higher_is_better=direction)]


def convention_metrics(convention: str) -> tuple[str, ...]:
    """The metric names a convention computes (empty for a convention this vpbench does not know)."""
    from vpbench.metrics.conventions import CONVENTIONS

    known = CONVENTIONS.get(convention)
    return tuple(known.metrics) if known is not None else ()


def standard_columns(convention: str) -> list[Column]:
    """MSE, MAE, PSNR, SSIM as the convention defines them (per-frame sums where it reports those),
    static/moving-pixel MSE, parameters, MACs, throughput."""
    names = convention_metrics(convention)
    quality = [name if name in names or f"{name}_sum" not in names else f"{name}_sum" for name in ("mse", "mae")]
    return (
        [metric_column(name) for name in (*quality, "psnr", "ssim")]
        + [region_column(region, "mse") for region in REGIONS]
        + [EFFICIENCY[name] for name in ("parameters", "macs", "throughput")]
    )


def resolve_columns(names: tuple[str, ...] | list[str]) -> list[Column]:
    """'ssim', 'static-mse' / 'static mse', 'params', 'macs', 'throughput' -> columns; unknown names are a
    one-line error with a suggestion."""
    from vpbench.metrics.conventions import METRICS

    valid = [*METRICS, *EFFICIENCY, *(f"{region}-{metric}" for region in REGIONS for metric in ("mse", "mae"))]
    columns = []
    for raw in names:
        name = raw.strip().lower().replace("_", "-")
        name = EFFICIENCY_ALIASES.get(name, name)
        region, _, metric = name.replace(" ", "-").partition("-")
        if name in EFFICIENCY:
            columns.append(EFFICIENCY[name])
        elif region in REGIONS and metric in ("mse", "mae"):
            columns.append(region_column(region, metric))
        elif name.replace("-", "_") in METRICS:
            columns.append(metric_column(name.replace("-", "_")))
        else:
            raise unknown_name("metric", raw.strip(), valid)
    return columns


def efficiency_value(record: Record, column: Column) -> float | None:
    efficiency = record.efficiency
    return {
        "parameters": efficiency.parameters,
        "macs": efficiency.macs_per_sequence,
        "throughput": efficiency.throughput_sequences_per_s,
        "memory": efficiency.peak_memory_mb,
    }.get(column.key)


REGIONS_CONVENTION = "vpbench"  # region errors are per pixel on [0, 1], prediction clipped: vpbench's scale


def region_value(record: Record, convention: str, column: Column) -> float | None:
    """`record.regions[region]["overall"][metric]`: error on static vs moving pixels (ground truth constant over
    the target window or not). Shown under the vpbench convention only, whose scale it shares."""
    if convention != REGIONS_CONVENTION:
        return None
    value = record.regions.get(column.region, {}).get("overall", {}).get(column.metric)
    return None if value is None else float(value)
