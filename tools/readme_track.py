"""Keep the README's CPU-track numbers equal to the stored records.

The README's prose is written by hand; its numbers about the 600-step track are not. Each sits in a block between
`<!-- generated: NAME -->` and `<!-- end generated: NAME -->`, which this script rewrites from `results/` (the
suite's records and `suite.json`) with the code behind `vpbench table` and `vpbench compare` (paired bootstrap,
seeded, so the text is the same on every machine). `tests/test_readme_track.py` runs the check, so a README that
disagrees with the stored records fails CI.

    python tools/readme_track.py                  # rewrite the blocks
    python tools/readme_track.py --check          # exit 1, naming the blocks that differ

The long track's stored records get the same status, results, sanity and SRVP blocks (`long-*`), written from its
own suite entry as its records land. Its progress table and fits come from the run logs carried in `campaign/runs/`
(tools/carry_runs.py); `--long-runs DIR` reads another runs folder instead. A rewrite also redraws their figure,
`campaign/progress_ssim.png`.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from dataclasses import dataclass
from functools import cache, cached_property
from itertools import pairwise
from pathlib import Path

from carry_runs import CARRIED  # the long track's run folders, carried between machines: the progress table's source

ROOT = Path(__file__).resolve().parents[1]
TRACK = "mmnist-cpu-track"
LONG_TRACK = "mmnist-cpu-long"  # its blocks fill in as its records land; until then they say what is pending
SANITY = ("zeros", "last-frame")
PROTOCOLS = ("10->10", "10->30")  # the two horizons every track stores
BLOCK = re.compile(r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- end generated: (?P=name) -->)", re.S)
WIDTH = 115  # the README's line length
LONG_FIGURE = CARRIED.parent / "progress_ssim"  # beside the carried runs, not among results/figures: no record in it

# What the poster claims for the three ablations and the backbone: its Table (Moving MNIST 10->10, MSE per frame
# in its own convention), quoted to say whether our order is the poster's.
POSTER_ORDER = ["srvp", "srvp-wo-sa", "srvp-wo-crossatt", "srvp-wo-rfa", "convgru"]
POSTER_MSE = "SRVP 935 < without SA 968 < without cross-attention 973 < without RFA 1024 < ConvGRU 1034"
ABLATIONS = {
    "srvp-wo-sa": "its standard attention, SA",
    "srvp-wo-rfa": "its reinforced feature attention, RFA",
    "srvp-wo-crossatt": "the cross-attention step of both modules",
}
RECURRENT = ["predrnn", "mim", "convlstm", "predrnn++", "convgru"]  # the poster's "best among RNNs" rivals
NON_RECURRENT = ["simvp", "mimo-vp"]
SRVP_FAMILY = ["srvp", "convgru", *ABLATIONS]


def declared_records(results_dir: Path) -> tuple:
    """The suite's records in `results_dir`, loaded once per state of its files: a rewrite reads them for both
    tracks, the long fits and the figure, and each load (every record checked against the suite) takes most of a
    second; a record landed or a suite edited in between is a new state, so it is never served stale."""
    files = sorted(Path(results_dir).glob("*/*.json")) + sorted(Path(results_dir).glob("*.json"))
    stats = [(str(f), f.stat()) for f in files]
    return _declared_records(Path(results_dir), tuple((name, s.st_mtime_ns, s.st_size) for name, s in stats))


@cache
def _declared_records(results_dir: Path, state: tuple) -> tuple:
    from vpbench.gate import suite_records

    return tuple(suite_records(results_dir))


@dataclass
class Track:
    """One track as stored (the 600-step one unless `name` says another suite entry): its entry and records."""

    results_dir: Path
    name: str = TRACK

    @cached_property
    def entry(self):
        from vpbench.gate import suite_entries

        found = [entry for entry in suite_entries(self.results_dir) if entry.name == self.name]
        if not found:
            raise SystemExit(
                f"{self.results_dir}/suite.json declares no entry '{self.name}': pass the repository's results/"
            )
        return found[0]

    @cached_property
    def records(self) -> list:
        from vpbench.results.sections import within_budget

        return [
            record
            for record in declared_records(self.results_dir)
            if record.dataset.name == self.entry.dataset
            and record.model.preset == self.entry.run["preset"]
            and record.model.name in self.entry.models
            and within_budget(record, self.entry.run["steps"])
        ]

    @property
    def trained(self) -> list[str]:
        return [model for model in self.entry.models if model not in SANITY]

    @property
    def stored(self) -> list[str]:
        return [model for model in self.trained if model not in self.entry.pending]

    def record(self, model: str, protocol: str):
        (found,) = [r for r in self.records if r.model.name == model and r.protocol.name == protocol]
        return found

    @cached_property
    def _comparisons(self) -> dict[tuple[str, str, str], dict[str, object]]:
        return {}

    def compare(self, model_a: str, model_b: str, protocol: str) -> dict[str, object]:
        """metric -> MetricComparison of A against B (vpbench convention). Each pair is bootstrapped once: the
        backbone, ablation and poster-claim verdicts ask for several of the same pairs."""
        key = (model_a, model_b, protocol)
        if key not in self._comparisons:
            self._comparisons[key] = self._compare(*key)
        return self._comparisons[key]

    def _compare(self, model_a: str, model_b: str, protocol: str) -> dict[str, object]:
        from vpbench.results.compare import compare_models

        (comparison,) = compare_models(
            self.records,
            model_a,
            model_b,
            self.results_dir,
            protocol=protocol,
            conventions=("vpbench",),
            metrics=("mse", "ssim"),
        )
        return {row.metric: row for row in comparison.rows}


def names(models: list[str]) -> str:
    quoted = [f"`{model}`" for model in models]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def names_are(models: list[str]) -> str:
    """The models as a subject with its verb: "`a` is", "`a` and `b` are"."""
    return f"{names(models)} {'is' if len(models) == 1 else 'are'}"


def p_text(p_value: float) -> str:
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def difference(row) -> str:
    """'MSE -0.0012 [-0.0015, -0.0009] (p < 0.001)': A minus B with its paired 95% interval and p."""
    digits = 4 if row.metric == "mse" else 3
    low, high = row.interval
    return (
        f"{row.metric.upper()} {row.difference:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}] "
        f"({p_text(row.p_value)})"
    )


def better(row, model: str) -> bool:
    return row.verdict("a", "b") == f"{model} better"


# --- the blocks -------------------------------------------------------------------------------------------------


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


def track_srvp(track: Track) -> str:
    """The backbone and poster-claim verdicts once `srvp` and `convgru` are stored; the ablations as they land."""
    if {"srvp", "convgru"} - set(track.stored):
        return bullet(
            "**SRVP against its backbone and its ablations, and the poster's claims** (SRVP best among recurrent "
            "models at 10->10, best at 10->30, each ablation hurts): pending until `srvp` and `convgru` are "
            "stored; this text then states them from the records."
        )
    return "\n".join(bullet(text) for text in (backbone(track), ablations(track), poster_claims(track)))


def backbone(track: Track) -> str:
    rows = {protocol: track.compare("srvp", "convgru", protocol) for protocol in PROTOCOLS}
    verdicts = [better(row, "a") for protocol_rows in rows.values() for row in protocol_rows.values()]
    losses = [better(row, "b") for protocol_rows in rows.values() for row in protocol_rows.values()]
    head = (
        "SRVP beats its backbone `convgru` at both horizons, on MSE and SSIM"
        if all(verdicts)
        else "SRVP loses to its backbone `convgru` at both horizons, on MSE and SSIM"
        if all(losses)
        else "SRVP against its backbone `convgru` is mixed"
    )
    srvp, convgru = (track.record(m, "10->10").model.parameters for m in ("srvp", "convgru"))
    parts = "; ".join(
        f"at {protocol} {difference(rows[protocol]['mse'])}, {difference(rows[protocol]['ssim'])}" for protocol in rows
    )
    return (
        f"**SRVP against its backbone and its ablations** (`srvp` minus the other model: negative MSE and positive "
        f"SSIM differences favour `srvp`; paired bootstrap over the 1,000 test sequences, two-sided p). {head}: "
        f"{parts}, with {srvp / convgru:.1f}x its parameters ({srvp / 1e3:.1f}k against {convgru / 1e3:.1f}k)."
    )


def ablations(track: Track) -> str:
    """Each stored ablation against `srvp`; "each ablation hurts" and the poster's MSE order only once all three
    are stored."""
    stored = [model for model in ABLATIONS if model in track.stored]
    parts, hurts = [], []
    for other in stored:
        rows = {protocol: track.compare("srvp", other, protocol) for protocol in PROTOCOLS}
        if all(better(row, "a") for row in rows["10->10"].values()):
            hurts.append(other)
        parts.append(
            f"against `{other}` (without {ABLATIONS[other]}) at 10->10 {difference(rows['10->10']['mse'])}, "
            f"{difference(rows['10->10']['ssim'])}, at 10->30 {difference(rows['10->30']['mse'])}, "
            f"{difference(rows['10->30']['ssim'])}"
        )
    text = "**Ablations** (`srvp` minus the ablation): " + ("; ".join(parts) + "." if parts else "none stored yet.")
    pending = [model for model in ABLATIONS if model not in stored]
    if pending:
        return f'{text} {names_are(pending)} pending, so "each ablation hurts" is not judged yet.'
    which = "all three" if len(hurts) == len(ABLATIONS) else f"{names(hurts)} only" if hurts else "none of the three"
    text += (
        f" At 10->10, the poster's ablation protocol, removing the module hurts on both MSE and SSIM for {which}, "
        'so "each ablation hurts" '
        + ("holds at this budget." if len(hurts) == len(ABLATIONS) else "does not hold at this budget.")
    )
    mse = {model: track.record(model, "10->10").metrics["vpbench"]["overall"]["mse"] for model in POSTER_ORDER}
    ours = sorted(mse, key=mse.get)
    steps = [track.compare(a, b, "10->10")["mse"].p_value for a, b in pairwise(ours)]
    chain = " < ".join(f"`{model}` {mse[model]:.4f}" for model in ours)
    chain += (
        " (every step p < 0.001, paired)"
        if max(steps) < 0.001
        else " (paired p of each step: " + ", ".join(f"{p:.3f}" for p in steps) + ")"
    )
    return (
        text
        + f" On 10->10 MSE the order is {chain}: "
        + ("the poster's order" if ours == POSTER_ORDER else "not the poster's order")
        + f" ({POSTER_MSE} in its convention)."
    )


def poster_claims(track: Track) -> str:
    def verdict(protocol: str, rivals: list[str], claim: str) -> str:
        """Judged on the stored rivals; a claim that none of them refutes waits for the pending ones."""
        others = [model for model in rivals if model in track.stored]
        pending = [model for model in rivals if model not in track.stored]
        beaters, beaten, level = [], [], []
        for other in others:
            rows = track.compare("srvp", other, protocol)
            phrase = f"`{other}` ({difference(rows['mse'])}; {difference(rows['ssim'])})"
            (beaters if better(rows["mse"], "b") else beaten if better(rows["mse"], "a") else level).append(phrase)
        if pending and not beaters:
            return (
                f'"{claim}" is not judged yet: {names_are(pending)} pending'
                + ("; so far `srvp` has lower MSE than " + ", ".join(beaten) if beaten else "")
                + ("; no MSE difference from " + ", ".join(level) if level else "")
                + "."
            )
        if not beaters and not level:
            return f'"{claim}" holds at this budget on MSE: `srvp` has lower MSE than ' + ", ".join(beaten) + "."
        text = (
            f'"{claim}" does not hold at this budget: lower MSE than `srvp`: ' + ", ".join(beaters)
            if beaters
            else f'"{claim}" is not shown: no MSE difference from ' + ", ".join(level)
        )
        if beaters and level:
            text += "; no MSE difference from " + ", ".join(level)
        if beaten:
            text += "; `srvp` does beat " + ", ".join(beaten)
        if pending:
            text += f"; {names_are(pending)} still pending"
        return text + "."

    steps = track.entry.run["steps"] * track.entry.run["batch_size"]
    return (
        "**The poster's claims at this budget** (differences as above). "
        + verdict("10->10", RECURRENT, "SRVP is the best recurrent model at 10->10")
        + " "
        + verdict("10->30", RECURRENT + NON_RECURRENT, "SRVP is the best model at 10->30")
        + f" Both verdicts are about {steps:,} training sequences; they say nothing about the converged models "
        "of the poster. " + widths(track)
    )


def widths(track: Track) -> str:
    """The rivals' sizes and costs as multiples of `srvp`'s: the `small` presets shrink the papers' models by
    different factors (to about one cost per sequence), so a verdict here is about width as well as budget."""
    models = [m for m in ["srvp", *RECURRENT, *NON_RECURRENT] if m in track.stored]
    sizes = {m: track.record(m, "10->10").model for m in models}
    srvp = sizes.pop("srvp")

    def ratio(value: float) -> str:
        return f"{value:.0f}x" if value >= 100 else f"{value:.1f}x"

    rivals = ", ".join(
        f"`{m}` {ratio(size.parameters / srvp.parameters)} / {ratio(size.macs_per_sequence / srvp.macs_per_sequence)}"
        for m, size in sorted(sizes.items(), key=lambda item: item[1].parameters)
    )
    paper = {m: paper_cost(m) for m in models}
    srvp_paper = paper.pop("srvp")

    def over(m: str, cost: str) -> float:  # srvp's paper-preset cost over a rival's
        return srvp_paper[cost] / paper[m][cost]

    def times(value: float) -> str:
        return f"{value:.2g}x" if value < 10 else f"{value:.0f}x"

    paper_rivals = ", ".join(
        f"`{m}`'s {times(over(m, 'parameters'))} / {times(over(m, 'macs_per_sequence'))}"
        for m in sorted(paper, key=lambda m: over(m, "macs_per_sequence"))
    )
    return (
        f"The `small` presets match cost more than size: against `srvp`'s {srvp.parameters / 1e3:.1f}k parameters "
        f"and {srvp.macs_per_sequence / 1e9:.2f} G multiply-accumulates per sequence, its stored rivals have "
        f"{rivals} (parameters / MACs; `vpbench models` lists each preset against its paper's). The papers' "
        f"presets part on cost instead: `srvp`'s {srvp_paper['parameters'] / 1e6:.1f}M parameters and "
        f"{srvp_paper['macs_per_sequence'] / 1e9:.0f} G MACs per sequence are {paper_rivals} (parameters / MACs). "
        "So these verdicts compare the models at about equal compute per sequence, not at the compute each paper "
        "spent."
    )


@cache
def paper_cost(model: str) -> dict[str, int]:
    """Parameters and MACs per 10->10 sequence of a model's paper preset (counted on the meta device, ~1 s)."""
    from vpbench.catalog import preset_cost

    return preset_cost(model, "paper")


def run_names(curves: list, labels: dict[str, str]) -> dict[Path, str]:
    """run folder -> its name in the README's long-track blocks: as `vpbench plot progress` names it
    (`run_labels`), unless `labels` renames it by spec hash (the folder name's last part)."""
    from vpbench.results.curves import run_labels

    names = run_labels(curves)
    return {curve.run_dir: labels.get(curve.run_dir.name.rsplit("__", 1)[-1], names[curve.run_dir]) for curve in curves}


def curves_with_points(runs_dir: Path) -> list:
    """The long-track runs in `runs_dir` that have reached a validation point: what the fits and the figure draw
    (none when the folder is absent)."""
    from vpbench.results.curves import run_curves

    return [curve for curve in (run_curves(runs_dir) if runs_dir.is_dir() else []) if curve.points]


def long_progress(runs_dir: Path, labels: dict[str, str]) -> str:
    """Validation MSE / SSIM of each long-track run every 8,000 sequences and at its latest point, from the run
    logs (`train_log.jsonl`). Runs are named as `vpbench plot progress` names them (a second run of a model by the
    arguments that differ from its preset, e.g. a width pilot); `labels` renames runs by spec hash."""
    from vpbench.results.curves import run_curves

    curves = run_curves(runs_dir) if runs_dir.is_dir() else []
    names = run_names(curves, labels)
    rows = []
    for curve in curves:
        points = {event["sequences"]: event for event in curve.points}
        if points:
            rows.append((names[curve.run_dir], points))
    if not rows:
        return "No long-track run has reached its first validation point yet."
    columns = sorted({s for _, points in rows for s in points if s % 8000 == 0})
    lines = [
        "| run | " + " | ".join(f"{c:,}" for c in columns) + " | latest |",
        "|---|" + "---:|" * (len(columns) + 1),
    ]
    for label, points in sorted(rows, key=lambda row: row[0]):
        cells = [f"{points[c]['mse']:.4f} / {points[c]['ssim']:.3f}" if c in points else "" for c in columns]
        last = points[max(points)]
        cells.append(f"{last['mse']:.4f} / {last['ssim']:.3f} at {max(points):,}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def long_fits(runs_dir: Path, results_dir: Path, labels: dict[str, str]) -> str:
    """Where each long-track run's validation SSIM would reach `zeros` by its log-linear fit (as `vpbench
    extrapolate --runs-dir` prints it), in sequences and in multiples of the track's budget: the extrapolated
    budget, kept current by every carry instead of quoted once."""
    from vpbench.results.curves import extrapolate_runs, run_labels

    curves = curves_with_points(runs_dir)
    if not curves:
        return "No long-track run has validation points to fit yet."
    target, crossings = extrapolate_runs(curves, declared_records(results_dir), "ssim")
    budget = curves[0].spec["steps"] * curves[0].spec["batch_size"]  # extrapolate_runs checked: one setting
    given = run_labels(curves)  # the names extrapolate_runs gives the crossings
    names = run_names(curves, labels)
    renamed = {given[curve.run_dir]: names[curve.run_dir] for curve in curves}

    def estimate(crossing) -> str:
        if not crossing.fitted:
            points = f"{crossing.points} point" + ("" if crossing.points == 1 else "s")
            return f"no fit yet ({points} from 1,600 sequences on)"
        if crossing.sequences is None:
            return f"never: its fit does not rise (points through {crossing.last_sequences:,})"
        rounded = float(f"{crossing.sequences:.3g}")
        through = crossing.last_sequences
        return f"~{rounded:,.0f} ({crossing.sequences / budget:.1f}x the budget; points through {through:,})"

    parts = [f"`{renamed[crossing.model]}` {estimate(crossing)}" for crossing in crossings]
    return paragraph(
        f"**Where the curves point.** Fitted as `vpbench extrapolate --runs-dir campaign/runs --steps "
        f"{curves[0].spec['steps']}` fits them (validation SSIM = a + b ln(sequences), points from 1,600 "
        f"sequences on, solved for `zeros`' {target:.3f} on the test clips), each run reaches `zeros` at, in "
        f"training sequences against the budget of {budget:,}: " + "; ".join(parts) + "."
    )


# --- the README -------------------------------------------------------------------------------------------------


def bullet(text: str) -> str:
    return "\n".join(textwrap.wrap(text, WIDTH, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False))


def paragraph(text: str) -> str:
    return "\n".join(textwrap.wrap(text, WIDTH, break_on_hyphens=False))


def long_figure(runs_dir: Path, results_dir: Path, stem: Path) -> Path | None:
    """Draw the long track's validation SSIM curves with their fits to the budget, as `vpbench plot progress
    --fit` draws them, to `stem`.png: the long-progress and long-fits blocks seen at a glance. Only the PNG (the
    README shows it), and not part of `--check`: its pixels depend on the fonts at hand, while every number in it
    is also in the two blocks, which are checked, so a carry that changes the curves fails CI until this is rerun.
    None when no run has validation points yet."""
    from vpbench.results.curves import progress_figure
    from vpbench.results.plots import save_figure

    curves = curves_with_points(runs_dir)
    if not curves:
        return None
    figure = progress_figure(curves, "ssim", "sequences", declared_records(results_dir), " under campaign/runs", 1600)
    return save_figure(figure, stem, ["png"])[0]


def generated_blocks(results_dir: Path, long_runs: Path, labels: dict[str, str]) -> dict[str, str]:
    track, long_track = Track(results_dir), Track(results_dir, LONG_TRACK)
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
        "long-progress": long_progress(long_runs, labels),
        "long-fits": long_fits(long_runs, results_dir, labels),
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
    figure = long_figure(args.long_runs, args.results_dir, args.long_figure)
    if figure is not None:
        print(f"drew {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
