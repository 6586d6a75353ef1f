"""Renderers for leaderboard tables: rich (terminal), Markdown, CSV and LaTeX (booktabs).

They all show the same thing: one table per section (its title names dataset, data source, protocol,
convention, preset and test-set size), the best value among trained models marked, 95% intervals in
brackets, relative change against the `--vs` row, sanity and published rows last and labelled, and the
section's notes underneath. CSV is the machine-readable form: numbers only, one line per row, with the
section's identity in its own columns.
"""

from __future__ import annotations

import math

import pandas as pd

from vpbench.errors import VpbenchError
from vpbench.results.columns import Column
from vpbench.results.table import Cell, LeaderTable, Row, Section

FORMATS = ("rich", "md", "csv", "latex")
MINUS = "−"


def format_number(value: float | None, column: Column) -> str:
    """Readable and stable: 5 significant digits (4 decimals at most below 1), counts in M/G."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if column.key in ("parameters", "macs"):
        for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= scale:
                return f"{value / scale:.2f}{suffix}"
        return f"{value:.0f}"
    if column.key in ("throughput", "memory"):
        return f"{value:.1f}"
    magnitude = math.floor(math.log10(abs(value))) if value else 0
    decimals = max(0, 4 - magnitude) if abs(value) >= 1 else max(4, 3 - magnitude)
    return f"{value:.{decimals}f}"


def format_relative(relative: float) -> str:
    percent = relative * 100
    text = f"{abs(percent):.0f}%" if abs(percent) >= 10 else f"{abs(percent):.1f}%"
    return (MINUS if percent < 0 else "+") + text


def cell_parts(cell: Cell, column: Column) -> tuple[str, str, str]:
    """(value, interval, relative) as text; the latter two may be empty."""
    interval = ""
    if cell.interval is not None:
        interval = f"[{format_number(cell.interval[0], column)}, {format_number(cell.interval[1], column)}]"
    relative = format_relative(cell.relative) if cell.relative is not None else ""
    return format_number(cell.value, column), interval, relative


def row_label(row: Row) -> str:
    return f"{row.label} (sanity)" if row.kind == "sanity" else row.label


def legend(section: Section, table: LeaderTable) -> str:
    parts = []
    if any(cell.best for row in section.rows for cell in row.cells.values()):
        parts.append("best trained model per column marked")
    if any(cell.interval for row in section.rows for cell in row.cells.values()):
        parts.append("95% bootstrap intervals over test sequences in brackets")
    if section.vs_label:
        parts.append(f"relative change vs {section.vs_label}")
    return "; ".join(parts)


def render_markdown(table: LeaderTable) -> str:
    blocks = []
    for section in table.sections:
        lines = [f"### {section.title}", ""]
        lines.append("| model | " + " | ".join(c.header for c in section.columns) + " |")
        lines.append("|---|" + "---:|" * len(section.columns))
        for row in section.rows:
            texts = []
            for column in section.columns:
                value, interval, relative = cell_parts(row.cells[column.key], column)
                value = f"**{value}**" if row.cells[column.key].best else value
                texts.append(" ".join(part for part in (value, interval, f"({relative})" if relative else "") if part))
            label = row_label(row)
            label = f"*{label}*" if row.kind != "result" else label
            lines.append(f"| {label} | " + " | ".join(texts) + " |")
        lines.append("")
        explained = legend(section, table)
        if explained:
            lines.append(explained[0].upper() + explained[1:] + ".")
        lines.extend(f"- {note}" for note in section.notes)
        blocks.append("\n".join(lines).rstrip() + "\n")
    return "\n".join(blocks)


def table_frame(table: LeaderTable) -> pd.DataFrame:
    """Numbers only: one line per row, section identity in columns, intervals and relative change beside."""
    lines = []
    for section in table.sections:
        key = section.key
        for row in section.rows:
            line = {
                "dataset": key.dataset,
                "source": key.source,
                "protocol": key.protocol,
                "convention": key.convention,
                "preset": key.preset,
                "budget": key.budget,
                "test_size": key.test_size,
                "view": f"{key.metric} per horizon" if key.metric else "overall",
                "row": row.label,
                "model": row.model,
                "kind": row.kind,
            }
            for column in section.columns:
                name = column.key if column.kind != "horizon" else f"{column.metric}@{column.horizon}"
                cell = row.cells[column.key]
                line[name] = cell.value
                if cell.interval is not None:
                    line[f"{name} ci_low"], line[f"{name} ci_high"] = cell.interval
                if cell.relative is not None:
                    line[f"{name} vs {section.vs_label}"] = cell.relative
            line["detail"] = row.detail
            lines.append(line)
    return pd.DataFrame(lines)


def render_csv(table: LeaderTable) -> str:
    return table_frame(table).to_csv(index=False, float_format="%.10g")


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    escaped = "".join(_LATEX_ESCAPES.get(char, char) for char in text)
    return escaped.replace("->", r"$\to$").replace("↑", r"$\uparrow$").replace("↓", r"$\downarrow$")


def render_latex(table: LeaderTable) -> str:
    """One booktabs tabular per section (needs \\usepackage{booktabs}); the title is a comment above it."""
    blocks = []
    for section in table.sections:
        lines = [f"% {section.title}", r"\begin{tabular}{l" + "r" * len(section.columns) + "}", r"\toprule"]
        lines.append("Model & " + " & ".join(latex_escape(c.header) for c in section.columns) + r" \\")
        previous_kind = None
        for row in section.rows:
            lines.append(r"\midrule" if previous_kind != row.kind else "")
            previous_kind = row.kind
            texts = []
            for column in section.columns:
                value, interval, relative = cell_parts(row.cells[column.key], column)
                text = rf"\textbf{{{value}}}" if row.cells[column.key].best else value
                if interval:
                    text += rf" {{\scriptsize {interval}}}"
                if relative:
                    relative = relative.replace(MINUS, "$-$").replace("%", r"\%")
                    text += rf" {{\scriptsize ({relative})}}"
                texts.append(text)
            lines.append(latex_escape(row_label(row)) + " & " + " & ".join(texts) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}"]
        explained = legend(section, table)
        lines += [f"% {latex_escape(note)}" for note in ([explained] if explained else []) + section.notes]
        blocks.append("\n".join(line for line in lines if line) + "\n")
    return "\n".join(blocks)


def rich_tables(table: LeaderTable) -> list:
    """rich Table objects, one per section (the CLI prints them)."""
    from rich.table import Table
    from rich.text import Text

    styles = {"result": "", "sanity": "dim", "published": "italic cyan"}
    rendered = []
    for section in table.sections:
        explained = legend(section, table)
        caption = "\n".join(([explained] if explained else []) + section.notes) or None
        out = Table(title=section.title, caption=caption, caption_justify="left")
        out.add_column("model", style="bold")
        for column in section.columns:
            out.add_column(column.header, justify="right")
        for row in section.rows:
            texts = []
            for column in section.columns:
                value, interval, relative = cell_parts(row.cells[column.key], column)
                text = Text(value, style="bold green" if row.cells[column.key].best else "")
                if interval:
                    text.append(f" {interval}", style="dim")
                if relative:
                    text.append(f" {relative}", style="magenta")
                texts.append(text)
            out.add_row(row_label(row), *texts, style=styles[row.kind])
        rendered.append(out)
    return rendered


def render_blocks(table: LeaderTable, width: int = 80) -> str:
    """A narrow-terminal layout: per section its title, then per row the model and its cells as wrapped
    `header value [interval]` pairs — every number printed whole, nothing truncated to `…`."""
    import textwrap

    lines = []
    for section in table.sections:
        lines += textwrap.wrap(section.title, width) + [""]
        for row in section.rows:
            pairs = []
            for column in section.columns:
                value, interval, relative = cell_parts(row.cells[column.key], column)
                pairs.append(" ".join(part for part in (f"{column.header}:", value, interval, relative) if part))
            lines.append(row_label(row))
            lines += textwrap.wrap("; ".join(pairs), width, initial_indent="  ", subsequent_indent="  ")
        explained = legend(section, table)
        for note in ([explained] if explained else []) + section.notes:
            lines += textwrap.wrap(note, width)
        lines.append("")
    return "\n".join(lines)


def render_text(table: LeaderTable, fmt: str) -> str:
    """Markdown, CSV or LaTeX as one string (rich is printed by the caller from `rich_tables`)."""
    renderers = {"md": render_markdown, "csv": render_csv, "latex": render_latex}
    if fmt not in renderers:
        raise VpbenchError(f"unknown table format '{fmt}'; choose one of {', '.join(FORMATS)}")
    return renderers[fmt](table)
