"""`simvp`: SimVP (Gao et al., "SimVP: Simpler yet Better Video Prediction", CVPR 2022).

SimVP is the all-convolutional, multi-in-multi-out baseline: no recurrence, no attention, MSE only.
It is in the zoo because it is the strongest "simple" model and the reference point for how much
recurrence (PredRNN family) or attention (MIMO-VP, SRVP) buys. Layout (paper Sec. 3, Fig. 2; reference
code A4Bio/SimVP, which this follows where OpenSTL's port differs):

- Spatial encoder: N_S blocks of 3x3 conv + GroupNorm(2) + LeakyReLU(0.2), strides [1, 2, 1, 2]
  applied to every frame separately; the first block's output is kept as a skip.
- Translator: the T_in latent frames stacked on channels, (B, T*hid_S, H/4, W/4), through a U-Net of
  Inception modules: N_T on the way down and N_T on the way up (the reference code's `Mid_Xnet`; each
  up module but the first takes [features, mirrored down module's output]). An Inception module is a
  1x1 conv to hid_T/2 followed by the *sum* of grouped convs with kernels 3, 5, 7, 11, each followed by
  GroupNorm(groups) and LeakyReLU(0.2). The last up module maps back to T*hid_S channels.
- Spatial decoder: the encoder's blocks mirrored (stride-2 blocks become stride-2 transposed convs),
  the last one taking [features, skip] concatenated; a 1x1 conv reads out C channels.

The readout is linear, as in the paper: predictions are floats that may leave [0, 1] slightly; metrics
clip where their convention says so. OpenSTL's port differs (pixel-shuffle up-sampling, additive skip,
SiLU in the spatial blocks); tests/test_simvp.py derives both parameter counts.

The model emits T_in frames at once (native horizon = context length); longer horizons come from the
rollout of `FixedHorizonPredictor`, in training too (the default MSE `training_loss` calls the rolled-out
forward for the target's horizon).
"""

from __future__ import annotations

import torch
from torch import nn

from vpbench.baselines._blocks import ConvNormAct
from vpbench.errors import VpbenchError
from vpbench.modeling import FixedHorizonPredictor, require_positive
from vpbench.registry import STEP_COST, Preset, TrainSettings, register_model

INCEPTION_KERNELS = (3, 5, 7, 11)
SPATIAL_NORM_GROUPS = 2  # GroupNorm(2, hid_S) in every encoder/decoder block of the reference code


def spatial_strides(num_blocks: int) -> list[int]:
    """[1, 2, 1, 2, ...]: every second encoder block halves the resolution."""
    return [1 + (index % 2) for index in range(num_blocks)]


def _leaky() -> nn.Module:
    return nn.LeakyReLU(0.2)


class SpatialEncoder(nn.Module):
    """Per-frame conv encoder; returns (latent at 1/2^(N_S/2) resolution, first block's output as skip)."""

    def __init__(self, in_channels: int, hidden: int, num_blocks: int) -> None:
        super().__init__()
        widths = [in_channels] + [hidden] * num_blocks
        self.blocks = nn.ModuleList(
            ConvNormAct(widths[i], widths[i + 1], 3, stride, norm_groups=SPATIAL_NORM_GROUPS, activation=_leaky())
            for i, stride in enumerate(spatial_strides(num_blocks))
        )

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.blocks[0](frames)
        latent = skip
        for block in self.blocks[1:]:
            latent = block(latent)
        return latent, skip


class SpatialDecoder(nn.Module):
    """Mirror of the encoder (stride-2 blocks become transposed convs); the last block sees [features, skip]."""

    def __init__(self, hidden: int, out_channels: int, num_blocks: int) -> None:
        super().__init__()
        strides = list(reversed(spatial_strides(num_blocks)))
        self.blocks = nn.ModuleList(
            ConvNormAct(
                hidden * (2 if i == num_blocks - 1 else 1), hidden, 3, stride,
                norm_groups=SPATIAL_NORM_GROUPS, activation=_leaky(), transpose=stride > 1,
            )
            for i, stride in enumerate(strides)
        )
        self.readout = nn.Conv2d(hidden, out_channels, 1)

    def forward(self, latent: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        for block in self.blocks[:-1]:
            latent = block(latent)
        return self.readout(self.blocks[-1](torch.cat([latent, skip], dim=1)))


class Inception(nn.Module):
    """SimVP's Inception module: 1x1 conv to `hidden`, then the sum of grouped k x k conv branches
    (k in 3, 5, 7, 11), each followed by GroupNorm(groups) and LeakyReLU(0.2)."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, groups: int,
                 kernels: tuple[int, ...] = INCEPTION_KERNELS) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(in_channels, hidden, 1)
        self.branches = nn.ModuleList(
            ConvNormAct(hidden, out_channels, kernel, norm_groups=groups, activation=_leaky(), conv_groups=groups)
            for kernel in kernels
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        reduced = self.reduce(features)
        return sum(branch(reduced) for branch in self.branches)


class InceptionUNet(nn.Module):
    """The translator: N_T Inception modules down, N_T up, skip concatenation between mirrored modules."""

    def __init__(self, channels: int, hidden: int, depth: int, groups: int) -> None:
        super().__init__()
        half = hidden // 2
        self.down = nn.ModuleList(
            Inception(channels if i == 0 else hidden, half, hidden, groups) for i in range(depth)
        )
        self.up = nn.ModuleList(
            Inception(hidden if i == 0 else 2 * hidden, half, channels if i == depth - 1 else hidden, groups)
            for i in range(depth)
        )

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        skips = []
        features = stacked
        for index, module in enumerate(self.down):
            features = module(features)
            if index < len(self.down) - 1:
                skips.append(features)
        features = self.up[0](features)
        for module, skip in zip(self.up[1:], reversed(skips), strict=True):
            features = module(torch.cat([features, skip], dim=1))
        return features


_PAPER_TRAINING = TrainSettings(
    optimizer="adam", lr=1e-2, schedule="onecycle", batch_size=16,
    paper_budget="1000-2000 epochs of 10,000 sequences (README of A4Bio/SimVP; its code defaults to 51)",
)
_SMALL_TRAINING = TrainSettings(optimizer="adam", lr=1e-3, schedule="onecycle", batch_size=8,
                                paper_budget=_PAPER_TRAINING.paper_budget)

_PRESETS = {
    "paper": Preset(
        model={"hid_S": 64, "hid_T": 256, "N_S": 4, "N_T": 8, "groups": 8},
        train=_PAPER_TRAINING,
        note="The authors' Moving MNIST run: hid_S 64, hid_T 256, N_S 4, N_T 8 and Adam + one-cycle lr 1e-2, "
        "batch 16 from main.py's defaults (gaozhangyang/SimVP-Simpler-yet-Better-Video-Prediction @ 5fd5f60); "
        "groups 8, not main.py's --groups 4, because exp.py builds SimVP(in_shape, hid_S, hid_T, N_S, N_T) "
        "without groups, so the constructor's default 8 is what trained. 15,778,433 parameters at 10x1x64x64 "
        "(that code's count; OpenSTL's IncepU at the same sizes has 15,963,137: another decoder).",
    ),
    "small": Preset(
        model={"hid_S": 32, "hid_T": 192, "N_S": 4, "N_T": 8, "groups": 4},
        train=_SMALL_TRAINING,
        note="paper depth (N_S 4, N_T 8), narrower: hid_S 32, hid_T 192, but groups 4 (the authors' command-line "
        "value) instead of 8, which doubles the grouped convolutions' weights: 16.2M parameters, as many as the "
        "paper's 15.8M, at 5.3 instead of 8.7 GMACs per 10->10 sequence; a training step 4.7 s " + STEP_COST + "; "
        "one-cycle lr 1e-3 because 1e-2 is tuned for full-width, 1000-epoch runs.",
    ),
    "smoke": Preset(model={"hid_S": 4, "hid_T": 16, "N_S": 4, "N_T": 2, "groups": 4}, train=_SMALL_TRAINING,
                    note="tiny, for tests"),
}


@register_model(
    "simvp",
    family="cnn",
    paper="Gao et al., SimVP: Simpler yet Better Video Prediction, CVPR 2022",
    presets=_PRESETS,
    description="conv encoder, Inception U-Net translator over stacked frames, conv decoder; MSE.",
)
class SimVP(FixedHorizonPredictor):
    """SimVP: per-frame conv encoder, Inception U-Net over the stacked latents, conv decoder (linear readout).

    Hyper-parameter names follow the paper: `hid_S` spatial width, `hid_T` translator width, `N_S`
    encoder/decoder blocks, `N_T` Inception modules per U-Net half, `groups` of the grouped convs.
    """

    loss_name = "mse"

    def __init__(
        self,
        *,
        channels: int,
        height: int,
        width: int,
        context_length: int,
        hid_S: int = 64,  # noqa: N803 - the paper's names
        hid_T: int = 256,  # noqa: N803
        N_S: int = 4,  # noqa: N803
        N_T: int = 8,  # noqa: N803
        groups: int = 8,  # the reference constructor's default, which its Moving MNIST run used
    ) -> None:
        super().__init__(channels=channels, height=height, width=width, context_length=context_length)
        require_positive("simvp", hid_S=hid_S, hid_T=hid_T, groups=groups)
        scale = 2 ** spatial_strides(N_S).count(2)
        if N_S < 2 or N_T < 1:
            raise VpbenchError(f"model 'simvp' needs N_S >= 2 and N_T >= 1 (got N_S={N_S}, N_T={N_T})")
        if height % scale or width % scale:
            raise VpbenchError(
                f"model 'simvp' needs height and width divisible by {scale} (got {height}x{width}); "
                "crop or resize the frames"
            )
        stacked = context_length * hid_S
        if hid_S % SPATIAL_NORM_GROUPS or (hid_T // 2) % groups or hid_T % groups or stacked % groups:
            raise VpbenchError(
                f"model 'simvp' needs hid_S even and hid_T/2, hid_T and T_in*hid_S divisible by groups "
                f"(got hid_S={hid_S}, hid_T={hid_T}, T_in={context_length}, groups={groups})"
            )
        self.native_horizon = context_length
        self.encoder = SpatialEncoder(channels, hid_S, N_S)
        self.translator = InceptionUNet(stacked, hid_T, N_T, groups)
        self.decoder = SpatialDecoder(hid_S, channels, N_S)

    def predict_block(self, context: torch.Tensor) -> torch.Tensor:
        """(B, T_in, C, H, W) -> the next T_in frames, (B, T_in, C, H, W)."""
        batch, steps, channels, height, width = context.shape
        if steps != self.context_length:
            raise VpbenchError(f"model 'simvp' was built for {self.context_length} context frames but got "
                               f"{steps}; build it with context_length matching the protocol")
        latent, skip = self.encoder(context.reshape(batch * steps, channels, height, width))
        _, hidden, latent_height, latent_width = latent.shape
        stacked = latent.reshape(batch, steps * hidden, latent_height, latent_width)
        translated = self.translator(stacked).reshape(batch * steps, hidden, latent_height, latent_width)
        frames = self.decoder(translated, skip)
        return frames.reshape(batch, steps, channels, height, width)
