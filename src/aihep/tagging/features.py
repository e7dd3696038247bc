"""Model inputs from a jet set: padded per-particle features, coordinates, four-vectors, masks.

Per-particle features follow JetClass (ParT paper, table 2):

- ``kin`` (7): log pT, log E, log(pT/pT_jet), log(E/E_jet), delta-R, delta-eta, delta-phi;
- ``kinpid`` (13): ``kin`` + charge + one-hot type (charged hadron, neutral hadron, photon,
  electron, muon);
- ``full`` (17): ``kinpid`` + tanh(d0), d0 error, tanh(dz), dz error (mm; errors clipped to
  [0, 1] as in JetClass);
- ``full_hid`` (20): ``full`` + the identified charged-hadron type (kaon, pion, proton flags),
  for strange and charm tagging.

delta-eta is signed along the jet's eta (``(eta - eta_jet) * sign(eta_jet)``) and delta-phi is
wrapped to (-pi, pi]. Particles are ordered by decreasing pT and cut at ``max_particles``.
The continuous features are standardized with statistics of a training set
(:class:`FeatureScaler`), so the same code serves 100 GeV e+e- jets and 1 TeV LHC jets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import awkward as ak
import numpy as np
import torch

from aihep.errors import InputError
from aihep.io.jets import JetSet, check_jets
from aihep.nn.kinematics import pair_features_between

FeatureSet = Literal["kin", "kinpid", "full", "full_hid"]
KIN = ("pt_log", "e_log", "logptrel", "logerel", "deltaR", "deta", "dphi")
PID = ("part_charge", "part_isChargedHadron", "part_isNeutralHadron", "part_isPhoton",
       "part_isElectron", "part_isMuon")
IMPACT = ("part_d0val", "part_d0err", "part_dzval", "part_dzerr")
HADRON_ID = ("part_isKaon", "part_isPion", "part_isProton")
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "kin": KIN, "kinpid": KIN + PID, "full": KIN + PID + IMPACT,
    "full_hid": KIN + PID + IMPACT + HADRON_ID,
}
STANDARDIZED = frozenset(KIN)


@dataclass(frozen=True)
class ParticleInputs:
    """Padded model inputs of n jets with at most P particles.

    Attributes:
        features: (n, P, F) float32 per-particle features (zero where padded).
        points: (n, P, 2) float32 (delta-eta, delta-phi), ParticleNet's first coordinates.
        vectors: (n, P, 4) float32 (px, py, pz, E) in GeV, for ParT's pair features.
        mask: (n, P) bool, true for real particles.
        names: the F feature names.
    """

    features: np.ndarray
    points: np.ndarray
    vectors: np.ndarray
    mask: np.ndarray
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.mask)

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """(features, points, vectors, mask) as torch tensors."""
        return (torch.from_numpy(self.features), torch.from_numpy(self.points),
                torch.from_numpy(self.vectors), torch.from_numpy(self.mask))


def _pad(values: ak.Array, length: int) -> np.ndarray:
    return ak.to_numpy(ak.fill_none(ak.pad_none(values, length, clip=True), 0.0)).astype(
        np.float32)


def particle_inputs(jets: JetSet, feature_set: FeatureSet = "kin",
                    max_particles: int = 128) -> ParticleInputs:
    """Padded per-particle inputs of every jet (see the module docstring for the features).

    Raises:
        InputError: a field the feature set needs is missing, values are not finite, or a jet
            has no particles.
    """
    if feature_set not in FEATURE_SETS:
        raise InputError(jets.source, "feature_set", f"one of {', '.join(FEATURE_SETS)}")
    names = FEATURE_SETS[feature_set]
    check_jets(jets, need=tuple(n for n in names if n.startswith("part_")))
    t = jets.table
    pt_all = np.hypot(t["part_px"], t["part_py"])
    order = ak.argsort(pt_all, axis=1, ascending=False)
    t = t[[f for f in t.fields if f.startswith("part_")]]
    parts = {f: t[f][order] for f in t.fields}
    px, py, pz, e = (parts[f] for f in ("part_px", "part_py", "part_pz", "part_energy"))
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-9))
    phi = np.arctan2(py, px)
    jet = jets.table
    jet_eta = ak.to_numpy(jet["jet_eta"]).astype(float)
    jet_phi = ak.to_numpy(jet["jet_phi"]).astype(float)
    sign = np.where(jet_eta >= 0, 1.0, -1.0)
    deta = (eta - jet_eta) * sign
    dphi = (phi - jet_phi + np.pi) % (2 * np.pi) - np.pi
    tiny = 1e-9
    derived: dict[str, Any] = {
        "pt_log": np.log(np.maximum(pt, tiny)), "e_log": np.log(np.maximum(e, tiny)),
        "logptrel": np.log(np.maximum(pt / ak.to_numpy(jet["jet_pt"]), tiny)),
        "logerel": np.log(np.maximum(e / ak.to_numpy(jet["jet_energy"]), tiny)),
        "deltaR": np.hypot(deta, dphi), "deta": deta, "dphi": dphi,
    }
    for name in names:
        if name in derived:
            continue
        value = parts[name]
        if name in ("part_d0val", "part_dzval"):
            value = np.tanh(value)
        elif name in ("part_d0err", "part_dzerr"):
            value = np.minimum(np.maximum(value, 0.0), 1.0)  # ufuncs: jagged arrays
        derived[name] = value
    n_max = int(max_particles)
    mask = _pad(ak.ones_like(e), n_max) > 0
    features = np.stack([_pad(derived[n], n_max) for n in names], axis=-1)
    points = np.stack([_pad(deta, n_max), _pad(dphi, n_max)], axis=-1)
    vectors = np.stack([_pad(v, n_max) for v in (px, py, pz, e)], axis=-1)
    return ParticleInputs(features, points, vectors, mask, names)


@dataclass(frozen=True)
class FeatureScaler:
    """Standardize the continuous features with a training set's mean and std (real particles)."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, inputs: ParticleInputs) -> FeatureScaler:
        real = inputs.features[inputs.mask]
        mean = [float(real[:, i].mean()) if n in STANDARDIZED else 0.0
                for i, n in enumerate(inputs.names)]
        std = [float(real[:, i].std() + 1e-6) if n in STANDARDIZED else 1.0
               for i, n in enumerate(inputs.names)]
        return cls(inputs.names, tuple(mean), tuple(std))

    def __call__(self, inputs: ParticleInputs) -> ParticleInputs:
        if inputs.names != self.names:
            raise InputError("inputs", "features", f"the features the scaler was fitted on "
                             f"({', '.join(self.names)})")
        scaled = (inputs.features - np.asarray(self.mean, np.float32)) / np.asarray(
            self.std, np.float32)
        scaled = np.clip(scaled, -5.0, 5.0) * inputs.mask[..., None]
        return ParticleInputs(scaled.astype(np.float32), inputs.points, inputs.vectors,
                              inputs.mask, inputs.names)

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureScaler:
        return cls(tuple(data["names"]), tuple(data["mean"]), tuple(data["std"]))


def pair_features(vectors: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """ParT's pairwise interaction features (ln delta, ln kT, ln z, ln m^2) of every pair.

    Args:
        vectors: (n, P, 4) (px, py, pz, E) in GeV.
        mask: (n, P) bool, true for real particles.

    Returns:
        (n, 4, P, P), see :func:`pair_features_between`; zero where either particle is
        padding and on the diagonal.
    """
    out = pair_features_between(vectors[:, :, None, :], vectors[:, None, :, :], eps)
    pair = (mask[:, :, None] & mask[:, None, :]) & ~torch.eye(
        mask.shape[1], dtype=torch.bool, device=mask.device)
    return (out * pair[..., None]).permute(0, 3, 1, 2)
