"""High-level dijet features of the LHC Olympics / CATHODE analyses (GeV).

Jets are ordered by mass: J1 is the lighter jet, J2 the heavier, whatever their pT order.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from aihep.errors import InputError
from aihep.events.kinematics import mass, pt
from aihep.events.substructure import tau_ratio
from aihep.io.lhco import FEATURES  # the standard set (CATHODE inputs + mjj)

__all__ = ["EXTRA_FEATURES", "FEATURES", "dijet_features", "features_from_events"]

EXTRA_FEATURES = ("mj2", "tau32_j1", "tau32_j2", "pt_j1", "pt_j2")


def dijet_features(
    jet_a: dict[str, np.ndarray], jet_b: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Dijet features from the two leading jets of each event.

    Args:
        jet_a, jet_b: per-event jet arrays with keys px, py, pz (GeV), m (GeV), tau1, tau2,
            tau3; shape (n_events,) each. Their order does not matter.

    Returns:
        dict with mjj, mj1 (lighter), mj2, delta_mj = mj2 - mj1, tau21_j1, tau21_j2,
        tau32_j1, tau32_j2, pt_j1, pt_j2; shape (n_events,) each.
    """
    swap = jet_a["m"] > jet_b["m"]
    light = {k: np.where(swap, jet_b[k], jet_a[k]) for k in jet_a}
    heavy = {k: np.where(swap, jet_a[k], jet_b[k]) for k in jet_a}
    energy = [np.sqrt(j["px"] ** 2 + j["py"] ** 2 + j["pz"] ** 2 + j["m"] ** 2)
              for j in (light, heavy)]
    mjj = mass(light["px"] + heavy["px"], light["py"] + heavy["py"],
               light["pz"] + heavy["pz"], energy[0] + energy[1])
    return {
        "mjj": mjj,
        "mj1": light["m"],
        "delta_mj": heavy["m"] - light["m"],
        "tau21_j1": tau_ratio(light["tau2"], light["tau1"]),
        "tau21_j2": tau_ratio(heavy["tau2"], heavy["tau1"]),
        "mj2": heavy["m"],
        "tau32_j1": tau_ratio(light["tau3"], light["tau2"]),
        "tau32_j2": tau_ratio(heavy["tau3"], heavy["tau2"]),
        "pt_j1": pt(light["px"], light["py"]),
        "pt_j2": pt(heavy["px"], heavy["py"]),
    }


def features_from_events(events: ak.Array, source: str = "events") -> dict[str, np.ndarray]:
    """Dijet features of aihep events (each needs at least two jets).

    Raises:
        InputError: when an event has fewer than two jets.
    """
    n_jets = ak.to_numpy(ak.num(events.jets, axis=1))
    if len(n_jets) and n_jets.min() < 2:
        raise InputError(source, "jets", "at least two jets per event (select with min_jets=2)")
    lead = events.jets[:, :2]
    jets = [{"px": ak.to_numpy(lead.px[:, i]), "py": ak.to_numpy(lead.py[:, i]),
             "pz": ak.to_numpy(lead.pz[:, i]), "m": ak.to_numpy(lead.mass[:, i]),
             "tau1": ak.to_numpy(lead.tau1[:, i]), "tau2": ak.to_numpy(lead.tau2[:, i]),
             "tau3": ak.to_numpy(lead.tau3[:, i])} for i in (0, 1)]
    return dijet_features(*jets)
