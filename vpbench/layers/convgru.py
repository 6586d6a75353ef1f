"""The ConvGRU encoder-forecaster, written once for the `convgru` baseline and for SRVP.

The SRVP paper's ConvGRU row *is* SRVP's backbone without its attention modules (MODELS.md, "ConvGRU"),
so both models hold one `ConvGRUEncoderForecaster` and differ only in the read-out that turns the
forecaster's layer states into a frame. Everything runs at full resolution (no down-sampling).

Per-sequence state lives in local variables only: nothing is kept on `self` between calls, so two
batches never share state and `torch.inference_mode()` keeps no activations.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from vpbench.errors import VpbenchError
from vpbench.registry import TrainSettings


class ConvGRUCell(nn.Module):
    """One convolutional GRU cell (MODELS.md, "ConvGRU"):

        [z, r] = σ(W * dropout(x) + U * h)          update and reset gates
        g      = tanh(W_g * x + U_g * (r ⊙ h))      candidate
        h'     = (1 − z) ⊙ g + z ⊙ h

    Dropout acts on the cell input of the gate branch only, as in the SRVP reference code; the candidate
    sees the undropped input. Every convolution has a bias and "same" padding.
    """

    def __init__(self, input_channels: int, hidden_channels: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        padding = kernel_size // 2
        self.hidden_channels = hidden_channels
        self.input_dropout = nn.Dropout(dropout)
        self.gates_from_input = nn.Conv2d(input_channels, 2 * hidden_channels, kernel_size, padding=padding)
        self.gates_from_hidden = nn.Conv2d(hidden_channels, 2 * hidden_channels, kernel_size, padding=padding)
        self.candidate_from_input = nn.Conv2d(input_channels, hidden_channels, kernel_size, padding=padding)
        self.candidate_from_hidden = nn.Conv2d(hidden_channels, hidden_channels, kernel_size, padding=padding)

    def forward(self, inputs: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        gates = self.gates_from_input(self.input_dropout(inputs)) + self.gates_from_hidden(hidden)
        update_logits, reset_logits = gates.split(self.hidden_channels, dim=1)
        update, reset = torch.sigmoid(update_logits), torch.sigmoid(reset_logits)
        candidate = torch.tanh(self.candidate_from_input(inputs) + self.candidate_from_hidden(reset * hidden))
        # (1 − z)⊙g + z⊙h written as lerp(g, h, z): one fused op that saves no new tensor for backward. lerp takes
        # one dtype: under bf16 autocast (CUDA training) the gates come out bf16 while the state starts float32,
        # so all three meet in the wider one (no-op casts in float32) and the state is carried in float32.
        dtype = torch.promote_types(candidate.dtype, hidden.dtype)
        return torch.lerp(candidate.to(dtype), hidden.to(dtype), update.to(dtype))


class ConvGRUStack(nn.Module):
    """`num_layers` ConvGRU cells; layer l's new state is layer l+1's input within a time step."""

    def __init__(
        self, input_channels: int, hidden_channels: int, num_layers: int, kernel_size: int, dropout: float
    ) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.cells = nn.ModuleList(
            ConvGRUCell(input_channels if layer == 0 else hidden_channels, hidden_channels, kernel_size, dropout)
            for layer in range(num_layers)
        )

    def initial_states(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """Zero states shaped like `frames` (B, C, H, W) but with the hidden width."""
        batch, _, height, width = frames.shape
        return [frames.new_zeros(batch, self.hidden_channels, height, width) for _ in self.cells]

    def step(self, frame: torch.Tensor, states: list[torch.Tensor]) -> list[torch.Tensor]:
        """Advance every layer by one time step; returns the new states (bottom to top)."""
        new_states = []
        layer_input = frame
        for cell, state in zip(self.cells, states, strict=True):
            layer_input = cell(layer_input, state)
            new_states.append(layer_input)
        return new_states


class ConvGRUEncoderForecaster(nn.Module):
    """Two separate ConvGRU stacks: the encoder reads the context, the forecaster rolls the future out.

    The forecaster starts from the encoder's final states and takes the last observed frame as its first
    input; afterwards it is fed its own prediction (or, with teacher forcing, the ground-truth frame).
    The read-out that maps the forecaster's states to a frame belongs to the model using the backbone.
    """

    def __init__(self, channels: int, hidden_channels: int, num_layers: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.encoder = ConvGRUStack(channels, hidden_channels, num_layers, kernel_size, dropout)
        self.forecaster = ConvGRUStack(channels, hidden_channels, num_layers, kernel_size, dropout)

    def encode(self, context: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """context (B, T, C, H, W) -> (top-layer outputs (B, T, hidden, H, W), final states per layer)."""
        states = self.encoder.initial_states(context[:, 0])
        top_outputs = []
        for time in range(context.shape[1]):
            states = self.encoder.step(context[:, time], states)
            top_outputs.append(states[-1])
        return torch.stack(top_outputs, dim=1), states

    def forecast(
        self,
        states: list[torch.Tensor],
        last_observed: torch.Tensor,
        horizon: int,
        readout: Callable[[list[torch.Tensor]], torch.Tensor],
        target: torch.Tensor | None = None,
        teacher_forcing: float = 0.0,
    ) -> torch.Tensor:
        """Roll the forecaster out for `horizon` steps; `readout(states) -> (B, C, H, W)` makes each frame.

        With a target and teacher_forcing > 0, each sequence's next input is its ground-truth frame with
        probability `teacher_forcing` (drawn per sequence and step), else its own prediction.
        """
        use_teacher = target is not None and teacher_forcing > 0
        frame = last_observed
        predictions = []
        for step in range(horizon):
            states = self.forecaster.step(frame, states)
            prediction = readout(states)
            predictions.append(prediction)
            frame = prediction
            if use_teacher:
                take_truth = torch.rand(prediction.shape[0], 1, 1, 1, device=prediction.device) < teacher_forcing
                frame = torch.where(take_truth, target[:, step], prediction)
        return torch.stack(predictions, dim=1)


def binary_cross_entropy(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE on predicted frames (the SRVP paper's objective), in float32 or wider.

    BCE on probabilities is refused inside CUDA autocast regions and loses precision in bf16, so the
    loss leaves autocast and upcasts half precision to float32; the network itself may still run in bf16.
    float64 stays float64 (the golden reference tests compare losses to 1e-10).
    """
    dtype = torch.promote_types(prediction.dtype, torch.float32)
    with torch.autocast(device_type=prediction.device.type, enabled=False):
        return F.binary_cross_entropy(prediction.to(dtype), target.to(dtype))


# Presets shared by `convgru`, SRVP and its ablations: same backbone, same training. The SRVP reference
# trains with BCE and RMSprop lr 1e-5, wd 1e-4, momentum 0.9; its cosine schedule (eta_min 1e-7) is
# stepped once per epoch over T_max = 150 x iterations-per-epoch, so the lr never moves: "constant".
PAPER_TRAINING = TrainSettings(
    optimizer="rmsprop",
    lr=1e-5,
    weight_decay=1e-4,
    momentum=0.9,
    schedule="constant",
    batch_size=8,
    paper_budget="150 epochs x 10,000 sequences",
)
# Short CPU runs need a faster start than RMSprop 1e-5. Measured on srvp small, Moving MNIST, batch 8:
# Adam 1e-3 reaches BCE 0.21 by step 8, RMSprop 1e-5 (momentum 0.9) only by step 24, and RMSprop 1e-3
# with momentum 0.9 oscillates (0.25 - 1.02 over 25 steps). So `small` and `smoke` train with Adam 1e-3.
SMALL_TRAINING = TrainSettings(optimizer="adam", lr=1e-3, batch_size=8, paper_budget="150 epochs x 10,000 sequences")

PAPER_BACKBONE = {"hidden_channels": 128, "num_layers": 4, "kernel_size": 5, "dropout": 0.5}
# No dropout at the small width: the paper's 0.5 regularises 4 x 128 channels over 1.5 M sequences, but 4 x 16
# channels underfit in a CPU budget (srvp small with dropout: train-clip MSE 0.0324, validation 0.0320, flat
# from 8,000 to 22,000 sequences; without it, lower at every validation point). The notes give the numbers.
SMALL_BACKBONE = {"hidden_channels": 16, "num_layers": 4, "kernel_size": 3, "dropout": 0.0}
SMOKE_BACKBONE = {"hidden_channels": 8, "num_layers": 2, "kernel_size": 3, "dropout": 0.5}


def check_backbone_arguments(name: str, hidden_channels: int, num_layers: int, kernel_size: int) -> None:
    """One-line errors for sizes the backbone cannot have."""
    if hidden_channels < 1 or num_layers < 1:
        raise VpbenchError(
            f"model '{name}' needs hidden_channels >= 1 and num_layers >= 1 (got {hidden_channels} and {num_layers})"
        )
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise VpbenchError(f"model '{name}' needs an odd kernel_size for 'same' padding (got {kernel_size})")
