"""Optimizers and learning-rate schedules from a preset's TrainSettings (data, not code, per model)."""

from __future__ import annotations

import torch
from torch import nn

from vpbench.errors import VpbenchError
from vpbench.registry import SCHEDULES, TrainSettings


def build_optimizer(model: nn.Module, settings: TrainSettings, lr: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    name = settings.optimizer
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=settings.weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=settings.weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=settings.weight_decay, momentum=settings.momentum)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=settings.weight_decay, momentum=settings.momentum)
    raise VpbenchError(f"unknown optimizer '{name}' in the preset; use adam, adamw, rmsprop or sgd")


def build_scheduler(optimizer: torch.optim.Optimizer, settings: TrainSettings, lr: float, total_steps: int):
    """Per-step scheduler (stepped after every optimizer step), or ReduceLROnPlateau (stepped on validation)."""
    schedule = settings.schedule
    if schedule == "constant":
        return None
    if schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=max(total_steps, 2))
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    if schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=settings.plateau_factor, patience=settings.plateau_patience
        )
    raise VpbenchError(f"unknown schedule '{schedule}' in the preset; use {', '.join(SCHEDULES)}")


def is_plateau(scheduler) -> bool:
    return isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
