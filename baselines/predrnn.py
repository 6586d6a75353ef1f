"""PredRNN (Wang et al., NeurIPS 2017): stacked ST-LSTM cells whose spatiotemporal memory M zigzags up
through the layers within a time step and from the top layer at t-1 back to the bottom layer at t, so
that low-level spatial detail reaches the next prediction without being squeezed through the hidden
states alone.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vpbench.registry import register_model

from ._cells import SpatioTemporalLSTMCell
from ._recurrent import PatchRecurrentPredictor, recurrent_presets


@register_model(
    "predrnn",
    family="rnn",
    paper="Wang et al., PredRNN: Recurrent Neural Networks for Predictive Learning using Spatiotemporal "
    "LSTMs, NeurIPS 2017",
    presets=recurrent_presets(paper_lr=5e-4, small_hidden=32),
)
class PredRNN(PatchRecurrentPredictor):
    """Stacked ST-LSTM with the zigzag spatiotemporal memory flow."""

    model_name = "predrnn"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cells = nn.ModuleList(
            SpatioTemporalLSTMCell(self.patch_channels if layer == 0 else self.hidden_channels,
                                   self.hidden_channels, self.filter_size)
            for layer in range(self.num_layers)
        )

    def initial_state(self, batch: int, like: torch.Tensor):
        zeros = [self.zero_state(batch, like) for _ in range(2 * self.num_layers + 1)]
        return zeros[: self.num_layers], zeros[self.num_layers : -1], zeros[-1]

    def step(self, frame, state):
        hidden, cell, memory = list(state[0]), list(state[1]), state[2]
        inputs = frame
        for layer, lstm in enumerate(self.cells):
            # `memory` arrives from the layer below, or for layer 1 from the top layer at t - 1.
            hidden[layer], cell[layer], memory = lstm(inputs, hidden[layer], cell[layer], memory)
            inputs = hidden[layer]
        return inputs, (hidden, cell, memory)
