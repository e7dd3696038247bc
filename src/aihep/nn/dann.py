"""Domain-adversarial training (DANN, Ganin et al., arXiv:1505.07818), shared by the PID
and tau tasks.

* :class:`GradientReversal`: identity forward, gradient times ``-lambda`` backward, so a
  feature extractor learns to make a domain classifier fail;
* :class:`DomainHead`: the domain classifier on top of the reversed features;
* :func:`dann_lambda`: the schedule 2 / (1 + exp(-gamma p)) - 1 over training progress p in
  [0, 1] (gamma = 10 in the paper), times a maximum;
* :func:`dann_schedule`: that schedule as a ``before_batch`` hook of :func:`aihep.nn.train.train`
  (progress counted by the training loop, so a resumed run continues the schedule).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.lam * grad, None


def reverse_gradient(x: torch.Tensor, lam: float) -> torch.Tensor:
    """Identity in the forward pass; multiplies the gradient by ``-lam`` backwards."""
    return _Reverse.apply(x, lam)


class GradientReversal(nn.Module):
    """:func:`reverse_gradient` as a module; set ``lam`` during training (schedule)."""

    def __init__(self, lam: float = 1.0) -> None:
        super().__init__()
        self.lam = lam

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reverse_gradient(x, self.lam)


class DomainHead(nn.Module):
    """Gradient reversal then an MLP giving one domain logit (data = 1, simulation = 0)."""

    def __init__(self, features: int, hidden: int = 64) -> None:
        super().__init__()
        self.reverse = GradientReversal()
        self.net = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(self.reverse(features)).squeeze(-1)


def dann_lambda(progress: float, maximum: float = 1.0, gamma: float = 10.0) -> float:
    """The DANN schedule at training ``progress`` in [0, 1]."""
    p = min(max(progress, 0.0), 1.0)
    return maximum * (2.0 / (1.0 + math.exp(-gamma * p)) - 1.0)


def dann_schedule(head: DomainHead, maximum: float = 1.0) -> Callable[[int, int], None]:
    """A ``before_batch`` hook setting ``head``'s reversal weight to :func:`dann_lambda` at
    the training loop's progress (batches done over total batches)."""

    def set_weight(done: int, total: int) -> None:
        head.reverse.lam = dann_lambda(min(done / max(total, 1), 1.0), maximum)

    return set_weight
