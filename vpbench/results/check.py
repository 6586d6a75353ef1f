"""The checks of `vpbench check` that need only records and data: schema, consistency, checksums, leaderboard,
and the comparison of a re-run with its record. The gate that runs them (and re-runs records through the
engine) is `vpbench.gate`, an application module above both the engine and this package.

Layers, cheapest first, each catching what the previous cannot:
1. every record parses (schema), names a known model, preset, dataset, protocol, convention and metric, sits
   at the path its identity gives, and is internally consistent: each overall number equals the mean of its
   per-horizon numbers, and the mean of the stored per-sequence values (a hand-edited number breaks one of
   these);
2. the data checksum in the record equals the checksum of the test clips as this machine produces them,
   wherever the data are at hand (generated data always are);
3. `results/leaderboard.md` equals what the records generate now;
4. every CI-fixture record is re-run (`vpbench.gate.rerun_record`, the engine) and each number compared with
   the stored one within `Tolerance` — a code change that moves a result fails here.
Problems are collected, not raised, so one run reports all of them as a readable table.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vpbench.errors import VpbenchError
from vpbench.results.figures import render_command
from vpbench.results.leaderboard import leaderboard_path, render_leaderboard
from vpbench.results.schema import Record
from vpbench.results.sequences import SequenceCache, sequence_overall
from vpbench.results.store import record_path

# Internal consistency: overall vs mean of per-horizon values is float64 arithmetic on the same sums;
# per-sequence values are stored as float32 by the metric engine, so their mean agrees to ~1e-7 only.
CONSISTENCY_RTOL = 1e-9
PER_SEQUENCE_RTOL = 1e-4


# Absolute floors for metrics whose value is not proportional to the error. Another CPU (another SIMD kernel)
# changes predictions by ~1e-6, which flips a few pixels across a uint8 step in the `predrnn` and `srvp-paper`
# conventions; near-zero SSIMs of the tiny smoke models then move by up to ~1.3e-5 and PSNRs by ~2e-3 dB
# (measured between two CI-class machines). The floors leave about 5x room for that and nothing more.
METRIC_FLOORS = {"ssim": 1e-4, "psnr": 1e-2}


@dataclass(frozen=True)
class Tolerance:
    """|now - stored| <= max(atol, floor of the metric) + rtol * |stored|. Re-runs on CPU with the same seed and
    torch are exact on one machine; across machines float summation order differs, which 1e-4 relative covers
    for the float metrics and `METRIC_FLOORS` for SSIM and PSNR (bounded or logarithmic, often near zero).

    Another CPU kernel set (AVX2 -> AVX512) or torch changes more than the order: ten training steps amplify
    it. Measured on the 14 smoke records made with AVX2 and re-run with AVX512 (2026-12-01): at most 2.5e-5
    relative for 13 of them, 4.1e-4 for `srvp-wo-crossatt`. So a re-run whose record names another environment
    is held to `rtol_other_environment` (5x the worst seen); the models' equations are held to their golden
    outputs (tests/golden/) on every machine."""

    rtol: float = 1e-4
    atol: float = 1e-7
    rtol_other_environment: float = 2e-3
    floors: dict[str, float] = field(default_factory=lambda: dict(METRIC_FLOORS))

    def allows(self, stored: float, now: float, metric: str | None = None, same_environment: bool = True) -> bool:
        if math.isnan(stored) or math.isnan(now):
            return math.isnan(stored) and math.isnan(now)
        if math.isinf(stored) or math.isinf(now):
            return stored == now
        atol = max(self.atol, self.floors.get(metric, 0.0))
        rtol = self.rtol if same_environment else max(self.rtol, self.rtol_other_environment)
        return abs(now - stored) <= atol + rtol * abs(stored)

    def describe(self) -> str:
        floors = ", ".join(f"{metric} {value:g}" for metric, value in self.floors.items())
        return (
            f"|now − stored| ≤ max({self.atol:g}, floor) + {self.rtol:g}·|stored| "
            f"({self.rtol_other_environment:g}·|stored| in another torch or CPU kernel set than the record's); "
            f"floors: {floors or 'none'}"
        )


def metric_of(name: str) -> str:
    """'metrics.predrnn.per_horizon.ssim[3]' -> 'ssim': the metric a compared number belongs to."""
    return re.sub(r"\[\d+\]$", "", name.rsplit(".", 1)[-1])


@dataclass
class Finding:
    """One failed check: which record (or file), which check, what is wrong; numbers when it is a difference."""

    where: str
    check: str
    message: str
    stored: float | str | None = None
    now: float | str | None = None


@dataclass
class CheckReport:
    records: int = 0
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # checks that could not run here, and why
    environment: list[str] = field(default_factory=list)  # re-runs made in another environment than their record
    rerun: int = 0
    checksums_verified: int = 0
    leaderboard_diff: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def _number(value) -> float:
    """A metric value as stored (a number, or "inf"/"-inf"/"nan") as a float."""
    if isinstance(value, str):
        return {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}[value]
    return float(value)


def _close(first: float, second: float, rtol: float) -> bool:
    if math.isnan(first) or math.isnan(second):
        return math.isnan(first) and math.isnan(second)
    if math.isinf(first) or math.isinf(second):
        return first == second
    return abs(first - second) <= rtol * max(abs(first), abs(second)) + 1e-12


def validate_record(record: Record, path: Path, results_dir: Path, sequences: SequenceCache) -> list[Finding]:
    """Schema-level facts the registries know, plus the record's internal consistency."""
    from vpbench.data import get_dataset_spec
    from vpbench.metrics import CONVENTIONS, METRICS
    from vpbench.registry import get_model_entry

    where = str(path.relative_to(results_dir)) if path.is_relative_to(results_dir) else str(path)
    found: list[Finding] = []
    try:
        entry = get_model_entry(record.model.name)
        if record.model.preset not in entry.presets:
            found.append(Finding(where, "preset", f"model '{entry.name}' has no preset '{record.model.preset}'"))
        if record.model.family != entry.family:
            found.append(
                Finding(where, "model", f"family '{record.model.family}' but the registry says '{entry.family}'")
            )
    except VpbenchError as error:
        found.append(Finding(where, "model", str(error)))
    try:
        get_dataset_spec(record.dataset.name)
    except VpbenchError as error:
        found.append(Finding(where, "dataset", str(error)))
    protocol = record.protocol
    if protocol.name != f"{protocol.context}->{protocol.horizon}":
        found.append(
            Finding(
                where, "protocol", f"name '{protocol.name}' but context {protocol.context}, horizon {protocol.horizon}"
            )
        )
    expected = record_path(results_dir, record)
    if path.resolve() != expected.resolve():
        found.append(
            Finding(where, "path", f"this record belongs at {expected} (its model/preset/data/protocol/seed say so)")
        )
    found.extend(_companions(record, where, results_dir))
    for convention, values in record.metrics.items():
        if convention not in CONVENTIONS:
            found.append(
                Finding(where, "convention", f"unknown convention '{convention}'; known: {', '.join(CONVENTIONS)}")
            )
            continue
        for metric, value in values["overall"].items():
            if metric not in METRICS:
                found.append(Finding(where, "metric", f"unknown metric '{metric}' under {convention}"))
                continue
            found.extend(_consistency(record, where, convention, metric, value, sequences))
    return found


def _companions(record: Record, where: str, results_dir: Path) -> list[Finding]:
    """Every companion file the record names exists and has the SHA-256 the record stores."""
    from vpbench.files import file_sha256

    found = []
    for name, digest in record.files.items():
        path = Path(results_dir) / record.dataset.name / name
        if not path.exists():
            found.append(Finding(where, "files", f"{name} is missing; restore it from version control"))
        elif file_sha256(path) != digest:
            found.append(Finding(where, "files", f"{name} is damaged (SHA-256 differs from the record's)"))
    return found


def _consistency(
    record: Record, where: str, convention: str, metric: str, value, sequences: SequenceCache
) -> Iterator[Finding]:
    overall = _number(value)
    per_horizon = [_number(v) for v in record.metrics[convention]["per_horizon"].get(metric, [])]
    name = f"metrics.{convention}.{metric}"
    if len(per_horizon) != record.protocol.horizon:
        yield Finding(
            where,
            "per-horizon",
            f"{name} has {len(per_horizon)} per-horizon values, protocol horizon is {record.protocol.horizon}",
        )
    elif not _close(overall, sum(per_horizon) / len(per_horizon), CONSISTENCY_RTOL):
        mean = sum(per_horizon) / len(per_horizon)
        yield Finding(where, "consistency", f"{name}: overall ≠ mean of its per-horizon values", overall, mean)
    try:
        values = sequences.values(record, convention, metric)
    except VpbenchError as error:
        yield Finding(where, "per-sequence", str(error))
        return
    if values is None:
        return
    values = sequence_overall(values)
    if len(values) != record.dataset.test_size:
        yield Finding(
            where,
            "per-sequence",
            f"{name}: {len(values)} per-sequence values for {record.dataset.test_size} test sequences",
        )
    elif not _close(overall, float(values.mean()), PER_SEQUENCE_RTOL):
        yield Finding(
            where,
            "consistency",
            f"{name}: overall ≠ mean of the stored per-sequence values",
            overall,
            float(values.mean()),
        )


class ChecksumCache:
    """The test-set checksum as this machine generates/reads the data, once per distinct test set."""

    def __init__(self, data_root: str | Path | None = None) -> None:
        self.data_root = data_root
        self._known: dict[str, tuple[str | None, str]] = {}

    def current(self, record: Record) -> tuple[str | None, str]:
        """(checksum, "") or (None, why it cannot be computed here)."""
        from vpbench.data import open_split

        data = record.dataset
        key = json.dumps(
            [data.name, data.options, record.protocol.context + record.protocol.horizon, data.test_size],
            sort_keys=True,
            default=str,
        )
        if key not in self._known:
            try:
                split = open_split(
                    data.name, "test", record.protocol.context + record.protocol.horizon, self.data_root, **data.options
                )
                if split.source != data.source:
                    self._known[key] = (None, f"data here is '{split.source}', the record used '{data.source}'")
                elif len(split) < data.test_size:
                    self._known[key] = (None, f"only {len(split)} test clips here, the record used {data.test_size}")
                else:
                    self._known[key] = (split.checksum(limit=data.test_size), "")
            except VpbenchError as error:
                self._known[key] = (None, str(error))
        return self._known[key]


def check_leaderboard(records: list[Record], results_dir: Path, suite_entries=()) -> tuple[Finding | None, list[str]]:
    """Compare results/leaderboard.md with what the records (and the suite's pending lists) generate now; a
    unified diff when they differ."""
    path = leaderboard_path(results_dir)
    where = path.name
    expected = render_leaderboard(records, results_dir, suite_entries)
    if not path.exists():
        if not records:
            return None, []
        return Finding(where, "leaderboard", f"missing; create it: {render_command(results_dir)}"), []
    stored = path.read_text()
    if stored == expected:
        return None, []
    diff = list(
        difflib.unified_diff(
            stored.splitlines(), expected.splitlines(), "stored leaderboard.md", "generated now", lineterm="", n=0
        )
    )
    changed = sum(1 for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---")))
    message = f"differs from the records ({changed} lines, diff below); when understood: {render_command(results_dir)}"
    return Finding(where, "leaderboard", message), diff


def compare_numbers(stored: Record, now: Record, tolerance: Tolerance) -> list[Finding]:
    """Every number a re-run must reproduce: metrics (overall and per horizon), regions, identity counts."""
    where = stored.record_id
    same_environment = not environment_differences(stored, now)
    found = []
    exact = {
        "dataset.test_checksum": (stored.dataset.test_checksum, now.dataset.test_checksum),
        "dataset.test_size": (stored.dataset.test_size, now.dataset.test_size),
        "model.parameters": (stored.model.parameters, now.model.parameters),
        "model.macs_per_sequence": (stored.model.macs_per_sequence, now.model.macs_per_sequence),
        "training.steps": (stored.training.steps, now.training.steps),
    }
    for name, (before, after) in exact.items():
        if before != after:
            found.append(Finding(where, "re-run", f"{name} changed (compared exactly)", _short(before), _short(after)))
    for name, before, after in paired_numbers("metrics", stored.metrics, now.metrics) + paired_numbers(
        "regions", stored.regions, now.regions
    ):
        if after is None:
            found.append(Finding(where, "re-run", f"{name} is missing from the re-run", before, None))
        elif not tolerance.allows(before, after, metric_of(name), same_environment):
            found.append(Finding(where, "re-run", name, before, after))
    return found


def environment_differences(stored: Record, now: Record) -> list[str]:
    """What differs between where a record was made and where it was re-run, for a reader of a failed gate:
    another torch or another CPU kernel set moves last digits, a changed equation moves far more."""
    pairs = {
        "torch": (stored.provenance.torch_version, now.provenance.torch_version),
        "CPU kernels": (stored.provenance.cpu_kernels, now.provenance.cpu_kernels),
    }
    changed = [f"{name} {before} -> {after}" for name, (before, after) in pairs.items() if before and before != after]
    return [f"{stored.record_id}: {', '.join(changed)}"] if changed else []


def _short(value):
    return value[:12] + "…" if isinstance(value, str) and len(value) > 16 else value


def paired_numbers(prefix: str, stored, now) -> list[tuple[str, float, float | None]]:
    """Walk `stored` (nested dicts/lists of numbers); pair each number with the one at the same place in `now`."""
    pairs = []
    if isinstance(stored, dict):
        for key, value in stored.items():
            if key in ("notes", "definition"):
                continue
            pairs += paired_numbers(f"{prefix}.{key}", value, now.get(key) if isinstance(now, dict) else None)
    elif isinstance(stored, list):
        for index, value in enumerate(stored):
            other = now[index] if isinstance(now, list) and index < len(now) else None
            pairs += paired_numbers(f"{prefix}[{index + 1}]", value, other)
    elif isinstance(stored, (int, float, str)) and not isinstance(stored, bool):
        try:
            pairs.append((prefix, _number(stored), None if now is None else _number(now)))
        except (KeyError, TypeError, ValueError):
            pass  # a text field, not a number
    return pairs


def _format_value(value, other=None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        for digits in (6, 10, 17):  # enough digits that two different numbers never print the same
            text = f"{value:.{digits}g}"
            if not isinstance(other, float) or text != f"{other:.{digits}g}":
                return text
        return text
    return str(value)


def render_report(report: CheckReport, tolerance: Tolerance = Tolerance(), max_diff_lines: int = 60) -> str:
    """Plain text: a summary line, the findings as a table (stored vs now side by side), the leaderboard diff."""
    summary = (
        f"vpbench check: {report.records} records · {report.checksums_verified} data checksums verified · "
        f"{report.rerun} smoke records re-run (tolerance {tolerance.describe()})"
    )
    lines = [summary]
    if report.ok:
        lines.append("OK: every check passed")
    else:
        lines.append(f"FAILED: {len(report.findings)} finding(s); 'recomputed' is what the code, data or the")
        lines.append("record's other numbers give now")
        rows = [("check", "what", "stored", "recomputed")]
        owners = []
        for finding in report.findings:
            owners.append(finding.where)
            stored, now = _format_value(finding.stored, finding.now), _format_value(finding.now, finding.stored)
            rows.append((finding.check, finding.message, stored, now))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(rows[0], widths, strict=True)))
        previous = None
        for owner, row in zip(owners, rows[1:], strict=True):
            if owner != previous:
                lines.append(owner)
                previous = owner
            lines.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if report.leaderboard_diff:
        lines.append("")
        lines.append("leaderboard.md: stored (-) vs generated now (+)")
        lines.extend(report.leaderboard_diff[:max_diff_lines])
        if len(report.leaderboard_diff) > max_diff_lines:
            lines.append(f"… {len(report.leaderboard_diff) - max_diff_lines} more diff lines")
    if report.environment:
        lines.append("")
        lines.append(
            "re-run in another environment than the record's (last digits move; these are compared within "
            f"{tolerance.rtol_other_environment:g} relative):"
        )
        lines.extend(f"  {line}" for line in report.environment)
    if report.notes:
        lines.append("")
        lines.append("not checked here:")
        lines.extend(f"  {note}" for note in report.notes)
    return "\n".join(lines) + "\n"
