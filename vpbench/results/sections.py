"""The parts of a leaderboard table, and what makes one section readable once its rows are in.

A `LeaderTable` is a list of `Section`s (one test setting each, see `table.build_table`); here are the data
classes and the finishing pass over a section: drop columns no row has, label rows unambiguously, sort
(trained models by the first quality column, then sanity predictors, then published rows), mark the best
value per column among trained models, compute relative change against the `--vs` row, and write notes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from vpbench.errors import VpbenchError
from vpbench.metrics.conventions import CONVENTIONS
from vpbench.registry import settings_that_train
from vpbench.results.columns import Column
from vpbench.results.schema import Record

DEFAULT_CONVENTION = "vpbench"
PUBLISHED = "published"  # the data-source slot of a section holding only published rows
SANITY_FAMILY = "reference"
SPEC_MARK = "#spec"  # the variant suffix of runs of one model told apart by nothing but their spec
CI_FIXTURE_PRESET = "smoke"  # tiny models whose records are regression fixtures for `vpbench check`, not results


def within_budget(record: Record, steps: int | None) -> bool:
    """The `--steps N` filter of table, compare and plot: records trained for N steps, and the sanity
    predictors, which have no budget and so join every one. A trainable model evaluated untrained is a
    0-step run (`--steps 0`), not a sanity row."""
    return steps is None or record.model.family == SANITY_FAMILY or record.training.steps == steps


def variant_suffixes(records: list[Record]) -> list[list[str]]:
    """What tells records of one model apart, per record: its seed and preset where those differ, then the
    model arguments and training settings whose values differ (`hidden_channels=4`), and, where all of that is
    equal, SPEC_MARK (the run then goes by MODEL#SPEC, see `variant_label`). Used wherever two runs of one
    model share a view (a table section, a comparison) so that neither is just "convlstm"."""

    def settings(record: Record) -> dict[str, object]:
        """Model arguments, then the training settings that change training (named `training.KEY` where a model
        argument has that name)."""
        config = record.model.config
        optimizer = settings_that_train(record.training.optimizer)
        training = {f"training.{k}" if k in config else k: v for k, v in optimizer.items()}
        return {**config, **training}

    def differing(values: list[dict]) -> list[str]:
        keys = list(dict.fromkeys(key for value in values for key in value))
        return [key for key in keys if len({json.dumps(value.get(key), sort_keys=True) for value in values}) > 1]

    def show(value: object) -> str:
        return json.dumps(value, separators=(",", ":")) if isinstance(value, list | dict) else str(value)

    suffixes: list[list[str]] = [[] for _ in records]
    if len({r.provenance.seed for r in records}) > 1:
        for suffix, record in zip(suffixes, records, strict=True):
            suffix.append(f"seed {record.provenance.seed}")
    if len({r.model.preset for r in records}) > 1:
        for suffix, record in zip(suffixes, records, strict=True):
            suffix.append(record.model.preset)
    all_settings = [settings(record) for record in records]
    for key in differing(all_settings):  # in the order model arguments, then training settings
        for suffix, values in zip(suffixes, all_settings, strict=True):
            suffix.append(f"{key}={show(values.get(key))}")
    names = [tuple(suffix) for suffix in suffixes]
    for suffix, name in zip(suffixes, names, strict=True):
        if names.count(name) > 1:
            suffix.append(SPEC_MARK)
    return suffixes


@dataclass(frozen=True)
class TableOptions:
    """What to show. Empty tuples / None mean "no filter" (conventions: the default one)."""

    metrics: tuple[str, ...] = ()  # empty: the standard set
    dataset: str | None = None
    protocol: str | None = None
    conventions: tuple[str, ...] = ()
    preset: str | None = None
    source: str | None = None
    steps: int | None = None  # training budget of the trained rows; two budgets never share a section
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
    budget: str = ""  # training budget of the trained rows ("600 steps x 8"): two budgets never share a table


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
        if key.budget:
            parts.append(f"budget {key.budget}")
        if key.test_size:
            parts.append(f"{key.test_size} test sequences")
        if self.trained_on:
            parts.append(f"trained on {self.trained_on}")
        if key.metric:
            direction = {True: " (higher is better)", False: " (lower is better)", None: ""}
            parts.append(
                f"{key.metric} per horizon{direction[self.columns[-1].higher_is_better if self.columns else None]}"
            )
        return " · ".join(parts)


@dataclass
class LeaderTable:
    sections: list[Section]
    options: TableOptions


def finish_section(section: Section, options: TableOptions) -> Section:
    """Fill cells added before the columns grew, label rows unambiguously, sort, mark best values and --vs."""
    for row in section.rows:
        for column in section.columns:
            row.cells.setdefault(column.key, Cell())
    filled = [c for c in section.columns if any(row.cells[c.key].value is not None for row in section.rows)]
    section.columns = filled  # a column no row has (regions under openstl, mse where only mse_sum exists) goes
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


LONGEST_SUFFIX = 40  # characters of "(dropout=0.0, ...)" a row label carries before it becomes MODEL#SPEC


def variant_label(record: Record, suffixes: list[str]) -> tuple[str, str]:
    """A run's short name beside others of its model, and the differences it stands for when they do not fit:
    `convlstm (hidden_channels=4)`, or `srvp#0e663daa` with "dropout=0.0, attention_dropout=0.0, ..." to show
    in a note (the spec prefix is what `compare MODEL#SPEC` takes)."""
    text = ", ".join(suffix for suffix in suffixes if suffix != SPEC_MARK)
    if SPEC_MARK not in suffixes and len(text) <= LONGEST_SUFFIX:
        return (f"{record.model.name} ({text})" if text else record.model.name), ""
    return f"{record.model.name}#{record.spec_hash[:8]}", text


def _disambiguate(section: Section) -> None:
    trained_on = {
        row.record.protocol.train_protocol for row in section.rows if row.record and row.record.training.trained
    }
    shared_training = len(trained_on) == 1
    if shared_training and trained_on != {section.key.protocol}:
        section.trained_on = trained_on.pop()
    by_model: dict[str, list[Row]] = {}
    for row in section.rows:
        if row.kind != "published":
            by_model.setdefault(row.model, []).append(row)
    for rows in by_model.values():
        if len(rows) == 1 and shared_training:
            continue
        variants = variant_suffixes([row.record for row in rows]) if len(rows) > 1 else [[]]
        for row, suffixes in zip(rows, variants, strict=True):
            record = row.record
            if (
                not shared_training
                and record.training.trained
                and record.protocol.train_protocol != record.protocol.name
            ):
                suffixes.append(f"trained {record.protocol.train_protocol}")
            row.label, differences = variant_label(record, suffixes)
            if differences:
                section.notes.append(f"{row.label}: {differences}")


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
    convention = CONVENTIONS.get(section.key.convention)
    if convention is not None:  # numbers of different conventions differ in scale by orders of magnitude
        section.notes.append(f"{convention.name} convention: {convention.reading}")
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
        note = "last-frame / zeros are parameter-free sanity predictors, not ranked"
        if any(column.key == "throughput" for column in section.columns):
            note += "; their seq/s would time a tensor fill, so it is not shown"
        section.notes.append(note)
    section.notes.extend(_sanity_leads(section))
    undefined = [
        row.label
        for row in section.rows
        if row.kind != "published" and any(c.value is not None and not np.isfinite(c.value) for c in row.cells.values())
    ]
    if undefined and section.key.convention in CONVENTIONS:  # say why a table shows inf or nan
        section.notes.append(
            f"inf / nan ({', '.join(undefined)}) is the {section.key.convention} convention's own arithmetic: "
            f"{CONVENTIONS[section.key.convention].identical_frames}"
        )


def _sanity_leads(section: Section) -> list[str]:
    """A note for each sanity row that scores better than every trained row in some quality column: the bold
    "best" there marks the best of models that all trail a parameter-free predictor, which a reader should not
    have to find out by reading to the bottom of the table (on Moving MNIST, `zeros` leads SSIM until models
    are well trained)."""
    trained = [row for row in section.rows if row.kind == "result"]
    quality = [c for c in section.columns if c.kind != "efficiency" and c.higher_is_better is not None]
    if not trained:
        return []
    notes = []
    for sanity in (row for row in section.rows if row.kind == "sanity"):
        led = [column for column in quality if _leads(sanity, trained, column)]
        where = []
        named = [column.title for column in led if column.kind != "horizon"]
        if named:  # a per-horizon section's one non-horizon column is "overall": name its metric
            metric = f"{section.key.metric} " if section.key.metric else ""
            where.append(f"on {metric}{', '.join(named)}")
        horizons = [column for column in led if column.kind == "horizon"]
        if horizons:
            total = sum(column.kind == "horizon" for column in quality)
            where.append("at every horizon" if len(horizons) == total else f"at {len(horizons)} of {total} horizons")
        if where:
            notes.append(
                f"{sanity.label} scores better than every trained model {' and '.join(where)}: there the ranking "
                "is among models that all trail it"
            )
    return notes


def _leads(sanity: Row, trained: list[Row], column: Column) -> bool:
    """Whether `sanity`'s value in `column` is better than every trained row's (all of them finite)."""
    own = sanity.cells[column.key].value
    others = [row.cells[column.key].value for row in trained]
    if own is None or not np.isfinite(own) or any(v is None or not np.isfinite(v) for v in others):
        return False
    return all(own > v if column.higher_is_better else own < v for v in others)
