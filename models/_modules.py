"""SRVP's two attention modules, SA and RFA (MODELS.md, "SRVP"), built from `_attention`'s primitives.

Both follow the same three steps: temporal attention from the current forecaster step to the encoded
context ("context"), channel self-attention on the current step ("refined"), then cross attention
between the two. `cross_attention=False` is the Without-CrossAtt ablation: the module returns context
and refined as they are, and the cross-attention layers are not created at all.
"""

from __future__ import annotations

import torch
from torch import nn

from vpbench.models._attention import (
    ChannelAttention,
    channel_self_correlation,
    l2_norm,
    temporal_attention,
    temporal_self_correlation,
)


def conv3x3_tanh(input_channels: int, output_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(input_channels, output_channels, kernel_size=3, padding=1), nn.Tanh())


class StandardAttention(nn.Module):
    """SA. context = temporal attention (Q = the L layer states, K = V = the encoder's top outputs);
    refined = A(s, s) with s the L2 norm of the layer states across layers;
    outputs spatial = A(context, refined) and temporal = A(refined, context), `hidden` channels each."""

    def __init__(self, hidden_channels: int, cross_attention: bool = True) -> None:
        super().__init__()
        self.self_attention = ChannelAttention(hidden_channels)
        self.cross_attention = cross_attention
        if cross_attention:
            self.spatial_attention = ChannelAttention(hidden_channels)
            self.temporal_attention = ChannelAttention(hidden_channels)

    def output_channels(self) -> int:
        return 2 * self.self_attention.query.out_channels

    def forward(self, layer_states: torch.Tensor, encoder_outputs: torch.Tensor) -> list[torch.Tensor]:
        """layer_states (B, L, hidden, H, W), encoder_outputs (B, T, hidden, H, W) -> two (B, hidden, H, W)."""
        context = temporal_attention(layer_states, encoder_outputs, encoder_outputs)
        pooled = l2_norm(layer_states, dim=1)
        refined = self.self_attention(pooled, pooled)
        if not self.cross_attention:
            return [context, refined]
        return [self.spatial_attention(context, refined), self.temporal_attention(refined, context)]


class ReinforcedFeatureAttention(nn.Module):
    """RFA. Once per sequence (`encode_context`): per-frame features of the raw context frames give a
    temporal self-correlation map; enc_corr = GroupNorm(T groups)(map + Dropout(encoder outputs)).
    Every step (`forward`): the channel self-correlation map of all layer states,
    GroupNorm(L·hidden groups)(map + Dropout(states)), conv 3x3 + tanh -> dec_corr (hidden);
    context = conv+tanh(temporal attention(dec_corr; enc_corr)), refined = conv+tanh(A(dec_corr, dec_corr))
    (hidden -> hidden/2 each); cross attention A(hidden/2) each followed by conv 3x3 (-> hidden/4) + tanh.
    At the paper's sizes: 512 -> 128, 64 + 64, 32 + 32.
    """

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        num_layers: int,
        context_length: int,
        dropout: float = 0.2,
        cross_attention: bool = True,
    ) -> None:
        super().__init__()
        all_channels = num_layers * hidden_channels
        embedding = hidden_channels // 2
        # One feature extractor shared by all context frames (the reference's LinearProjection repeats
        # a single module T times, so its parameters are counted once).
        self.frame_features = nn.Sequential(
            nn.Conv2d(channels, hidden_channels // 2, kernel_size=3, padding=1),
            nn.BatchNorm2d(hidden_channels // 2),
            nn.ReLU(),
            nn.Conv2d(hidden_channels // 2, hidden_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(hidden_channels),
            nn.ReLU(),
        )
        self.encoder_dropout = nn.Dropout(dropout)
        self.encoder_norm = nn.GroupNorm(context_length, context_length)  # one group per context step
        self.state_dropout = nn.Dropout(dropout)
        self.state_norm = nn.GroupNorm(all_channels, all_channels)  # one group per channel
        self.state_projection = conv3x3_tanh(all_channels, hidden_channels)
        self.self_attention = ChannelAttention(hidden_channels)
        self.context_projection = conv3x3_tanh(hidden_channels, embedding)
        self.refined_projection = conv3x3_tanh(hidden_channels, embedding)
        self.cross_attention = cross_attention
        if cross_attention:
            self.spatial_attention = ChannelAttention(embedding)
            self.temporal_attention = ChannelAttention(embedding)
            self.spatial_projection = conv3x3_tanh(embedding, embedding // 2)
            self.temporal_projection = conv3x3_tanh(embedding, embedding // 2)

    def output_channels(self) -> int:
        embedding = self.context_projection[0].out_channels
        return 2 * (embedding // 2 if self.cross_attention else embedding)

    def encode_context(self, context: torch.Tensor, encoder_outputs: torch.Tensor) -> torch.Tensor:
        """context (B, T, C, H, W), encoder_outputs (B, T, hidden, H, W) -> enc_corr (B, T, hidden, H, W)."""
        # Frame by frame, as the reference does: in training, BatchNorm normalises each step separately.
        features = torch.stack([self.frame_features(context[:, time]) for time in range(context.shape[1])], 1)
        return self.encoder_norm(temporal_self_correlation(features) + self.encoder_dropout(encoder_outputs))

    def forward(self, all_states: torch.Tensor, encoder_correlation: torch.Tensor) -> list[torch.Tensor]:
        """all_states (B, L·hidden, H, W), enc_corr (B, T, hidden, H, W) -> two (B, out, H, W)."""
        reinforced = self.state_norm(channel_self_correlation(all_states) + self.state_dropout(all_states))
        decoder_correlation = self.state_projection(reinforced)
        attended = temporal_attention(decoder_correlation.unsqueeze(1), encoder_correlation, encoder_correlation)
        context = self.context_projection(attended)
        refined = self.refined_projection(self.self_attention(decoder_correlation, decoder_correlation))
        if not self.cross_attention:
            return [context, refined]
        return [
            self.spatial_projection(self.spatial_attention(context, refined)),
            self.temporal_projection(self.temporal_attention(refined, context)),
        ]
