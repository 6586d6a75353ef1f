"""The README's SRVP blocks: SRVP against its backbone (`convgru`) and its three ablations, and the poster's two
claims against the other models, each difference from `vpbench compare`'s paired bootstrap with its p; written by
`readme_track.py` for both tracks as their records land."""

from __future__ import annotations

from functools import cache
from itertools import pairwise

from track_text import PROTOCOLS, Track, better, bullet, difference, names, names_are

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


def _multiple(value: float) -> str:
    """A cost ratio to two significant digits below 10x (0.53x, 1.1x), whole above (12x, 88x)."""
    return f"{value:.2g}x" if value < 10 else f"{value:.0f}x"


def widths(track: Track) -> str:
    """The rivals' sizes and costs as multiples of `srvp`'s: the `small` presets shrink the papers' models by
    different factors (to about one cost per sequence), so a verdict here is about width as well as budget."""
    models = [m for m in ["srvp", *RECURRENT, *NON_RECURRENT] if m in track.stored]
    sizes = {m: track.record(m, "10->10").model for m in models}
    srvp = sizes.pop("srvp")

    rivals = ", ".join(
        f"`{m}` {_multiple(size.parameters / srvp.parameters)} / "
        f"{_multiple(size.macs_per_sequence / srvp.macs_per_sequence)}"
        for m, size in sorted(sizes.items(), key=lambda item: item[1].parameters)
    )
    paper = {m: paper_cost(m) for m in models}
    srvp_paper = paper.pop("srvp")

    def over(m: str, cost: str) -> float:  # srvp's paper-preset cost over a rival's
        return srvp_paper[cost] / paper[m][cost]

    paper_rivals = ", ".join(
        f"`{m}`'s {_multiple(over(m, 'parameters'))} / {_multiple(over(m, 'macs_per_sequence'))}"
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
    """Parameters and MACs per 10->10 sequence of a model's paper preset (counted on the meta device, ~1 s, then
    read from the cost cache `vpbench models` shares)."""
    from vpbench.catalog import cached_preset_cost

    return cached_preset_cost(model, "paper")
