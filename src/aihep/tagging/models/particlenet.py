"""ParticleNet, Qu and Gouskos, Phys. Rev. D 101 (2020) 056019.

A stack of EdgeConv blocks on the jet as a point cloud. Block 1 finds each particle's k
nearest neighbours in (delta-eta, delta-phi); later blocks find them in the feature space the
previous block learnt (a dynamic graph). The edge function is a 3-layer MLP (linear, batch
norm, ReLU) of (x_i, x_j - x_i), averaged over the k neighbours, with a linear shortcut. Then
global average pooling over real particles, a fully connected layer with dropout and the
class logits. Defaults are the paper's ParticleNet (k = 16; 64-64-64, 128-128-128,
256-256-256; FC 256, dropout 0.1); :func:`particlenet_lite` is the paper's ParticleNet-Lite.
Batch norm uses real particles only (:class:`MaskedBatchNorm`).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from aihep.nn.edgeconv import EdgeConv
from aihep.nn.norm import MaskedBatchNorm


class ParticleNetConfig(BaseModel):
    """ParticleNet sizes (paper defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["particlenet"] = "particlenet"
    k: int = Field(16, ge=1, description="nearest neighbours per particle")
    blocks: tuple[tuple[int, ...], ...] = ((64, 64, 64), (128, 128, 128), (256, 256, 256))
    fc_sizes: tuple[int, ...] = (256,)
    dropout: float = Field(0.1, ge=0, lt=1)


def particlenet_lite() -> ParticleNetConfig:
    """ParticleNet-Lite of the paper: k = 7, blocks 32-32-32 and 64-64-64, FC 128."""
    return ParticleNetConfig(k=7, blocks=((32, 32, 32), (64, 64, 64)), fc_sizes=(128,))


class ParticleNet(nn.Module):
    """``forward(features, points, vectors, mask) -> logits (n, n_classes)``."""

    def __init__(self, config: ParticleNetConfig, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.input_norm = MaskedBatchNorm(n_features)
        blocks, width = [], n_features
        for channels in config.blocks:
            blocks.append(EdgeConv(config.k, width, tuple(channels)))
            width = channels[-1]
        self.blocks = nn.ModuleList(blocks)
        layers: list[nn.Module] = []
        for size in config.fc_sizes:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(config.dropout)]
            width = size
        layers.append(nn.Linear(width, n_classes))
        self.head = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor, points: torch.Tensor, vectors: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        x = self.input_norm(features, mask)
        coords = points
        for block in self.blocks:
            x = block(coords, x, mask)
            coords = x  # later blocks: neighbours in the learnt feature space
        pooled = x.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        return self.head(pooled)
