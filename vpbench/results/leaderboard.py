"""`results/leaderboard.md`: the project's own leaderboard, generated from the stored records only.

The file is committed so that readers see the numbers without running anything, and `vpbench check`
regenerates it and fails when the two differ — so a hand edit, a stale file or a changed record cannot go
unnoticed. Nothing in it depends on time or machine: the same records always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from vpbench.results.render import render_markdown
from vpbench.results.schema import Record
from vpbench.results.sections import CI_FIXTURE_PRESET, SANITY_FAMILY
from vpbench.results.table import LeaderTable, TableOptions, build_table

LEADERBOARD_NAME = "leaderboard.md"
CONVENTION_ORDER = ("vpbench", "openstl", "predrnn", "srvp-paper")
REGENERATE = "vpbench table --leaderboard --output results/leaderboard.md"


def leaderboard_path(results_dir: str | Path) -> Path:
    return Path(results_dir) / LEADERBOARD_NAME


def render_leaderboard(records: Iterable[Record], results_dir: str | Path | None = None, suite_entries=()) -> str:
    """Markdown: a section per dataset / data source / protocol / convention with the standard metric set,
    published rows of the same convention beside ours; `results_dir` gives the per-sequence values that
    confidence intervals are computed from; `suite_entries` (the suite's, vpbench.engine.suite.SuiteEntry)
    name the models declared but not stored yet."""
    shown = [record for record in records if record.model.preset != CI_FIXTURE_PRESET]
    header = [
        "# vpbench leaderboard",
        "",
        f"Generated from the result records in this folder by `{REGENERATE}`; do not edit by hand —",
        "`vpbench check` regenerates it and fails if it differs. Numbers from different data sources, test sets",
        "or metric conventions are in different tables; rows marked *published* are figures from publications",
        f"(their own data and training budget), not vpbench runs. Records of the `{CI_FIXTURE_PRESET}` preset",
        "(CI fixtures) are not listed.",
        "",
    ]
    header += _pending_lines(suite_entries)
    if not shown:
        return "\n".join(header + ["No results yet.", ""])
    present = {convention for record in shown for convention in record.metrics}
    conventions = tuple(c for c in CONVENTION_ORDER if c in present) + tuple(sorted(present - set(CONVENTION_ORDER)))
    table = build_table(shown, TableOptions(conventions=conventions, reference=True), results_dir)
    datasets = {record.dataset.name for record in shown}
    table.sections = [section for section in table.sections if section.key.dataset in datasets]
    note_pending_sections(table, suite_entries)
    return "\n".join(header) + "\n" + render_markdown(table)


def note_pending_sections(table: LeaderTable, suite_entries) -> None:
    """Head the notes of every section that holds records of a suite entry still being filled with the entry's
    missing models: without it the best marks of a half-stored campaign read as a verdict over all of it."""
    for section in table.sections:
        records = [row.record for row in section.rows if row.kind == "result" and row.record is not None]
        section.notes[:0] = pending_notes(records, suite_entries)


def pending_notes(
    records: Iterable[Record], suite_entries, consequence: str = "ranks and best marks are among the rows shown"
) -> list[str]:
    """One line per suite entry that some of these trained records belong to and that still has models to
    store: what a table or figure of them must say (see note_pending_sections)."""
    trained = [record for record in records if record.model.family != SANITY_FAMILY]
    return [
        f"incomplete: {len(entry.pending)} model{'s' if len(entry.pending) > 1 else ''} of the suite entry "
        f"`{entry.name}` not stored yet ({', '.join(entry.pending)}); {consequence}"
        for entry in suite_entries
        if entry.pending and any(entry.holds(record) for record in trained)
    ]


def _pending_lines(suite_entries) -> list[str]:
    """The suite's `pending` models, so that a section missing a model reads as "not stored yet", not as a
    model left out (`vpbench check` holds these lists true against the stored records)."""
    lines = []
    for entry in suite_entries:
        if entry.pending:
            budget = f", {entry.run['steps']:,} steps" if "steps" in entry.run else ""
            preset = f", {entry.run['preset']} preset" if "preset" in entry.run else ""
            lines.append(f"- `{entry.name}` ({entry.dataset}{preset}{budget}): {', '.join(entry.pending)}")
    if not lines:
        return []
    return ["Declared in `suite.json` but not stored yet, so missing from the tables below:", "", *lines, ""]
