"""Batch normalization over real particles only (padding must not shift the statistics)."""

from __future__ import annotations

import torch
from torch import nn


class MaskedBatchNorm(nn.Module):
    """``BatchNorm1d`` on the last dimension of the entries where ``mask`` is true.

    Works for per-particle (n, P, C) and per-edge (n, P, k, C) tensors; masked entries come
    out as zero. In eval mode it is the same elementwise map on every entry (exportable).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not self.training:  # running statistics: elementwise, no data-dependent shapes
            return self.bn(x.reshape(-1, x.shape[-1])).reshape(x.shape) * mask[..., None]
        out = torch.zeros_like(x)
        out[mask] = self.bn(x[mask])
        return out

    def fold(self, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight and bias of ``linear`` (no bias, ``weight`` (C, C_in)) followed by this norm
        with its running statistics: the eval-mode layer as one affine map."""
        bn = self.bn
        mean, var = bn.running_mean, bn.running_var
        assert mean is not None and var is not None  # track_running_stats is always on here
        scale = bn.weight / torch.sqrt(var + bn.eps)
        return weight * scale[:, None], bn.bias - mean * scale
