"""Tagging datasets from Pythia 8 + FastJet, chunked, parallel and resumable.

What each dataset holds (samples, classes, jets, labelling) is in
:mod:`aihep.tagging.samples`. For every chunk of a sample: Pythia events, the parametric
detector (:mod:`aihep.events.detector`), impact parameters and hadron identification
(:mod:`aihep.events.tracks`), clustering, truth labels, jet observables (soft-drop mass,
N-subjettiness) and JetClass-named particle fields. Finally every class is downsampled, bin
by bin in (pT, |eta|), to the smallest class count of that bin, so all classes share one
(pT, |eta|) distribution and a tagger cannot learn kinematics.

Chunks (sample, index) are seeded from (seed, sample, index) alone and built by the one
chunk engine (:mod:`aihep.workflow.chunks`): written under ``out/chunks`` when done and
reused when the command is re-run (resume).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep._atomic import ensure_writable_dir
from aihep.events.config import DetectorConfig, JetConfig
from aihep.events.tracks import HadronIDConfig, TrackConfig
from aihep.events.truth import NEUTRINOS, eta_phi, jet_flavours
from aihep.io.jets import JetSet, load_jets, save_jets
from aihep.tagging.samples import STABLE_V0, DatasetKind, Sample, get_kind, parton_label
from aihep.workflow.chunks import ChunkJob, ChunkStore, Writer, chunk_path, run_waves
from aihep.workflow.executor import ExecutorConfig, make_executor


class TagDatasetConfig(BaseModel):
    """A tagging dataset: which kind, how many jets per class, detector and chunking."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = Field("jetclass", description="jetclass | top | flavour | ee-origin")
    jets_per_class: int = Field(1000, ge=1)
    pthat_min_gev: float | None = Field(None, description="default: the kind's")
    max_particles: int = Field(128, ge=1, description="particles stored per jet (highest pT)")
    events_per_chunk: int = Field(500, ge=10)
    max_chunks_per_sample: int = Field(400, ge=1)
    flatten_bins: tuple[int, int] = (10, 4)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    tracks: TrackConfig = Field(default_factory=TrackConfig)
    hadron_id: HadronIDConfig = Field(default_factory=HadronIDConfig)
    seed: int = DEFAULT_SEED

    def definition(self) -> DatasetKind:
        return get_kind(self.kind)

    def samples(self) -> list[Sample]:
        kind = self.definition()
        return kind.samples(self.pthat_min_gev if self.pthat_min_gev is not None
                            else kind.pthat_gev)

    def classes(self) -> tuple[str, ...]:
        return self.definition().classes


def _sample(config: TagDatasetConfig, name: str) -> Sample:
    return next(s for s in config.samples() if s.name == name)


def _cluster(measured: Any, kind: DatasetKind) -> tuple[np.ndarray, np.ndarray, ak.Array]:
    """Jets (n, 4) px py pz E, their events (n,) and constituent indices (flat particles)."""
    from aihep.events.jets import cluster_indices

    if kind.clustering == "antikt":
        jet_config = JetConfig(radius=kind.radius, pt_min_gev=0.8 * kind.pt_range_gev[0],
                               eta_max=kind.eta_max, max_jets=2)
        four, _, event_of_jet, const_index = cluster_indices(measured, jet_config)
        return four, event_of_jet, const_index
    import warnings

    import fastjet

    from aihep.events.jets import four_vectors
    from aihep.events.pythia import silence_stdout

    particles = four_vectors(measured.px, measured.py, measured.pz, measured.e,
                              measured.counts)
    enough = measured.counts >= 2
    with warnings.catch_warnings(), silence_stdout():
        warnings.simplefilter("ignore")
        seq = fastjet.ClusterSequence(particles[enough],
                                      fastjet.JetDefinition0Param(fastjet.ee_kt_algorithm))
        jets = seq.exclusive_jets(2)
        index = seq.exclusive_jets_constituent_index(2)
    events = np.flatnonzero(enough)
    offsets = np.concatenate([[0], np.cumsum(measured.counts)[:-1]]).astype(np.int64)[events]
    four = np.stack([ak.to_numpy(ak.flatten(jets[f])) for f in ("px", "py", "pz", "E")], 1)
    flat_index = ak.flatten(index + ak.Array(offsets), axis=1)
    return four, np.repeat(events, 2), flat_index


def _labels(kind: DatasetKind, sample: Sample, record: Any, four: np.ndarray,
            event_of_jet: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Class index per jet (-1: dropped) by the kind's truth labelling."""
    from aihep.events.truth import decay_products, delta_r, resonances

    classes = kind.classes
    labels = np.full(len(four), -1)
    jet_eta, jet_phi = eta_phi(four)
    if sample.resonance is None and kind.labelling == "resonance":
        labels[candidates] = classes.index(sample.classes[0])
        return labels
    if kind.labelling == "hadron":
        found = jet_flavours(record, event_of_jet[candidates], jet_eta[candidates],
                             jet_phi[candidates], kind.match_radius)
        for j, best in zip(candidates, found, strict=True):
            labels[j] = classes.index({5: "b", 4: "c", 0: "light"}[int(best)])
        return labels
    assert sample.resonance is not None  # every sample labelled from partons names its resonance
    for j in candidates:
        event = int(event_of_jet[j])
        for entry in resonances(record, event, sample.resonance):
            partons = decay_products(record, event, entry)
            if kind.labelling == "parton":
                labels[j] = _nearest_parton(partons, four[j], kind)
                break
            name = sample.label(partons) if sample.label else None
            visible = [p for p in partons if abs(p.pid) not in NEUTRINOS]
            if name is None or not visible:
                continue
            p_eta, p_phi = eta_phi(np.stack([p.momentum for p in visible]))
            if np.all(delta_r(p_eta, p_phi, jet_eta[j], jet_phi[j]) < kind.match_radius):
                labels[j] = classes.index(name)
                break
    if kind.labelling == "parton":  # two jets matched to the same parton: drop both
        for event in np.unique(event_of_jet[candidates]):
            jets = candidates[event_of_jet[candidates] == event]
            if len(jets) == 2 and labels[jets[0]] == labels[jets[1]] and sample.classes != (
                    "g",):
                labels[jets] = -1
    return labels


def _nearest_parton(partons: list[Any], jet: np.ndarray, kind: DatasetKind) -> int:
    """Class index of the parton closest in angle to the jet, -1 beyond match_radius."""
    if not partons:
        return -1
    directions = np.stack([p.momentum[:3] for p in partons])
    cos = directions @ jet[:3] / (np.linalg.norm(directions, axis=1) * np.linalg.norm(jet[:3]))
    angle = np.arccos(np.clip(cos, -1.0, 1.0))
    best = int(np.argmin(angle))
    if angle[best] >= kind.match_radius:
        return -1
    return kind.classes.index(parton_label(partons[best].pid))


def chunk_jets(config: TagDatasetConfig, sample_name: str, index: int) -> dict[str, Any]:
    """Generate one chunk of a sample: its labelled jets as a record dict (columns)."""
    from aihep.events.detector import measure
    from aihep.events.pythia import base_settings, final_state, make_pythia, next_batch
    from aihep.events.substructure import nsubjettiness, softdrop_mass
    from aihep.events.tracks import identify_hadrons, impact_parameters
    from aihep.events.truth import Record
    from aihep.workflow import seeds

    kind = config.definition()
    sample = _sample(config, sample_name)
    pythia = make_pythia([*base_settings(kind.ecm_gev, seeds.pythia_seed(
        config.seed, "tag", sample_name, index)), *STABLE_V0, *sample.settings])
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
    four, event_of_jet, const_index = _cluster(measured, kind)
    jet_eta, jet_phi = eta_phi(four)
    jet_pt = np.hypot(four[:, 0], four[:, 1])
    lo, hi = kind.pt_range_gev
    candidates = np.flatnonzero((jet_pt >= lo) & (jet_pt < hi) & (np.abs(jet_eta)
                                                                   < kind.eta_max))
    record = Record.from_run(run) if kind.labelling != "resonance" or (
        sample.resonance is not None) else None
    labels = _labels(kind, sample, record, four, event_of_jet, candidates)
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
    radius = kind.radius if kind.radius > 0 else 1.0  # exclusive e+e- jets: R0 = 1
    taus = nsubjettiness(constituents, radius, n_max=4)
    out["jet_sdmass"] = softdrop_mass(constituents, radius)
    for i in range(4):
        out[f"jet_tau{i + 1}"] = np.ascontiguousarray(taus[:, i])
    out["jet_nparticles"] = counts.astype(np.float64)
    order = ak.argsort(ak.unflatten(np.hypot(px, py), counts), axis=1, ascending=False)
    for name, values in particle.items():
        jagged = ak.unflatten(np.asarray(values, dtype=np.float32), counts)[order]
        out[f"part_{name}"] = jagged[:, : config.max_particles]
    return {"columns": out, "n_events": config.events_per_chunk}


def make_chunk(job: ChunkJob) -> tuple[Writer, dict[str, Any]]:
    """The chunk engine's task: the labelled jets of chunk ``job.index`` of sample
    ``job.stream``; returns their writer and bookkeeping."""
    config = TagDatasetConfig.model_validate_json(job.config_json)
    result = chunk_jets(config, job.stream, job.index)
    jets = JetSet(ak.zip(result["columns"], depth_limit=1), config.classes())
    return (lambda path: save_jets(jets, path)), {"n_events": result["n_events"],
                                                   "n_jets": len(jets)}


def _histogram(jets: JetSet, config: TagDatasetConfig) -> np.ndarray:
    """(n_classes, n_bins) counts in (pT, |eta|) bins; and each jet's bin."""
    return _bins(jets, config)[1]


def _bins(jets: JetSet, config: TagDatasetConfig) -> tuple[np.ndarray, np.ndarray]:
    kind = config.definition()
    (lo, hi), n_pt, n_eta = kind.pt_range_gev, *config.flatten_bins
    pt = ak.to_numpy(jets.table["jet_pt"])
    eta = np.abs(ak.to_numpy(jets.table["jet_eta"]))
    i = np.clip(((pt - lo) / (hi - lo) * n_pt).astype(int), 0, n_pt - 1)
    k = np.clip((eta / kind.eta_max * n_eta).astype(int), 0, n_eta - 1)
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
                      progress: Callable[[int, int], None] | None = None,
                      executor: ExecutorConfig | None = None, force: bool = False) -> JetSet:
    """Generate (or resume) a tagging dataset into ``out``: ``jets.parquet`` + manifest.

    Chunks are generated in waves until, after flattening, every class has
    ``jets_per_class`` jets (or a sample reaches ``max_chunks_per_sample``). ``executor``
    (e.g. SLURM through Dask) overrides ``workers`` local processes; the waves depend on the
    number of workers only, so the same count gives the same bytes on any engine.
    """
    from aihep.workflow.manifest import claim_output_dir

    config.samples()  # an unknown kind fails here, before anything is written
    claim_output_dir(out, "aihep.tag.dataset", force, strict=False)
    executor = executor or ExecutorConfig(kind="local" if workers > 1 else "serial",
                                          workers=workers)
    workers = executor.workers
    engine = make_executor(executor)  # a cluster that cannot start leaves nothing behind
    try:
        return _build_tag_dataset(config, Path(out), workers, progress, engine)
    finally:
        engine.close()


def _build_tag_dataset(config: TagDatasetConfig, out: Path, workers: int,
                       progress: Callable[[int, int], None] | None, engine: Any) -> JetSet:
    from aihep.workflow.manifest import build_manifest, file_entry, write_manifest

    directory = ensure_writable_dir(out)
    key = json.dumps(config.model_dump(mode="json", exclude={"jets_per_class",
                                                             "max_chunks_per_sample"}),
                     sort_keys=True)
    store = ChunkStore(directory / "chunks", key)
    config_json = config.model_dump_json()
    samples = [s.name for s in config.samples()]
    start = time.perf_counter()
    loaded: dict[Path, ak.Array] = {}
    state: dict[str, Any] = {}

    def plan(done: dict[tuple[str, int], dict[str, Any]]) -> list[ChunkJob]:
        indices = {name: sorted(i for s, i in done if s == name) for name in samples}
        jets = _combine(store, indices, config, loaded)
        flat = flatten_kinematics(jets, config, config.jets_per_class, config.seed)
        per_class = np.bincount(flat.labels, minlength=len(config.classes()))
        state.update(flat=flat, indices=indices)
        if progress is not None:
            progress(int(per_class.min()), config.jets_per_class)
        wanted = _next_wave(jets, config, {n: len(v) for n, v in indices.items()}, workers)
        if per_class.min() >= config.jets_per_class or not wanted:
            return []
        return [store.job(name, index, config.events_per_chunk, config.seed, config_json)
                for name, n in wanted.items() for index in _missing(indices[name], n)]

    run_waves(store, engine, make_chunk, plan)
    flat, indices = state["flat"], state["indices"]
    save_jets(flat, directory / "jets.parquet")
    counts = {c: int(n) for c, n in zip(config.classes(), np.bincount(
        flat.labels, minlength=len(config.classes())), strict=True)}
    manifest = build_manifest(
        "aihep.tag.dataset", config=config.model_dump(mode="json"), seed=config.seed,
        outputs=[file_entry(directory / "jets.parquet", directory)],
        counts={"jets_per_class": counts,
                "chunks": {k: len(v) for k, v in indices.items()},
                "generated_events": sum(len(v) for v in indices.values())
                * config.events_per_chunk},
        extra={"wall_seconds": time.perf_counter() - start})
    write_manifest(directory, manifest)
    return load_jets(directory / "jets.parquet")


def _missing(have: list[int], n: int) -> list[int]:
    """The ``n`` smallest chunk indices not in ``have``."""
    taken, index = set(have), 0
    out: list[int] = []
    while len(out) < n:
        if index not in taken:
            out.append(index)
        index += 1
    return out


def _combine(store: ChunkStore, indices: dict[str, list[int]], config: TagDatasetConfig,
             loaded: dict[Path, ak.Array]) -> JetSet:
    """All chunks so far, by sample then index; ``loaded`` caches chunks read earlier."""
    paths = [chunk_path(store.directory, name, i) for name, idx in indices.items()
             for i in idx]
    for path in paths:
        if path not in loaded:
            loaded[path] = load_jets(path).table
    tables = [loaded[p] for p in paths]
    if not tables:
        empty = {"label": np.zeros(0, np.int64), "jet_pt": np.zeros(0), "jet_eta": np.zeros(0)}
        return JetSet(ak.zip(empty, depth_limit=1), config.classes())
    return JetSet(ak.concatenate(tables), config.classes())


def _next_wave(jets: JetSet, config: TagDatasetConfig, done: dict[str, int],
               workers: int) -> dict[str, int]:
    """Chunks to generate next per sample: samples whose classes limit the flattened set."""
    counts = _histogram(jets, config) if len(jets) else np.zeros(
        (len(config.classes()), 1), dtype=np.int64)
    classes = config.classes()
    wanted: dict[str, int] = {}
    for sample in config.samples():
        if done[sample.name] >= config.max_chunks_per_sample:
            continue
        rows = [classes.index(c) for c in sample.classes]
        have = counts[rows].sum(1).min() if len(jets) else 0
        if have == 0 and done[sample.name] == 0:
            wanted[sample.name] = workers
            continue
        # short in total, or the bottleneck of the (pT, |eta|) bins holding >= 10% of jets
        pooled = counts.sum(0) / max(counts.sum(), 1)
        at_min = counts[rows] <= counts.min(0)
        share = float((at_min * pooled).sum(1).max())
        if have < 1.5 * config.jets_per_class or share > 0.1:
            wanted[sample.name] = workers
    return wanted
