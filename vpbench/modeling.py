"""The model contract every predictor in vpbench honours (DESIGN.md, "The model contract").

    pred = model(context, horizon, target=None, teacher_forcing=0.0)
    # context (B, T_in, C, H, W) float in [0, 1]  ->  (B, horizon, C, H, W)

Recurrent models subclass `VideoPredictor` and predict any horizon natively. Models that emit a fixed
block of frames at once (SimVP, MIMO-VP) subclass `FixedHorizonPredictor`, implement `predict_block`,
and inherit the autoregressive rollout, so 10->30 is defined for every model, in training too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vpbench.errors import VpbenchError


class VideoPredictor(nn.Module):
    """Base class: holds the frame geometry and the default objective (MSE on predicted frames).

    Subclasses call `super().__init__(channels=..., height=..., width=..., context_length=...)` and
    implement `forward`. `loss_name` is written into every result record.
    """

    loss_name: str = "mse"
    native_horizon: int | None = None
    # True for models whose papers take the space-to-depth factor from the dataset (the PredRNN family:
    # DataSpec.patch_size, 4 on Moving MNIST, 2 on KTH); every other model keeps its preset's `patch_size`.
    patch_size_from_dataset: bool = False

    def __init__(self, *, channels: int, height: int, width: int, context_length: int) -> None:
        super().__init__()
        self.channels = channels
        self.height = height
        self.width = width
        self.context_length = context_length

    def forward(  # pragma: no cover - abstract
        self,
        context: torch.Tensor,
        horizon: int,
        target: torch.Tensor | None = None,
        teacher_forcing: float = 0.0,
    ) -> torch.Tensor:
        raise NotImplementedError

    def training_loss(self, context: torch.Tensor, target: torch.Tensor, step: int) -> torch.Tensor:
        """The paper's objective. Default: MSE on the predicted frames, no teacher forcing."""
        prediction = self(context, target.shape[1])
        return F.mse_loss(prediction, target)


class FixedHorizonPredictor(VideoPredictor):
    """A model that maps T_in context frames to `native_horizon` frames in one shot.

    `forward` rolls it out: each block's predictions join the context, the last T_in frames are fed
    back, until `horizon` frames exist. Gradients flow through the rollout, so training a 10->30 model
    trains what is evaluated.
    """

    def predict_block(self, context: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """(B, T_in, C, H, W) -> (B, native_horizon, C, H, W)."""
        raise NotImplementedError

    def forward(
        self,
        context: torch.Tensor,
        horizon: int,
        target: torch.Tensor | None = None,
        teacher_forcing: float = 0.0,
    ) -> torch.Tensor:
        return rollout(self.predict_block, context, horizon)


def require_positive(model_name: str, **sizes: int) -> None:
    """Channel counts, heads, groups and kernel sizes below 1 build empty or negative-sized weights, which torch
    reports deep inside a forward pass (or as a division by zero); refuse them when the model is built."""
    small = {name: value for name, value in sizes.items() if value < 1}
    if small:
        got = ", ".join(f"{name}={value}" for name, value in small.items())
        raise VpbenchError(f"model '{model_name}' needs {', '.join(small)} >= 1 (got {got})")


def rollout(predict_block, context: torch.Tensor, horizon: int) -> torch.Tensor:
    """Extend a fixed-horizon predictor autoregressively: feed back the last T_in frames.

    `predict_block(context) -> (B, n, C, H, W)` for any fixed n >= 1; returns (B, horizon, C, H, W).
    """
    context_length = context.shape[1]
    frames = context
    blocks: list[torch.Tensor] = []
    produced = 0
    while produced < horizon:
        block = predict_block(frames[:, -context_length:])
        blocks.append(block)
        produced += block.shape[1]
        if produced < horizon:
            frames = torch.cat([frames[:, -context_length:], block], dim=1)
    return torch.cat(blocks, dim=1)[:, :horizon]
