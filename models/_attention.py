"""SRVP's attention primitives and self-correlation maps (MODELS.md, "SRVP"), apart from the modules
that combine them, so each can be tested on hand-made tensors.

- `temporal_attention`: parameter-free scaled dot-product attention over *time*, whole frames as tokens.
- `ChannelAttention` (A(n) in MODELS.md): 1x1-conv projections, attention between *channels*.
- `temporal_self_correlation` / `channel_self_correlation`: the rank-1 maps RFA adds to its features.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def l2_norm(tensor: torch.Tensor, dim: int, keepdim: bool = False) -> torch.Tensor:
    """Euclidean norm along `dim`, as torch.linalg.vector_norm, but 10-25x faster on CPU for a non-inner
    `dim` (torch 2.x reduces strided axes slowly there). The clamp keeps the gradient finite (zero) for
    an all-zero vector, where the norm becomes sqrt(float tiny) ~ 1e-19 instead of 0."""
    squared = tensor.square().sum(dim=dim, keepdim=keepdim)
    return torch.sqrt(torch.clamp_min(squared, torch.finfo(squared.dtype).tiny))


def temporal_attention(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Attend over T key frames with q query frames, each frame flattened to one vector.

    queries (B, q, c, h, w), keys and values (B, T, c, h, w) -> (B, c, h, w).
    scores = Q·Kᵀ / √(c·h·w) -> (B, q, T); with q > 1 the scores are L2-normed over the query axis into
    a single row (so the q queries vote by magnitude); softmax over T; output = weights · V.
    """
    batch, query_count, channels, height, width = queries.shape
    features = channels * height * width
    scores = queries.reshape(batch, query_count, features) @ keys.reshape(batch, -1, features).transpose(1, 2)
    scores = scores / math.sqrt(features)
    if query_count > 1:
        scores = l2_norm(scores, dim=1, keepdim=True)  # (B, 1, T)
    weights = torch.softmax(scores, dim=-1)
    attended = weights @ values.reshape(batch, -1, features)  # (B, 1, c·h·w)
    return attended.reshape(batch, channels, height, width)


class ChannelAttention(nn.Module):
    """A(n)(query, key_value): Q, K, V = 1x1 convs (n -> n) of query, key_value, key_value;
    affinity (B, n, n) = softmax(Q·Kᵀ / √(h·w)) over flattened pixels; output = affinity · V -> (B, n, h, w).

    Self-attention is A(x, x). The reference calls this "SpatialAttention"; the tokens are channels.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.query = nn.Conv2d(channels, channels, kernel_size=1)
        self.key = nn.Conv2d(channels, channels, kernel_size=1)
        self.value = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, query: torch.Tensor, key_value: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = query.shape
        pixels = height * width
        queries = self.query(query).reshape(batch, channels, pixels)
        keys = self.key(key_value).reshape(batch, channels, pixels)
        values = self.value(key_value).reshape(batch, channels, pixels)
        affinity = torch.softmax(queries @ keys.transpose(1, 2) / math.sqrt(pixels), dim=-1)
        return (affinity @ values).reshape(batch, channels, height, width)


def _rank_one_correlation(features: torch.Tensor) -> torch.Tensor:
    """features (B, N, F), N the axis correlated (time or channels), F everything else flattened.

    S = softmax over N; P = X·Sᵀ / F -> (B, N, N); the map is the outer product of ‖P‖ over its first
    axis (one value per column, (B, N)) and the L2 norm of X over N at every position (B, F).
    """
    soft = torch.softmax(features, dim=1)
    correlation = features @ soft.transpose(1, 2) / features.shape[2]  # (B, N, N)
    column_norms = l2_norm(correlation, dim=1)  # (B, N)
    position_norms = l2_norm(features, dim=1)  # (B, F)
    return column_norms.unsqueeze(2) * position_norms.unsqueeze(1)  # (B, N, F), rank 1 per sequence


def temporal_self_correlation(features: torch.Tensor) -> torch.Tensor:
    """(B, T, c, h, w) -> (B, T, c, h, w): softmax over time, P (B, T, T) / (c·h·w), rank-1 map."""
    batch, steps = features.shape[:2]
    return _rank_one_correlation(features.reshape(batch, steps, -1)).reshape(features.shape)


def channel_self_correlation(features: torch.Tensor) -> torch.Tensor:
    """(B, c, h, w) -> (B, c, h, w): softmax over channels, P (B, c, c) / (h·w), rank-1 map."""
    batch, channels = features.shape[:2]
    return _rank_one_correlation(features.reshape(batch, channels, -1)).reshape(features.shape)
