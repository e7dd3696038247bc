"""Jets with FastJet (array interface, all events at once) and their substructure.

Substructure runs on all constituents of each kept jet; the stored constituent list is capped.
"""

from __future__ import annotations

import warnings

import awkward as ak
import numpy as np

from aihep.events import kinematics as kin
from aihep.events.config import JetConfig
from aihep.events.pythia import ParticleBatch, silence_stdout
from aihep.events.substructure import nsubjettiness, softdrop_mass

_ALGORITHMS = {"antikt": "antikt_algorithm", "kt": "kt_algorithm",
               "cambridge": "cambridge_algorithm"}


def four_vectors(px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray,
                 counts: np.ndarray) -> ak.Array:
    """Jagged (px, py, pz, E) Momentum4D records, ``counts`` per event."""
    flat = ak.zip({"px": px, "py": py, "pz": pz, "E": e}, with_name="Momentum4D")
    return ak.unflatten(flat, counts)


def cluster_indices(batch: ParticleBatch, config: JetConfig
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, ak.Array]:
    """Cluster each event's particles; pT-ordered jets with |eta| < eta_max, at most max_jets.

    Returns:
        ``(jet_four, kept_counts, event_of_jet, constituent_index)``: jet (px, py, pz, E) in
        GeV, shape (n_jets, 4); jets per event (n_events,); the event of each jet (n_jets,);
        and, per jet, the indices of its constituents in the flat particle arrays of ``batch``.
    """
    import fastjet

    n_events = batch.n_events
    particles = four_vectors(batch.px, batch.py, batch.pz, batch.e, batch.counts)
    algorithm = getattr(fastjet, _ALGORITHMS[config.algorithm])
    with warnings.catch_warnings(), silence_stdout():  # FastJet prints a banner on first use
        warnings.simplefilter("ignore")
        seq = fastjet.ClusterSequence(particles, fastjet.JetDefinition(algorithm, config.radius))
        jets = seq.inclusive_jets(min_pt=config.pt_min_gev)
        index = seq.constituent_index(min_pt=config.pt_min_gev)

    jet_counts = ak.to_numpy(ak.num(jets, axis=1))
    jpx, jpy, jpz, je = (ak.to_numpy(ak.flatten(jets[f])) for f in ("px", "py", "pz", "E"))
    jpt, jeta = kin.pt(jpx, jpy), kin.eta(jpx, jpy, jpz)

    # Keep |eta| < eta_max, order by pT, at most max_jets per event.
    event_of_jet = np.repeat(np.arange(n_events), jet_counts)
    accepted = np.abs(jeta) < config.eta_max
    order = np.lexsort((-jpt, event_of_jet))
    order = order[accepted[order]]
    kept_counts = np.bincount(event_of_jet[order], minlength=n_events)
    rank = np.arange(len(order)) - np.repeat(np.cumsum(kept_counts) - kept_counts, kept_counts)
    order = order[rank < config.max_jets]
    kept_counts = np.minimum(kept_counts, config.max_jets)

    # Constituent indices into the flat particle arrays.
    offsets = np.concatenate([[0], np.cumsum(batch.counts)[:-1]]).astype(np.int64)
    flat_index = ak.flatten(index + ak.Array(offsets), axis=1)[order]
    four = np.stack([jpx[order], jpy[order], jpz[order], je[order]], axis=1)
    return four, kept_counts, event_of_jet[order], flat_index


def find_jets(batch: ParticleBatch, config: JetConfig) -> tuple[ak.Array, ak.Array]:
    """Cluster each event's particles; keep pT-ordered jets with |eta| < eta_max.

    Returns:
        (jets, all_constituents): both events x jets. ``jets`` has pt, eta, phi, mass, px, py,
        pz, e (GeV), n_constituents and ``constituents`` (pT-ordered, capped at
        ``config.max_constituents``: pt, eta, phi, e, pid, charge); ``all_constituents`` holds
        every constituent's four-vector (px, py, pz, E) for substructure.
    """
    jet_four, kept_counts, _, flat_index = cluster_indices(batch, config)
    n_const = ak.to_numpy(ak.num(flat_index, axis=1))
    idx = ak.to_numpy(ak.flatten(flat_index)).astype(np.int64)
    cpx, cpy, cpz, ce = batch.px[idx], batch.py[idx], batch.pz[idx], batch.e[idx]
    four = four_vectors(cpx, cpy, cpz, ce, n_const)

    const = ak.unflatten(ak.zip({
        "pt": kin.pt(cpx, cpy).astype(np.float32),
        "eta": kin.eta(cpx, cpy, cpz).astype(np.float32),
        "phi": kin.phi(cpx, cpy).astype(np.float32),
        "e": ce.astype(np.float32),
        "pid": batch.pid[idx],
        "charge": batch.charge[idx].astype(np.int8),
    }), n_const)
    const = const[ak.argsort(const.pt, axis=1, ascending=False)][:, : config.max_constituents]

    kpx, kpy, kpz, ke = jet_four.T
    records = ak.zip({
        "pt": kin.pt(kpx, kpy), "eta": kin.eta(kpx, kpy, kpz), "phi": kin.phi(kpx, kpy),
        "mass": kin.mass(kpx, kpy, kpz, ke), "px": kpx, "py": kpy, "pz": kpz, "e": ke,
        "n_constituents": n_const.astype(np.int32), "constituents": const,
    }, depth_limit=1)
    return ak.unflatten(records, kept_counts), ak.unflatten(four, kept_counts)


def add_substructure(jets: ak.Array, all_constituents: ak.Array, config: JetConfig) -> ak.Array:
    """Add tau1, tau2, tau3 and msd (GeV) to events x jets, computed on all constituents."""
    counts = ak.to_numpy(ak.num(jets, axis=1))
    flat_const = ak.flatten(all_constituents, axis=1)
    taus = nsubjettiness(flat_const, config.radius)
    msd = softdrop_mass(flat_const, config.radius, config.softdrop_zcut, config.softdrop_beta)
    flat = ak.flatten(jets, axis=1)
    fields = {name: flat[name] for name in flat.fields if name != "constituents"}
    taus = np.asfortranarray(taus)  # contiguous columns (Arrow needs them)
    fields.update(tau1=taus[:, 0], tau2=taus[:, 1], tau3=taus[:, 2], msd=msd,
                  constituents=flat["constituents"])
    return ak.unflatten(ak.zip(fields, depth_limit=1), counts)


def cluster_jets(batch: ParticleBatch, config: JetConfig) -> ak.Array:
    """Jets of every event with substructure: :func:`find_jets` + :func:`add_substructure`."""
    jets, all_constituents = find_jets(batch, config)
    return add_substructure(jets, all_constituents, config)
