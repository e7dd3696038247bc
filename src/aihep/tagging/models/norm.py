"""Batch normalization over real particles only (padding must not shift the statistics)."""

from __future__ import annotations

import torch
from torch import nn


class MaskedBatchNorm(nn.Module):
    """``BatchNorm1d`` on the last dimension of the entries where ``mask`` is true.

    Works for per-particle (n, P, C) and per-edge (n, P, k, C) tensors; masked entries come
    out as zero.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x)
        out[mask] = self.bn(x[mask])
        return out
