"""MIM, Memory In Memory (Wang et al., CVPR 2019): layer 1 is an ST-LSTM, layers >= 2 are MIM blocks,
which replace the temporal forget gate with two cascaded recurrent modules, MIM-N on the differences of
the lower layer's hidden states (non-stationary trends) and MIM-S on its output (the stationary part).
The zigzag spatiotemporal memory of PredRNN runs through all layers.

Two places where we follow the paper's equations (and MODELS.md) rather than the authors' code: every MIM
block's MIM-N reads H^{l-1}_t - H^{l-1}_{t-1} of the layer directly below (the code feeds layers >= 3 the
MIM-N output of the block below instead), and the output gate reads the new memory M_t (the code uses the
incoming M). Neither changes the parameter count. All MIM-N / MIM-S state is reset per sequence (OpenSTL
keeps MIM-S's cell on the module across batches).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vpbench.registry import register_model

from ._cells import MIMBlock, SpatioTemporalLSTMCell
from ._recurrent import PatchRecurrentPredictor, recurrent_presets


@register_model(
    "mim",
    family="rnn",
    paper="Wang et al., Memory In Memory: A Predictive Neural Network for Learning Higher-Order "
    "Non-Stationarity from Spatiotemporal Dynamics, CVPR 2019",
    presets=recurrent_presets(
        paper_lr=5e-4,
        small_hidden=20,
        small_note="MIM-N / MIM-S peepholes are per-pixel, so MIM is built for one frame size.",
    ),
)
class MIM(PatchRecurrentPredictor):
    """ST-LSTM bottom layer, MIM blocks above, zigzag memory; per-pixel peepholes tie it to one frame size."""

    model_name = "mim"
    min_layers = 2  # one ST-LSTM plus at least one MIM block

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        size = (self.hidden_channels, self.filter_size, self.grid_height, self.grid_width)
        self.cells = nn.ModuleList(
            [SpatioTemporalLSTMCell(self.patch_channels, self.hidden_channels, self.filter_size)]
            + [MIMBlock(self.hidden_channels, *size) for _ in range(self.num_layers - 1)]
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

    def step(self, frame, state):
        previous_hidden = state["hidden"]
        hidden, cell = list(previous_hidden), list(state["cell"])
        difference, stationary = list(state["difference"]), list(state["stationary"])
        hidden[0], cell[0], memory = self.cells[0](frame, hidden[0], cell[0], state["memory"])
        for layer in range(1, self.num_layers):
            below = hidden[layer - 1]  # already updated to H^{l-1}_t
            below_difference = None if state["first_step"] else below - previous_hidden[layer - 1]
            hidden[layer], cell[layer], memory, difference[layer - 1], stationary[layer - 1] = self.cells[layer](
                below, below_difference, hidden[layer], cell[layer], memory, difference[layer - 1],
                stationary[layer - 1],
            )
        new_state = {"hidden": hidden, "cell": cell, "memory": memory, "difference": difference,
                     "stationary": stationary, "first_step": False}
        return hidden[-1], new_state
