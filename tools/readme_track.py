"""Keep the README's CPU-track numbers equal to the stored records.

The README's prose is written by hand; its numbers about the 600-step track are not. Each sits in a block between
`<!-- generated: NAME -->` and `<!-- end generated: NAME -->`, which this script rewrites from `results/` (the
suite's records and `suite.json`) with the code behind `vpbench table` and `vpbench compare` (paired bootstrap,
seeded, so the text is the same on every machine). `tests/test_readme_track.py` runs the check, so a README that
disagrees with the stored records fails CI.

    python tools/readme_track.py                  # rewrite the blocks
    python tools/readme_track.py --check          # exit 1, naming the blocks that differ

The long track's stored records get the same status, results, sanity and SRVP blocks (`long-*`), written from its own
suite entry as its records land, and one of its own (`long-gains`): each model's 600-step record against its long one.
Its progress table and fits come from the run logs carried in `campaign/runs/` (tools/carry_runs.py); `--long-runs DIR`
reads another runs folder instead. A rewrite also redraws their figure, `campaign/progress_ssim.png`, when what it shows
has changed. The track at twice the long budget (`double-*`) has the same status, results and sanity blocks, a gains
block (each model's long record against its record at twice the budget) and a progress table from the same carried logs
while it trains.

This file writes the status, results, sanity and background blocks and rewrites the README; the SRVP verdicts are
written in `srvp_verdicts.py`, the blocks from run logs in `long_runs_text.py`, and what they share (a stored track,
the phrases) sits in `track_text.py`.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from carry_runs import CARRIED  # the long track's run folders, carried between machines
from long_runs_text import LONG_FIGURE, long_backtest, long_figure, long_fits, long_progress
from srvp_verdicts import track_srvp
from track_text import (
    DOUBLE_TRACK,
    LONG_TRACK,
    PROTOCOLS,
    ROOT,
    SANITY,
    Track,
    better,
    bullet,
    compare_rows,
    names,
    names_are,
    p_text,
    paragraph,
)

BLOCK = re.compile(r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- end generated: (?P=name) -->)", re.S)


def track_status(track: Track) -> str:
    stored, pending = track.stored, [m for m in track.trained if m in track.entry.pending]
    text = (
        f"**Stored:** {len(stored)} of {len(track.trained)} trained models ({names(stored)}) and both sanity rows."
        if stored
        else f"**Stored:** none of the {len(track.trained)} trained models yet; both sanity rows."
    )
    if pending:
        text += (
            f" **Pending:** {names(pending)}; `vpbench sweep --suite results/suite.json --entry {track.name} --plan` "
            "says where each one stands and how much training is left."
        )
    return text


def cell(track: Track, model: str, protocol: str, metric: str) -> str:
    """'0.0203 [0.0200, 0.0206]': a stored record's mean with its 95% interval (vpbench convention)."""
    record = track.record(model, protocol)
    digits = 4 if metric == "mse" else 3
    mean = record.metrics["vpbench"]["overall"][metric]
    low, high = record.confidence_intervals["vpbench"][metric]
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def track_results(track: Track) -> str:
    order = sorted(track.stored, key=lambda model: track.record(model, "10->10").metrics["vpbench"]["overall"]["mse"])
    lines = ["| model | 10->10 MSE | 10->10 SSIM | 10->30 MSE | 10->30 SSIM |", "|---|---:|---:|---:|---:|"]
    for model in [*order, *SANITY]:
        label = f"*{model} (sanity)*" if model in SANITY else model
        cells = [cell(track, model, p, m) for p in PROTOCOLS for m in ("mse", "ssim")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def budget_gains(track: Track, long_track: Track) -> str:
    """What the longer budget changed, model by model: each record of `long_track` against the same model's record
    of `track` on the same test clips (`vpbench compare M@600 M@10000` for the long track, `M@10000 M@20000` for
    the 2x track; paired bootstrap), so the README's before and after numbers are the records' own and every change
    carries its p."""
    models = [model for model in long_track.stored if model in track.stored]
    if not models:
        return paragraph(f"No model has a record at both budgets yet; each row fills in as its `{long_track.name}` "
                         "record lands.")
    short, long = track.entry.run["steps"], long_track.entry.run["steps"]
    records = [*track.records, *long_track.records]
    columns = [(protocol, metric) for protocol in PROTOCOLS for metric in ("mse", "ssim")]
    worse: list[str] = []
    lines = [
        "| model | " + " | ".join(f"{protocol} {metric.upper()}" for protocol, metric in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for model in sorted(models, key=lambda m: -long_track.record(m, "10->10").metrics["vpbench"]["overall"]["ssim"]):
        rows = {
            protocol: compare_rows(records, track.results_dir, f"{model}@{short}", f"{model}@{long}", protocol)
            for protocol in PROTOCOLS
        }
        cells = []
        for protocol, metric in columns:
            row, digits = rows[protocol][metric], 4 if metric == "mse" else 3
            cells.append(f"{row.value_a:.{digits}f} → {row.value_b:.{digits}f} ({p_text(row.p_value)})")
            if better(row, "a"):  # the shorter budget (side a) scored better
                worse.append(f"`{model}` at {protocol} {metric.upper()}")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    verdict = (
        f"Worse after the longer budget (p < 0.05): {', '.join(worse)}."
        if worse
        else "No score got worse with the longer budget (p < 0.05)."
    )
    return "\n".join(lines) + "\n\n" + paragraph(verdict)


def track_sanity(track: Track, coda: str = ": see the pilot below for why, and what it would take.") -> str:
    """Which stored trained models beat the sanity rows: on MSE with disjoint 95% intervals (the track's target
    for every model), on SSIM at 10->10 (its target for four). `coda` ends the bullet."""

    def interval(model: str, protocol: str, metric: str) -> tuple[float, float]:
        return tuple(track.record(model, protocol).confidence_intervals["vpbench"][metric])

    def beats_on_mse_at(model: str, sanity: str, protocol: str) -> bool:
        return interval(model, protocol, "mse")[1] < interval(sanity, protocol, "mse")[0]

    def beats_on_mse(model: str, sanity: str) -> bool:
        return all(beats_on_mse_at(model, sanity, p) for p in PROTOCOLS)

    def beats_on_ssim(model: str, sanity: str) -> bool:
        return interval(model, "10->10", "ssim")[0] > interval(sanity, "10->10", "ssim")[1]

    if not track.stored:
        return bullet("**Against the sanity rows**: written once a trained record is stored.")
    missing = {p: [m for m in track.stored if not beats_on_mse_at(m, "zeros", p)] for p in PROTOCOLS}
    same_misses = missing["10->10"] == missing["10->30"]
    if same_misses:  # the same models miss at both horizons (or none): said once
        text = "**Against the sanity rows.** " + (
            "Every stored trained model beats `zeros` on MSE with disjoint intervals, at 10->10 and at 10->30"
            if not missing["10->10"]
            else f"All stored trained models but {names(missing['10->10'])} beat `zeros` on MSE with disjoint "
            "intervals, at 10->10 and at 10->30"
        )
    else:  # a model that beats `zeros` at 10->10 and not rolled out to 10->30 (or the reverse): say where
        parts = [
            f"at {p}, every stored trained model beats `zeros`"
            if not missing[p]
            else f"at {p}, all but {names(missing[p])} beat it ("
            + ", ".join(f"`{m}` {cell(track, m, p, 'mse')}" for m in missing[p])
            + f" against {cell(track, 'zeros', p, 'mse')})"
            for p in PROTOCOLS
        ]
        text = "**Against the sanity rows.** On MSE, with disjoint intervals: " + "; ".join(parts)
    over_last_frame = all(beats_on_mse(m, "last-frame") for m in track.stored)
    if over_last_frame and same_misses:
        text += " (and `last-frame` by far more)"
    elif over_last_frame:
        text += "; every one beats `last-frame` at both"
    text += ". "
    ssim = {name: track.record(name, "10->10").metrics["vpbench"]["overall"]["ssim"] for name in SANITY}
    over = {sanity: [m for m in track.stored if beats_on_ssim(m, sanity)] for sanity in SANITY}
    level = {  # neither above nor below with disjoint intervals: no verdict either way
        sanity: [
            m
            for m in track.stored
            if m not in over[sanity] and interval(m, "10->10", "ssim")[1] >= interval(sanity, "10->10", "ssim")[0]
        ]
        for sanity in SANITY
    }
    if not any(over.values()) and not any(level.values()):
        text += (
            f"None beats `zeros` on SSIM at 10->10 ({ssim['zeros']:.3f}), nor `last-frame` ({ssim['last-frame']:.3f})"
        )
    else:
        scores = {sanity: f"`{sanity}` ({ssim[sanity]:.3f})" for sanity in SANITY}
        if over["zeros"] == over["last-frame"] and not any(level.values()):  # the usual case: one list, said once
            parts = [f"{beat(over['zeros'])} {scores['zeros']} and {scores['last-frame']}"]
        else:
            parts = [
                f"{beat(over[sanity])} {scores[sanity]}"
                + (f", {names_are(level[sanity])} level with it" if level[sanity] else "")
                for sanity in SANITY
            ]
        text += "On SSIM at 10->10, with disjoint intervals, " + "; ".join(parts)
    return bullet(text + coda)


NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven")


def beat(models: list[str]) -> str:
    """'no model beats', '`predrnn` beats', '`a`, `b` and `c` (three models) beat': the subject and verb of a
    verdict, counted in words where the count matters (the track's SSIM target is four models)."""
    if not models:
        return "no model beats"
    if len(models) == 1:
        return f"{names(models)} beats"
    count = NUMBER_WORDS[len(models)] if len(models) < len(NUMBER_WORDS) else str(len(models))
    return f"{names(models)} ({count} models) beat"


def track_background(track: Track) -> str:
    """Why `zeros` is hard to pass on SSIM, from each record's `regions`: the error on static pixels (nearly all
    black background), and what a uniform grey of that size scores in vpbench's SSIM against black."""
    import torch

    from vpbench.metrics.functional import ssim

    def static(model: str) -> dict:
        return track.record(model, "10->10").regions

    def ssim_10(model: str) -> float:
        return track.record(model, "10->10").metrics["vpbench"]["overall"]["ssim"]

    errors = {model: static(model)["static"]["overall"]["mae"] for model in track.stored if static(model)}
    heading = (
        "Why SSIM stays below `zeros`"
        if all(ssim_10(model) < ssim_10("zeros") for model in track.stored)
        else "Why SSIM favours `zeros`"
    )
    if not errors or not static("zeros"):
        return bullet(f"**{heading}**: written once trained records with `regions` are stored.")
    low, high = min(errors, key=errors.get), max(errors, key=errors.get)
    black = torch.zeros(1, 1, 64, 64, dtype=torch.float64)

    def share(model: str) -> float:
        total = track.record(model, "10->10").metrics["vpbench"]["overall"]["mse"]
        return static(model)["static_pixel_fraction"] * static(model)["static"]["overall"]["mse"] / total

    def haze_ssim(level: float) -> float:
        return float(ssim(torch.full_like(black, level), black, data_range=1.0).mean())

    # The greys to score: the worst and the best model's haze, or one model's beside a second level for scale.
    hazes = sorted({round(errors[high], 3), round(errors[low], 3)}, reverse=True)
    if len(hazes) == 1:
        hazes.append(0.005 if hazes[0] > 0.005 else 0.015)

    return bullet(
        f"**{heading}.** On the pixels whose ground truth does not change over the ten target "
        f"frames ({static('zeros')['static_pixel_fraction']:.1%} of them, nearly all black background; `regions` in "
        f"each record) "
        + (
            f"the trained models' mean absolute error is {errors[low]:.4f} (`{low}`) to {errors[high]:.4f} (`{high}`)"
            if low != high
            else f"`{low}`'s mean absolute error is {errors[low]:.4f}"
        )
        + f", against {static('zeros')['static']['overall']['mae']:.7f} for `zeros`: a grey haze where "
        "`zeros` is exactly black. SSIM (7x7 windows, data range 1) punishes it hard: a uniform grey of "
        f"{hazes[0]:.3f} on black scores {haze_ssim(hazes[0]):.2f}, one of {hazes[1]:.3f} scores "
        f"{haze_ssim(hazes[1]):.2f}. MSE barely sees it: the static pixels make {share(low):.0%} of `{low}`'s MSE."
    )


# --- the README -------------------------------------------------------------------------------------------------


def generated_blocks(results_dir: Path, long_runs: Path, labels: dict[str, str]) -> dict[str, str]:
    track, long_track = Track(results_dir), Track(results_dir, LONG_TRACK)
    double_track = Track(results_dir, DOUBLE_TRACK)
    return {
        "track-status": paragraph(track_status(track)),
        "track-results": track_results(track),
        "track-sanity": track_sanity(track),
        "track-background": track_background(track),
        "track-srvp": track_srvp(track),
        "long-status": paragraph(track_status(long_track)),
        "long-results": track_results(long_track),
        "long-sanity": track_sanity(long_track, "."),
        "long-background": track_background(long_track),
        "long-srvp": track_srvp(long_track),
        "long-gains": budget_gains(track, long_track),
        "long-progress": long_progress(long_runs, labels, long_track.steps),
        "long-fits": long_fits(long_runs, results_dir, labels, long_track.steps),
        "long-backtest": long_backtest(long_runs, results_dir, labels, long_track.steps),
        "double-status": paragraph(track_status(double_track)),
        "double-results": track_results(double_track),
        "double-sanity": track_sanity(double_track, "."),
        "double-gains": budget_gains(long_track, double_track),
        "double-progress": long_progress(long_runs, labels, double_track.steps),
    }


def rewrite(readme: str, blocks: dict[str, str]) -> tuple[str, list[str]]:
    """The README with each named block replaced, and the names of the blocks that changed."""
    found = {match["name"] for match in BLOCK.finditer(readme)}
    missing = sorted(set(blocks) - found)
    if missing:
        raise SystemExit(
            f"README.md has no block {', '.join(missing)}: add `<!-- generated: NAME -->` ... "
            "`<!-- end generated: NAME -->` where it belongs"
        )
    changed = []

    def replace(match: re.Match) -> str:
        name = match["name"]
        if name not in blocks:
            return match[0]
        body = blocks[name].rstrip("\n") + "\n"
        if body != match["body"]:
            changed.append(name)
        return match[1] + body + match[4]

    return BLOCK.sub(replace, readme), changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block differs")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "results")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument(
        "--long-runs",
        type=Path,
        default=CARRIED,
        help="the long track's runs folder (run logs under DIR/DATASET/RUN/) [campaign/runs]",
    )
    parser.add_argument(
        "--long-figure",
        type=Path,
        default=LONG_FIGURE,
        help="file stem of the long track's curves figure, drawn as PNG [campaign/progress_ssim]",
    )
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="SPEC=TEXT",
        help="name a long-track run by its spec hash in the table (repeatable)",
    )
    args = parser.parse_args(argv)
    labels = dict(item.split("=", 1) for item in args.label)
    if not args.readme.is_file():
        raise SystemExit(f"{args.readme}: no such file; pass the repository's README.md with --readme")
    readme = args.readme.read_text()
    text, changed = rewrite(readme, generated_blocks(args.results_dir, args.long_runs, labels))
    if args.check:
        if changed:
            print(
                f"README.md is out of date with the stored records in blocks: {', '.join(changed)}; "
                "run `python tools/readme_track.py`",
                file=sys.stderr,
            )
            return 1
        return 0
    if changed:
        from vpbench.files import atomic_write

        atomic_write(args.readme, lambda handle: handle.write(text))
    print(f"README.md: {', '.join(changed) if changed else 'up to date'}")
    figure = long_figure(args.long_runs, args.results_dir, args.long_figure, Track(args.results_dir, LONG_TRACK).steps)
    if figure is not None:
        png, drawn = figure
        print(f"drew {png}" if drawn else f"{png}: up to date (drawn from the same logs, records and code)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
