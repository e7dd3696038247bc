"""Toy jets for tagging tests: classes that differ only in particle-level content.

Every class has the same kinematics and two-prong shape; a class differs in the fraction of
charged particles, which no jet-level observable (mass, tau ratios, multiplicity) sees.
"""

from __future__ import annotations

import numpy as np

from aihep.io.jets import JetSet, from_arrays


def toy_jets(n_per_class: int = 300, charged_fractions: tuple[float, ...] = (0.45, 0.75),
             classes: tuple[str, ...] = ("QCD", "Wqq"), seed: int = 0) -> JetSet:
    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {k: [] for k in (
        "part_px", "part_py", "part_pz", "part_energy", "part_charge", "part_isChargedHadron",
        "part_isNeutralHadron", "part_isPhoton", "part_isElectron", "part_isMuon")}
    jet: dict[str, list] = {k: [] for k in ("jet_pt", "jet_eta", "jet_phi", "jet_energy")}
    labels = []
    for label, frac in enumerate(charged_fractions):
        for _ in range(n_per_class):
            n = int(rng.integers(12, 40))
            eta0, phi0 = rng.uniform(-1.5, 1.5), rng.uniform(-np.pi, np.pi)
            prong = rng.integers(0, 2, n)
            sep = rng.uniform(0.15, 0.4)
            deta = rng.normal(0, 0.05, n) + np.where(prong, sep / 2, -sep / 2)
            dphi = rng.normal(0, 0.05, n)
            pt = 600.0 * rng.dirichlet(np.ones(n))
            eta, phi = eta0 + deta, phi0 + dphi
            charged = rng.random(n) < frac
            photon = ~charged & (rng.random(n) < 0.6)
            px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
            e = np.sqrt(px**2 + py**2 + pz**2 + np.where(charged, 0.1396**2, 0.0))
            for key, value in (("part_px", px), ("part_py", py), ("part_pz", pz),
                               ("part_energy", e),
                               ("part_charge", np.where(charged, rng.choice([-1.0, 1.0], n), 0)),
                               ("part_isChargedHadron", charged * 1.0),
                               ("part_isNeutralHadron", (~charged & ~photon) * 1.0),
                               ("part_isPhoton", photon * 1.0), ("part_isElectron", 0.0 * px),
                               ("part_isMuon", 0.0 * px)):
                parts[key].append(value)
            sx, sy, sz, se = px.sum(), py.sum(), pz.sum(), e.sum()
            jpt = np.hypot(sx, sy)
            jet["jet_pt"].append(jpt)
            jet["jet_eta"].append(np.arcsinh(sz / jpt))
            jet["jet_phi"].append(np.arctan2(sy, sx))
            jet["jet_energy"].append(se)
            labels.append(label)
    order = rng.permutation(len(labels))
    parts = {k: [v[i] for i in order] for k, v in parts.items()}
    jets = {k: np.asarray(v)[order] for k, v in jet.items()}
    return from_arrays(parts, jets, np.asarray(labels)[order], classes, "toy jets")


def jet_batch(seed: int, n: int = 6, p: int = 12, f: int = 7):
    """Tagger inputs (features, points, vectors, mask) of ``n`` padded jets of <= ``p``
    particles (torch tensors): the first jet has 3 real particles (fewer than
    ParticleNet-Lite's k = 7 neighbours), the second 9."""
    import torch

    g = torch.Generator().manual_seed(seed)
    features, points = torch.randn(n, p, f, generator=g), 0.3 * torch.randn(n, p, 2, generator=g)
    momenta = 20 * torch.randn(n, p, 3, generator=g)
    vectors = torch.cat([momenta, momenta.norm(dim=-1, keepdim=True) + 0.5], dim=-1)
    mask = torch.ones(n, p, dtype=torch.bool)
    mask[0, 3:] = False
    mask[1, 9:] = False
    for t in (features, points, vectors):
        t[~mask] = 0
    return features, points, vectors, mask

