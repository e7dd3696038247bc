"""Jet-level observables for the boosted-decision-tree baseline.

mass (GeV, from the jet four-momentum), soft-drop mass (GeV; zcut 0.1, beta 0), tau21,
tau32 and the number of particles. Stored ``jet_sdmass`` / ``jet_tau1..3`` are used when the
set has them (JetClass files, generated sets), otherwise they are computed from the
particles (Top Tagging files) with :mod:`aihep.events.substructure`.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from aihep.events.substructure import nsubjettiness, softdrop_mass, tau_ratio
from aihep.io.jets import JetSet, check_jets

HIGH_LEVEL = ("mass", "sdmass", "tau21", "tau32", "n_particles")


def high_level_features(jets: JetSet, radius: float = 0.8) -> np.ndarray:
    """(n_jets, 5) array of HIGH_LEVEL; tau ratios of jets with too few particles are -1."""
    check_jets(jets)
    t = jets.table
    pt, eta, energy = (ak.to_numpy(t[f]).astype(float) for f in ("jet_pt", "jet_eta",
                                                                  "jet_energy"))
    p = pt * np.cosh(eta)
    mass = np.sqrt(np.maximum(energy**2 - p**2, 0.0))
    fields = set(t.fields)
    if {"jet_sdmass", "jet_tau1", "jet_tau2", "jet_tau3"} <= fields:
        sdmass = ak.to_numpy(t["jet_sdmass"]).astype(float)
        taus = np.stack([ak.to_numpy(t[f"jet_tau{i}"]).astype(float) for i in (1, 2, 3)], 1)
    else:
        constituents = ak.zip({"px": t["part_px"], "py": t["part_py"], "pz": t["part_pz"],
                               "E": t["part_energy"]})
        sdmass = softdrop_mass(constituents, radius)
        taus = nsubjettiness(constituents, radius)
    tau21 = np.nan_to_num(tau_ratio(taus[:, 1], taus[:, 0]), nan=-1.0)  # documented sentinel
    tau32 = np.nan_to_num(tau_ratio(taus[:, 2], taus[:, 1]), nan=-1.0)
    n = ak.to_numpy(ak.num(t["part_energy"], axis=1)).astype(float)
    return np.stack([mass, sdmass, tau21, tau32, n], axis=1)
