"""ConvLSTM (Shi et al., NeurIPS 2015) as the PredRNN papers benchmark it: a stack of ConvLSTM cells on
patchified frames, trained with the family's next-frame loss and scheduled sampling. It is the baseline
that ST-LSTM, Causal LSTM and MIM each improve on, so it runs through exactly the same frame loop.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vpbench.registry import register_model

from ._cells import ConvLSTMCell
from ._recurrent import PatchRecurrentPredictor, recurrent_presets


@register_model(
    "convlstm",
    family="rnn",
    paper="Shi et al., Convolutional LSTM Network: A Machine Learning Approach for Precipitation "
    "Nowcasting, NeurIPS 2015",
    presets=recurrent_presets(paper_lr=5e-4, small_hidden=48),
)
class ConvLSTM(PatchRecurrentPredictor):
    """Stacked ConvLSTM on patch frames (layer l > 1 reads the hidden state of layer l - 1).

    `forget_bias` is the constant added to the forget gate's pre-activation: 0 by default, as in Shi et
    al.'s equations and in OpenSTL's cell, whose training produced the published ConvLSTM numbers (see
    `ConvLSTMCell`); 1.0 gives the PredRNN code's convention.
    """

    model_name = "convlstm"

    def __init__(self, *, forget_bias: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.forget_bias = forget_bias
        self.cells = nn.ModuleList(
            ConvLSTMCell(self.patch_channels if layer == 0 else self.hidden_channels, self.hidden_channels,
                         self.filter_size, forget_bias=forget_bias)
            for layer in range(self.num_layers)
        )

    def initial_state(self, batch: int, like: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(self.zero_state(batch, like), self.zero_state(batch, like)) for _ in self.cells]

    def step(self, frame, state):
        new_state = []
        inputs = frame
        for cell, (hidden, memory_cell) in zip(self.cells, state, strict=True):
            hidden, memory_cell = cell(inputs, hidden, memory_cell)
            new_state.append((hidden, memory_cell))
            inputs = hidden
        return inputs, new_state
