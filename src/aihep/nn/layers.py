"""Small building blocks shared by models: multilayer perceptrons and feature scaling."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.SiLU,
        dropout: float = 0.0) -> nn.Sequential:
    """A perceptron ``sizes[0] -> ... -> sizes[-1]``; no activation after the last layer."""
    if len(sizes) < 2:
        msg = f"an MLP needs at least input and output sizes, got {list(sizes)}"
        raise ValueError(msg)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class Standardizer:
    """x -> (x - mean) / std with statistics of a fitting set; arrays in, float32 tensors out."""

    def __init__(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=float).reshape(len(x), -1)
        self.mean = x.mean(axis=0)
        self.std = x.std(axis=0) + 1e-8

    def __call__(self, x: np.ndarray) -> torch.Tensor:
        x = np.asarray(x, dtype=float).reshape(len(x), -1)
        return torch.as_tensor((x - self.mean) / self.std, dtype=torch.float32)
