"""`convgru`: the SRVP paper's ConvGRU baseline ("Sec. 3.2"), i.e. SRVP's backbone with no attention.

Kept as its own registered model because it is the ablation that tells how much SRVP's attention
modules buy: same encoder-forecaster, same training, and a head that sees only the layer states.
"""

from __future__ import annotations

import torch
from torch import nn

from vpbench.layers.convgru import (
    PAPER_BACKBONE,
    PAPER_TRAINING,
    SMALL_BACKBONE,
    SMALL_TRAINING,
    SMOKE_BACKBONE,
    ConvGRUEncoderForecaster,
    binary_cross_entropy,
    check_backbone_arguments,
)
from vpbench.modeling import VideoPredictor
from vpbench.registry import STEP_COST, Preset, register_model

_PRESETS = {
    "paper": Preset(
        model=PAPER_BACKBONE,
        train=PAPER_TRAINING,
        note="SRVP paper's ConvGRU: 4 x 128, kernel 5, full resolution, dropout 0.5; SRVP's training (BCE).",
    ),
    "small": Preset(
        model=SMALL_BACKBONE,
        train=SMALL_TRAINING,
        note="4 x 16, kernel 3, no dropout (the paper: 0.5; a training step: 4.1 s " + STEP_COST + "); "
        "Adam 1e-3 instead of RMSprop 1e-5, which is far too slow for a minutes-long CPU budget. Dropout is off "
        "as in SRVP's small preset, whose note gives the evidence: at this width the backbone underfits.",
    ),
    "smoke": Preset(model=SMOKE_BACKBONE, train=SMALL_TRAINING, note="tiny, for tests"),
}


@register_model(
    "convgru",
    family="rnn",
    paper="ConvGRU encoder-forecaster as the SRVP paper's baseline (Kim & Park, CVPR-W 2025, Sec. 3.2)",
    presets=_PRESETS,
    description="ConvGRU encoder-forecaster at full resolution; head conv 3x3 on all layer states, sigmoid.",
)
class ConvGRU(VideoPredictor):
    """ConvGRU encoder-forecaster; the head is a 3x3 conv on the concatenated layer states, then sigmoid."""

    loss_name = "bce"

    def __init__(
        self,
        *,
        channels: int,
        height: int,
        width: int,
        context_length: int,
        hidden_channels: int,
        num_layers: int,
        kernel_size: int,
        dropout: float,
    ) -> None:
        super().__init__(channels=channels, height=height, width=width, context_length=context_length)
        check_backbone_arguments("convgru", hidden_channels, num_layers, kernel_size)
        self.backbone = ConvGRUEncoderForecaster(channels, hidden_channels, num_layers, kernel_size, dropout)
        self.head = nn.Sequential(
            nn.Conv2d(num_layers * hidden_channels, channels, kernel_size=3, padding=1), nn.Sigmoid()
        )

    def _readout(self, states: list[torch.Tensor]) -> torch.Tensor:
        return self.head(torch.cat(states, dim=1))

    def forward(
        self,
        context: torch.Tensor,
        horizon: int,
        target: torch.Tensor | None = None,
        teacher_forcing: float = 0.0,
    ) -> torch.Tensor:
        _, states = self.backbone.encode(context)
        return self.backbone.forecast(states, context[:, -1], horizon, self._readout, target, teacher_forcing)

    def training_loss(self, context: torch.Tensor, target: torch.Tensor, step: int) -> torch.Tensor:
        return binary_cross_entropy(self(context, target.shape[1]), target)
