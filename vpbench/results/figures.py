"""The figures a results folder publishes: declared in its suite, drawn by one command, checked for staleness.

Why: a committed figure that nobody redraws after new records land silently contradicts the leaderboard
beside it. So each suite entry lists its figures (`"figures": [{"plot": "horizon", "protocol": "10->10",
"metric": "ssim"}, ...]`; dataset, preset and budget come from the entry). `vpbench render` draws them all
from the stored records into `figures/` and writes `figures.json` beside `leaderboard.md` (record folders
hold only records): per figure, the command that draws it and a hash of the records it was drawn from (and
of its "incomplete" footnote, while its entry has `pending` models). `vpbench check` fails on a declared
figure that is missing or was drawn from other records, and on a figure file that no entry declares. A
change of drawing code alone is not detected: run `vpbench render` after one.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vpbench.errors import VpbenchError
from vpbench.files import atomic_write
from vpbench.results.schema import Record
from vpbench.results.sections import SANITY_FAMILY, TableOptions
from vpbench.results.table import matches

# matplotlib is imported where a figure is drawn: a suite that declares figures is also read by sweep and table.
FIGURES_FOLDER = "figures"
MANIFEST = "figures.json"  # in the results folder itself
PLOTS = ("horizon", "efficiency", "curves", "samples")
# The keys a suite entry's figure may set, beside "plot"; the rest comes from the entry.
FIGURE_KEYS = {"protocol", "metric", "x", "index"}


def render_command(results_dir: str | Path) -> str:
    """The command that redraws everything derived from the records of `results_dir` (see vpbench.publish)."""
    return "vpbench render" if Path(results_dir) == Path("results") else f"vpbench render --results-dir {results_dir}"


@dataclass(frozen=True)
class FigureSpec:
    """One figure: what `vpbench plot KIND` draws from the records `options` select, and its file name."""

    plot: str
    options: TableOptions
    metric: str | None = None
    x_axis: str = "sequences"  # curves only
    indices: tuple[int, ...] = ()  # samples only: the test sequences shown (none: the plot's default)
    max_frames: int = 10  # samples only

    def __post_init__(self) -> None:
        if self.plot not in PLOTS:
            raise VpbenchError(f"unknown plot '{self.plot}'; choose from {', '.join(PLOTS)}")
        if self.plot in ("horizon", "efficiency") and not self.metric:
            raise VpbenchError(f"a {self.plot} figure needs a metric (e.g. ssim)")

    def name(self) -> str:
        """The file stem `vpbench plot` uses by default: the kind, then every filter that picks the figure."""
        o = self.options
        budget = f"{o.steps}steps" if o.steps is not None else None
        if self.plot == "samples":
            parts = (self.plot, o.dataset, o.protocol, budget)
        elif self.plot == "curves":
            parts = (self.plot, o.dataset, o.protocol, self.metric or "ssim", self.x_axis, budget)
        else:
            parts = (self.plot, o.dataset, o.protocol, self.metric, *o.conventions, budget)
        return "_".join(str(part).replace("->", "-") for part in parts if part)

    def figure(self, records: Iterable[Record], results_dir: str | Path, suite_entries=()):
        """The matplotlib Figure `vpbench plot` draws for this spec; `suite_entries` (the folder's suite) give
        the "incomplete" footnote of an entry still being filled."""
        from vpbench.results.curves import curves_figure
        from vpbench.results.plots import efficiency_figure, horizon_figure, samples_figure

        records = list(records)
        if self.plot == "horizon":
            figure = horizon_figure(records, self.metric, self.options, results_dir)
        elif self.plot == "efficiency":
            figure = efficiency_figure(records, self.metric, self.options, results_dir)
        elif self.plot == "curves":
            figure = curves_figure(records, self.metric or "ssim", self.options, self.x_axis, results_dir)
        else:
            figure = samples_figure(records, self.options, results_dir, self.indices or None, self.max_frames)
        _footnote(figure, _pending(self.drawn_from(records), suite_entries))
        return figure

    def command(self) -> str:
        """The `vpbench plot` command that draws this figure under its default name, quoted for a shell
        (an unquoted `10->10` is a redirection)."""
        o = self.options
        words = ["vpbench", "plot", self.plot]
        for flag, value in (("--dataset", o.dataset), ("--preset", o.preset), ("--steps", o.steps),
                            ("--protocol", o.protocol), ("--metric", self.metric)):
            if value is not None:
                words += [flag, str(value)]
        for convention in o.conventions:
            words += ["--convention", convention]
        if self.plot == "curves" and self.x_axis != "sequences":
            words += ["--x", self.x_axis]
        for index in self.indices:
            words += ["--index", str(index)]
        return shlex.join(words)

    def drawn_from(self, records: Iterable[Record]) -> list[Record]:
        """The records this figure can show (a superset of its rows): a change in any of them makes it stale."""
        return sorted((r for r in records if matches(r, self.options)), key=lambda r: r.record_id)


def _pending(records: Sequence[Record], suite_entries) -> list[str]:
    """The leaderboard's "incomplete" lines for the suite entries these records belong to (see pending_notes)."""
    from vpbench.results.leaderboard import pending_notes

    return pending_notes(records, suite_entries, "only the stored ones are drawn")


def _footnote(figure, notes: list[str]) -> None:
    """The notes under everything drawn: a figure copied into a paper must not pass two stored models of a
    campaign off as all of it."""
    if not notes:
        return
    import textwrap

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    text = "\n".join(textwrap.fill(note, 150) for note in notes)
    canvas = figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    drawn = figure.get_tightbbox(canvas.get_renderer())  # inches; below it, not below blank space
    width, height = figure.get_size_inches()
    figure.text(drawn.x0 / width, drawn.y0 / height - 0.05 / height, text, fontsize=7, color="0.35", va="top")


def entry_figures(dataset: str, run: dict, declared: Sequence[dict], where: str) -> tuple[FigureSpec, ...]:
    """A suite entry's `figures` list as FigureSpecs; every problem is one line naming the entry."""
    from vpbench.protocols import parse_protocol

    specs = []
    for index, raw in enumerate(declared):
        if not isinstance(raw, dict) or "plot" not in raw or not set(raw) - {"plot"} <= FIGURE_KEYS:
            raise VpbenchError(
                f"{where}: figure {index} must be an object with 'plot' and any of {sorted(FIGURE_KEYS)}, got {raw}"
            )
        try:
            options = TableOptions(
                dataset=dataset,
                protocol=parse_protocol(raw["protocol"]).name if "protocol" in raw else None,
                preset=run.get("preset"),
                steps=run.get("steps"),
            )
            x_axis, indices = raw.get("x", "sequences"), tuple(raw.get("index", ()))
            specs.append(FigureSpec(raw["plot"], options, raw.get("metric"), x_axis, indices))
        except VpbenchError as error:
            raise VpbenchError(f"{where}: figure {index}: {error}") from None
    return tuple(specs)


@dataclass
class DrawnFigures:
    written: list[Path] = field(default_factory=list)  # every file, each format
    skipped: list[str] = field(default_factory=list)  # "<name>: why it was not drawn"


def records_hash(records: Sequence[Record]) -> str:
    """SHA-256 of the records' full content (companion files enter through the digests a record holds).

    Empty fields are left out, so a field a later vpbench adds (empty in the records stored before it) does
    not make every stored figure look drawn from other records."""
    text = json.dumps([_without_empty(record.to_dict()) for record in records], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def drawn_hash(used: Sequence[Record], suite_entries=()) -> str:
    """What the manifest keeps to tell a stale file: the hash of the records a figure can show (`drawn_from`),
    and of its "incomplete" footnote when it has one (the suite's pending list can change with no record
    changing); without a footnote, the plain records hash, so figures of complete entries keep theirs."""
    notes = _pending(used, suite_entries)
    if not notes:
        return records_hash(used)
    return hashlib.sha256(json.dumps([records_hash(used), notes]).encode()).hexdigest()


def _without_empty(value):
    if isinstance(value, dict):
        kept = {key: _without_empty(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in ({}, [], "", None)}
    if isinstance(value, list):
        return [_without_empty(item) for item in value]
    return value


def drawable(records: Sequence[Record]) -> bool:
    """A figure is drawn once a trained record of it is stored: sanity rows alone say nothing of the models."""
    return any(record.model.family != SANITY_FAMILY for record in records)


def render_figures(
    specs: Sequence[FigureSpec], records: Sequence[Record], results_dir: Path, suite_entries=()
) -> DrawnFigures:
    """Draw every drawable figure under results_dir/figures (every format) and rewrite the manifest to match;
    `suite_entries` as in FigureSpec.figure."""
    from vpbench.results.plots import FORMATS, save_figure

    folder = Path(results_dir) / FIGURES_FOLDER
    rendered, manifest = DrawnFigures(), {}
    for spec in specs:
        used = spec.drawn_from(records)
        if not drawable(used):
            rendered.skipped.append(f"{spec.name()}: no trained record stored yet")
            continue
        figure = spec.figure(records, results_dir, suite_entries)
        rendered.written += save_figure(figure, folder / spec.name(), FORMATS)
        manifest[spec.name()] = {"command": spec.command(), "records": drawn_hash(used, suite_entries)}
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    atomic_write(Path(results_dir) / MANIFEST, lambda handle: handle.write(text))
    return rendered


def stale_figures(
    specs: Sequence[FigureSpec], records: Sequence[Record], results_dir: Path, suite_entries=()
) -> list[tuple[str, str]]:
    """(file, what is wrong) for every declared figure that is missing or drawn from other records (or under
    another pending list of `suite_entries`), and for every figure file no entry declares (nobody redraws it)."""
    from vpbench.results.plots import FORMATS
    folder, fix = Path(results_dir) / FIGURES_FOLDER, render_command(results_dir)
    try:
        manifest = json.loads((Path(results_dir) / MANIFEST).read_text())
    except FileNotFoundError:
        manifest = {}
    except (OSError, json.JSONDecodeError) as error:
        return [(MANIFEST, f"unreadable ({error}); redraw the figures: {fix}")]
    problems = []
    for spec in specs:
        used = spec.drawn_from(records)
        if not drawable(used):
            continue
        where = f"{FIGURES_FOLDER}/{spec.name()}"
        missing = [fmt for fmt in FORMATS if not (folder / f"{spec.name()}.{fmt}").exists()]
        if missing:
            problems.append((where, f"declared but no .{', .'.join(missing)} file; draw it: {fix}"))
        elif manifest.get(spec.name(), {}).get("records") != drawn_hash(used, suite_entries):
            problems.append(
                (where, f"drawn from other records than the stored ones, or another pending list; redraw it: {fix}")
            )
    declared = {spec.name() for spec in specs}
    for path in sorted(folder.glob("*")) if folder.exists() else []:
        if path.suffix.lstrip(".") in FORMATS and path.stem not in declared:
            problems.append(
                (f"{FIGURES_FOLDER}/{path.name}", "no suite entry declares it, so nothing redraws it; add it to an "
                 "entry's figures in suite.json or move it out of the results folder")
            )
    return problems
