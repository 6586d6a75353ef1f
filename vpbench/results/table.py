"""Leaderboard tables built from stored records only, split so that incomparable numbers never share a table.

A number is comparable with another only on the same test clips, under the same metric convention, for the
same protocol. So a table is a list of *sections*, one per (dataset, data source, protocol, convention,
preset, test set); the sanity predictors (family "reference": `last-frame`, `zeros`) join every section whose
test set they were evaluated on, whatever its preset, and published rows (`--reference`) join the sections of
their dataset, protocol and convention, labelled with their source and data. Best values are marked among
this harness's trained models only (a parameter-free predictor always "wins" parameters and MACs).

`records_frame` is the same information as one pandas DataFrame, for notebooks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pandas as pd

from vpbench.errors import VpbenchError
from vpbench.results.columns import (
    Column,
    efficiency_value,
    horizon_columns,
    metric_column,
    prediction_metric,
    region_value,
    resolve_columns,
    standard_columns,
)
from vpbench.results.references import ReferenceRow, reference_rows
from vpbench.results.schema import Record
from vpbench.results.sections import (  # noqa: F401  (re-exported: the table's public types)
    CI_FIXTURE_PRESET,
    DEFAULT_CONVENTION,
    PUBLISHED,
    SANITY_FAMILY,
    Cell,
    LeaderTable,
    Row,
    Section,
    SectionKey,
    TableOptions,
    finish_section,
    within_budget,
)
from vpbench.results.sequences import SequenceCache, bootstrap_interval, sequence_overall


def matches(record: Record, options: TableOptions) -> bool:
    """Whether `options`' filters admit the record (sanity rows ignore the preset and the budget)."""
    sanity = record.model.family == SANITY_FAMILY
    return (
        (options.dataset is None or record.dataset.name == options.dataset)
        and (options.protocol is None or record.protocol.name == options.protocol)
        and (options.source is None or record.dataset.source == options.source)
        and (sanity or options.preset is None or record.model.preset == options.preset)
        and within_budget(record, options.steps)
    )


def _conventions(records: list[Record], options: TableOptions) -> list[str]:
    if options.conventions:
        return list(options.conventions)
    chosen = [DEFAULT_CONVENTION]
    if options.reference:
        for row in reference_rows(options.dataset, options.protocol):
            if row.convention not in chosen:
                chosen.append(row.convention)
    return chosen


def _record_row(
    record: Record, convention: str, columns: list[Column], sequences: SequenceCache, confidence: bool
) -> Row:
    metrics = record.metrics[convention]
    cells: dict[str, Cell] = {}
    for column in columns:
        if column.kind == "metric":
            value = metrics["overall"].get(column.metric)
        elif column.kind == "horizon":
            series = metrics["per_horizon"].get(column.metric) or []
            value = series[column.horizon - 1] if column.horizon <= len(series) else None
        elif column.kind == "region":
            value = region_value(record, convention, column)
        elif column.key == "throughput" and record.model.family == SANITY_FAMILY:
            value = None  # a parameter-free predictor's "speed" times a tensor fill, not a model: shown as "—"
        else:
            value = efficiency_value(record, column)
        cell = Cell(None if value is None else float(value))
        if confidence and column.kind in ("metric", "region") and cell.value is not None:
            cell.interval = _interval(record, convention, column, sequences)
        cells[column.key] = cell
    sanity = record.model.family == SANITY_FAMILY
    return Row(
        label=record.model.name,
        model=record.model.name,
        kind="sanity" if sanity else "result",
        cells=cells,
        detail=f"{record.model.preset}, seed {record.provenance.seed}",
        record=record,
    )


def _interval(record: Record, convention: str, column: Column, sequences: SequenceCache) -> tuple[float, float] | None:
    """The stored 95% interval if the engine wrote one, else a bootstrap over the stored per-sequence values."""
    metric = column.metric if column.kind == "metric" else column.key
    stored = record.confidence_intervals.get(convention, {}).get(metric)
    if stored is not None and len(stored) == 2:
        return float(stored[0]), float(stored[1])
    values = sequences.values(record, convention, metric)
    if values is None:
        return None
    return bootstrap_interval(sequence_overall(values))


def _published_row(row: ReferenceRow, columns: list[Column]) -> Row:
    cells = {}
    for column in columns:
        value: float | None = None
        if column.kind == "metric":
            value = row.metrics.get(column.metric)
        elif column.kind == "horizon":
            series = row.per_horizon.get(column.metric, [])
            value = series[column.horizon - 1] if column.horizon <= len(series) else None
        elif column.key == "parameters":
            value = row.parameters
        elif column.key == "macs":
            value = row.macs_per_sequence
        cells[column.key] = Cell(None if value is None else float(value))
    label = f"{row.label} (published, {row.short_source})"
    detail = f"published: {row.source}; data: {row.data}"
    return Row(label, row.model, "published", cells, detail=detail, note=row.note, source=row.short_source)


def _section_columns(options: TableOptions, metric: str | None, convention: str) -> list[Column]:
    if metric is not None:
        return []  # filled per section from the longest horizon present
    return resolve_columns(options.metrics) if options.metrics else standard_columns(convention)


def build_table(records: Iterable[Record], options: TableOptions, results_dir: str | Path | None = None) -> LeaderTable:
    """Group, filter and compute everything a renderer shows; errors are one line naming the filter to change."""
    records = list(records)
    if not records and not options.reference:
        raise VpbenchError("no result records found; run `vpbench run ...` first or pass --results-dir DIR")
    selected = [record for record in records if matches(record, options)]
    if options.preset is None and any(record.model.preset != CI_FIXTURE_PRESET for record in selected):
        # CI fixtures are not results: shown only when asked for with `--preset smoke` (or when nothing else exists)
        selected = [record for record in selected if record.model.preset != CI_FIXTURE_PRESET]
    sequences = SequenceCache(results_dir)
    conventions = _conventions(selected, options)
    metrics_per_section: list[str | None] = [None]
    if options.per_horizon:
        metrics_per_section = [prediction_metric(m, "--per-horizon") for m in options.metrics] or ["mse", "ssim"]
    sections: dict[SectionKey, Section] = {}

    def key_of(record: Record, convention: str, metric: str | None, preset: str, budget: str) -> SectionKey:
        data = record.dataset
        return SectionKey(
            data.name,
            data.source,
            record.protocol.name,
            convention,
            preset,
            data.test_checksum,
            data.test_size,
            metric,
            budget,
        )

    ordered = sorted(selected, key=lambda r: r.model.family == SANITY_FAMILY)  # trained models found sections first
    for record in ordered:
        for convention in conventions:
            if convention not in record.metrics:
                continue
            for metric in metrics_per_section:
                if record.model.family == SANITY_FAMILY:
                    homes = [
                        key
                        for key in sections
                        if replace(key, preset="", budget="") == key_of(record, convention, metric, "", "")
                    ]
                    # With a preset or budget filter, sanity rows only join matching sections; alone they would
                    # add a section of another test set (e.g. the smoke CI fixtures) to a `--preset small` view,
                    # or answer `--steps N` with sanity rows only where nothing was trained for N steps.
                    if not homes and options.preset in (None, record.model.preset) and options.steps is None:
                        homes = [key_of(record, convention, metric, record.model.preset, "")]
                else:
                    homes = [key_of(record, convention, metric, record.model.preset, record.budget_label)]
                for home in homes:
                    section = sections.setdefault(home, Section(home, _section_columns(options, metric, convention)))
                    if metric is not None:
                        section.columns = _widest_horizon(section.columns, record, convention, metric)
                    section.rows.append(_record_row(record, convention, section.columns, sequences, options.confidence))
    if options.reference:
        _add_published(sections, options, conventions, metrics_per_section)
    if not sections:
        raise VpbenchError(_nothing_matches(records, options, conventions))
    result = [finish_section(section, options) for section in sections.values()]
    result = [section for section in result if section.columns]  # nothing asked for exists there
    shown = {column.key for section in result for column in section.columns}
    missing = [
        column for column in resolve_columns(options.metrics) if column.key not in shown and column.kind != "horizon"
    ]
    if (missing and not options.per_horizon) or not result:
        raise VpbenchError(
            f"no selected record has {', '.join(c.key for c in missing) or 'these metrics'} under convention "
            f"{'/'.join(conventions)}; "
            f"available: {', '.join(_available_metrics(selected, conventions))}"
        )
    if options.vs and not any(section.vs_label for section in result):
        raise VpbenchError(f"--vs {options.vs}: no row of that model in the selected tables; use a model name shown")
    result.sort(
        key=lambda s: (
            s.key.dataset,
            s.key.protocol,
            s.key.source,
            s.key.preset,
            _budget_order(s.key.budget),
            conventions.index(s.key.convention) if s.key.convention in conventions else 99,
            s.key.metric or "",
        )
    )
    return LeaderTable(result, options)


def _budget_order(budget: str) -> tuple[int, ...]:
    """'600 steps x 8' before '10000 steps x 8': budgets in numeric order, not as strings."""
    return tuple(int(number) for number in re.findall(r"\d+", budget))


def _widest_horizon(columns: list[Column], record: Record, convention: str, metric: str) -> list[Column]:
    horizon = len(record.metrics[convention]["per_horizon"].get(metric) or [])
    current = sum(1 for column in columns if column.kind == "horizon")
    return horizon_columns(metric, max(horizon, current))


def _add_published(
    sections: dict[SectionKey, Section], options: TableOptions, conventions: list[str], metrics: list
) -> None:
    for reference in reference_rows(options.dataset, options.protocol):
        if reference.convention not in conventions:
            continue
        for metric in metrics:
            if metric is not None and metric not in reference.per_horizon and metric not in reference.metrics:
                continue
            homes = [
                key
                for key in sections
                if (key.dataset, key.protocol, key.convention, key.metric)
                == (reference.dataset, reference.protocol, reference.convention, metric)
            ]
            if not homes:
                home = SectionKey(
                    reference.dataset, PUBLISHED, reference.protocol, reference.convention, "", "", 0, metric
                )
                columns = _section_columns(options, metric, reference.convention)
                if metric is not None:
                    columns = horizon_columns(metric, len(reference.per_horizon.get(metric, [])))
                sections[home] = Section(home, columns)
                homes = [home]
            for home in homes:
                section = sections[home]
                steps = len(reference.per_horizon.get(metric, [])) if metric else 0
                if steps > sum(column.kind == "horizon" for column in section.columns):
                    section.columns = horizon_columns(metric, steps)
                row = _published_row(reference, section.columns)
                if any(cell.value is not None for cell in row.cells.values()):
                    section.rows.append(row)
    for key in [key for key, section in sections.items() if not section.rows]:
        del sections[key]


def _available_metrics(records: list[Record], conventions: list[str]) -> list[str]:
    names = {m for r in records for c in conventions if c in r.metrics for m in r.metrics[c]["overall"]}
    return sorted(names) + ["params", "macs", "throughput"]


def _stored_group(record: Record) -> tuple:
    """Sort key and label of the group a record belongs to: budgets in numeric order, sanity rows (no training)
    named as such instead of looking like a budget that lost its step count."""
    steps = record.training.steps if record.training.trained else -1
    budget = f"{steps} steps" if steps >= 0 else "untrained sanity rows"
    parts = (record.dataset.name, record.protocol.name, record.dataset.source, record.model.preset)
    return (*parts, steps), f"{parts[0]} {parts[1]} ({parts[2]}, {parts[3]}, {budget})"


def _nothing_matches(records: list[Record], options: TableOptions, conventions: list[str]) -> str:
    available = [label for _, label in sorted({_stored_group(r) for r in records})]
    asked = ", ".join(
        f"{name} {value}"
        for name, value in (
            ("dataset", options.dataset),
            ("protocol", options.protocol),
            ("source", options.source),
            ("preset", options.preset),
            ("steps", options.steps),
            ("convention", "/".join(conventions)),
        )
        if value not in (None, "")  # `--steps 0` is a filter too
    )
    return f"no records match {asked}; stored: {', '.join(available) or 'none'} — change or drop a filter"


def records_frame(records: Iterable[Record], results_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per (record, convention): identity columns, every overall metric, intervals and efficiency."""
    sequences = SequenceCache(results_dir)
    rows = []
    for record in records:
        for convention, values in record.metrics.items():
            row = {
                "model": record.model.name,
                "family": record.model.family,
                "preset": record.model.preset,
                "dataset": record.dataset.name,
                "source": record.dataset.source,
                "protocol": record.protocol.name,
                "train_protocol": record.protocol.train_protocol,
                "convention": convention,
                "seed": record.provenance.seed,
                "test_size": record.dataset.test_size,
                "test_checksum": record.dataset.test_checksum,
                "parameters": record.efficiency.parameters,
                "macs_per_sequence": record.efficiency.macs_per_sequence,
                "throughput_sequences_per_s": record.efficiency.throughput_sequences_per_s,
                "device": record.efficiency.device,
                "record_id": record.record_id,
            }
            for metric, value in values["overall"].items():
                row[metric] = value
                interval = _interval(record, convention, metric_column(metric), sequences)
                if interval is not None:
                    row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = interval
            rows.append(row)
    return pd.DataFrame(rows)
