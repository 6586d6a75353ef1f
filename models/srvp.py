"""SRVP (Kim & Park, "Strong Recollection Video Prediction Model Using Attention-Based Spatiotemporal
Correlation Fusion", CVPR 2025 Precognition workshop), the model under study, and its three ablations.

SRVP is the ConvGRU encoder-forecaster of the `convgru` baseline (the same module, not a copy) whose
read-out, at every forecast step, concatenates all layer states with the outputs of the standard
attention module SA and the reinforced feature attention module RFA; a 3x3 conv + sigmoid maps the
832 channels (paper sizes: 512 + 128 + 128 + 32 + 32) to a frame, which is fed back as the next input.
The ablations are registered variants of one class (MODELS.md: our definitions, the reference has no
flags for them).
"""

from __future__ import annotations

import torch
from torch import nn

from vpbench.errors import VpbenchError
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
from vpbench.models._modules import ReinforcedFeatureAttention, StandardAttention
from vpbench.registry import STEP_COST, Preset, register_model

PAPER = "Kim & Park, Strong Recollection Video Prediction (SRVP), CVPR 2025 Precognition workshop"


def _presets(variant: str) -> dict[str, Preset]:
    return {
        "paper": Preset(
            model={**PAPER_BACKBONE, "attention_dropout": 0.2},
            train=PAPER_TRAINING,
            note=f"{variant}: the reference's Moving MNIST configuration (4 x 128 ConvGRU, kernel 5, dropout "
            "0.5, attention dropout 0.2); BCE, RMSprop lr 1e-5, wd 1e-4, momentum 0.9, batch 8. Peak memory "
            "(srvp, 64x64, 10->10, fp32, CPU RSS): training batch 8 about 23 GB (2.9 GB per sequence), "
            "evaluation under inference_mode batch 8 about 1.0 GB.",
        ),
        "small": Preset(
            model={**SMALL_BACKBONE, "attention_dropout": 0.0},
            train=SMALL_TRAINING,
            note=f"{variant}: 4 x 16 ConvGRU, kernel 3, no dropout (the paper: 0.5, attention 0.2); attention "
            "widths scale with hidden (SA 2 x 16, RFA 2 x 4; srvp's head 64 + 32 + 8 = 104); a training step "
            + STEP_COST + " costs 6.3 s (srvp), 5.5 s (wo-sa), 4.8 s (wo-rfa), 6.0 s "
            "(wo-crossatt); convgru small 4.1 s. Adam 1e-3 because RMSprop 1e-5 barely moves in a CPU budget. "
            "No dropout because at this width it underfits: with the paper's dropout srvp's validation MSE stayed "
            "at 0.0315-0.0327 from 8,000 to 22,000 training sequences (train clips 0.0324, validation 0.0320); "
            "without it, lower at every validation point (16,000 sequences: 0.0301 against 0.0321), and a step costs "
            "1/1.19 as much.",
        ),
        "smoke": Preset(
            model={**SMOKE_BACKBONE, "attention_dropout": 0.2}, train=SMALL_TRAINING, note="tiny, for tests"
        ),
    }


class SRVP(VideoPredictor):
    """SRVP: ConvGRU encoder-forecaster + SA + RFA feeding an 832-channel 3x3-conv head (paper sizes)."""

    loss_name = "bce"
    model_name = "srvp"
    use_standard_attention = True
    use_reinforced_attention = True
    use_cross_attention = True

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
        attention_dropout: float = 0.2,
    ) -> None:
        super().__init__(channels=channels, height=height, width=width, context_length=context_length)
        check_backbone_arguments(self.model_name, hidden_channels, num_layers, kernel_size)
        if hidden_channels < 4:
            raise VpbenchError(
                f"model '{self.model_name}' needs hidden_channels >= 4 (RFA narrows it to "
                f"hidden/4 channels; got {hidden_channels})"
            )
        self.backbone = ConvGRUEncoderForecaster(channels, hidden_channels, num_layers, kernel_size, dropout)
        head_channels = num_layers * hidden_channels
        self.standard_attention = None
        self.reinforced_attention = None
        if self.use_standard_attention:
            self.standard_attention = StandardAttention(hidden_channels, self.use_cross_attention)
            head_channels += self.standard_attention.output_channels()
        if self.use_reinforced_attention:
            self.reinforced_attention = ReinforcedFeatureAttention(
                channels, hidden_channels, num_layers, context_length, attention_dropout, self.use_cross_attention
            )
            head_channels += self.reinforced_attention.output_channels()
        self.head_channels = head_channels
        self.head = nn.Sequential(nn.Conv2d(head_channels, channels, kernel_size=3, padding=1), nn.Sigmoid())

    def forward(
        self,
        context: torch.Tensor,
        horizon: int,
        target: torch.Tensor | None = None,
        teacher_forcing: float = 0.0,
    ) -> torch.Tensor:
        if context.shape[1] != self.context_length:
            # RFA's GroupNorm has one group per context step, so the context length is part of the model.
            raise VpbenchError(
                f"model '{self.model_name}' was built for {self.context_length} context frames "
                f"but got {context.shape[1]}; build it with context_length={context.shape[1]}"
            )
        encoder_outputs, states = self.backbone.encode(context)
        encoder_correlation = None
        if self.reinforced_attention is not None:
            encoder_correlation = self.reinforced_attention.encode_context(context, encoder_outputs)

        def readout(layer_states: list[torch.Tensor]) -> torch.Tensor:
            all_states = torch.cat(layer_states, dim=1)  # (B, L·hidden, H, W)
            features = [all_states]
            if self.standard_attention is not None:
                # The layer axis as a view of the same memory: (B, L·hidden, H, W) -> (B, L, hidden, H, W).
                stacked = all_states.unflatten(1, (len(layer_states), -1))
                features += self.standard_attention(stacked, encoder_outputs)
            if self.reinforced_attention is not None:
                features += self.reinforced_attention(all_states, encoder_correlation)
            return self.head(torch.cat(features, dim=1))

        return self.backbone.forecast(states, context[:, -1], horizon, readout, target, teacher_forcing)

    def training_loss(self, context: torch.Tensor, target: torch.Tensor, step: int) -> torch.Tensor:
        return binary_cross_entropy(self(context, target.shape[1]), target)


register_model(
    "srvp",
    family="rnn+attention",
    paper=PAPER,
    presets=_presets("srvp"),
    description="SRVP: ConvGRU encoder-forecaster + standard attention (SA) + reinforced feature attention "
    "(RFA); head input 832 at paper sizes.",
)(SRVP)


@register_model(
    "srvp-wo-sa",
    family="rnn+attention",
    paper=PAPER + " (ablation Without-SA)",
    presets=_presets("srvp-wo-sa"),
    description="SRVP without the standard attention module SA (its 128 + 128 channels and its "
    "parameters removed); head input 576 at paper sizes.",
)
class SRVPWithoutSA(SRVP):
    """SRVP without SA."""

    model_name = "srvp-wo-sa"
    use_standard_attention = False


@register_model(
    "srvp-wo-rfa",
    family="rnn+attention",
    paper=PAPER + " (ablation Without-RFA)",
    presets=_presets("srvp-wo-rfa"),
    description="SRVP without the reinforced feature attention module RFA (its 32 + 32 channels and its "
    "parameters removed); head input 768 at paper sizes.",
)
class SRVPWithoutRFA(SRVP):
    """SRVP without RFA."""

    model_name = "srvp-wo-rfa"
    use_reinforced_attention = False


@register_model(
    "srvp-wo-crossatt",
    family="rnn+attention",
    paper=PAPER + " (ablation Without-CrossAtt)",
    presets=_presets("srvp-wo-crossatt"),
    description="SRVP without the cross-attention step in SA and RFA: both pass context and refined on "
    "directly (SA 128 + 128, RFA 64 + 64; the 4 cross-attention layers and RFA's two 64->32 convs removed); "
    "head input 896 at paper sizes.",
)
class SRVPWithoutCrossAttention(SRVP):
    """SRVP without the cross-attention step in SA and RFA."""

    model_name = "srvp-wo-crossatt"
    use_cross_attention = False
