"""EdgeConv (Wang et al., "Dynamic Graph CNN", ACM TOG 38 (2019) 146) on padded point clouds.

Used by ParticleNet (jet particles) and the neutrino-telescope GNN (hit DOMs): each point's k
nearest neighbours (:func:`aihep.nn.knn.knn`) in ``coords``, an edge MLP (linear, batch norm,
ReLU) of (x_i, x_j - x_i) averaged over the neighbours, and a linear shortcut.
"""

from __future__ import annotations

import itertools
from typing import cast

import torch
from torch import nn

from aihep.nn.knn import gather_neighbours, knn
from aihep.nn.norm import MaskedBatchNorm


class EdgeConv(nn.Module):
    """One EdgeConv block: kNN in ``coords``, edge MLP on (x_i, x_j - x_i), mean, shortcut."""

    def __init__(self, k: int, in_channels: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.k = k
        sizes = [2 * in_channels, *channels]
        self.linears = nn.ModuleList(nn.Linear(a, b, bias=False)
                                     for a, b in itertools.pairwise(sizes))
        self.norms = nn.ModuleList(MaskedBatchNorm(c) for c in channels)
        self.shortcut = nn.Linear(in_channels, channels[-1], bias=False)
        self.shortcut_norm = MaskedBatchNorm(channels[-1])

    def forward(self, coords: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        index, valid = knn(coords, mask, self.k)
        valid = valid & mask[..., None]
        if not self.training:
            return self._forward_eval(x, mask, index, valid)
        # first edge layer W [x_i, x_j - x_i] = (W_1 - W_2) x_i + W_2 x_j: two per-node
        # products and a gather instead of a product per edge (k times fewer operations)
        weight = cast(nn.Linear, self.linears[0]).weight
        c = x.shape[-1]
        own = x @ (weight[:, :c] - weight[:, c:]).T
        h = own[:, :, None, :] + gather_neighbours(x @ weight[:, c:].T, index)
        h = torch.relu(self.norms[0](h, valid))
        for linear, norm in zip(self.linears[1:], self.norms[1:], strict=True):
            h = torch.relu(norm(linear(h), valid))
        return self._aggregate(h, x, mask, valid)

    def _forward_eval(self, x: torch.Tensor, mask: torch.Tensor, index: torch.Tensor,
                      valid: torch.Tensor) -> torch.Tensor:
        """The same map with the norms folded into the linears and padding edges left
        unmasked until the (masked) mean: fewer passes over the (n, P, k, C) edge tensors."""
        c = x.shape[-1]
        weight, bias = cast(MaskedBatchNorm, self.norms[0]).fold(
            cast(nn.Linear, self.linears[0]).weight)
        own = torch.nn.functional.linear(x, weight[:, :c] - weight[:, c:], bias)
        h = gather_neighbours(x @ weight[:, c:].T, index).add_(own[:, :, None, :]).relu_()
        for linear, norm in zip(self.linears[1:], self.norms[1:], strict=True):
            folded = cast(MaskedBatchNorm, norm).fold(cast(nn.Linear, linear).weight)
            h = torch.nn.functional.linear(h, *folded).relu_()
        return self._aggregate(h, x, mask, valid)

    def _aggregate(self, h: torch.Tensor, x: torch.Tensor, mask: torch.Tensor,
                   valid: torch.Tensor) -> torch.Tensor:
        """Mean of the edge features (n, P, k, C) over the valid neighbours, plus shortcut."""
        n_valid = valid.sum(-1, keepdim=True).clamp(min=1)
        aggregated = (valid.to(h.dtype)[..., None, :] @ h).squeeze(-2) / n_valid
        out = torch.relu(aggregated + self.shortcut_norm(self.shortcut(x), mask))
        return out * mask[..., None]
