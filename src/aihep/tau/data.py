"""Tau-identification data: Pythia 8 samples through our detector, jets as tau candidates,
truth labels (tau, jet, e, mu), and a "data" domain shifted in ways fixed before training.

Samples: ``ztautau`` (Z -> tau tau), ``zprime-tautau`` (Z' -> tau tau, higher pT), ``qcd``
(2 -> 2 QCD, pT-hat above ``qcd_pthat_min_gev``), ``zee``, ``zmumu``. Candidates are anti-kT
R = 0.4 jets (pT > ``jet_pt_min_gev``, |eta| < ``jet_eta_max``) with a decay mode (see
:mod:`aihep.tau.candidates`). A candidate within delta-R 0.2 of a hadronically decaying
tau's visible momentum (pT > 15 GeV) is a tau, of a prompt electron / muon (from the Z) an
electron / muon; every other candidate is a jet, in every sample.

Domains (:class:`TauDomainConfig`): the detector, then a calorimeter scale and extra
resolution on ECAL/HCAL deposits, and soft particles from pile-up (Poisson per event,
exponential pT, uniform in |eta| < 2.5, charged pions and photons) added before the detector.
:func:`data_domain` gives the default shift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep.events.config import DetectorConfig

Sample = Literal["ztautau", "zprime-tautau", "qcd", "zee", "zmumu"]
SAMPLES: tuple[str, ...] = Sample.__args__  # type: ignore[attr-defined]
CLASSES = ("tau", "jet", "e", "mu")
TAU, JET, ELECTRON, MUON = range(len(CLASSES))


class TauDomainConfig(BaseModel):
    """A detector domain: the parametric detector plus calorimeter scale, extra calorimeter
    smearing (relative, Gaussian) and pile-up soft particles."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "simulation"
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    calo_scale: float = Field(1.0, gt=0)
    calo_smear: float = Field(0.0, ge=0, description="extra relative resolution")
    pileup_mean: float = Field(10.0, ge=0, description="soft particles per event")
    pileup_pt_mean_gev: float = Field(0.8, gt=0)
    pileup_charged_fraction: float = Field(0.6, ge=0, le=1)


def data_domain(scale: float = 1.0) -> TauDomainConfig:
    """The "data" domain at ``scale`` x the default shift (0: the simulation): calorimeter
    scale +4%, extra calorimeter resolution 8%, twice the pile-up particles, tracking
    efficiency 95% -> 92%."""
    base = TauDomainConfig()
    detector = base.detector.model_copy(update={
        "track_efficiency": base.detector.track_efficiency - 0.03 * scale})
    return TauDomainConfig(name="data", detector=detector, calo_scale=1 + 0.04 * scale,
                           calo_smear=0.08 * scale,
                           pileup_mean=base.pileup_mean * (1 + scale))


class TauDataConfig(BaseModel):
    """One sample in one domain."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sample: Sample = "ztautau"
    n_events: int = Field(10_000, ge=1, description="generated events")
    domain: TauDomainConfig = Field(default_factory=TauDomainConfig)
    ecm_gev: float = 13_000.0
    jet_pt_min_gev: float = Field(20.0, gt=0)
    jet_eta_max: float = Field(2.3, gt=0)
    zprime_mass_gev: float = Field(1000.0, gt=100)
    qcd_pthat_min_gev: float = Field(15.0, gt=0)
    events_per_chunk: int = Field(500, ge=10)
    seed: int = DEFAULT_SEED


def pythia_settings(config: TauDataConfig) -> list[str]:
    """Pythia settings of a sample (tau decays by Pythia, with their polarization)."""
    z = ["WeakSingleBoson:ffbar2gmZ = on", "WeakZ0:gmZmode = 2", "23:onMode = off"]
    return {
        "ztautau": [*z, "23:onIfAny = 15"],
        "zee": [*z, "23:onIfAny = 11"],
        "zmumu": [*z, "23:onIfAny = 13"],
        "zprime-tautau": ["NewGaugeBoson:ffbar2gmZZprime = on", "Zprime:gmZmode = 3",
                          f"32:m0 = {config.zprime_mass_gev}", "32:onMode = off",
                          "32:onIfAny = 15"],
        "qcd": ["HardQCD:all = on", f"PhaseSpace:pTHatMin = {config.qcd_pthat_min_gev}"],
    }[config.sample]


@dataclass(frozen=True)
class TauCandidates:
    """Candidates: particle lists (n, P, F) with mask, high-level inputs (n, H), the label
    (index into CLASSES), visible pT [GeV] and eta of the candidate, reconstructed and true
    decay mode (true: taus only, else -1), true visible tau pT [GeV] (NaN for non-taus), the
    sample index (into SAMPLES) and the event in its chunk."""

    particles: np.ndarray
    mask: np.ndarray
    high_level: np.ndarray
    label: np.ndarray
    pt_gev: np.ndarray
    eta: np.ndarray
    decay_mode: np.ndarray
    true_decay_mode: np.ndarray
    true_pt_gev: np.ndarray
    sample: np.ndarray
    event: np.ndarray

    def __len__(self) -> int:
        return len(self.label)

    def select(self, index: np.ndarray) -> TauCandidates:
        return TauCandidates(*(getattr(self, f.name)[index] for f in fields(self)))

    @classmethod
    def concatenate(cls, parts: list[TauCandidates]) -> TauCandidates:
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts])
                     for f in fields(cls)))

    def save(self, path: str | Path) -> Path:
        from aihep._atomic import write_atomic

        def writer(p: Path) -> None:
            with open(p, "wb") as handle:
                np.savez(handle, **{f.name: getattr(self, f.name) for f in fields(self)})

        return write_atomic(path, writer)

    @classmethod
    def load(cls, path: str | Path) -> TauCandidates:
        import zipfile

        from aihep.errors import InputError

        path = Path(path)
        if path.is_file() and not zipfile.is_zipfile(path):
            raise InputError(path, "file", "a tau-candidate .npz file (aihep tau dataset "
                             "output; this file is not a NumPy .npz archive)")
        try:
            with np.load(path) as data:
                missing = [f.name for f in fields(cls) if f.name not in data.files]
                if missing:
                    raise InputError(path, missing[0], "a tau-candidate array (aihep tau "
                                     "dataset output)")
                return cls(*(data[f.name] for f in fields(cls)))
        except (OSError, ValueError) as exc:
            raise InputError(path, "file", f"a tau-candidate .npz file ({exc})") from None


def add_pileup(batch: Any, domain: TauDomainConfig, rng: np.random.Generator) -> Any:
    """``batch`` with soft pile-up particles appended to every event (before the
    detector)."""
    from aihep.events.pythia import ParticleBatch

    if domain.pileup_mean <= 0:
        return batch
    n_ev = batch.n_events
    extra = rng.poisson(domain.pileup_mean, n_ev)
    total = int(extra.sum())
    pt = rng.exponential(domain.pileup_pt_mean_gev, total) + 0.1
    eta = rng.uniform(-2.5, 2.5, total)
    phi = rng.uniform(-np.pi, np.pi, total)
    charged = rng.random(total) < domain.pileup_charged_fraction
    sign = np.where(rng.random(total) < 0.5, -1, 1)
    mass = np.where(charged, 0.13957, 0.0)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    pid = np.where(charged, 211 * sign, 22).astype(batch.pid.dtype)
    charge = np.where(charged, sign, 0).astype(batch.charge.dtype)
    # interleave: each event's own particles, then its pile-up particles
    old_start = np.concatenate([[0], np.cumsum(batch.counts)[:-1]])
    new_counts = batch.counts + extra
    new_start = np.concatenate([[0], np.cumsum(new_counts)[:-1]])
    n = int(new_counts.sum())
    own = np.concatenate([np.arange(c) + s for c, s in zip(batch.counts, new_start,
                                                            strict=True)]).astype(np.int64)
    pu = np.concatenate([np.arange(x) + s + c for x, c, s in zip(extra, batch.counts,
                                                                  new_start, strict=True)]
                        ).astype(np.int64)
    del old_start

    def merged(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.empty(n, dtype=a.dtype)
        out[own], out[pu] = a, b
        return out

    return ParticleBatch(px=merged(batch.px, px), py=merged(batch.py, py),
                         pz=merged(batch.pz, pz), e=merged(batch.e, e),
                         pid=merged(batch.pid, pid), charge=merged(batch.charge, charge),
                         counts=new_counts, mhat_gev=batch.mhat_gev,
                         pthat_gev=batch.pthat_gev, weight=batch.weight)


def shift_calorimeter(batch: Any, domain: TauDomainConfig, rng: np.random.Generator) -> Any:
    """Scale and smear the calorimeter deposits (not the tracks) of a measured batch."""
    from aihep.events import kinematics as kin
    from aihep.events.pythia import ParticleBatch

    if domain.calo_scale == 1.0 and domain.calo_smear == 0.0:
        return batch
    eta = kin.eta(batch.px, batch.py, batch.pz)
    calo = (batch.charge == 0) | (np.abs(eta) >= domain.detector.tracker_eta_max)
    factor = np.where(calo, domain.calo_scale * np.maximum(
        1 + domain.calo_smear * rng.standard_normal(len(eta)), 0.05), 1.0)
    return ParticleBatch(px=batch.px * factor, py=batch.py * factor, pz=batch.pz * factor,
                         e=batch.e * factor, pid=batch.pid, charge=batch.charge,
                         counts=batch.counts, mhat_gev=batch.mhat_gev,
                         pthat_gev=batch.pthat_gev, weight=batch.weight)


def truth_objects(record: Any, event: int) -> list[tuple[int, np.ndarray, int]]:
    """(class, visible four-momentum [GeV], true decay mode or -1) of the event's hadronic
    taus (last copies; visible = tau minus its neutrinos; mode from the charged and pi0
    daughters) and of the prompt electrons and muons of a Z / Z' decay."""
    from aihep.events.truth import decay_products, last_copy, resonances

    base = record.offsets[event]
    end = record.offsets[event + 1] if event + 1 < len(record.offsets) else len(record.pid)
    out: list[tuple[int, np.ndarray, int]] = []
    for boson in (23, 32):
        for entry in resonances(record, event, boson):
            for product in decay_products(record, event, entry):
                if abs(product.pid) == 11:
                    out.append((ELECTRON, product.momentum, -1))
                elif abs(product.pid) == 13:
                    out.append((MUON, product.momentum, -1))
    ids = np.abs(record.pid[base:end])
    for local in np.flatnonzero(ids == 15):
        if last_copy(record, event, int(local)) != local:
            continue
        d1, d2 = int(record.daughter1[base + local]), int(record.daughter2[base + local])
        if d1 <= 0:
            continue
        children = range(d1, max(d2, d1) + 1)
        child_ids = [int(record.pid[base + c]) for c in children]
        if any(abs(c) in (11, 13) for c in child_ids):
            continue  # leptonic decay
        visible = record.momentum[base + local].copy()
        for c, pid in zip(children, child_ids, strict=True):
            if abs(pid) in (12, 14, 16):
                visible = visible - record.momentum[base + c]
        charged = sum(abs(p) in (211, 321) for p in child_ids)
        neutral_pions = sum(abs(p) == 111 for p in child_ids)
        mode = 5 * (charged - 1) + min(neutral_pions, 2) if charged in (1, 3) else -1
        if np.hypot(visible[0], visible[1]) > 15.0:
            out.append((TAU, visible, mode))
    return out


def chunk_candidates(config: TauDataConfig, index: int, n_generate: int) -> TauCandidates:
    """Generate ``n_generate`` events of chunk ``index`` and return their candidates."""
    from aihep.events import kinematics as kin
    from aihep.events.config import JetConfig
    from aihep.events.detector import measure
    from aihep.events.jets import cluster_indices
    from aihep.events.pythia import base_settings, final_state, make_pythia, next_batch
    from aihep.events.truth import Record, eta_phi
    from aihep.tau.candidates import (
        HIGH_LEVEL,
        MAX_PARTICLES,
        PARTICLE_FEATURES,
        candidate_inputs,
        find_decay_mode,
        particle_types,
        wrap,
    )
    from aihep.workflow import seeds

    settings = [*base_settings(config.ecm_gev, seeds.pythia_seed(config.seed, config.sample,
                                                                 config.domain.name, index)),
                *pythia_settings(config)]
    pythia = make_pythia(settings)
    run = next_batch(pythia, n_generate)
    record = Record.from_run(run)
    rng = seeds.rng(config.seed, config.sample, config.domain.name, "detector", index)
    batch = add_pileup(final_state(pythia, run), config.domain, rng)
    measured, _ = measure(batch, config.domain.detector, rng)
    measured = shift_calorimeter(measured, config.domain, rng)
    jets = JetConfig(radius=0.4, pt_min_gev=config.jet_pt_min_gev,
                     eta_max=config.jet_eta_max, max_jets=6)
    four, _counts, event_of_jet, _ = cluster_indices(measured, jets)
    jet_pt = kin.pt(four[:, 0], four[:, 1])
    jet_eta = kin.eta(four[:, 0], four[:, 1], four[:, 2])
    jet_phi = kin.phi(four[:, 0], four[:, 1])
    pt = kin.pt(measured.px, measured.py)
    eta = kin.eta(measured.px, measured.py, measured.pz)
    phi = kin.phi(measured.px, measured.py)
    types = particle_types(measured.pid, measured.charge, eta,
                           config.domain.detector.tracker_eta_max)
    starts = np.concatenate([[0], np.cumsum(measured.counts)]).astype(np.int64)
    rows: dict[str, list[Any]] = {f.name: [] for f in fields(TauCandidates)}
    truth_cache: dict[int, list[tuple[int, np.ndarray, int]]] = {}
    sample_index = SAMPLES.index(config.sample)
    for j in range(len(four)):
        ev = int(event_of_jet[j])
        sl = slice(starts[ev], starts[ev + 1])
        near = np.abs(wrap(phi[sl] - jet_phi[j])) < 0.6
        idx = np.flatnonzero(near) + starts[ev]
        args = (pt[idx], eta[idx], phi[idx], measured.charge[idx], types[idx])
        found = find_decay_mode(*args, jet_eta[j], jet_phi[j], jet_pt[j])
        if found.mode < 0:
            continue
        particles, mask, hl = candidate_inputs(pt[idx], eta[idx], phi[idx], measured.e[idx],
                                               measured.charge[idx], types[idx], jet_eta[j],
                                               jet_phi[j], jet_pt[j], found)
        if ev not in truth_cache:
            truth_cache[ev] = truth_objects(record, ev)
        label, true_mode, true_pt, best = JET, -1, np.nan, 0.2
        for kind, p4, mode in truth_cache[ev]:
            t_eta, t_phi = eta_phi(p4)
            dr = float(np.hypot(t_eta - jet_eta[j], wrap(t_phi - jet_phi[j])))
            if dr < best:
                best, label = dr, kind
                true_mode = mode if kind == TAU else -1
                true_pt = float(np.hypot(p4[0], p4[1])) if kind == TAU else np.nan
        vis_pt = float(np.exp(hl[0]))
        for name, value in (("particles", particles), ("mask", mask), ("high_level", hl),
                            ("label", label), ("pt_gev", vis_pt), ("eta", float(hl[1])),
                            ("decay_mode", found.mode), ("true_decay_mode", true_mode),
                            ("true_pt_gev", true_pt), ("sample", sample_index),
                            ("event", ev)):
            rows[name].append(value)
    if not rows["label"]:
        return TauCandidates(
            np.zeros((0, MAX_PARTICLES, len(PARTICLE_FEATURES)), np.float32),
            np.zeros((0, MAX_PARTICLES), bool), np.zeros((0, len(HIGH_LEVEL)), np.float32),
            *(np.zeros(0, t) for t in (np.int64, np.float32, np.float32, np.int64, np.int64,
                                       np.float32, np.int64, np.int64)))
    dtypes = {"label": np.int64, "pt_gev": np.float32, "eta": np.float32,
              "decay_mode": np.int64, "true_decay_mode": np.int64,
              "true_pt_gev": np.float32, "sample": np.int64, "event": np.int64}
    return TauCandidates(np.stack(rows["particles"]), np.stack(rows["mask"]),
                         np.stack(rows["high_level"]),
                         *(np.asarray(rows[k], dtypes[k]) for k in dtypes))


@dataclass(frozen=True)
class TauDataset:
    directory: Path
    candidates_file: Path
    n_candidates: int
    per_class: dict[str, int]
    generated: int

    def read(self) -> TauCandidates:
        return TauCandidates.load(self.candidates_file)

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "candidates_file":
                str(self.candidates_file), "candidates": self.n_candidates,
                "per_class": self.per_class, "generated_events": self.generated}


def make_chunk(job: Any) -> tuple[Callable[[Path], None], dict[str, Any]]:
    config = TauDataConfig.model_validate_json(job.config_json)
    candidates = chunk_candidates(config, job.index, job.size)

    def writer(path: Path) -> None:
        with open(path, "wb") as handle:
            np.savez(handle, **{f.name: getattr(candidates, f.name)
                                for f in fields(candidates)})

    return writer, {"candidates": len(candidates), "generated": job.size}


def build_tau_dataset(config: TauDataConfig, out: str | Path, workers: int = 1,
                      progress: Callable[[int, int], None] | None = None,
                      force: bool = False) -> TauDataset:
    """Generate ``config.n_events`` events in chunks (resumable, identical for any number
    of workers) and write ``candidates.npz`` and a manifest into ``out``."""
    from aihep.workflow.chunks import chunk_path, open_chunked_dataset, run_waves
    from aihep.workflow.manifest import build_manifest, file_entry, write_manifest

    directory, store, engine = open_chunked_dataset(out, "aihep.tau.dataset", config, force,
                                                    workers)
    per = config.events_per_chunk
    n_chunks = -(-config.n_events // per)
    sizes = [min(per, config.n_events - k * per) for k in range(n_chunks)]

    def plan(done: dict[tuple[str, int], dict[str, Any]]) -> list[Any]:
        return [store.job("candidates", k, sizes[k], config.seed, config.model_dump_json())
                for k in range(n_chunks) if ("candidates", k) not in done]

    try:
        done = run_waves(store, engine, make_chunk, plan, on_chunk=None if progress is None
                         else lambda d: progress(sum(m["generated"] for m in d.values()),
                                                 config.n_events))
    finally:
        engine.close()
    parts = [TauCandidates.load(chunk_path(store.directory, "candidates", k, ".npz"))
             for k in range(n_chunks)]
    candidates = TauCandidates.concatenate(parts)
    path = candidates.save(directory / "candidates.npz")
    per_class = {c: int((candidates.label == k).sum()) for k, c in enumerate(CLASSES)}
    write_manifest(directory, build_manifest(
        "aihep.tau.dataset", config=config.model_dump(mode="json"), seed=config.seed,
        outputs=[file_entry(path, directory)],
        counts={"candidates": len(candidates), "events": config.n_events, **per_class}))
    del done
    return TauDataset(directory, path, len(candidates), per_class, config.n_events)
