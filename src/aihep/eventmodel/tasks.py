"""Inputs, targets and the multi-task loss of the event transformer.

Objects per event: the jets (padded to J), then the lepton, then the missing pT. Targets
(missing ones are NaN or -1 and masked out of their loss): the process label; the six
assignment targets; the regression targets (top and antitop pT / 100 GeV and mass / 100 GeV,
neutrino px, py, pz / 100 GeV); the parent of each jet (t1, t2, Higgs, other; none for
events without generator truth).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from aihep.assign.model import jet_inputs, symmetric_assignment_nll
from aihep.eventmodel.model import SEGMENTS, EventTransformer
from aihep.io.assignment import JetEvents

SCALE_GEV = 100.0


def _p4(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray) -> np.ndarray:
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return np.stack([px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + np.maximum(mass, 0) ** 2)],
                    -1)


def event_inputs(events: JetEvents) -> dict[str, torch.Tensor]:
    """Objects (B, J + 2, 6), types, four-momenta [GeV] and mask for the transformer."""
    n, j = events.mask.shape
    jets = jet_inputs(events)
    lepton = events.lepton if events.lepton is not None else np.full((n, 4), np.nan)
    met = events.met if events.met is not None else np.full((n, 2), np.nan)
    has_lepton = np.isfinite(lepton[:, 0])
    has_met = np.isfinite(met[:, 0])
    lep = np.zeros((n, 6), np.float32)
    lep[:, 0] = np.log(np.nan_to_num(lepton[:, 0], nan=1.0).clip(1e-3)) - 4.0
    lep[:, 1] = np.nan_to_num(lepton[:, 1])
    lep[:, 2], lep[:, 3] = np.sin(np.nan_to_num(lepton[:, 2])), np.cos(np.nan_to_num(
        lepton[:, 2]))
    mis = np.zeros((n, 6), np.float32)
    mis[:, 0] = np.log(np.nan_to_num(met[:, 0], nan=1.0).clip(1e-3)) - 4.0
    mis[:, 2], mis[:, 3] = np.sin(np.nan_to_num(met[:, 1])), np.cos(np.nan_to_num(met[:, 1]))
    objects = np.concatenate([jets, lep[:, None], mis[:, None]], 1)
    p4 = np.concatenate([
        _p4(events.pt, events.eta, events.phi, events.mass),
        _p4(np.nan_to_num(lepton[:, 0]), np.nan_to_num(lepton[:, 1]),
            np.nan_to_num(lepton[:, 2]), np.zeros(n))[:, None],
        _p4(np.nan_to_num(met[:, 0]), np.zeros(n), np.nan_to_num(met[:, 1]), np.zeros(n))[
            :, None]], 1)
    mask = np.concatenate([events.mask, has_lepton[:, None], has_met[:, None]], 1)
    types = np.concatenate([np.zeros((n, j)), np.ones((n, 1)), np.full((n, 1), 2)], 1)
    p4 = np.where(mask[..., None], p4, 0.0)
    return {"objects": torch.from_numpy(objects.astype(np.float32)),
            "types": torch.from_numpy(types.astype(np.int64)),
            "p4": torch.from_numpy(p4.astype(np.float32)),
            "mask": torch.from_numpy(mask)}


def event_targets(events: JetEvents, label: np.ndarray | int) -> dict[str, torch.Tensor]:
    """Targets with NaN / -1 where an event has none (see the module docstring)."""
    n, j = events.mask.shape
    labels = np.broadcast_to(np.asarray(label, np.int64), (n,)).copy()
    regression = np.full((n, 7), np.nan, np.float32)
    if events.tops is not None:
        t = events.tops
        pt = np.hypot(t[..., 0], t[..., 1])
        mass = np.sqrt(np.maximum(t[..., 3] ** 2 - (t[..., :3] ** 2).sum(-1), 0.0))
        regression[:, [0, 2]] = pt / SCALE_GEV
        regression[:, [1, 3]] = np.where(np.isfinite(pt), mass, np.nan) / SCALE_GEV
    if events.partons is not None and events.lepton is not None:
        leptonic = np.isfinite(events.lepton[:, 0])
        nu = events.partons[:, 2, :3] / SCALE_GEV  # t1/q2 holds the neutrino
        regression[leptonic, 4:7] = nu[leptonic]
    segments = np.full((n, j), SEGMENTS.index("other"), np.int64)
    segments[~events.mask] = -1
    if not events.has_truth:  # "other" would be a guess, not a label
        segments[:] = -1
    rows = np.arange(n)
    for k in range(6):
        jet = events.targets[:, k]
        ok = jet >= 0
        segments[rows[ok], jet[ok]] = 0 if k < 3 else 1
    if events.higgs_targets is not None:
        for k in range(2):
            jet = events.higgs_targets[:, k]
            ok = jet >= 0
            segments[rows[ok], jet[ok]] = SEGMENTS.index("higgs")
    # copies: callers blank targets in place (a task left out) without touching the events
    return {"label": torch.from_numpy(labels),
            "assignment": torch.from_numpy(events.targets.astype(np.int64, copy=True)),
            "regression": torch.from_numpy(regression), "segmentation": torch.from_numpy(
                segments)}


def multitask_loss(model: EventTransformer, inputs: dict[str, torch.Tensor],
                   targets: dict[str, torch.Tensor], hide_fraction: float = 0.0,
                   generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Per-task mean losses (only events and objects with targets) and their weighted sum
    under ``total``. ``hide_fraction`` hides that share of the real objects and scores
    their reconstruction (masked-object pretraining)."""
    mask = inputs["mask"]
    hidden = None
    if hide_fraction > 0:
        hidden = (torch.rand(mask.shape, generator=generator) < hide_fraction) & mask
    n_jets = targets["segmentation"].shape[1]
    out = model(inputs["objects"], inputs["types"], inputs["p4"], mask, n_jets, hidden)
    losses: dict[str, torch.Tensor] = {}
    zero = out["regression"].sum() * 0.0
    label = targets["label"]
    ok = label >= 0
    losses["classification"] = (nn.functional.cross_entropy(out["classification"][ok],
                                                            label[ok]) if ok.any() else zero)
    assign = targets["assignment"]
    has_top = (assign >= 0).any(1)
    losses["assignment"] = (symmetric_assignment_nll(
        out["assignment"][has_top], out["detection"][has_top], assign[has_top]).mean()
        if has_top.any() else zero)
    reg = targets["regression"]
    finite = torch.isfinite(reg)
    losses["regression"] = (((out["regression"] - torch.nan_to_num(reg)) ** 2)[finite].mean()
                            if finite.any() else zero)
    seg = targets["segmentation"]
    losses["segmentation"] = (nn.functional.cross_entropy(
        out["segmentation"].reshape(-1, len(SEGMENTS)), seg.reshape(-1), ignore_index=-1)
        if (seg >= 0).any() else zero)
    if hidden is not None and hidden.any():
        losses["reconstruction"] = ((out["reconstruction"] - inputs["objects"]) ** 2)[
            hidden].mean()
    else:
        losses["reconstruction"] = zero
    weights = model.config.weights
    losses["total"] = sum(weights.get(k, 0.0) * v for k, v in losses.items())
    return losses


def describe_losses(losses: dict[str, torch.Tensor]) -> dict[str, Any]:
    return {k: float(v.detach()) for k, v in losses.items()}
