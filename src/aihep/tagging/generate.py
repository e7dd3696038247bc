"""Tagging datasets from Pythia 8 + FastJet: JetClass-style 10 classes (and top vs QCD).

Each class comes from a Pythia sample at sqrt(s) = 13 TeV with pT-hat > ``pthat_min_gev``:

=========  ==========================================================================
class      sample (forced decays)
=========  ==========================================================================
QCD        hard QCD 2 -> 2; every jet in the window
Hbb/Hcc/   Z H with Z -> nu nu, H -> b b / c c / g g / W W* (W -> q q') / W W* (any W
Hgg/H4q/   decay; kept when the H decays to exactly one e or mu, a neutrino and two quarks)
Hqql
Tbqq/Tbl   t tbar with W -> q q' / W -> e nu, mu nu (t -> b q q' / t -> b l nu)
Wqq        W + jet, W -> q q'
Zqq        Z + jet (no gamma*), Z -> q q
=========  ==========================================================================

Particles pass the parametric detector (:mod:`aihep.events.detector`), get impact parameters
and hadron identification (:mod:`aihep.events.tracks`), and are clustered with anti-kT
R = 0.8. Jets with pT in [500, 1000] GeV and |eta| < 2 are kept; a signal jet is labelled
when all visible decay products of its resonance (quarks, gluons, charged leptons; neutrinos
excluded) lie within delta-R < 0.8 of the jet axis, otherwise it is dropped. Finally every
class is downsampled, bin by bin in (pT, |eta|), to the smallest class count of that bin, so
all classes share one (pT, |eta|) distribution and the tagger cannot learn kinematics.

Chunks (sample, index) are seeded from (seed, sample, index) alone, written as Parquet under
``out/chunks`` when done, and reused when the command is re-run (resume).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep.errors import ConfigError
from aihep.events.config import DetectorConfig, JetConfig
from aihep.events.tracks import HadronIDConfig, TrackConfig
from aihep.io.atomic import ensure_writable_dir, write_atomic
from aihep.tagging.data import JETCLASS_CLASSES, JetSet, load_jets, save_jets
from aihep.tagging.truth import LEPTONS, NEUTRINOS, Parton

_HADRONIC = "1 2 3 4 5"
_TTBAR = ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on")
_STABLE_V0 = ["ParticleDecays:limitTau0 = on", "ParticleDecays:tau0Max = 10"]


@dataclass(frozen=True)
class Sample:
    """A Pythia sample: settings, the resonance whose decays label jets, and the labeller."""

    name: str
    settings: tuple[str, ...]
    resonance: int | None  # None: every jet gets ``classes[0]``
    classes: tuple[str, ...]
    label: Callable[[list[Parton]], str | None] | None = None


def _quarks(partons: list[Parton]) -> int:
    return sum(1 for p in partons if abs(p.pid) <= 5)


def _leptons(partons: list[Parton]) -> int:
    return sum(1 for p in partons if abs(p.pid) in LEPTONS)


def _higgs(decay: str) -> Callable[[list[Parton]], str | None]:
    def label(partons: list[Parton]) -> str | None:
        ids = sorted(abs(p.pid) for p in partons)
        if decay == "Hbb" and ids == [5, 5]:
            return decay
        if decay == "Hcc" and ids == [4, 4]:
            return decay
        if decay == "Hgg" and ids == [21, 21]:
            return decay
        if decay == "H4q" and len(ids) == 4 and _quarks(partons) == 4:
            return decay
        if decay == "Hqql" and len(ids) == 4 and _quarks(partons) == 2 and _leptons(
                partons) == 1:
            return decay
        return None

    return label


def _top(partons: list[Parton]) -> str | None:
    ids = [abs(p.pid) for p in partons]
    if len(ids) != 3 or 5 not in ids:
        return None
    if _quarks(partons) == 3:
        return "Tbqq"
    if _leptons(partons) == 1 and any(i in NEUTRINOS for i in ids):
        return "Tbl"
    return None


def _boson(name: str) -> Callable[[list[Parton]], str | None]:
    return lambda partons: name if len(partons) == 2 and _quarks(partons) == 2 else None


def _zh(h_decay: list[str]) -> tuple[str, ...]:
    return ("HiggsSM:ffbar2HZ = on", "23:onMode = off", "23:onIfAny = 12 14 16",
            "25:onMode = off", *h_decay)


def jetclass_samples(pthat_min_gev: float) -> list[Sample]:
    """The ten JetClass-style samples (see the module docstring)."""
    cut = f"PhaseSpace:pTHatMin = {pthat_min_gev:g}"
    ww = ["25:onIfAll = 24 -24"]
    return [
        Sample("QCD", ("HardQCD:all = on", cut), None, ("QCD",)),
        Sample("Hbb", (*_zh(["25:onIfAll = 5 -5"]), cut), 25, ("Hbb",), _higgs("Hbb")),
        Sample("Hcc", (*_zh(["25:onIfAll = 4 -4"]), cut), 25, ("Hcc",), _higgs("Hcc")),
        Sample("Hgg", (*_zh(["25:onIfAll = 21 21"]), cut), 25, ("Hgg",), _higgs("Hgg")),
        Sample("H4q", (*_zh(ww), "24:onMode = off", f"24:onIfAny = {_HADRONIC}", cut), 25,
               ("H4q",), _higgs("H4q")),
        Sample("Hqql", (*_zh(ww), "24:onMode = off", f"24:onIfAny = {_HADRONIC} 11 13", cut),
               25, ("Hqql",), _higgs("Hqql")),
        Sample("Tbqq", (*_TTBAR, "24:onMode = off", f"24:onIfAny = {_HADRONIC}", cut), 6,
               ("Tbqq",), _top),
        Sample("Tbl", (*_TTBAR, "24:onMode = off", "24:onIfAny = 11 13", cut), 6, ("Tbl",),
               _top),
        Sample("Wqq", ("WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on",
                       "24:onMode = off", f"24:onIfAny = {_HADRONIC}", cut), 24, ("Wqq",),
               _boson("Wqq")),
        Sample("Zqq", ("WeakBosonAndParton:qqbar2gmZg = on", "WeakBosonAndParton:qg2gmZq = on",
                       "WeakZ0:gmZmode = 2", "23:onMode = off", f"23:onIfAny = {_HADRONIC}",
                       cut), 23, ("Zqq",), _boson("Zqq")),
    ]


def top_samples(pthat_min_gev: float) -> list[Sample]:
    """Top tagging: hadronic tops from t tbar against QCD jets."""
    cut = f"PhaseSpace:pTHatMin = {pthat_min_gev:g}"
    return [Sample("QCD", ("HardQCD:all = on", cut), None, ("QCD",)),
            Sample("Top", (*_TTBAR, "24:onMode = off",
                           f"24:onIfAny = {_HADRONIC}", cut), 6, ("Top",),
                   lambda p: "Top" if _top(p) == "Tbqq" else None)]


class TagDatasetConfig(BaseModel):
    """A tagging dataset: which classes, how many jets, the jet window and the detector."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = Field("jetclass", description="jetclass | top")
    jets_per_class: int = Field(1000, ge=1)
    pthat_min_gev: float | None = Field(None, description="default: 450 (jetclass), "
                                        "500 (top)")
    jet_pt_min_gev: float | None = Field(None, description="default 500 (jetclass), 550 (top)")
    jet_pt_max_gev: float | None = Field(None, description="default 1000 (jetclass), 650 (top)")
    jet_eta_max: float = 2.0
    radius: float = 0.8
    match_radius: float = 0.8
    max_particles: int = Field(128, ge=1, description="particles stored per jet (highest pT)")
    events_per_chunk: int = Field(500, ge=10)
    max_chunks_per_sample: int = Field(400, ge=1)
    flatten_bins: tuple[int, int] = (10, 4)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    tracks: TrackConfig = Field(default_factory=TrackConfig)
    hadron_id: HadronIDConfig = Field(default_factory=HadronIDConfig)
    seed: int = 0

    def resolved(self) -> dict[str, Any]:
        top = self.kind == "top"
        return {"pthat": self.pthat_min_gev or (500.0 if top else 450.0),
                "pt_min": self.jet_pt_min_gev or (550.0 if top else 500.0),
                "pt_max": self.jet_pt_max_gev or (650.0 if top else 1000.0)}

    def samples(self) -> list[Sample]:
        pthat = self.resolved()["pthat"]
        if self.kind == "jetclass":
            return jetclass_samples(pthat)
        if self.kind == "top":
            return top_samples(pthat)
        msg = f"unknown tagging dataset '{self.kind}'; known: jetclass, top"
        raise ConfigError(msg)

    def classes(self) -> tuple[str, ...]:
        return JETCLASS_CLASSES if self.kind == "jetclass" else ("QCD", "Top")


def _sample(config: TagDatasetConfig, name: str) -> Sample:
    return next(s for s in config.samples() if s.name == name)


def chunk_jets(config: TagDatasetConfig, sample_name: str, index: int) -> dict[str, Any]:
    """Generate one chunk of a sample: its labelled jets as a record dict (columns)."""
    from aihep.events.detector import measure
    from aihep.events.jets import cluster_indices
    from aihep.events.pythia import base_settings, final_state, make_pythia, next_batch
    from aihep.events.substructure import nsubjettiness, softdrop_mass
    from aihep.events.tracks import identify_hadrons, impact_parameters
    from aihep.tagging.truth import Record, decay_products, delta_r, eta_phi, resonances
    from aihep.workflow import seeds

    sample = _sample(config, sample_name)
    window = config.resolved()
    pythia = make_pythia([*base_settings(13000.0, seeds.pythia_seed(
        config.seed, "tag", sample_name, index)), *_STABLE_V0, *sample.settings])
    run = next_batch(pythia, config.events_per_chunk)
    truth = final_state(pythia, run)
    prt = run.prt
    abs_id = np.abs(prt.id)
    visible = (prt.status > 0) & (abs_id != 12) & (abs_id != 14) & (abs_id != 16)
    # vProd is missing (None) for particles made at the primary vertex (the origin)
    vertex = np.stack([ak.to_numpy(ak.fill_none(ak.flatten(prt.vProd[f][visible]), 0.0))
                       for f in ("px", "py", "pz")], 1).astype(np.float64)
    rng = seeds.rng(config.seed, "tag-detector", sample_name, index)
    measured, kept = measure(truth, config.detector, rng)
    vertex = vertex[kept]
    jet_config = JetConfig(radius=config.radius, pt_min_gev=0.8 * window["pt_min"],
                           eta_max=config.jet_eta_max, max_jets=2)
    four, _, event_of_jet, const_index = cluster_indices(measured, jet_config)
    jet_eta, jet_phi = eta_phi(four)
    jet_pt = np.hypot(four[:, 0], four[:, 1])
    in_window = (jet_pt >= window["pt_min"]) & (jet_pt < window["pt_max"])
    labels = np.full(len(four), -1)
    classes = config.classes()
    record = Record.from_run(run) if sample.resonance is not None else None
    for j in np.flatnonzero(in_window):
        if record is None:
            labels[j] = classes.index(sample.classes[0])
            continue
        event = int(event_of_jet[j])
        for entry in resonances(record, event, sample.resonance):
            partons = decay_products(record, event, entry)
            name = sample.label(partons) if sample.label else None
            visible_partons = [p for p in partons if abs(p.pid) not in NEUTRINOS]
            if name is None or not visible_partons:
                continue
            p_eta, p_phi = eta_phi(np.stack([p.momentum for p in visible_partons]))
            if np.all(delta_r(p_eta, p_phi, jet_eta[j], jet_phi[j]) < config.match_radius):
                labels[j] = classes.index(name)
                break
    keep = np.flatnonzero(labels >= 0)
    out: dict[str, Any] = {"label": labels[keep], "jet_pt": jet_pt[keep],
                           "jet_eta": jet_eta[keep], "jet_phi": jet_phi[keep],
                           "jet_energy": four[keep, 3]}
    idx_lists = const_index[keep]
    counts = ak.to_numpy(ak.num(idx_lists, axis=1))
    idx = ak.to_numpy(ak.flatten(idx_lists)).astype(np.int64)
    px, py, pz, e = measured.px[idx], measured.py[idx], measured.pz[idx], measured.e[idx]
    pid, charge = measured.pid[idx], measured.charge[idx]
    abs_pid = np.abs(pid)
    is_charged = charge != 0
    jet_dir = np.repeat(four[keep, :3], counts, axis=0)
    ip = impact_parameters(vertex[idx], np.stack([px, py, pz], 1), is_charged, jet_dir,
                           config.tracks, rng)
    hid = identify_hadrons(pid, np.sqrt(px**2 + py**2 + pz**2), config.hadron_id, rng)
    particle = {
        "px": px, "py": py, "pz": pz, "energy": e, "charge": charge.astype(np.float32),
        "isChargedHadron": (is_charged & (abs_pid != 11) & (abs_pid != 13)) * 1.0,
        "isNeutralHadron": (~is_charged & (abs_pid != 22)) * 1.0,
        "isPhoton": (abs_pid == 22) * 1.0, "isElectron": (abs_pid == 11) * 1.0,
        "isMuon": (abs_pid == 13) * 1.0, **ip, **hid,
    }
    constituents = ak.unflatten(ak.zip({"px": px, "py": py, "pz": pz, "E": e}), counts)
    taus = nsubjettiness(constituents, config.radius, n_max=4)
    out["jet_sdmass"] = softdrop_mass(constituents, config.radius)
    for i in range(4):
        out[f"jet_tau{i + 1}"] = np.ascontiguousarray(taus[:, i])
    out["jet_nparticles"] = counts.astype(np.float64)
    order = ak.argsort(ak.unflatten(np.hypot(px, py), counts), axis=1, ascending=False)
    for name, values in particle.items():
        jagged = ak.unflatten(np.asarray(values, dtype=np.float32), counts)[order]
        out[f"part_{name}"] = jagged[:, : config.max_particles]
    return {"columns": out, "n_events": config.events_per_chunk}


@dataclass(frozen=True)
class _ChunkTask:
    config_json: str
    sample: str
    index: int
    path: str


def _run_chunk(task: _ChunkTask) -> tuple[str, int, str]:
    config = TagDatasetConfig.model_validate_json(task.config_json)
    result = chunk_jets(config, task.sample, task.index)
    table = ak.zip(result["columns"], depth_limit=1)
    jets = JetSet(table, config.classes(), task.path)
    save_jets(jets, task.path)
    return task.sample, task.index, task.path


def _histogram(jets: JetSet, config: TagDatasetConfig) -> np.ndarray:
    """(n_classes, n_bins) counts in (pT, |eta|) bins; and each jet's bin."""
    return _bins(jets, config)[1]


def _bins(jets: JetSet, config: TagDatasetConfig) -> tuple[np.ndarray, np.ndarray]:
    window = config.resolved()
    n_pt, n_eta = config.flatten_bins
    pt = ak.to_numpy(jets.table["jet_pt"])
    eta = np.abs(ak.to_numpy(jets.table["jet_eta"]))
    i = np.clip(((pt - window["pt_min"]) / (window["pt_max"] - window["pt_min"]) * n_pt)
                .astype(int), 0, n_pt - 1)
    k = np.clip((eta / config.jet_eta_max * n_eta).astype(int), 0, n_eta - 1)
    which = i * n_eta + k
    counts = np.zeros((len(config.classes()), n_pt * n_eta), dtype=np.int64)
    np.add.at(counts, (jets.labels, which), 1)
    return which, counts


def flatten_kinematics(jets: JetSet, config: TagDatasetConfig, n_per_class: int,
                       seed: int) -> JetSet:
    """Downsample every class, per (pT, |eta|) bin, to the smallest class count of the bin,
    then to at most ``n_per_class`` jets per class; shuffled."""
    which, counts = _bins(jets, config)
    present = counts.sum(1) > 0
    if not present.any():
        return jets
    target = counts[present].min(0)
    total = target.sum()
    if total > n_per_class:  # scale the common shape down to n_per_class (largest remainder)
        exact = target * n_per_class / total
        scaled = np.floor(exact).astype(np.int64)
        extra = np.argsort(scaled - exact)[: n_per_class - int(scaled.sum())]
        scaled[extra] += 1
        target = scaled
    rng = np.random.default_rng(seed)
    labels = jets.labels
    chosen = []
    for c in np.flatnonzero(present):
        for b in np.flatnonzero(target):
            idx = np.flatnonzero((labels == c) & (which == b))
            chosen.append(rng.choice(idx, size=target[b], replace=False))
    keep = rng.permutation(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)
    return jets.take(keep)


def build_tag_dataset(config: TagDatasetConfig, out: str | Path, workers: int = 1,
                      progress: Callable[[int, int], None] | None = None) -> JetSet:
    """Generate (or resume) a tagging dataset into ``out``: ``jets.parquet`` + manifest.

    Chunks are generated in waves until, after flattening, every class has
    ``jets_per_class`` jets (or a sample reaches ``max_chunks_per_sample``).
    """
    from aihep.workflow.executor import ExecutorConfig, make_executor
    from aihep.workflow.manifest import build_manifest, file_entry, write_manifest

    directory = ensure_writable_dir(out)
    chunks_dir = ensure_writable_dir(directory / "chunks")
    config_json = config.model_dump_json()
    key = json.dumps(config.model_dump(mode="json", exclude={"jets_per_class",
                                                             "max_chunks_per_sample"}),
                     sort_keys=True)
    key_file = chunks_dir / "config.json"
    if key_file.is_file() and key_file.read_text() != key:
        msg = (f"{chunks_dir} holds chunks of another configuration; use another --out or "
               "delete it")
        raise ConfigError(msg)
    write_atomic(key_file, lambda p: p.write_text(key))
    samples = config.samples()
    done: dict[str, list[Path]] = {s.name: sorted(chunks_dir.glob(f"{s.name}_*.parquet"))
                                   for s in samples}
    start = time.perf_counter()
    engine = make_executor(ExecutorConfig(kind="local" if workers > 1 else "serial",
                                          workers=workers))
    try:
        while True:
            jets = _combine(done, config)
            flat = flatten_kinematics(jets, config, config.jets_per_class, config.seed)
            per_class = np.bincount(flat.labels, minlength=len(config.classes()))
            if progress is not None:
                progress(int(per_class.min()), config.jets_per_class)
            wanted = _next_wave(jets, config, done, workers)
            if per_class.min() >= config.jets_per_class or not wanted:
                break
            tasks = [_ChunkTask(config_json, name, len(done[name]) + k,
                                str(chunks_dir / f"{name}_{len(done[name]) + k:05d}.parquet"))
                     for name, n in wanted.items() for k in range(n)]
            for name, _, path in engine.map_unordered(_run_chunk, tasks):
                done[name].append(Path(path))
    finally:
        engine.close()
    save_jets(flat, directory / "jets.parquet")
    counts = {c: int(n) for c, n in zip(config.classes(), np.bincount(
        flat.labels, minlength=len(config.classes())), strict=True)}
    manifest = build_manifest(
        "aihep.tag.dataset", config=config.model_dump(mode="json"), seed=config.seed,
        outputs=[file_entry(directory / "jets.parquet", directory)],
        counts={"jets_per_class": counts,
                "chunks": {k: len(v) for k, v in done.items()},
                "generated_events": sum(len(v) for v in done.values())
                * config.events_per_chunk},
        extra={"wall_seconds": time.perf_counter() - start})
    write_manifest(directory, manifest)
    return load_jets(directory / "jets.parquet")


def _combine(done: dict[str, list[Path]], config: TagDatasetConfig) -> JetSet:
    tables = [load_jets(p).table for paths in done.values() for p in sorted(paths)]
    if not tables:
        empty = {"label": np.zeros(0, np.int64), "jet_pt": np.zeros(0), "jet_eta": np.zeros(0)}
        return JetSet(ak.zip(empty, depth_limit=1), config.classes())
    return JetSet(ak.concatenate(tables), config.classes())


def _next_wave(jets: JetSet, config: TagDatasetConfig, done: dict[str, list[Path]],
               workers: int) -> dict[str, int]:
    """Chunks to generate next per sample: samples whose classes limit the flattened set."""
    counts = _histogram(jets, config) if len(jets) else np.zeros(
        (len(config.classes()), 1), dtype=np.int64)
    classes = config.classes()
    wanted: dict[str, int] = {}
    for sample in config.samples():
        if len(done[sample.name]) >= config.max_chunks_per_sample:
            continue
        rows = [classes.index(c) for c in sample.classes]
        have = counts[rows].sum(1).min() if len(jets) else 0
        if have == 0 and len(done[sample.name]) == 0:
            wanted[sample.name] = workers
            continue
        # short in total, or the bottleneck of the (pT, |eta|) bins holding >= 10% of jets
        pooled = counts.sum(0) / max(counts.sum(), 1)
        at_min = counts[rows] <= counts.min(0)
        share = float((at_min * pooled).sum(1).max())
        if have < 1.5 * config.jets_per_class or share > 0.1:
            wanted[sample.name] = workers
    return wanted
