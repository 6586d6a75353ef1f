"""The README's long-track blocks that come from run logs, not records: validation points every tenth of the budget,
where each curve's log-linear fit reaches `zeros`, and the figure of both; the carried logs (`campaign/runs`,
tools/carry_runs.py) keep them current while the runs train."""

from __future__ import annotations

from pathlib import Path

from carry_runs import CARRIED  # the long track's run folders, carried between machines: the progress table's source
from track_text import declared_records, joined, paragraph, record_files

LONG_FIGURE = CARRIED.parent / "progress_ssim"  # beside the carried runs, not among results/figures: no record in it


def run_names(curves: list, labels: dict[str, str]) -> dict[Path, str]:
    """run folder -> its name in the README's long-track blocks: as `vpbench plot progress` names it
    (`run_labels`), unless `labels` renames it by spec hash (the folder name's last part)."""
    from vpbench.results.curves import run_labels

    names = run_labels(curves)
    return {curve.run_dir: labels.get(curve.run_dir.name.rsplit("__", 1)[-1], names[curve.run_dir]) for curve in curves}


def curves_with_points(runs_dir: Path, steps: int | None = None) -> list:
    """The long-track runs in `runs_dir` that have reached a validation point: what the fits and the figure draw
    (none when the folder is absent). `steps` keeps the runs of that budget only: the carried folder also holds
    runs of other budgets (a longer budget's pilot, which continues these runs where that is exact)."""
    from vpbench.results.curves import run_curves

    return [curve for curve in (run_curves(runs_dir, steps=steps) if runs_dir.is_dir() else []) if curve.points]


def budget_sequences(curves: list) -> int:
    """The long track's training budget in sequences (0 without runs): its runs share one setting, which
    extrapolate_runs checks."""
    return curves[0].spec["steps"] * curves[0].spec["batch_size"] if curves else 0


def has_finished(points: list[dict], budget: int) -> bool:
    """Whether a run's validation points reach its budget: the one test of 'finished' the fits, the backtest and
    'measured: never' share."""
    return max(point["sequences"] for point in points) >= budget


PROGRESS_COLUMNS_MIN = 8000


def progress_interval(curves: list) -> int:
    """Sequences between the progress table's columns: a tenth of the budget (8,000 for the long track's 80,000),
    never under 8,000, so that a longer budget's table keeps ten columns instead of growing past the page."""
    return max(PROGRESS_COLUMNS_MIN, budget_sequences(curves) // 10 // PROGRESS_COLUMNS_MIN * PROGRESS_COLUMNS_MIN)


def long_progress(runs_dir: Path, labels: dict[str, str], steps: int | None = None) -> str:
    """Validation MSE / SSIM of each long-track run every tenth of its budget (`progress_interval`) and at its
    latest point, from the run logs (`train_log.jsonl`). Runs are named as `vpbench plot progress` names them (a
    second run of a model by the arguments that differ from its preset, e.g. a width pilot); `labels` renames runs
    by spec hash."""
    from vpbench.results.curves import run_curves

    curves = run_curves(runs_dir, steps=steps) if runs_dir.is_dir() else []
    names = run_names(curves, labels)
    rows = []
    for curve in curves:
        points = {event["sequences"]: event for event in curve.points}
        if points:
            rows.append((names[curve.run_dir], points, stranded_on(curve)))
    if not rows:
        return "No long-track run has reached its first validation point yet."
    interval = progress_interval(curves)
    columns = sorted({s for _, points, _ in rows for s in points if s % interval == 0})
    lines = [
        "| run | " + " | ".join(f"{c:,}" for c in columns) + " | latest |",
        "|---|" + "---:|" * (len(columns) + 1),
    ]
    for label, points, machine in sorted(rows, key=lambda row: row[0]):
        cells = [f"{points[c]['mse']:.4f} / {points[c]['ssim']:.3f}" if c in points else "" for c in columns]
        last = points[max(points)]
        where = f" (log only, machine {machine[:8]})" if machine else ""
        cells.append(f"{last['mse']:.4f} / {last['ssim']:.3f} at {max(points):,}{where}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if any(machine for _, _, machine in rows):
        lines += ["", paragraph(LOG_ONLY_NOTE)]
    return "\n".join(lines)


LOG_ONLY_NOTE = (
    "*Log only*: an unfinished run whose checkpoints are too large to carry. It goes on only on the machine that "
    "wrote its log (the first eight characters of that boot's id: `cat /proc/sys/kernel/random/boot_id`); on any "
    "other machine it starts over from step 0, and its row keeps the longer log until the new run passes it."
)


def stranded_on(curve) -> str | None:
    """The machine an unfinished run can go on from, where its folder holds no checkpoint (it was too large to
    carry, tools/carry_runs.py): its row must not read as a run that resumes anywhere. None for a finished run,
    a run that carries its checkpoint, or a log that names no machine."""
    finished = has_finished(curve.points, budget_sequences([curve]))
    return None if finished or (curve.run_dir / "last.pt").is_file() else curve.machine


def long_fits(runs_dir: Path, results_dir: Path, labels: dict[str, str], steps: int | None = None) -> str:
    """Where each long-track run's validation SSIM would reach `zeros` by its log-linear fit (as `vpbench
    extrapolate --runs-dir` prints it), in sequences and in multiples of the track's budget: the extrapolated
    budget, kept current by every carry instead of quoted once."""
    from vpbench.results.curves import BEYOND_SEQUENCES, extrapolate_runs, run_labels

    curves = curves_with_points(runs_dir, steps)
    if not curves:
        return "No long-track run has validation points to fit yet."
    target, crossings = extrapolate_runs(curves, declared_records(results_dir), "ssim")
    budget = budget_sequences(curves)
    given = run_labels(curves)  # the names extrapolate_runs gives the crossings
    names = run_names(curves, labels)
    renamed = {given[curve.run_dir]: names[curve.run_dir] for curve in curves}
    points = {given[curve.run_dir]: curve.points for curve in curves}

    def estimate(crossing) -> str:
        if not crossing.fitted:
            fitted = f"{crossing.points} point" + ("" if crossing.points == 1 else "s")
            return f"no fit yet ({fitted} from 1,600 sequences on)"
        measured = measured_crossing(points[crossing.model], target, budget)
        if crossing.sequences is None:
            return f"never: its fit does not rise (points through {crossing.last_sequences:,}; {measured})"
        through = crossing.last_sequences
        multiple = "" if crossing.sequences >= BEYOND_SEQUENCES else f"{crossing.sequences / budget:.1f}x the budget; "
        return f"{_rounded(crossing.sequences)} ({multiple}points through {through:,}; {measured})"

    parts = [f"`{renamed[crossing.model]}` {estimate(crossing)}" for crossing in crossings]
    return paragraph(
        f"**Where the curves point.** Fitted as `vpbench extrapolate --runs-dir campaign/runs --steps "
        f"{curves[0].spec['steps']}` fits them (validation SSIM = a + b ln(sequences), points from 1,600 "
        f"sequences on, solved for `zeros`' {target:.3f} on the same validation clips), each run reaches `zeros` "
        f"at, in training sequences against the budget of {budget:,}: " + "; ".join(parts) + "."
    )


NOTHING_TO_HOLD = "No run is both still training with a fit and has finished runs to hold its fit against yet."


def long_backtest(runs_dir: Path, results_dir: Path, labels: dict[str, str], steps: int | None = None) -> str:
    """How far a fit made part-way can be trusted: for each run still training, the same fit through as many
    sequences as it has come, made on the finished runs, beside what their curves did afterwards. `mim`'s fit
    said ~55,900 sequences at 32,000 and its curve flattened below `zeros`; `predrnn`'s said ~103,000 and it
    crossed at 58,000: a fit at one point is read against this record, not alone. Once every run has finished,
    the fits are held at half the budget: the question a finished track's fits answer for a budget twice as long."""
    from vpbench.results.curves import extrapolate_runs, run_labels

    curves = curves_with_points(runs_dir, steps)
    budget = budget_sequences(curves)
    finished = [curve for curve in curves if has_finished(curve.points, budget)]
    if not finished:  # (a finished run has points enough to fit, so the fits below have one to make)
        return NOTHING_TO_HOLD
    sanity = declared_records(results_dir)
    labels_now = run_labels(curves)  # the names extrapolate_runs gives the crossings of all runs
    own_fits = {crossing.model: crossing for crossing in extrapolate_runs(curves, sanity, "ssim")[1]}
    training = [curve for curve in curves if curve not in finished and own_fits[labels_now[curve.run_dir]].fitted]
    cutoffs: dict[int, list] = {}  # runs that have come equally far share one backtest, made and told once
    for run in training:
        cutoffs.setdefault(max(point["sequences"] for point in run.points), []).append(run)
    if not cutoffs:
        if len(finished) < len(curves):
            return NOTHING_TO_HOLD  # runs still training, none with a fit yet: wait for theirs
        cutoffs = {budget // 2: []}  # the whole track has finished
    names = run_names(curves, labels)
    given = {label: run_dir for run_dir, label in run_labels(finished).items()}  # crossing name -> run folder
    points = {curve.run_dir: curve.points for curve in finished}
    sentences = []
    for through, runs in cutoffs.items():
        target, crossings = extrapolate_runs(finished, sanity, "ssim", through_sequences=through)
        so_far = "half the budget (as a fit at the budget's end is read for a budget twice as long)"
        if runs:
            fits = [own_fits[labels_now[run.run_dir]].sequences for run in runs]
            fits = joined([_rounded(fit) if fit is not None else "never (its fit does not rise)" for fit in fits])
            whose = joined([f"`{names[run.run_dir]}`'s" for run in runs])
            so_far = f"as {whose} is so far (its own fit: {fits})"
            if len(runs) > 1:
                so_far = f"as {whose} are so far (their own fits: {fits})"
        within = {c.model: c.sequences is not None and c.sequences <= budget for c in crossings}  # fit says: in time
        parts, reached = [], {True: [], False: []}  # reached[fit crossed within the budget]: models that got there
        for crossing in crossings:
            run_dir = given[crossing.model]
            measured = measured_crossing(points[run_dir], target, budget)
            if crossing.sequences is None:
                parts.append(f"`{names[run_dir]}` never (its fit does not rise; {measured})")
            else:
                inside_points = "inside its points; " if crossing.sequences <= through else ""
                parts.append(f"`{names[run_dir]}` {_rounded(crossing.sequences)} ({inside_points}{measured})")
            if crossing.reached is not None:
                reached[within[crossing.model]].append(f"`{names[run_dir]}`")
        inside = sum(within.values())
        sentences.append(
            f"Fitted only through {through:,} sequences, {so_far}, the finished runs' fits put `zeros` at: "
            f"{'; '.join(parts)}. Of the {inside} whose fit "
            f"there crossed within the budget, {_count_named(reached[True])} reached `zeros`; of the "
            f"{len(crossings) - inside} whose fit crossed later or never, {_count_named(reached[False])} did."
        )
    return paragraph("**Held against the finished runs.** " + " ".join(sentences))


def _rounded(sequences: float) -> str:
    """A fitted crossing to three significant figures, as the fits block gives it: "~75,900"; "beyond 1,000,000,000"
    for a fit as good as flat (a young run's can say 3e26)."""
    from vpbench.results.curves import BEYOND_SEQUENCES

    if sequences >= BEYOND_SEQUENCES:
        return f"beyond {BEYOND_SEQUENCES:,.0f}"
    return f"~{float(f'{sequences:.3g}'):,.0f}"


def _count_named(models: list[str]) -> str:
    """'none', or how many and which: "1 (`predrnn`)"."""
    return f"{len(models)} ({', '.join(models)})" if models else "none"


def measured_crossing(points: list[dict], target: float, budget: int) -> str:
    """What the curve itself did, beside its fit: where its validation SSIM first reached `target`, or its highest
    value ("never" once the run has its whole budget). A fit through a curve that flattened can put the crossing
    inside the points it was fitted to, where the curve never went."""
    reached = [point["sequences"] for point in points if point["ssim"] >= target]
    if reached:
        return f"measured: first at {min(reached):,}"
    best = max(points, key=lambda point: point["ssim"])
    when = "never" if has_finished(points, budget) else "not yet"
    return f"measured: {when}, highest {best['ssim']:.3f} at {best['sequences']:,}"


FIGURE_SOURCE = "vpbench drawn from"  # the PNG text chunk that holds figure_source's hash


def figure_source(curves: list, results_dir: Path) -> str:
    """One hash of everything the long figure shows and of the code that draws it: its run logs (points, last
    step, folder), the records its sanity lines come from, and the drawing modules."""
    import hashlib
    import json

    import vpbench.results.curves
    import vpbench.results.plots

    digest = hashlib.sha256()
    for curve in curves:
        digest.update(json.dumps([curve.run_dir.name, curve.spec, curve.points, curve.step], sort_keys=True).encode())
    code = [Path(vpbench.results.curves.__file__), Path(vpbench.results.plots.__file__), Path(__file__)]
    for path in record_files(results_dir) + code:
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def drawn_from(png: Path) -> str | None:
    """The figure_source hash a PNG was drawn from (None: no such file, or not drawn by long_figure)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(png) as image:
            return image.text.get(FIGURE_SOURCE)
    except (OSError, UnidentifiedImageError):
        return None


def long_figure(runs_dir: Path, results_dir: Path, stem: Path, steps: int | None = None) -> tuple[Path, bool] | None:
    """Draw the long track's validation SSIM curves with their fits to the budget, as `vpbench plot progress
    --fit` draws them, to `stem`.png: the long-progress and long-fits blocks seen at a glance. Only the PNG (the
    README shows it), and not part of `--check`: its pixels depend on the fonts at hand, while every number in it
    is also in the two blocks, which are checked, so a carry that changes the curves fails CI until this is rerun.
    Returns the PNG and whether it was drawn: a PNG drawn from the same logs, records and code is kept, since a
    redraw would differ only in font rendering from machine to machine (249 of 886k pixels between two) and churn
    a binary in git. None when no run has validation points yet."""
    from vpbench.results.curves import progress_figure
    from vpbench.results.plots import save_figure

    curves = curves_with_points(runs_dir, steps)
    if not curves:
        return None
    png, source = Path(stem).with_name(f"{Path(stem).name}.png"), figure_source(curves, results_dir)
    if drawn_from(png) == source:
        return png, False
    figure = progress_figure(curves, "ssim", "sequences", declared_records(results_dir), " under campaign/runs", 1600)
    return save_figure(figure, stem, ["png"], {FIGURE_SOURCE: source})[0], True
