"""Expert models for the agent: model cards for trained runs of every area, finding an
expert by task and input schema, and calling it.

A trained run (its ``manifest.json`` names the command that wrote it) gets a card from the
template of its kind (area, task, input schema, inputs with units, outputs, intended use,
limits) plus what the run itself records (training files with SHA-256, configuration,
validation metrics, size). :func:`run_expert` calls a registered model on a file with the
area's own prediction function.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aihep.errors import ConfigError, InputError
from aihep.workflow.models import ModelCard, ModelRegistry


@dataclass(frozen=True)
class Template:
    area: str
    task: str
    input_schema: str
    inputs: dict[str, str]
    outputs: dict[str, str]
    intended_use: str
    limits: str


TEMPLATES = {
    "aihep.tag.train": Template(
        "tagging", "jet tagging", "jets/particles",
        {"particles": "per jet: constituent pT [GeV], eta, phi [rad], E [GeV], charge, PDG id "
         "(JetClass ROOT, Top Tagging HDF5, aihep Parquet)"},
        {"score_<class>": "class probabilities per jet"},
        "classify jets of the kinds it was trained on (see run_config classes)",
        "trained on aihep's Pythia + parametric detector jets; other detectors shift scores"),
    "aihep.reco.train": Template(
        "reco", "neutrino-telescope track reconstruction", "reco/hits",
        {"hits": "per event: DOM positions [m], hit times [ns], charges (aihep reco files)"},
        {"direction": "muon direction (zenith, azimuth) [rad]"},
        "reconstruct through-going muon tracks on the detector geometry it was trained on",
        "one geometry; medium properties as simulated"),
    "aihep.calo.train": Template(
        "fastsim", "fast calorimeter simulation", "calo/showers",
        {"incident_energies": "incident energy per shower [MeV] (CaloChallenge HDF5)"},
        {"showers": "voxel energies [MeV] (CaloChallenge HDF5)"},
        "generate electromagnetic showers for the layout it was trained on",
        "one layout, the energy range of its training set; see its fidelity metrics"),
    "aihep.eventmodel.train": Template(
        "eventmodel", "event classification, jet-parton assignment, regression", "events/jets",
        {"jets": "up to 16 jets: pT [GeV], eta, phi [rad], mass [GeV], b-tag",
         "lepton": "pT [GeV], eta, phi [rad], PDG id (optional)",
         "missing_pt": "magnitude [GeV], phi [rad] (optional)"},
        {"probabilities": "process probabilities", "assignment": "jet-parton assignment"},
        "classify ttbar / ttH / QCD events and assign jets to top quarks",
        "processes and selections of its training data"),
    "aihep.assign.train": Template(
        "assignment", "jet-parton assignment", "events/jets",
        {"jets": "up to 16 jets: pT [GeV], eta, phi [rad], mass [GeV], b-tag"},
        {"assignment": "jets of t -> b q q' and tbar -> b q q'"},
        "assign jets to the partons of all-hadronic ttbar", "all-hadronic ttbar only"),
    "aihep.pid.train": Template(
        "pid", "particle identification", "pid/tracks",
        {"tracks": "p [GeV/c], eta, ITS/TPC dE/dx [a.u.], TOF beta, TRD likelihood (NaN: "
         "absent) (Parquet track files)"},
        {"probabilities": "e, pi, K, p probabilities per track"},
        "identify e, pi, K, p tracks with missing detectors",
        "the detector parametrization it was trained on"),
    "aihep.tau.train": Template(
        "tau", "tau identification", "tau/candidates",
        {"candidates": "per candidate: particles (d_eta, d_phi, log pT [GeV], log E [GeV], "
         "charge, type), high-level inputs (aihep tau candidate files)"},
        {"probabilities": "tau, jet, e, mu probabilities; D_jet"},
        "separate hadronic taus from jets, electrons and muons",
        "the detector and pile-up of its training domain"),
}


def _metrics(run_dir: Path, kind: str) -> dict[str, Any]:
    """Validation metrics the run recorded (file names differ by area)."""
    for name in ("validation.json", "history.json", "card.json"):
        path = run_dir / name
        if path.is_file():
            try:
                data = json.loads(path.read_text())
            except json.JSONDecodeError:
                continue
            if not isinstance(data, dict):
                continue
            picked = {k: v for k, v in data.items() if isinstance(v, int | float | str)
                      and k not in ("directory",)}
            if kind == "aihep.eventmodel.train" and "metrics" in data:
                picked.update(data["metrics"])
            if picked:
                return picked
    return {}


def _size(run_dir: Path) -> dict[str, Any]:
    weights = [p for p in run_dir.iterdir() if p.suffix in (".pt", ".pkl", ".onnx")
               and "checkpoint" not in p.name]
    return {"bytes": sum(p.stat().st_size for p in weights),
            "files": sorted(p.name for p in weights)}


def card_from_run(run_dir: str | Path, name: str, task: str | None = None,
                  metrics: dict[str, Any] | None = None,
                  benchmark_commit: str | None = None) -> ModelCard:
    """A model card for a trained run from its manifest and its kind's template."""
    run_dir = Path(run_dir)
    path = run_dir / "manifest.json"
    if not path.is_file():
        raise InputError(run_dir, "manifest.json", "a trained aihep run directory")
    manifest = json.loads(path.read_text())
    kind = manifest.get("kind", "")
    if kind not in TEMPLATES:
        raise InputError(path, "kind", "a trained model run: one of " + ", ".join(TEMPLATES))
    t = TEMPLATES[kind]
    return ModelCard(
        name=name, area=t.area, task=task or t.task, kind=kind, input_schema=t.input_schema,
        inputs=t.inputs, outputs=t.outputs,
        training_data=[{k: e[k] for k in ("path", "sha256", "bytes") if k in e}
                       for e in manifest.get("inputs", [])],
        metrics={**_metrics(run_dir, kind), **(metrics or {})},
        benchmark_commit=benchmark_commit, size=_size(run_dir),
        intended_use=t.intended_use, limits=t.limits,
        run_config=manifest.get("config", {}))


def find_experts(task: str | None = None, input_schema: str | None = None,
                 area: str | None = None) -> list[dict[str, Any]]:
    """Registered expert models whose task contains ``task``, whose input schema is
    ``input_schema`` and whose area is ``area`` (each optional): their model cards."""
    return [c.model_dump(mode="json", exclude={"run_config"})
            for c in ModelRegistry().find(task, input_schema, area)]


def run_expert(name: str, data: Path, out: Path, process: str = "ttbar",
               n_showers: int = 1000) -> dict[str, Any]:
    """Call the registered expert ``name`` on ``data`` (for a fast-simulation expert: make
    ``n_showers`` showers; ``data`` is then not read) and write its predictions to
    ``out``. ``process`` is the event process for event-model experts."""
    card = ModelRegistry().show(name)
    run = Path(card.directory or "")
    out_dir = Path(out)
    if card.kind == "aihep.tag.train":
        from aihep.tagging.tagger import predict_file

        result: Any = predict_file(run, data, out_dir / "scored.parquet")
    elif card.kind == "aihep.reco.train":
        from aihep.reco.run import evaluate_file

        result = evaluate_file("gnn", data, gnn_run=run, out=out_dir)
    elif card.kind == "aihep.calo.train":
        from aihep.fastsim.surrogates import generate_file

        result = generate_file(run, out_dir, n_showers=n_showers)
    elif card.kind == "aihep.eventmodel.train":
        from aihep.eventmodel.files import evaluate_file as event_evaluate

        result = event_evaluate(run, data, process, out_dir)
    elif card.kind == "aihep.assign.train":
        from aihep.assign.run import predict_file as assign_predict

        result = assign_predict(data, out_dir, "aihep-spanet", run)
    elif card.kind == "aihep.pid.train":
        from aihep.pid.files import evaluate_file as pid_evaluate

        result = pid_evaluate(run, data, out_dir)
    elif card.kind == "aihep.tau.train":
        from aihep.tau.run import predict_file as tau_predict

        result = tau_predict(run, data, out_dir)
    else:
        msg = f"model {name}: kind {card.kind} has no prediction function"
        raise ConfigError(msg)
    output = result.to_dict() if hasattr(result, "to_dict") else result
    return {"expert": name, "version": card.version, "task": card.task, "result": output}
