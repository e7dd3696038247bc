"""Kinematics of four-vectors on torch tensors, shared by the networks of the task packages."""

from __future__ import annotations

import torch


def pair_features_between(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """ParT's interaction features of particle pairs (a, b): (..., 4) -> (..., 4).

    ``a`` and ``b`` are broadcastable (px, py, pz, E) in GeV; the features are ln delta,
    ln kT, ln z, ln m^2 with delta = sqrt(dy^2 + dphi^2) (rapidity y), kT = min(pT_a, pT_b)
    delta, z = min(pT_a, pT_b) / (pT_a + pT_b) and m^2 = (p_a + p_b)^2 in GeV^2.
    """

    def kinematics(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        px, py, pz, e = v.unbind(-1)
        rap = 0.5 * torch.log((e + pz).clamp(min=eps) / (e - pz).clamp(min=eps))
        return torch.hypot(px, py), rap, torch.atan2(py, px)

    pt_a, rap_a, phi_a = kinematics(a)
    pt_b, rap_b, phi_b = kinematics(b)
    dphi = torch.remainder(phi_a - phi_b + torch.pi, 2 * torch.pi) - torch.pi
    delta = torch.sqrt((rap_a - rap_b) ** 2 + dphi**2)
    pt_min = torch.minimum(pt_a, pt_b)
    total = a + b
    m2 = total[..., 3] ** 2 - (total[..., :3] ** 2).sum(-1)
    return torch.stack([torch.log(delta.clamp(min=eps)), torch.log((pt_min * delta).clamp(
        min=eps)), torch.log((pt_min / (pt_a + pt_b).clamp(min=eps)).clamp(min=eps)),
                        torch.log(m2.clamp(min=eps))], dim=-1)
