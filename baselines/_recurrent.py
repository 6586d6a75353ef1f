"""The frame loop shared by ConvLSTM, PredRNN, PredRNN++ and MIM (MODELS.md, "Recurrent baselines on
patches"), so that the four models differ only in their cells and how the cells are wired.

All four papers use the same protocol, from the PredRNN code base: frames are patchified; the network runs
T_in + horizon - 1 steps, and at step t predicts frame t + 1 with a 1x1 convolution from the top hidden
state. Inputs are the context frames, then for the future either the ground truth or the model's own
previous prediction, chosen per step and per sequence by a coin whose probability of "ground truth"
decays linearly from 1 to 0 over `sampling_stop_iter` optimizer steps (scheduled sampling; PredRNN uses
50,000 steps, i.e. 2e-5 per step). The objective is the MSE over all T_in + horizon - 1 next-frame
outputs. At test time the loop is fully autoregressive. State is created per call: nothing recurrent is
ever stored on the module.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vpbench.errors import VpbenchError
from vpbench.modeling import VideoPredictor, require_positive
from vpbench.registry import STEP_COST, Preset, TrainSettings

from ._patches import patchify, require_divisible, unpatchify


def ground_truth_probability(step: int, sampling_stop_iter: int) -> float:
    """Scheduled sampling: P(feed the ground truth) at optimizer step `step`, 1 at step 0, falling by
    1/sampling_stop_iter per step to 0. A pure function of the step, so a resumed run continues exactly."""
    if sampling_stop_iter <= 0:
        return 0.0
    return max(0.0, 1.0 - step / sampling_stop_iter)


class PatchRecurrentPredictor(VideoPredictor):
    """Base class: patchify, unroll `step` over time, read each prediction out with a 1x1 conv.

    Subclasses build their cell stack in `__init__` and implement `initial_state` (zeros, per sequence)
    and `step` (one time step: patch frame + state -> top hidden state + new state). Defaults are the
    paper's Moving MNIST sizes; `patch_size` is the space-to-depth factor p (4 on Moving MNIST, 2 on KTH).
    """

    model_name = "patch-recurrent"  # the registry name, for error messages
    loss_name = "mse next-frame (all T_in+horizon-1 outputs), scheduled sampling"
    patch_size_from_dataset = True
    min_layers = 1

    def __init__(
        self,
        *,
        channels: int,
        height: int,
        width: int,
        context_length: int,
        patch_size: int = 4,
        num_layers: int = 4,
        hidden_channels: int = 128,
        filter_size: int = 5,
        sampling_stop_iter: int = 50_000,
    ) -> None:
        super().__init__(channels=channels, height=height, width=width, context_length=context_length)
        require_divisible(self.model_name, height, width, patch_size)
        require_positive(self.model_name, hidden_channels=hidden_channels, filter_size=filter_size)
        if num_layers < self.min_layers:
            raise VpbenchError(f"model '{self.model_name}' needs num_layers >= {self.min_layers} (got {num_layers})")
        if filter_size % 2 == 0:
            raise VpbenchError(f"model '{self.model_name}' needs an odd filter_size (got {filter_size})")
        self.patch_size = patch_size
        self.num_layers = num_layers
        self.hidden_channels = hidden_channels
        self.filter_size = filter_size
        self.sampling_stop_iter = sampling_stop_iter
        self.patch_channels = channels * patch_size**2
        self.grid_height, self.grid_width = height // patch_size, width // patch_size
        self.readout = nn.Conv2d(hidden_channels, self.patch_channels, kernel_size=1)

    # -- subclass hooks -------------------------------------------------------------------------------
    def initial_state(self, batch: int, like: torch.Tensor) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, frame: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def zero_state(self, batch: int, like: torch.Tensor) -> torch.Tensor:
        """One (batch, hidden, H/p, W/p) zero tensor on `like`'s device and dtype."""
        return like.new_zeros(batch, self.hidden_channels, self.grid_height, self.grid_width)

    # -- the shared loop ------------------------------------------------------------------------------
    def next_frame_predictions(
        self,
        context: torch.Tensor,
        horizon: int,
        target: torch.Tensor | None = None,
        teacher_forcing: float = 0.0,
    ) -> torch.Tensor:
        """All T_in + horizon - 1 next-frame outputs, (B, T_in + horizon - 1, C, H, W): output t predicts
        frame t + 1 of the sequence context ++ target."""
        batch, context_length = context.shape[:2]
        if tuple(context.shape[2:]) != (self.channels, self.height, self.width):
            raise VpbenchError(
                f"model '{self.model_name}' was built for frames {self.channels}x{self.height}x{self.width}, "
                f"got {'x'.join(map(str, context.shape[2:]))}; build it for this frame size"
            )
        if horizon < 1:
            raise VpbenchError(f"model '{self.model_name}' needs horizon >= 1 (got {horizon})")
        context_patches = patchify(context, self.patch_size)
        use_truth = self._sampling_coins(batch, horizon, target, teacher_forcing, context.device)
        target_patches = patchify(target, self.patch_size) if use_truth is not None else None

        state = self.initial_state(batch, context_patches)
        outputs: list[torch.Tensor] = []
        for t in range(context_length + horizon - 1):
            if t < context_length:
                frame = context_patches[:, t]
            elif use_truth is None:
                frame = outputs[-1]
            else:
                k = t - context_length
                frame = torch.where(use_truth[:, k, None, None, None], target_patches[:, k], outputs[-1])
            top_hidden, state = self.step(frame, state)
            outputs.append(self.readout(top_hidden))
        return unpatchify(torch.stack(outputs, dim=1), self.patch_size)

    def _sampling_coins(
        self, batch: int, horizon: int, target: torch.Tensor | None, probability: float, device: torch.device
    ) -> torch.Tensor | None:
        """(B, horizon - 1) booleans, True = feed the ground truth; None = fully autoregressive.
        Coins come from torch's global RNG (checkpointed by the engine); none are drawn when not needed."""
        if target is None or probability <= 0.0 or horizon < 2:
            return None
        if target.shape[1] < horizon - 1:
            raise VpbenchError(
                f"model '{self.model_name}': teacher forcing needs {horizon - 1} target frames, got {target.shape[1]}"
            )
        if probability >= 1.0:
            return torch.ones(batch, horizon - 1, dtype=torch.bool, device=device)
        return torch.rand(batch, horizon - 1, device=device) < probability

    def forward(
        self,
        context: torch.Tensor,
        horizon: int,
        target: torch.Tensor | None = None,
        teacher_forcing: float = 0.0,
    ) -> torch.Tensor:
        """(B, T_in, C, H, W) -> (B, horizon, C, H, W). With `target` and teacher_forcing > 0, each future
        input is the ground truth with that probability (per step and sequence), else the prediction."""
        outputs = self.next_frame_predictions(context, horizon, target, teacher_forcing)
        return outputs[:, context.shape[1] - 1 :]

    def training_loss(self, context: torch.Tensor, target: torch.Tensor, step: int) -> torch.Tensor:
        """MSE over every next-frame output (context frames 2..T_in and all targets), with the scheduled
        sampling probability of optimizer step `step`."""
        probability = ground_truth_probability(step, self.sampling_stop_iter)
        outputs = self.next_frame_predictions(context, target.shape[1], target, probability)
        return F.mse_loss(outputs, torch.cat([context[:, 1:], target], dim=1))


def recurrent_presets(*, paper_lr: float, small_hidden: int, small_note: str = "") -> dict[str, Preset]:
    """The three presets every PredRNN-family model shares; only the paper's learning rate and the
    width of `small` differ between models."""
    paper_model = {
        "patch_size": 4,
        "num_layers": 4,
        "hidden_channels": 128,
        "filter_size": 5,
        "sampling_stop_iter": 50_000,
    }
    return {
        "paper": Preset(
            model=paper_model,
            train=TrainSettings(
                optimizer="adam",
                lr=paper_lr,
                schedule="onecycle",
                batch_size=16,
                paper_budget="200 epochs of 10,000 Moving MNIST sequences (OpenSTL benchmark); "
                "scheduled sampling over the first 50,000 iterations",
            ),
            note="Moving MNIST configuration of the paper / OpenSTL: 4 layers x 128, filter 5, stride 1, "
            "patch 4 (pass patch_size=2 for KTH), no layer norm; ground-truth probability 1 -> 0 by 2e-5 "
            "per iteration",
        ),
        "small": Preset(
            model={**paper_model, "hidden_channels": small_hidden, "sampling_stop_iter": 500},
            train=TrainSettings(optimizer="adam", lr=paper_lr, schedule="onecycle", batch_size=8),
            note=f"paper structure with {small_hidden} hidden channels instead of 128; a training step costs "
            f"4.0-5.6 s {STEP_COST} (convlstm 5.1, predrnn 5.6, predrnn++ 4.4, mim 4.0); "
            "scheduled sampling ends after 500 steps (not 50,000) because CPU runs train only ~300-1000 "
            f"steps and must reach the autoregressive regime that is evaluated. {small_note}".strip(),
        ),
        "smoke": Preset(
            model={"patch_size": 4, "num_layers": 2, "hidden_channels": 8, "filter_size": 3,
                   "sampling_stop_iter": 20},
            train=TrainSettings(optimizer="adam", lr=1e-3, schedule="constant", batch_size=2),
            note="tiny, for tests: 2 layers x 8, filter 3",
        ),
    }
