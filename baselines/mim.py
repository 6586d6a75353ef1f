"""MIM, Memory In Memory (Wang et al., CVPR 2019): layer 1 is an ST-LSTM, layers >= 2 are MIM blocks,
which replace the temporal forget gate with two cascaded recurrent modules, MIM-N on the differences of
the lower layer's hidden states (non-stationary trends) and MIM-S on its output (the stationary part).
The zigzag spatiotemporal memory of PredRNN runs through all layers.

The paper's text and the authors' code (which OpenSTL ports, and which made every published MIM number)
differ in two places; `variant` picks one, and both have the same parameters:

    variant="code"  (default, registered as `mim`): the MIM block's output gate reads the *incoming*
                    memory M; MIM-N of the first block reads H^1_t - H^1_{t-1}, and MIM-N of every block
                    above reads the MIM-N output D^{l-1}_t of the block below.
    variant="paper" (registered as `mim-paper`): the output gate reads the new memory M_t, and every MIM-N
                    reads H^{l-1}_t - H^{l-1}_{t-1} of the layer directly below (MIM paper, Sec. 4).

With two layers (one MIM block) the MIM-N wiring coincides; only the output gate differs. In both, all
MIM-N / MIM-S state is reset per sequence: OpenSTL keeps MIM-S's cell on the module across batches
(detached), a bug not reproduced here.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vpbench.errors import VpbenchError
from vpbench.registry import register_model

from ._cells import MIM_VARIANTS, MIMBlock, MIMVariant, SpatioTemporalLSTMCell
from ._recurrent import PatchRecurrentPredictor, recurrent_presets

PAPER = (
    "Wang et al., Memory In Memory: A Predictive Neural Network for Learning Higher-Order Non-Stationarity "
    "from Spatiotemporal Dynamics, CVPR 2019"
)
SMALL_NOTE = "MIM-N / MIM-S peepholes are per-pixel, so MIM is built for one frame size."


@register_model("mim", family="rnn", paper=PAPER,
                presets=recurrent_presets(paper_lr=5e-4, small_hidden=20, small_note=SMALL_NOTE))
class MIM(PatchRecurrentPredictor):
    """MIM as the authors' code and OpenSTL run it: ST-LSTM bottom layer, MIM blocks above, zigzag memory.

    `variant="paper"` follows the paper's equations instead (see the module docstring); per-pixel
    peepholes tie the model to one frame size.
    """

    model_name = "mim"
    min_layers = 2  # one ST-LSTM plus at least one MIM block

    def __init__(self, *, variant: MIMVariant = "code", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if variant not in MIM_VARIANTS:
            raise VpbenchError(
                f"model '{self.model_name}' has variants {', '.join(MIM_VARIANTS)}, not {variant!r}"
            )
        self.variant = variant
        size = (self.hidden_channels, self.filter_size, self.grid_height, self.grid_width)
        self.cells = nn.ModuleList(
            [SpatioTemporalLSTMCell(self.patch_channels, self.hidden_channels, self.filter_size)]
            + [MIMBlock(self.hidden_channels, *size, variant=variant) for _ in range(self.num_layers - 1)]
        )

    def initial_state(self, batch: int, like: torch.Tensor) -> dict[str, Any]:
        def zeros(count: int) -> list[torch.Tensor]:
            return [self.zero_state(batch, like) for _ in range(count)]

        blocks = self.num_layers - 1
        return {
            "hidden": zeros(self.num_layers),
            "cell": zeros(self.num_layers),
            "memory": self.zero_state(batch, like),
            "difference": [tuple(zeros(2)) for _ in range(blocks)],  # MIM-N's (D, N) per block
            "stationary": zeros(blocks),  # MIM-S's cell S per block
            "first_step": True,
        }

    def non_stationary_input(
        self,
        layer: int,
        hidden: list[torch.Tensor],
        previous_hidden: list[torch.Tensor],
        difference: list[tuple[torch.Tensor, torch.Tensor]],
    ) -> torch.Tensor:
        """MIM-N's input for the block at `layer` (>= 1), once the layers below have stepped to t."""
        if layer >= 2 and self.variant == "code":
            return difference[layer - 2][0]  # D^{l-1}_t, the MIM-N output of the block below
        return hidden[layer - 1] - previous_hidden[layer - 1]  # H^{l-1}_t - H^{l-1}_{t-1}

    def step(self, frame, state):
        previous_hidden = state["hidden"]
        hidden, cell = list(previous_hidden), list(state["cell"])
        difference, stationary = list(state["difference"]), list(state["stationary"])
        hidden[0], cell[0], memory = self.cells[0](frame, hidden[0], cell[0], state["memory"])
        for layer in range(1, self.num_layers):
            trend = None if state["first_step"] else self.non_stationary_input(
                layer, hidden, previous_hidden, difference)
            hidden[layer], cell[layer], memory, difference[layer - 1], stationary[layer - 1] = self.cells[layer](
                hidden[layer - 1], trend, hidden[layer], cell[layer], memory, difference[layer - 1],
                stationary[layer - 1],
            )
        new_state = {"hidden": hidden, "cell": cell, "memory": memory, "difference": difference,
                     "stationary": stationary, "first_step": False}
        return hidden[-1], new_state


@register_model("mim-paper", family="rnn", paper=PAPER,
                presets=recurrent_presets(paper_lr=5e-4, small_hidden=20, small_note=SMALL_NOTE))
class MIMPaper(MIM):
    """MIM as the paper's equations write it (output gate on M_t, every MIM-N on hidden differences);
    `mim` is the authors' code, which made the published numbers."""

    model_name = "mim-paper"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(variant="paper", **kwargs)
