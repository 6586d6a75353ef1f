"""Sanity predictors that belong on every leaderboard: a model that cannot beat them has learned nothing.

`last-frame` repeats the last context frame (the "no motion" baseline; strong on static backgrounds such
as KTH), `zeros` predicts black frames (the floor for Moving MNIST's mostly-black canvas). Neither has
parameters or is trained.
"""

from __future__ import annotations

import torch

from vpbench.modeling import VideoPredictor
from vpbench.registry import Preset, TrainSettings, register_model

_NO_TRAINING = Preset(model={}, train=TrainSettings(optimizer="none", lr=0.0), note="no parameters, not trained")
_PRESETS = {"paper": _NO_TRAINING, "small": _NO_TRAINING, "smoke": _NO_TRAINING}


class _ParameterFree(VideoPredictor):
    trainable = False

    def training_loss(self, context: torch.Tensor, target: torch.Tensor, step: int) -> torch.Tensor:
        # Zero with a graph, so a generic training loop runs without special cases.
        return (self(context, target.shape[1]) - target).square().mean().detach().requires_grad_()


@register_model(
    "last-frame", family="reference", paper="sanity predictor: repeat the last context frame", presets=_PRESETS
)
class LastFrame(_ParameterFree):
    """Repeats the last context frame for every future step."""

    def forward(self, context, horizon, target=None, teacher_forcing=0.0):
        return context[:, -1:].expand(-1, horizon, -1, -1, -1).clone()


@register_model("zeros", family="reference", paper="sanity predictor: all-black frames", presets=_PRESETS)
class Zeros(_ParameterFree):
    """Predicts all-zero (black) frames."""

    def forward(self, context, horizon, target=None, teacher_forcing=0.0):
        batch, _, channels, height, width = context.shape
        return context.new_zeros(batch, horizon, channels, height, width)
