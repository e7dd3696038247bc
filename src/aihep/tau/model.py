"""Tau-ID networks: DeepTau-style CNN on inner and outer eta-phi grids plus high-level
inputs, and the tagging package's Particle Transformer on the particle list; both expose
their last hidden features for the shared DANN domain head.

Grids (DeepTau, CMS JINST 17 (2022) P07023): inner 11 x 11 cells of 0.02 x 0.02 and outer
21 x 21 cells of 0.05 x 0.05 in (d_eta, d_phi) around the candidate axis; per cell and
particle type, the pT sum (log1p, GeV) and the particle count, built from the particle list
in the forward pass (so the stored data stay small). The CNN (at most ``channels`` filters
per layer, CPU sizes): 1 x 1 convolutions per cell, then 3 x 3 convolutions without padding
down to one cell per grid (stride 2 once on the outer grid), concatenated with an MLP of the
high-level inputs.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from aihep import DEFAULT_SEED
from aihep.nn.dann import DomainHead
from aihep.tau.candidates import HIGH_LEVEL, PARTICLE_FEATURES, TYPES

INNER = (11, 0.02)
OUTER = (21, 0.05)
GRID_CHANNELS = 2 * len(TYPES)


def grids(particles: torch.Tensor, mask: torch.Tensor, cells: int, size: float
          ) -> torch.Tensor:
    """(n, 2 * types, cells, cells) grids from particle lists (n, P, F) in the layout of
    PARTICLE_FEATURES: channel 2t holds log1p of the pT sum [GeV] of type t in the cell,
    channel 2t + 1 the count. Rows: d_eta, columns: d_phi, both from -cells*size/2."""
    n, _p, _ = particles.shape
    half = cells * size / 2
    row = torch.floor((particles[..., 0] + half) / size).long()
    col = torch.floor((particles[..., 1] + half) / size).long()
    inside = mask & (row >= 0) & (row < cells) & (col >= 0) & (col < cells)
    kind = particles[..., 5:5 + len(TYPES)].argmax(-1)
    pt = torch.exp(particles[..., 2]) * inside
    cell = (row.clamp(0, cells - 1) * cells + col.clamp(0, cells - 1))
    flat_pt = torch.zeros(n, len(TYPES), cells * cells, dtype=particles.dtype)
    flat_n = torch.zeros_like(flat_pt)
    flat_pt.view(n, -1).scatter_add_(1, kind * cells * cells + cell, pt)
    flat_n.view(n, -1).scatter_add_(1, kind * cells * cells + cell, inside.to(pt.dtype))
    out = torch.stack([torch.log1p(flat_pt), flat_n], 2)  # (n, types, 2, cells^2)
    return out.reshape(n, 2 * len(TYPES), cells, cells)


class TauModelConfig(BaseModel):
    """Architecture and sizes; ``domain_head`` adds the DANN head."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["deeptau-cnn", "part-lite"] = "deeptau-cnn"
    channels: int = Field(32, ge=4, le=64)
    hidden: int = Field(64, ge=8)
    n_classes: int = Field(4, ge=2)
    domain_head: bool = False
    seed: int = DEFAULT_SEED


def _tower(cells: int, channels: int, stride_once: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(GRID_CHANNELS, channels, 1), nn.GELU(),
                               nn.Conv2d(channels, channels, 1), nn.GELU()]
    size, strided = cells, False
    while size > 1:
        halves = (size - 3) % 2 == 0 and ((size - 3) // 2 + 1) % 2 == 1  # still ends at 1
        stride = 2 if stride_once and not strided and size > 9 and halves else 1
        strided |= stride == 2
        layers += [nn.Conv2d(channels, channels, 3, stride=stride), nn.BatchNorm2d(channels),
                   nn.GELU()]
        size = (size - 3) // stride + 1
    return nn.Sequential(*layers, nn.Flatten())


class TauCNN(nn.Module):
    """``forward(particles, mask, high_level) -> (logits (n, classes), features)``."""

    def __init__(self, config: TauModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.inner = _tower(INNER[0], c, stride_once=False)
        self.outer = _tower(OUTER[0], c, stride_once=True)
        self.hl_norm = nn.BatchNorm1d(len(HIGH_LEVEL))
        self.hl = nn.Sequential(nn.Linear(len(HIGH_LEVEL), config.hidden), nn.GELU(),
                                nn.Linear(config.hidden, config.hidden), nn.GELU())
        self.merge = nn.Sequential(nn.Linear(2 * c + config.hidden, config.hidden), nn.GELU(),
                                   nn.Linear(config.hidden, config.hidden), nn.GELU())
        self.head = nn.Linear(config.hidden, config.n_classes)
        self.domain = DomainHead(config.hidden) if config.domain_head else None

    def forward(self, particles: torch.Tensor, mask: torch.Tensor, high_level: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        inner = self.inner(grids(particles, mask, *INNER))
        outer = self.outer(grids(particles, mask, *OUTER))
        hl = self.hl(self.hl_norm(high_level))
        features = self.merge(torch.cat([inner, outer, hl], 1))
        return self.head(features), features


class TauParT(nn.Module):
    """The tagging package's lite Particle Transformer on the candidate's particles (the
    high-level inputs are appended to every particle's features)."""

    def __init__(self, config: TauModelConfig) -> None:
        super().__init__()
        from aihep.tagging.models.part import ParT, part_lite

        self.config = config
        self.part = ParT(part_lite(), len(PARTICLE_FEATURES) + len(HIGH_LEVEL),
                         config.n_classes)
        width = part_lite().embed_sizes[-1]
        self.domain = DomainHead(width) if config.domain_head else None

    def forward(self, particles: torch.Tensor, mask: torch.Tensor, high_level: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        d_eta, d_phi = particles[..., 0], particles[..., 1]
        pt, energy = torch.exp(particles[..., 2]), torch.exp(particles[..., 3])
        vectors = torch.stack([pt * torch.cos(d_phi), pt * torch.sin(d_phi),
                               pt * torch.sinh(d_eta), energy], -1) * mask[..., None]
        features = torch.cat([particles, high_level[:, None, :].expand(
            -1, particles.shape[1], -1)], -1)
        hidden = self.part.features(features, particles[..., :2], vectors, mask)
        return self.part.head(hidden), hidden


def build_tau_model(config: TauModelConfig) -> TauCNN | TauParT:
    return TauCNN(config) if config.kind == "deeptau-cnn" else TauParT(config)
