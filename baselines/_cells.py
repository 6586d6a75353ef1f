"""Recurrent cells of the PredRNN family, written once and shared by convlstm / predrnn / predrnn++ / mim.

Each cell is a pure function of its inputs and the states passed in: no cell keeps state between calls,
so every sequence starts from the zero state its model creates (OpenSTL's MIM port kept MIM-S's cell as a
module attribute across batches; that cannot happen here).

Conventions (MODELS.md, "Recurrent baselines on patches"): `*` is a "same"-padded convolution with the
model's filter size, `⊙` an element-wise product. Every gate has exactly one learned bias (the `b` of the
paper's equations), held by one of the convolutions feeding it; the others are bias-free so that no bias
is counted twice. The forget gates of ST-LSTM, Causal LSTM, MIM and MIM's peephole ConvLSTMs add a
constant +1 on top, as the authors' code and OpenSTL do; ConvLSTM's does not by default (see
`ConvLSTMCell`). The fused memories `W_1x1 * [C, M]` carry no bias, as in the equations.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

FORGET_BIAS = 1.0  # the PredRNN family's constant forget-gate offset (authors' code and OpenSTL)

# Which MIM: "code" = the authors' code and OpenSTL (the published numbers), "paper" = the paper's text.
MIMVariant = Literal["code", "paper"]
MIM_VARIANTS: tuple[str, ...] = ("code", "paper")


def same_conv(in_channels: int, out_channels: int, filter_size: int, bias: bool) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, filter_size, padding=filter_size // 2, bias=bias)


class ConvLSTMCell(nn.Module):
    """ConvLSTM (Shi et al., NeurIPS 2015, Eq. 3), without the peephole terms:

        [i, f, g, o] = W * [X_t, H_{t-1}] + b
        C_t = σ(f + forget_bias) ⊙ C_{t-1} + σ(i) ⊙ tanh(g)
        H_t = σ(o) ⊙ tanh(C_t)          (OpenSTL before its Dec. 2023 rewrite used o ⊙ g: a bug)

    `forget_bias` defaults to 0: Shi et al.'s equations have no constant, and neither has OpenSTL's cell
    (it defines `_forget_bias = 1.0` but never adds it), which produced the published ConvLSTM numbers.
    The +1 that ST-LSTM, Causal LSTM and MIM add is a PredRNN-code convention; pass forget_bias=1.0 for it.
    """

    def __init__(self, in_channels: int, hidden_channels: int, filter_size: int, forget_bias: float = 0.0) -> None:
        super().__init__()
        self.forget_bias = forget_bias
        self.gates = same_conv(in_channels + hidden_channels, 4 * hidden_channels, filter_size, bias=True)

    def forward(
        self, inputs: torch.Tensor, hidden: torch.Tensor, cell: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        i, f, g, o = self.gates(torch.cat([inputs, hidden], dim=1)).chunk(4, dim=1)
        cell = torch.sigmoid(f + self.forget_bias) * cell + torch.sigmoid(i) * torch.tanh(g)
        hidden = torch.sigmoid(o) * torch.tanh(cell)
        return hidden, cell


class SpatioTemporalLSTMCell(nn.Module):
    """ST-LSTM (Wang et al., PredRNN, NeurIPS 2017, Sec. 3.2). `memory` is the zigzag spatiotemporal
    memory M^{l-1}_t arriving from the layer below (or from the top layer at t-1 for layer 1):

        C_t = σ(W_xf*X + W_hf*H_{t-1} + b_f + 1) ⊙ C_{t-1} + σ(W_xi*X + W_hi*H_{t-1} + b_i)
              ⊙ tanh(W_xg*X + W_hg*H_{t-1} + b_g)
        M_t = σ(W'_xf*X + W_mf*M + b'_f + 1) ⊙ M + σ(W'_xi*X + W_mi*M + b'_i) ⊙ tanh(W'_xg*X + W_mg*M + b'_g)
        o   = σ(W_xo*X + W_ho*H_{t-1} + W_co*C_t + W_mo*M_t + b_o)
        H_t = o ⊙ tanh(W_1x1 * [C_t, M_t])
    """

    def __init__(self, in_channels: int, hidden_channels: int, filter_size: int) -> None:
        super().__init__()
        # input_conv chunks: i, f, g, i', f', g', o (it holds all seven biases)
        self.input_conv = same_conv(in_channels, 7 * hidden_channels, filter_size, bias=True)
        self.hidden_conv = same_conv(hidden_channels, 4 * hidden_channels, filter_size, bias=False)  # i f g o
        self.memory_conv = same_conv(hidden_channels, 3 * hidden_channels, filter_size, bias=False)  # i' f' g'
        self.output_conv = same_conv(2 * hidden_channels, hidden_channels, filter_size, bias=False)  # W_co, W_mo
        self.fuse = same_conv(2 * hidden_channels, hidden_channels, 1, bias=False)  # W_1x1

    def forward(
        self, inputs: torch.Tensor, hidden: torch.Tensor, cell: torch.Tensor, memory: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x_i, x_f, x_g, x_i2, x_f2, x_g2, x_o = self.input_conv(inputs).chunk(7, dim=1)
        h_i, h_f, h_g, h_o = self.hidden_conv(hidden).chunk(4, dim=1)
        m_i, m_f, m_g = self.memory_conv(memory).chunk(3, dim=1)
        cell = torch.sigmoid(x_f + h_f + FORGET_BIAS) * cell + torch.sigmoid(x_i + h_i) * torch.tanh(x_g + h_g)
        memory = torch.sigmoid(x_f2 + m_f + FORGET_BIAS) * memory + torch.sigmoid(x_i2 + m_i) * torch.tanh(
            x_g2 + m_g
        )
        memories = torch.cat([cell, memory], dim=1)
        output_gate = torch.sigmoid(x_o + h_o + self.output_conv(memories))
        hidden = output_gate * torch.tanh(self.fuse(memories))
        return hidden, cell, memory


class CausalLSTMCell(nn.Module):
    """Causal LSTM (Wang et al., PredRNN++, ICML 2018, Sec. 3.1): the temporal memory C is updated
    first and the spatial memory M is computed *from* the new C, a cascade rather than ST-LSTM's parallel
    update:

        C_t = σ(W_xf*X + W_hf*H_{t-1} + W_cf*C_{t-1} + b_f + 1) ⊙ C_{t-1}
              + σ(W_xi*X + W_hi*H_{t-1} + W_ci*C_{t-1} + b_i) ⊙ tanh(W_xg*X + W_hg*H_{t-1} + W_cg*C_{t-1} + b_g)
        M_t = σ(W'_xf*X + W_mf*M + W'_cf*C_t + b'_f + 1) ⊙ tanh(W_mm*M)
              + σ(W'_xi*X + W_mi*M + W'_ci*C_t + b'_i) ⊙ tanh(W'_xg*X + W'_cg*C_t + b'_g)
        o   = tanh(W_xo*X + W_ho*H_{t-1} + W'_co*C_t + W_mo*M_t + b_o)
        H_t = o ⊙ tanh(W_1x1 * [C_t, M_t])

    The W'_c* terms are a convolution of the *new* C_t (OpenSTL once convolved M here; a bug).
    """

    def __init__(self, in_channels: int, hidden_channels: int, filter_size: int) -> None:
        super().__init__()
        h = hidden_channels
        self.input_conv = same_conv(in_channels, 7 * h, filter_size, bias=True)  # i f g i' f' g' o
        self.hidden_conv = same_conv(h, 4 * h, filter_size, bias=False)  # i f g o
        self.cell_conv = same_conv(h, 3 * h, filter_size, bias=False)  # i f g, from C_{t-1}
        self.memory_conv = same_conv(h, 3 * h, filter_size, bias=False)  # i' f' and W_mm*M
        self.new_cell_conv = same_conv(h, 4 * h, filter_size, bias=False)  # i' f' g' o, from C_t
        self.new_memory_conv = same_conv(h, h, filter_size, bias=False)  # W_mo*M_t
        self.fuse = same_conv(2 * h, h, 1, bias=False)

    def forward(
        self, inputs: torch.Tensor, hidden: torch.Tensor, cell: torch.Tensor, memory: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x_i, x_f, x_g, x_i2, x_f2, x_g2, x_o = self.input_conv(inputs).chunk(7, dim=1)
        h_i, h_f, h_g, h_o = self.hidden_conv(hidden).chunk(4, dim=1)
        c_i, c_f, c_g = self.cell_conv(cell).chunk(3, dim=1)
        m_i, m_f, m_m = self.memory_conv(memory).chunk(3, dim=1)
        cell = torch.sigmoid(x_f + h_f + c_f + FORGET_BIAS) * cell + torch.sigmoid(x_i + h_i + c_i) * torch.tanh(
            x_g + h_g + c_g
        )
        n_i, n_f, n_g, n_o = self.new_cell_conv(cell).chunk(4, dim=1)
        memory = torch.sigmoid(x_f2 + m_f + n_f + FORGET_BIAS) * torch.tanh(m_m) + torch.sigmoid(
            x_i2 + m_i + n_i
        ) * torch.tanh(x_g2 + n_g)
        output_gate = torch.tanh(x_o + h_o + n_o + self.new_memory_conv(memory))
        hidden = output_gate * torch.tanh(self.fuse(torch.cat([cell, memory], dim=1)))
        return hidden, cell, memory


class GradientHighwayUnit(nn.Module):
    """GHU (PredRNN++, Sec. 3.2): a gated shortcut between the first two layers that gives gradients a
    short path back through time:

        P_t = tanh(W_px*X_t + W_pz*Z_{t-1} + b_p),  S_t = σ(W_sx*X_t + W_sz*Z_{t-1} + b_s)
        Z_t = S_t ⊙ P_t + (1 - S_t) ⊙ Z_{t-1}
    """

    def __init__(self, in_channels: int, hidden_channels: int, filter_size: int) -> None:
        super().__init__()
        self.input_conv = same_conv(in_channels, 2 * hidden_channels, filter_size, bias=True)  # p s
        self.highway_conv = same_conv(hidden_channels, 2 * hidden_channels, filter_size, bias=False)  # p s

    def forward(self, inputs: torch.Tensor, highway: torch.Tensor) -> torch.Tensor:
        x_p, x_s = self.input_conv(inputs).chunk(2, dim=1)
        z_p, z_s = self.highway_conv(highway).chunk(2, dim=1)
        switch = torch.sigmoid(x_s + z_s)
        return switch * torch.tanh(x_p + z_p) + (1 - switch) * highway


class PeepholeConvLSTMCell(nn.Module):
    """The ConvLSTM inside MIM-N and MIM-S (MIM, CVPR 2019, Sec. 4): peepholes are *per-pixel* weights
    (one per channel and position, as in the authors' code), so the cell is tied to one patch-grid size:

        i = σ(W_xi*X + W_hi*H + W_ci ⊙ C + b_i),  f = σ(W_xf*X + W_hf*H + W_cf ⊙ C + b_f + 1)
        g = tanh(W_xg*X + W_hg*H + b_g),  C' = f ⊙ C + i ⊙ g
        o = σ(W_xo*X + W_ho*H + W_co ⊙ C' + b_o),  H' = o ⊙ tanh(C')

    Peephole weights start at zero (as in OpenSTL's port), i.e. the cell starts as a plain ConvLSTM.
    """

    def __init__(self, in_channels: int, hidden_channels: int, filter_size: int, height: int, width: int) -> None:
        super().__init__()
        self.input_conv = same_conv(in_channels, 4 * hidden_channels, filter_size, bias=True)  # i g f o
        self.hidden_conv = same_conv(hidden_channels, 4 * hidden_channels, filter_size, bias=False)
        self.cell_peephole = nn.Parameter(torch.zeros(2 * hidden_channels, height, width))  # W_ci, W_cf
        self.output_peephole = nn.Parameter(torch.zeros(hidden_channels, height, width))  # W_co

    def forward(
        self, inputs: torch.Tensor, hidden: torch.Tensor, cell: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x_i, x_g, x_f, x_o = self.input_conv(inputs).chunk(4, dim=1)
        h_i, h_g, h_f, h_o = self.hidden_conv(hidden).chunk(4, dim=1)
        peep_i, peep_f = self.cell_peephole.chunk(2, dim=0)
        input_gate = torch.sigmoid(x_i + h_i + peep_i * cell)
        forget_gate = torch.sigmoid(x_f + h_f + peep_f * cell + FORGET_BIAS)
        cell = forget_gate * cell + input_gate * torch.tanh(x_g + h_g)
        hidden = torch.sigmoid(x_o + h_o + self.output_peephole * cell) * torch.tanh(cell)
        return hidden, cell


class MIMBlock(nn.Module):
    """MIM block (Wang et al., Memory In Memory, CVPR 2019, Sec. 4), for layers >= 2. X = H^{l-1}_t is the
    hidden state of the layer below; the temporal forget gate of ST-LSTM is replaced by two cascaded
    recurrent modules:

        D_t = MIM-N(input; D_{t-1}, N_{t-1})                              non-stationary
        T_t = MIM-S(D_t; hidden state C_{t-1}, cell S_{t-1})              stationary
        C_t = T_t + σ(W_xi*X + W_hi*H_{t-1} + b_i) ⊙ tanh(W_xg*X + W_hg*H_{t-1} + b_g)
        M_t = σ(W_xf'*X + W_mf*M + b'_f + 1) ⊙ M + σ(W_xi*X + W_mi*M + b'_i) ⊙ tanh(W_xg*X + W_mg*M + b'_g)
        o   = σ(W_xo*X + W_ho*H_{t-1} + W_mo*M' + b_o),   H_t = o ⊙ tanh(W_1x1 * [C_t, M_t])

    `variant` says which M' the output gate reads:
      - "code" (default): the *incoming* memory M, as in the authors' TensorFlow code and OpenSTL's port,
        which produced every published MIM number;
      - "paper": the new memory M_t, as the paper's equations write it.
    MIM-N's input (the difference H^{l-1}_t - H^{l-1}_{t-1}, or in the code variant for blocks >= 2 the
    MIM-N output of the block below) is chosen by the model, which owns the wiring between layers.

    As in the authors' code, the temporal and spatial input/modulation gates share their X-convolutions
    (W_xi, W_xg) but have their own biases. At a sequence's first step MIM-N is not run: D is zero and
    MIM-N's state stays at zero (the authors' code does the same). MIM-N and MIM-S are both
    `PeepholeConvLSTMCell`s; all their state is passed in and returned, never kept on the module (OpenSTL's
    port keeps MIM-S's cell on the module across batches: a bug this layout rules out).
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        filter_size: int,
        height: int,
        width: int,
        variant: MIMVariant = "code",
    ) -> None:
        super().__init__()
        if variant not in MIM_VARIANTS:
            raise ValueError(f"MIM variant must be one of {MIM_VARIANTS}, got {variant!r}")
        self.variant = variant
        h = hidden_channels
        self.input_conv = same_conv(in_channels, 4 * h, filter_size, bias=False)  # i (=i'), g (=g'), f', o
        self.hidden_conv = same_conv(h, 3 * h, filter_size, bias=True)  # i g o
        self.memory_conv = same_conv(h, 3 * h, filter_size, bias=True)  # i' g' f'
        self.memory_output_conv = same_conv(h, h, filter_size, bias=False)  # W_mo, on M (code) or M_t (paper)
        self.fuse = same_conv(2 * h, h, 1, bias=False)
        self.non_stationary = PeepholeConvLSTMCell(in_channels, h, filter_size, height, width)  # MIM-N
        self.stationary = PeepholeConvLSTMCell(h, h, filter_size, height, width)  # MIM-S

    def forward(
        self,
        inputs: torch.Tensor,
        non_stationary_input: torch.Tensor | None,
        hidden: torch.Tensor,
        cell: torch.Tensor,
        memory: torch.Tensor,
        difference_state: tuple[torch.Tensor, torch.Tensor],
        stationary_cell: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        """Returns (H_t, C_t, M_t, (D_t, N_t), S_t). `non_stationary_input` is MIM-N's input at this step,
        or None at the first step of a sequence (then D and N keep their zero initial values)."""
        x_i, x_g, x_f2, x_o = self.input_conv(inputs).chunk(4, dim=1)
        h_i, h_g, h_o = self.hidden_conv(hidden).chunk(3, dim=1)
        m_i, m_g, m_f = self.memory_conv(memory).chunk(3, dim=1)
        if non_stationary_input is not None:
            difference_state = self.non_stationary(non_stationary_input, *difference_state)
        transition, stationary_cell = self.stationary(difference_state[0], cell, stationary_cell)
        cell = transition + torch.sigmoid(x_i + h_i) * torch.tanh(x_g + h_g)
        new_memory = torch.sigmoid(x_f2 + m_f + FORGET_BIAS) * memory + torch.sigmoid(x_i + m_i) * torch.tanh(
            x_g + m_g
        )
        gate_memory = memory if self.variant == "code" else new_memory
        output_gate = torch.sigmoid(x_o + h_o + self.memory_output_conv(gate_memory))
        hidden = output_gate * torch.tanh(self.fuse(torch.cat([cell, new_memory], dim=1)))
        return hidden, cell, new_memory, difference_state, stationary_cell
