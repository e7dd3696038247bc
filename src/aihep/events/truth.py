"""Truth from the Pythia event record: resonance decay products, for labelling jets.

Pythia keeps copies of a particle as it recoils in showers; the last copy is the one that
decays (its first daughter has another identity). Its decay products are the daughters
``daughter1 .. daughter2``; a daughter that is itself a resonance (t, Z, W, H) is replaced by
its own decay products, recursively, so a top gives (b, q, q') or (b, l, nu).
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

RESONANCES = (6, 23, 24, 25)
NEUTRINOS = (12, 14, 16)
LEPTONS = (11, 13)


@dataclass(frozen=True)
class Record:
    """Flat arrays of a batch's event records; ``offsets[i]`` is event i's first entry."""

    pid: np.ndarray
    daughter1: np.ndarray
    daughter2: np.ndarray
    momentum: np.ndarray  # (n, 4) px, py, pz, E in GeV
    offsets: np.ndarray

    @classmethod
    def from_run(cls, run: ak.Array) -> Record:
        prt = run.prt
        counts = ak.to_numpy(ak.num(prt.id, axis=1))
        p = prt.p
        momentum = np.stack([ak.to_numpy(ak.flatten(p[f])) for f in ("px", "py", "pz", "e")], 1)
        return cls(ak.to_numpy(ak.flatten(prt.id)).astype(np.int64),
                   ak.to_numpy(ak.flatten(prt.daughter1)).astype(np.int64),
                   ak.to_numpy(ak.flatten(prt.daughter2)).astype(np.int64), momentum,
                   np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64))


@dataclass(frozen=True)
class Parton:
    """A decay product: PDG id and four-momentum (GeV) at production."""

    pid: int
    momentum: np.ndarray


def last_copy(record: Record, event: int, local: int) -> int:
    """Follow recoil copies of entry ``local`` of ``event`` to the one that decays."""
    base = record.offsets[event]
    for _ in range(200):
        d1, d2 = record.daughter1[base + local], record.daughter2[base + local]
        single = d1 > 0 and (d2 == d1 or d2 == 0)
        if not single or abs(record.pid[base + d1]) != abs(record.pid[base + local]):
            return local
        local = int(d1)
    return local


def decay_products(record: Record, event: int, local: int) -> list[Parton]:
    """Final decay products (quarks, gluons, leptons) of the resonance at entry ``local``."""
    base = record.offsets[event]
    local = last_copy(record, event, local)
    d1, d2 = int(record.daughter1[base + local]), int(record.daughter2[base + local])
    if d1 <= 0:
        return []
    out: list[Parton] = []
    for child in range(d1, max(d2, d1) + 1):
        pid = int(record.pid[base + child])
        if abs(pid) in RESONANCES:
            out += decay_products(record, event, child)
        else:
            out.append(Parton(pid, record.momentum[base + child]))
    return out


def resonances(record: Record, event: int, pdg_id: int) -> list[int]:
    """Local entries of the first copies of ``|pdg_id|`` not produced by another copy."""
    base = record.offsets[event]
    end = record.offsets[event + 1] if event + 1 < len(record.offsets) else len(record.pid)
    ids = np.abs(record.pid[base:end])
    found = np.flatnonzero(ids == pdg_id)
    children = set()
    for i in found:
        d1, d2 = record.daughter1[base + i], record.daughter2[base + i]
        if d1 > 0 and (d2 == d1 or d2 == 0) and ids[d1] == pdg_id:
            children.add(int(d1))
    return [int(i) for i in found if int(i) not in children]


def delta_r(eta1: np.ndarray, phi1: np.ndarray, eta2: np.ndarray, phi2: np.ndarray
            ) -> np.ndarray:
    """sqrt(d_eta^2 + d_phi^2), d_phi wrapped to (-pi, pi]."""
    dphi = (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def eta_phi(momentum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pseudorapidity and azimuth of (..., 4) momenta."""
    px, py, pz = momentum[..., 0], momentum[..., 1], momentum[..., 2]
    pt = np.maximum(np.hypot(px, py), 1e-12)
    return np.arcsinh(pz / pt), np.arctan2(py, px)


def heavy_flavour(pid: np.ndarray) -> np.ndarray:
    """5 for hadrons with a b quark, 4 for charm hadrons (no b), 0 otherwise."""
    a = np.abs(pid)
    digits = np.stack([(a // 100) % 10, (a // 1000) % 10], axis=1)
    hadron = a > 100
    b = hadron & np.any(digits == 5, axis=1)
    c = hadron & np.any(digits == 4, axis=1) & ~b
    return np.where(b, 5, np.where(c, 4, 0))


def jet_flavours(record: Record, jet_event: np.ndarray, jet_eta: np.ndarray,
                 jet_phi: np.ndarray, radius: float, pt_min_gev: float = 5.0) -> np.ndarray:
    """Per jet the flavour of the heaviest b or c hadron (pT > ``pt_min_gev``) of its event
    within delta-R ``radius``: 5, 4 or 0 (light)."""
    flavour = heavy_flavour(record.pid)
    mom = record.momentum
    heavy = (flavour > 0) & (np.hypot(mom[:, 0], mom[:, 1]) > pt_min_gev)
    h_event = np.searchsorted(record.offsets, np.flatnonzero(heavy), side="right") - 1
    h_eta, h_phi = eta_phi(mom[heavy])
    h_flavour = flavour[heavy]
    out = np.zeros(len(jet_event), dtype=np.int64)
    for j in range(len(jet_event)):
        near = (h_event == jet_event[j]) & (delta_r(h_eta, h_phi, jet_eta[j], jet_phi[j])
                                            < radius)
        out[j] = int(h_flavour[near].max()) if near.any() else 0
    return out

