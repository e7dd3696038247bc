"""Events for jet-parton assignment and event-level models, from Pythia 8 through the
detector: all-hadronic ttbar (the default), semi-leptonic ttbar, ttH(bb) and QCD multijet.

Per event: anti-kT R = 0.4 jets with pT > 25 GeV and |eta| < 2.5 (at most 16, pT-ordered)
from the parametric detector's particles; each jet's flavour from the heaviest b or c hadron
(pT > 5 GeV) within delta-R 0.4; a parametrized b-tag (b 70%, c 10%, light 1%, the same for
every method); the six partons of the two top decays (t -> b W, W -> q q') matched to jets
uniquely (closest pair first, delta-R < 0.4; -1 when no jet is left within 0.4), with the
Higgs boson's b quarks in ttH; isolated leptons (kept out of the jets) and the missing pT.
Selection: >= 6 jets and >= 2 b-tags (ttbar, ttH), >= 6 jets (QCD), one isolated lepton,
>= 4 jets and >= 2 b-tags (semi-leptonic ttbar, whose W+ decays to e or mu). Chunked,
parallel and resumable with the one chunk engine; the result is written in aihep's layout
(``events.h5``) and SPANet's (``spanet.h5``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep.events.config import DetectorConfig
from aihep.io.assignment import PARTONS, JetEvents, write_events, write_spanet


class BTagConfig(BaseModel):
    """Probability to b-tag a jet by its flavour."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    b: float = Field(0.70, ge=0, le=1)
    c: float = Field(0.10, ge=0, le=1)
    light: float = Field(0.01, ge=0, le=1)


Process = Literal["ttbar", "ttbar-semileptonic", "tth-bb", "qcd-multijet"]
#: selection per process: (minimum jets, minimum b-tags, isolated leptons required)
SELECTIONS: dict[str, tuple[int, int, int]] = {
    "ttbar": (6, 2, 0), "ttbar-semileptonic": (4, 2, 1), "tth-bb": (6, 2, 0),
    "qcd-multijet": (6, 0, 0)}


class AssignmentDataConfig(BaseModel):
    """What to generate: process, selected events, jets, b-tagging, matching, detector."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    process: Process = "ttbar"
    n_events: int = Field(10_000, ge=1, description="selected events")
    ecm_gev: float = 13_000.0
    jet_radius: float = 0.4
    jet_pt_min_gev: float = 25.0
    jet_eta_max: float = 2.5
    max_jets: int = Field(16, ge=6)
    btag: BTagConfig = Field(default_factory=BTagConfig)
    match_radius: float = 0.4
    min_jets: int | None = Field(None, ge=0, description="default: the process's selection")
    min_btags: int | None = Field(None, ge=0)
    lepton_pt_min_gev: float = 25.0
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    events_per_chunk: int = Field(500, ge=10, description="generated events per chunk")
    seed: int = DEFAULT_SEED


@dataclass(frozen=True)
class AssignmentDataset:
    """Where a generated dataset is and what it holds."""

    directory: Path
    events_file: Path
    spanet_file: Path
    n_events: int
    generated: int  # events generated in every finished chunk
    fully_matched: float
    #: events passing the selection in those chunks (>= n_events: the last wave's surplus
    #: is not kept); the selection efficiency is selected / generated
    selected: int

    def read(self) -> JetEvents:
        from aihep.io.assignment import read_events

        return read_events(self.events_file)

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "events_file": str(self.events_file),
                "spanet_file": str(self.spanet_file), "n_events": self.n_events,
                "generated": self.generated, "selected": self.selected,
                "selection_efficiency": self.selected / max(self.generated, 1),
                "fully_matched": self.fully_matched}


def match_partons(parton_eta: np.ndarray, parton_phi: np.ndarray, jet_eta: np.ndarray,
                  jet_phi: np.ndarray, radius: float) -> np.ndarray:
    """Unique parton -> jet matching, closest pair first, within ``radius``.

    Args:
        parton_eta: (P,) pseudorapidities (NaN for a parton that is absent).
        parton_phi: (P,) azimuths [rad].
        jet_eta: (J,) jet pseudorapidities.
        jet_phi: (J,) jet azimuths [rad].
        radius: the largest delta-R of a match.

    Returns:
        (P,) jet index per parton, -1 when none is left within ``radius``.
    """
    from aihep.events.truth import delta_r

    out = np.full(len(parton_eta), -1)
    if len(jet_eta) == 0:
        return out
    dr = delta_r(parton_eta[:, None], parton_phi[:, None], jet_eta[None, :], jet_phi[None, :])
    dr = np.where(np.isfinite(dr), dr, np.inf)
    for _ in range(len(parton_eta)):
        p, j = np.unravel_index(np.argmin(dr), dr.shape)
        if dr[p, j] >= radius:
            break
        out[p] = j
        dr[p, :] = np.inf
        dr[:, j] = np.inf
    return out


def _truth(record: Any, event: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Partons (6, 4) of t -> (b, q1, q2) and tbar -> (b, q1, q2) (a leptonic W gives the
    charged lepton and the neutrino in the q slots), the Higgs boson's b quarks (2, 4) and
    the tops' four-momenta (2, 4), px py pz E; NaN when absent."""
    from aihep.events.truth import decay_products, last_copy, resonances

    partons = np.full((len(PARTONS), 4), np.nan)
    higgs = np.full((2, 4), np.nan)
    tops = np.full((2, 4), np.nan)
    base = record.offsets[event]
    for entry in resonances(record, event, 6):
        slot = 0 if record.pid[base + entry] > 0 else 3
        if np.isfinite(partons[slot, 0]):
            continue  # a second copy of the same top
        products = [p for p in decay_products(record, event, entry)
                    if abs(p.pid) not in (21, 22)]  # radiation off the decay is ignored
        bs = [p for p in products if abs(p.pid) == 5]
        others = [p for p in products if p is not (bs[0] if bs else None)]
        if len(bs) >= 1 and len(others) == 2:
            # quarks in order; for a leptonic W the charged lepton first, the neutrino second
            others.sort(key=lambda p: abs(p.pid) in (12, 14, 16))
            partons[slot] = bs[0].momentum
            partons[slot + 1], partons[slot + 2] = others[0].momentum, others[1].momentum
            tops[slot // 3] = record.momentum[base + last_copy(record, event, entry)]
    for entry in resonances(record, event, 25)[:1]:
        products = [p for p in decay_products(record, event, entry) if abs(p.pid) == 5]
        if len(products) == 2:
            higgs[0], higgs[1] = products[0].momentum, products[1].momentum
    return partons, higgs, tops


def chunk_events(config: AssignmentDataConfig, index: int, n_generate: int
                 ) -> tuple[JetEvents, int]:
    """Generate ``n_generate`` events of chunk ``index``; return the selected ones."""
    from aihep.events import kinematics as kin
    from aihep.events.config import JetConfig
    from aihep.events.detector import measure
    from aihep.events.jets import cluster_indices
    from aihep.events.leptons import isolated_leptons, missing_pt
    from aihep.events.processes import get_process
    from aihep.events.pythia import base_settings, final_state, make_pythia, next_batch
    from aihep.events.truth import Record, eta_phi, jet_flavours
    from aihep.workflow import seeds

    settings = [*base_settings(config.ecm_gev, seeds.pythia_seed(config.seed, "chunk", index)),
                *get_process(config.process).settings()]
    pythia = make_pythia(settings)
    run = next_batch(pythia, n_generate)
    batch = final_state(pythia, run)
    record = Record.from_run(run)
    rng = seeds.rng(config.seed, "detector", index)
    measured, _ = measure(batch, config.detector, rng)
    lepton, n_leptons, is_lepton = isolated_leptons(measured, config.lepton_pt_min_gev)
    met = missing_pt(measured)
    measured = measured.select(~is_lepton)  # isolated leptons are not clustered into jets
    jets = JetConfig(radius=config.jet_radius, pt_min_gev=config.jet_pt_min_gev,
                     eta_max=config.jet_eta_max, max_jets=config.max_jets)
    four, counts, event_of_jet, _ = cluster_indices(measured, jets)
    px, py, pz, e = four.T
    pt, eta, phi = kin.pt(px, py), kin.eta(px, py, pz), kin.phi(px, py)
    mass = kin.mass(px, py, pz, e)
    flavour = jet_flavours(record, event_of_jet, eta, phi, config.match_radius)
    efficiency = np.select([flavour == 5, flavour == 4],
                           [config.btag.b, config.btag.c], config.btag.light)
    btag = (seeds.rng(config.seed, "btag", index).random(len(flavour)) < efficiency)
    n_ev = len(counts)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    j_max = config.max_jets
    arrays = {k: np.zeros((n_ev, j_max), np.float32) for k in ("pt", "eta", "phi", "mass",
                                                               "btag")}
    mask = np.zeros((n_ev, j_max), bool)
    targets = np.full((n_ev, len(PARTONS)), -1, np.int64)
    higgs_targets = np.full((n_ev, 2), -1, np.int64)
    partons = np.full((n_ev, len(PARTONS), 4), np.nan, np.float32)
    tops = np.full((n_ev, 2, 4), np.nan, np.float32)
    for ev in range(n_ev):
        sl = slice(start[ev], start[ev] + counts[ev])
        n = counts[ev]
        for name, values in (("pt", pt), ("eta", eta), ("phi", phi), ("mass", mass)):
            arrays[name][ev, :n] = values[sl]
        mask[ev, :n] = True
        arrays["btag"][ev, :n] = btag[sl]
        p4, h4, tops[ev] = _truth(record, ev)
        partons[ev] = p4
        # quarks are matched to jets, leptons and neutrinos are not (slots stay -1)
        quark = np.isfinite(p4[:, 0]).copy()
        quark[[1, 2]] &= config.process != "ttbar-semileptonic"
        both = np.concatenate([np.where(quark[:, None], p4, np.nan), h4])
        p_eta, p_phi = eta_phi(np.nan_to_num(both, nan=0.0))
        absent = ~np.isfinite(both[:, 0])
        p_eta, p_phi = np.where(absent, np.nan, p_eta), np.where(absent, np.nan, p_phi)
        matched = match_partons(p_eta, p_phi, eta[sl], phi[sl], config.match_radius)
        targets[ev], higgs_targets[ev] = matched[:6], matched[6:]
    min_jets, min_btags, leptons = SELECTIONS[config.process]
    min_jets = config.min_jets if config.min_jets is not None else min_jets
    min_btags = config.min_btags if config.min_btags is not None else min_btags
    selected = ((mask.sum(1) >= min_jets) & (arrays["btag"].sum(1) >= min_btags)
                & (n_leptons == leptons))
    events = JetEvents(**arrays, mask=mask, targets=targets, partons=partons,
                       lepton=lepton.astype(np.float32), met=met.astype(np.float32),
                       higgs_targets=higgs_targets, tops=tops)
    return events.select(selected), n_ev


def _save_chunk(events: JetEvents, generated: int) -> tuple[Callable[[Path], None],
                                                            dict[str, Any]]:
    def writer(path: Path) -> None:
        with open(path, "wb") as handle:
            np.savez(handle, **{f: getattr(events, f) for f in (
                "pt", "eta", "phi", "mass", "btag", "mask", "targets", "partons", "lepton",
                "met", "higgs_targets", "tops")})

    return writer, {"selected": len(events), "generated": generated}


def _load_chunk(path: Path) -> JetEvents:
    with np.load(path) as data:
        return JetEvents(**{k: data[k] for k in data.files})


def make_chunk(job: Any) -> tuple[Callable[[Path], None], dict[str, Any]]:
    config = AssignmentDataConfig.model_validate_json(job.config_json)
    events, generated = chunk_events(config, job.index, job.size)
    return _save_chunk(events, generated)


def build_assignment_dataset(config: AssignmentDataConfig, out: str | Path,
                             workers: int = 1,
                             progress: Callable[[int, int], None] | None = None,
                             force: bool = False) -> AssignmentDataset:
    """Generate until ``config.n_events`` events pass the selection; write ``events.h5``,
    ``spanet.h5`` and a manifest into ``out`` (a re-run resumes from finished chunks)."""
    from aihep.workflow.chunks import chunk_path, open_chunked_dataset, run_waves
    from aihep.workflow.manifest import build_manifest, file_entry, write_manifest

    directory, store, engine = open_chunked_dataset(out, "aihep.assign.dataset", config,
                                                    force, workers)
    per = config.events_per_chunk

    def selected_of(done: dict[tuple[str, int], dict[str, Any]]) -> int:
        return sum(m["selected"] for m in done.values())

    def plan(done: dict[tuple[str, int], dict[str, Any]]) -> list[Any]:
        selected = selected_of(done)
        generated = sum(m["generated"] for m in done.values())
        if selected >= config.n_events:
            return []
        efficiency = max(selected / generated, 0.02) if generated else 0.2
        missing = config.n_events - selected
        n_chunks = max(1, min(int(np.ceil(1.1 * missing / efficiency / per)), 4 * workers))
        first = max((i for _, i in done), default=-1) + 1
        return [store.job("events", first + k, per, config.seed, config.model_dump_json())
                for k in range(n_chunks)]

    try:
        done = run_waves(store, engine, make_chunk, plan, on_chunk=None if progress is None
                         else lambda d: progress(min(selected_of(d), config.n_events),
                                                 config.n_events))
    finally:
        engine.close()
    indices = sorted(i for _, i in done)
    parts = [_load_chunk(chunk_path(store.directory, "events", i, ".npz")) for i in indices]
    generated = sum(done["events", i]["generated"] for i in indices)
    selected = sum(done["events", i]["selected"] for i in indices)
    events = JetEvents.concatenate(parts)
    keep = np.zeros(len(events), bool)
    keep[:config.n_events] = True
    # exactly n_events, in chunk order; the rest of the last wave's yield is left out
    events = events.select(keep)
    events_file = write_events(directory / "events.h5", events)
    spanet_file = write_spanet(directory / "spanet.h5", events)
    matched = float(np.mean(np.all(events.targets >= 0, axis=1))) if len(events) else 0.0
    write_manifest(directory, build_manifest(
        "aihep.assign.dataset", config=config.model_dump(mode="json"), seed=config.seed,
        outputs=[file_entry(p, directory) for p in (events_file, spanet_file)],
        counts={"events": len(events), "generated": generated, "selected": selected,
                "chunks": len(indices),
                "fully_matched": matched}))
    return AssignmentDataset(directory, events_file, spanet_file, len(events), generated,
                             matched, selected)
