"""Layers the zoo architectures share, and the contract retraining relies on."""

from __future__ import annotations

import torch
from torch import nn


class GlobalAveragePool(nn.Module):
    """(N, C, H, W) -> (N, C): the pooling between a backbone and its classifier."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


class Stage(nn.Module):
    """A view of some of an architecture's modules applied in order, as one retraining unit.
    Built on demand, never assigned to the architecture: its state dict names stay the
    checkpoint's."""

    def __init__(self, *modules: nn.Module, activation=None):
        super().__init__()
        self.parts = nn.ModuleList(modules)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for part in self.parts:
            x = part(x)
        return self.activation(x) if self.activation is not None else x
