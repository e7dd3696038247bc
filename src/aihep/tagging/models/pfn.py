"""Particle Flow Network (Deep Sets), Komiske, Metodiev, Thaler, JHEP 01 (2019) 121.

Each particle is mapped by Phi to a latent vector, the vectors are summed over the jet's real
particles, and F maps the sum to class logits: invariant to particle order by construction.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from aihep.nn.layers import mlp


class PFNConfig(BaseModel):
    """PFN sizes; the defaults are the paper's (Phi 100-100-256, F 100-100-100)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["pfn"] = "pfn"
    phi_sizes: tuple[int, ...] = (100, 100, 256)
    f_sizes: tuple[int, ...] = (100, 100, 100)
    dropout: float = Field(0.0, ge=0, lt=1)


class PFN(nn.Module):
    """``forward(features, points, vectors, mask) -> logits (n, n_classes)``."""

    def __init__(self, config: PFNConfig, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.phi = nn.Sequential(mlp([n_features, *config.phi_sizes], nn.ReLU), nn.ReLU())
        self.f = mlp([config.phi_sizes[-1], *config.f_sizes, n_classes], nn.ReLU,
                     config.dropout)

    def forward(self, features: torch.Tensor, points: torch.Tensor, vectors: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        latent = self.phi(features) * mask[..., None]
        return self.f(latent.sum(dim=1))
