"""Convolution + GroupNorm + activation: the one building block SimVP and MIMO-VP are made of.

SimVP's encoder/decoder blocks (3x3 conv, GroupNorm(2), LeakyReLU 0.2), its Inception branches (grouped
conv, GroupNorm(groups), LeakyReLU 0.2) and MIMO-VP's stem, projections and local spatio-temporal block
(bias-free conv, GroupNorm(1), SiLU) differ only in these arguments, so the block is written once here.
"""

from __future__ import annotations

from torch import nn


class ConvNormAct(nn.Sequential):
    """`activation(GroupNorm(conv(x)))` with "same" padding (output size = input size / stride).

    `transpose=True` makes a stride-s transposed conv that multiplies the size by s (output_padding s-1),
    the up-sampling twin of a stride-s conv. `spatial_dims=3` gives a Conv3d over (T, H, W).
    `activation=None` leaves the normalised output linear (MIMO-VP's Q, K, V projections).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        *,
        norm_groups: int,
        activation: nn.Module | None,
        transpose: bool = False,
        bias: bool = True,
        conv_groups: int = 1,
        spatial_dims: int = 2,
    ) -> None:
        padding = kernel_size // 2
        if transpose:
            if spatial_dims != 2:
                raise ValueError("transposed ConvNormAct is 2-D only")
            conv: nn.Module = nn.ConvTranspose2d(
                in_channels, out_channels, kernel_size, stride, padding, output_padding=stride - 1,
                groups=conv_groups, bias=bias,
            )
        else:
            conv_class = {2: nn.Conv2d, 3: nn.Conv3d}[spatial_dims]
            conv = conv_class(in_channels, out_channels, kernel_size, stride, padding, groups=conv_groups, bias=bias)
        layers = [conv, nn.GroupNorm(norm_groups, out_channels)]
        if activation is not None:
            layers.append(activation)
        super().__init__(*layers)
