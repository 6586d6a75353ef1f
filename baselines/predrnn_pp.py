"""PredRNN++ (Wang et al., ICML 2018): Causal LSTM cells (temporal memory first, then the spatial memory
computed from it) with a Gradient Highway Unit between layers 1 and 2, which gives the gradient a short
path through time and eases the vanishing-gradient problem of the deep-in-time cascade.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vpbench.registry import register_model

from ._cells import CausalLSTMCell, GradientHighwayUnit
from ._recurrent import PatchRecurrentPredictor, recurrent_presets


@register_model(
    "predrnn++",
    family="rnn",
    paper="Wang et al., PredRNN++: Towards A Resolution of the Deep-in-Time Dilemma in Spatiotemporal "
    "Predictive Learning, ICML 2018",
    presets=recurrent_presets(paper_lr=1e-4, small_hidden=20),
)
class PredRNNPlusPlus(PatchRecurrentPredictor):
    """Stacked Causal LSTM, zigzag memory, GHU between the first and second layer."""

    model_name = "predrnn++"
    min_layers = 2  # the GHU sits between layers 1 and 2

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cells = nn.ModuleList(
            CausalLSTMCell(self.patch_channels if layer == 0 else self.hidden_channels, self.hidden_channels,
                           self.filter_size)
            for layer in range(self.num_layers)
        )
        self.highway = GradientHighwayUnit(self.hidden_channels, self.hidden_channels, self.filter_size)

    def initial_state(self, batch: int, like: torch.Tensor):
        zeros = [self.zero_state(batch, like) for _ in range(2 * self.num_layers + 2)]
        layers = self.num_layers
        return zeros[:layers], zeros[layers : 2 * layers], zeros[-2], zeros[-1]

    def step(self, frame, state):
        hidden, cell, memory, highway = list(state[0]), list(state[1]), state[2], state[3]
        inputs = frame
        for layer, lstm in enumerate(self.cells):
            hidden[layer], cell[layer], memory = lstm(inputs, hidden[layer], cell[layer], memory)
            inputs = hidden[layer]
            if layer == 0:
                # PredRNN++ Sec. 3.2: Z_t = GHU(H^1_t, Z_{t-1}); layer 2 reads Z_t instead of H^1_t.
                highway = self.highway(inputs, highway)
                inputs = highway
        return inputs, (hidden, cell, memory, highway)
