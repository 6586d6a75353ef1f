"""Published numbers, as data, so tables can show them beside vpbench's own results — labelled, never mixed in.

Numbers from papers are only comparable under the metric convention they were computed with, so every row
names its publication (`source`), its convention, the data it was measured on and any caveat. The figures
are transcribed exactly from those publications' tables (the project's reference-results spec lists them;
the comment above each table below names the table it copies); they are not results of this harness.

Metric names are the metric engine's (`vpbench.metrics.METRICS`): srvp-paper's `mse` is per pixel on
0–255 pooled per horizon; OpenSTL's "MSE"/"MAE" are per-frame sums on [0, 1], so they are stored as
`mse_sum`/`mae_sum`. `parameters` and `macs_per_sequence` are absolute counts. OpenSTL's "FLOPs" come
from fvcore, which counts one fused multiply-add as one flop, so they are MACs and are stored as
`macs_per_sequence` (see `note`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SRVP_PAPER = "SRVP paper (Kim & Park, CVPR-W 2025)"
SRVP_CODE = "SRVP reference code, results file"
OPENSTL = "OpenSTL benchmark (docs, v0.3 code)"
MIMO_VP = "MIMO-VP paper (Ning et al., AAAI 2023), supplement"

OPENSTL_BUG_NOTE = "published cell has a known bug (MODELS.md)"
OPENSTL_FLOPS_NOTE = "MACs = OpenSTL's fvcore 'FLOPs' (one multiply-add counted once)"
SHORT_SOURCES = {SRVP_PAPER: "SRVP paper", OPENSTL: "OpenSTL", MIMO_VP: "MIMO-VP paper"}

KTH_GUESS_NOTE = "the poster's 'complex motion' table names no data set, KTH 10->10 is the likely one"


@dataclass(frozen=True)
class ReferenceRow:
    """One published row: a model's numbers as one publication reports them."""

    model: str  # vpbench registry name the row corresponds to
    label: str  # the name the publication prints
    source: str  # publication
    convention: str  # vpbench convention the numbers follow ("srvp-paper", "openstl")
    dataset: str
    protocol: str
    metrics: dict[str, float] = field(default_factory=dict)  # overall values
    per_horizon: dict[str, list[float]] = field(default_factory=dict)
    parameters: int | None = None
    macs_per_sequence: int | None = None
    data: str = "the publication's own test set and training"
    note: str = ""

    @property
    def short_source(self) -> str:
        """A label short enough for a table row."""
        for prefix, short in SHORT_SOURCES.items():
            if self.source.startswith(prefix):
                return short
        return self.source


def _srvp_mmnist() -> list[ReferenceRow]:
    # Table "Moving MNIST, 10->10 and 10->30" (MSE, SSIM), plus the ablation table (MSE / PSNR / SSIM, 10->10).
    main = [
        ("convlstm", "ConvLSTM", 1419.41, 0.5661, 1272.60, 0.4963),
        ("predrnn", "ST-LSTM (PredRNN)", 1533.24, 0.5481, 1324.94, 0.4636),
        ("predrnn++", "Causal LSTM (PredRNN++)", 1162.65, 0.6693, 893.48, 0.4886),
        ("mim", "MIM", 1385.35, 0.5950, 1302.71, 0.5000),
        ("convgru", "ConvGRU", 1033.93, 0.7082, 1257.31, 0.5000),
        ("mimo-vp", "MIMO-VP", 401.59, 0.9049, 1021.51, 0.6983),
        ("simvp", "SimVP", 673.01, 0.8283, 1280.00, 0.5000),
        ("srvp", "SRVP", 935.02, 0.7474, 773.18, 0.5533),
    ]
    # SRVP per horizon, 10->10, from the reference code's results file; their mean is the headline row.
    srvp_per_horizon = {
        "mse": [433.4, 557.1, 694.8, 805.1, 914.5, 1013.1, 1109.8, 1195.3, 1277.0, 1350.2],
        "psnr": [21.76, 20.67, 19.68, 19.04, 18.49, 18.01, 17.61, 17.25, 16.97, 16.69],
        "ssim": [0.892, 0.857, 0.820, 0.790, 0.759, 0.728, 0.698, 0.670, 0.643, 0.618],
    }
    rows = []
    for model, label, mse_10, ssim_10, mse_30, ssim_30 in main:
        short = {"mse": mse_10, "ssim": ssim_10}
        per_horizon: dict[str, list[float]] = {}
        source = SRVP_PAPER
        if model == "srvp":
            short["psnr"] = 18.6160
            per_horizon = srvp_per_horizon
            source = f"{SRVP_PAPER}; per horizon: {SRVP_CODE}"
        rows.append(ReferenceRow(model, label, source, "srvp-paper", "mmnist", "10->10", short, per_horizon))
        rows.append(
            ReferenceRow(model, label, SRVP_PAPER, "srvp-paper", "mmnist", "10->30", {"mse": mse_30, "ssim": ssim_30})
        )
    ablations = [
        ("srvp-wo-sa", "Without-SA", 968.64, 18.4719, 0.7365),
        ("srvp-wo-rfa", "Without-RFA", 1023.84, 18.2027, 0.6983),
        ("srvp-wo-crossatt", "Without-CrossAtt", 973.16, 18.4690, 0.7314),
    ]
    for model, label, mse, psnr, ssim in ablations:
        metrics = {"mse": mse, "psnr": psnr, "ssim": ssim}
        rows.append(ReferenceRow(model, label, SRVP_PAPER + ", ablation", "srvp-paper", "mmnist", "10->10", metrics))
    return rows


def _srvp_kth() -> list[ReferenceRow]:
    table = [
        ("convlstm", "ConvLSTM", 936.69, 17.1198, 0.5322),
        ("predrnn", "ST-LSTM", 386.21, 21.9665, 0.7294),
        ("predrnn++", "Causal LSTM", 408.14, 21.5750, 0.7158),
        ("mim", "MIM", 445.27, 21.3214, 0.6947),
        ("convgru", "ConvGRU", 418.09, 21.5636, 0.7115),
        ("mimo-vp", "MIMO-VP", 502.15, 21.0167, 0.7276),
        ("simvp", "SimVP", 452.65, 21.4365, 0.7179),
        ("srvp", "SRVP", 383.16, 22.0322, 0.7360),
    ]
    return [
        ReferenceRow(
            model,
            label,
            SRVP_PAPER,
            "srvp-paper",
            "kth",
            "10->10",
            {"mse": mse, "psnr": psnr, "ssim": ssim},
            data="unnamed 'complex motion' set (likely KTH)",
            note=KTH_GUESS_NOTE,
        )
        for model, label, mse, psnr, ssim in table
    ]


def _srvp_human36m() -> list[ReferenceRow]:
    # Per-horizon SSIM only; the publication gives no overall value, so none is invented here.
    table = [
        ("convlstm", "ConvLSTM", [0.8960, 0.8799, 0.8617, 0.8440]),
        ("predrnn", "ST-LSTM", [0.9656, 0.9519, 0.9397, 0.9285]),
        ("predrnn++", "Causal LSTM", [0.9639, 0.9502, 0.9375, 0.9262]),
        ("mim", "MIM", [0.9599, 0.9446, 0.9313, 0.9185]),
        ("convgru", "ConvGRU", [0.9643, 0.9489, 0.9354, 0.9235]),
        ("mimo-vp", "MIMO-VP", [0.9303, 0.9154, 0.9034, 0.8924]),
        ("simvp", "SimVP", [0.9415, 0.9286, 0.9194, 0.9122]),
        ("srvp", "SRVP", [0.9659, 0.9512, 0.9386, 0.9272]),
    ]
    return [
        ReferenceRow(model, label, SRVP_PAPER, "srvp-paper", "human36m", "4->4", per_horizon={"ssim": ssim})
        for model, label, ssim in table
    ]


def _openstl() -> list[ReferenceRow]:
    # Moving MNIST 10->10, 200 epochs: Params / FLOPs / MSE / MAE / SSIM / PSNR.
    table = [
        ("convlstm", "ConvLSTM", 15.0e6, 56.8e9, 29.80, 90.64, 0.9288, 22.10, OPENSTL_BUG_NOTE),
        ("predrnn", "PredRNN", 23.8e6, 116.0e9, 23.97, 72.82, 0.9462, 23.28, ""),
        ("predrnn++", "PredRNN++", 38.6e6, 171.7e9, 22.06, 69.58, 0.9509, 23.65, OPENSTL_BUG_NOTE),
        ("mim", "MIM", 38.0e6, 179.2e9, 22.55, 69.97, 0.9498, 23.56, ""),
        ("simvp", "SimVP (IncepU)", 58.0e6, 19.4e9, 32.15, 89.05, 0.9268, 21.84, ""),
    ]
    rows = []
    for model, label, parameters, flops, mse, mae, ssim, psnr, note in table:
        rows.append(
            ReferenceRow(
                model,
                label,
                OPENSTL,
                "openstl",
                "mmnist",
                "10->10",
                {"mse_sum": mse, "mae_sum": mae, "ssim": ssim, "psnr": psnr},
                parameters=round(parameters),
                macs_per_sequence=round(flops),
                data="standard test file (mnist_test_seq.npy), 200 epochs",
                note="; ".join(filter(None, [note, OPENSTL_FLOPS_NOTE])),
            )
        )
    return rows


def _mimo_vp() -> list[ReferenceRow]:
    return [
        ReferenceRow(
            "mimo-vp",
            "MIMO-VP",
            MIMO_VP,
            "openstl",
            "mmnist",
            "10->10",
            {"mse_sum": 17.7, "mae_sum": 51.6, "ssim": 0.964},
            note="per-frame sums as the paper states them, its SSIM data range is not stated",
        )
    ]


REFERENCE_ROWS: tuple[ReferenceRow, ...] = tuple(
    _srvp_mmnist() + _srvp_kth() + _srvp_human36m() + _openstl() + _mimo_vp()
)


def reference_rows(
    dataset: str | None = None,
    protocol: str | None = None,
    convention: str | None = None,
) -> list[ReferenceRow]:
    """The published rows matching every given filter (None matches all)."""
    return [
        row
        for row in REFERENCE_ROWS
        if (dataset is None or row.dataset == dataset)
        and (protocol is None or row.protocol == protocol)
        and (convention is None or row.convention == convention)
    ]
