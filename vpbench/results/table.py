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

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from vpbench.errors import VpbenchError
from vpbench.results.columns import (
    Column,
    efficiency_value,
    horizon_columns,
    metric_column,
    region_value,
    resolve_columns,
    standard_columns,
)
from vpbench.results.references import ReferenceRow, reference_rows
from vpbench.results.schema import Record
from vpbench.results.sequences import SequenceCache, bootstrap_interval, sequence_overall

DEFAULT_CONVENTION = "vpbench"
PUBLISHED = "published"  # the data-source slot of a section holding only published rows
SANITY_FAMILY = "reference"


@dataclass(frozen=True)
class TableOptions:
    """What to show. Empty tuples / None mean "no filter" (conventions: the default one)."""

    metrics: tuple[str, ...] = ()  # empty: the standard set
    dataset: str | None = None
    protocol: str | None = None
    conventions: tuple[str, ...] = ()
    preset: str | None = None
    source: str | None = None
    per_horizon: bool = False
    vs: str | None = None
    reference: bool = False
    confidence: bool = True


@dataclass
class Cell:
    value: float | None = None
    interval: tuple[float, float] | None = None
    relative: float | None = None  # (value - vs) / |vs|
    best: bool = False


@dataclass
class Row:
    label: str
    model: str
    kind: str  # "result" | "sanity" | "published"
    cells: dict[str, Cell]
    detail: str = ""  # preset/seed for results, source and data for published rows
    record: Record | None = None
    note: str = ""  # a caveat shown under the table
    source: str = ""  # the publication's short name, for published rows


@dataclass(frozen=True)
class SectionKey:
    dataset: str
    source: str
    protocol: str
    convention: str
    preset: str
    test_checksum: str
    test_size: int
    metric: str | None = None  # per-horizon sections show one metric


@dataclass
class Section:
    key: SectionKey
    columns: list[Column]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    vs_label: str | None = None
    trained_on: str | None = None  # the one training protocol of every trained row, when it differs

    @property
    def title(self) -> str:
        key = self.key
        data = "published numbers only" if key.source == PUBLISHED else f"data {key.source}"
        parts = [key.dataset, data, key.protocol, f"convention {key.convention}"]
        if key.preset:
            parts.append(f"preset {key.preset}")
        if key.test_size:
            parts.append(f"{key.test_size} test sequences")
        if self.trained_on:
            parts.append(f"trained on {self.trained_on}")
        if key.metric:
            direction = {True: " (higher is better)", False: " (lower is better)", None: ""}
            parts.append(f"{key.metric} per horizon{direction[self.columns[-1].higher_is_better if self.columns else None]}")
        return " · ".join(parts)


@dataclass
class LeaderTable:
    sections: list[Section]
    options: TableOptions


def _matches(record: Record, options: TableOptions) -> bool:
    sanity = record.model.family == SANITY_FAMILY
    return (
        (options.dataset is None or record.dataset.name == options.dataset)
        and (options.protocol is None or record.protocol.name == options.protocol)
        and (options.source is None or record.dataset.source == options.source)
        and (sanity or options.preset is None or record.model.preset == options.preset)
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
    selected = [record for record in records if _matches(record, options)]
    sequences = SequenceCache(results_dir)
    conventions = _conventions(selected, options)
    metrics_per_section: list[str | None] = [None]
    if options.per_horizon:
        metrics_per_section = list(options.metrics) or ["mse", "ssim"]
    sections: dict[SectionKey, Section] = {}

    def key_of(record: Record, convention: str, metric: str | None, preset: str) -> SectionKey:
        data = record.dataset
        return SectionKey(
            data.name, data.source, record.protocol.name, convention, preset, data.test_checksum, data.test_size, metric
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
                        if replace(key, preset="") == key_of(record, convention, metric, "")
                    ]
                    homes = homes or [key_of(record, convention, metric, record.model.preset)]
                else:
                    homes = [key_of(record, convention, metric, record.model.preset)]
                for home in homes:
                    section = sections.setdefault(home, Section(home, _section_columns(options, metric, convention)))
                    if metric is not None:
                        section.columns = _widest_horizon(section.columns, record, convention, metric)
                    section.rows.append(_record_row(record, convention, section.columns, sequences, options.confidence))
    if options.reference:
        _add_published(sections, options, conventions, metrics_per_section)
    if not sections:
        raise VpbenchError(_nothing_matches(records, options, conventions))
    result = [_finish(section, options) for section in sections.values()]
    shown = {column.key for section in result for column in section.columns}
    missing = [column for column in resolve_columns(options.metrics) if column.key not in shown and column.kind != "horizon"]
    if missing and not options.per_horizon:
        raise VpbenchError(
            f"no selected record has {', '.join(c.key for c in missing)}; "
            f"available: {', '.join(_available_metrics(selected, conventions))}"
        )
    if options.vs and not any(section.vs_label for section in result):
        raise VpbenchError(f"--vs {options.vs}: no row of that model in the selected tables; use a model name shown")
    result.sort(key=lambda s: (s.key.dataset, s.key.protocol, s.key.source, s.key.preset, conventions.index(s.key.convention) if s.key.convention in conventions else 99, s.key.metric or ""))
    return LeaderTable(result, options)


def _widest_horizon(columns: list[Column], record: Record, convention: str, metric: str) -> list[Column]:
    horizon = len(record.metrics[convention]["per_horizon"].get(metric) or [])
    current = sum(1 for column in columns if column.kind == "horizon")
    return horizon_columns(metric, max(horizon, current))


def _add_published(sections: dict[SectionKey, Section], options: TableOptions, conventions: list[str], metrics: list) -> None:
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
                home = SectionKey(reference.dataset, PUBLISHED, reference.protocol, reference.convention, "", "", 0, metric)
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


def _nothing_matches(records: list[Record], options: TableOptions, conventions: list[str]) -> str:
    available = sorted({f"{r.dataset.name} {r.protocol.name} ({r.dataset.source}, {r.model.preset})" for r in records})
    asked = ", ".join(
        f"{name} {value}"
        for name, value in (
            ("dataset", options.dataset),
            ("protocol", options.protocol),
            ("source", options.source),
            ("preset", options.preset),
            ("convention", "/".join(conventions)),
        )
        if value
    )
    return f"no records match {asked}; stored: {', '.join(available) or 'none'} — change or drop a filter"


def _finish(section: Section, options: TableOptions) -> Section:
    """Fill cells added before the columns grew, label rows unambiguously, sort, mark best values and --vs."""
    for row in section.rows:
        for column in section.columns:
            row.cells.setdefault(column.key, Cell())
    filled = [c for c in section.columns if any(row.cells[c.key].value is not None for row in section.rows)]
    section.columns = filled or section.columns  # a column no row has (regions under openstl) is dropped
    _disambiguate(section)
    sort_column = next((c for c in section.columns if c.higher_is_better is not None and c.kind != "efficiency"), None)
    order = {"result": 0, "sanity": 1, "published": 2}

    def sort_key(row: Row):
        value = row.cells[sort_column.key].value if sort_column else None
        if value is None or not np.isfinite(value):
            return (order[row.kind], 1, 0.0, row.label)
        return (order[row.kind], 0, -value if sort_column.higher_is_better else value, row.label)

    section.rows.sort(key=sort_key)
    _mark_best(section)
    if options.vs:
        _relative_to(section, options.vs)
    _add_notes(section)
    return section


def _disambiguate(section: Section) -> None:
    trained_on = {row.record.protocol.train_protocol for row in section.rows if row.record and row.record.training.trained}
    shared_training = len(trained_on) == 1
    if shared_training and trained_on != {section.key.protocol}:
        section.trained_on = trained_on.pop()
    by_model: dict[str, list[Row]] = {}
    for row in section.rows:
        if row.kind != "published":
            by_model.setdefault(row.model, []).append(row)
    for rows in by_model.values():
        for row in rows:
            record = row.record
            suffixes = []
            if len({r.record.provenance.seed for r in rows}) > 1:
                suffixes.append(f"seed {record.provenance.seed}")
            if len({r.record.model.preset for r in rows}) > 1:
                suffixes.append(record.model.preset)
            if not shared_training and record.training.trained and record.protocol.train_protocol != record.protocol.name:
                suffixes.append(f"trained {record.protocol.train_protocol}")
            if suffixes:
                row.label = f"{row.model} ({', '.join(suffixes)})"


def _mark_best(section: Section) -> None:
    contenders = [row for row in section.rows if row.kind == "result"]
    if len(contenders) < 2:
        return
    for column in section.columns:
        if column.higher_is_better is None:
            continue
        values = [row.cells[column.key].value for row in contenders]
        finite = [v for v in values if v is not None and np.isfinite(v)]
        if len(finite) < 2:
            continue
        best = max(finite) if column.higher_is_better else min(finite)
        for row in contenders:
            if row.cells[column.key].value == best:
                row.cells[column.key].best = True


def _relative_to(section: Section, vs: str) -> None:
    candidates = [row for row in section.rows if row.kind != "published" and vs in (row.model, row.label)]
    if not candidates:
        if any(row.record is not None for row in section.rows):
            section.notes.append(f"no {vs} row here, so no relative change is shown")
        return
    if len(candidates) > 1:
        labels = ", ".join(row.label for row in candidates)
        raise VpbenchError(f"--vs {vs} matches several rows ({labels}); pass the full label or add --preset")
    anchor = candidates[0]
    section.vs_label = anchor.label
    for row in section.rows:
        if row is anchor or row.kind == "published":  # other data and training: a ratio would mislead
            continue
        for column in section.columns:
            if column.kind == "efficiency" and row.kind != "result":
                continue  # "+1800000% throughput" for a parameter-free predictor says nothing
            cell, reference = row.cells[column.key], anchor.cells[column.key].value
            if cell.value is not None and reference not in (None, 0.0) and np.isfinite(reference):
                cell.relative = (cell.value - reference) / abs(reference)


def _add_notes(section: Section) -> None:
    devices = sorted({row.record.efficiency.device for row in section.rows if row.record is not None})
    if len(devices) > 1 and any(column.key == "throughput" for column in section.columns):
        section.notes.append(f"throughput was measured on different devices ({', '.join(devices)})")
    checksums = {row.record.dataset.test_checksum for row in section.rows if row.record is not None}
    if len(checksums) > 1:  # cannot happen by construction; say so loudly if the grouping ever changes
        section.notes.append("WARNING: rows come from different test sets")
    published = [row for row in section.rows if row.kind == "published"]
    section.notes.extend(dict.fromkeys(row.detail for row in published))
    caveats: dict[str, list[str]] = {}
    for row in published:
        for note in filter(None, row.note.split("; ")):
            caveats.setdefault(note, []).append(row.label)
    by_source: dict[str, list[str]] = {}
    for row in published:
        by_source.setdefault(row.source, []).append(row.label)
    for note, labels in caveats.items():
        whole = [source for source, members in by_source.items() if members == labels and len(labels) > 1]
        section.notes.append(f"{f'all {whole[0]} rows' if whole else ', '.join(labels)}: {note}")
    if any(row.kind == "published" for row in section.rows):
        section.notes.append("published rows are figures from publications (their data and training), not vpbench runs")
    if any(row.kind == "sanity" for row in section.rows):
        section.notes.append("last-frame / zeros are parameter-free sanity predictors, not ranked")


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
