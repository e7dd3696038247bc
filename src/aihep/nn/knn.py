"""k nearest neighbours of every point of a padded point cloud (jet particles, hit DOMs),
in pure torch (cdist + topk).

The PyG helpers (``knn_graph``) need ``torch-cluster``, which does not install here; a dense
distance matrix per jet is cheap at jet sizes (P <= 200).
"""

from __future__ import annotations

import torch


def knn(points: torch.Tensor, mask: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the k nearest other real particles of every particle.

    Args:
        points: (n, P, D) coordinates.
        mask: (n, P) bool, true for real particles.
        k: neighbours per particle.

    Returns:
        ``(index, valid)``, both (n, P, k): neighbour indices ordered by distance and whether
        the neighbour is real (false when the jet has <= k real particles; such slots point at
        an arbitrary particle and must be ignored).
    """
    n, p, _ = points.shape
    dist = torch.cdist(points, points)
    real_pair = mask[:, :, None] & mask[:, None, :]
    dist = dist.masked_fill(~real_pair, float("inf"))
    dist = dist.masked_fill(torch.eye(p, dtype=torch.bool, device=points.device), float("inf"))
    k_eff = min(k, p - 1) if p > 1 else 0
    values, index = dist.topk(k_eff, dim=-1, largest=False)
    valid = torch.isfinite(values)
    if k_eff < k:  # fewer slots than k: pad with invalid neighbours
        pad = k - k_eff
        index = torch.cat([index, index.new_zeros(n, p, pad)], dim=-1)
        valid = torch.cat([valid, valid.new_zeros(n, p, pad)], dim=-1)
    return index, valid


def gather_neighbours(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Features of each particle's neighbours.

    Args:
        x: (n, P, C) features.
        index: (n, P, k) neighbour indices from :func:`knn`.

    Returns:
        (n, P, k, C).
    """
    n, p, k = index.shape
    rows = (index + torch.arange(n, device=index.device)[:, None, None] * x.shape[1]).reshape(-1)
    # whole-row selection from the flattened (n * P, C) table: faster than an elementwise gather
    return x.reshape(n * x.shape[1], x.shape[-1]).index_select(0, rows).reshape(n, p, k, -1)
