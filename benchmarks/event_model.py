"""Benchmark: does pretraining one event transformer save labels? (EveNet-style, CPU scale)

Data (cached under .cache/benchmarks/event_model/, resumable): semi-leptonic ttbar, ttH(bb)
and QCD multijet with their labels, and all-hadronic ttbar, all from the event factory with
the objects and b-tag of the assignment benchmark (all-hadronic ttbar is read from the
assignment benchmark's dataset when that holds enough events, else generated). Pretraining
(events disjoint from fine-tuning: ttH and all-hadronic ttbar are split in halves, one for
pretraining, one for fine-tuning): process classification of semi-leptonic ttbar / ttH / QCD,
their assignment (the hadronic top of semi-leptonic ttbar, the tops of ttH), regression and
segmentation targets, and masked-object reconstruction on every process
including all-hadronic ttbar, which enters without any truth (no assignment, segmentation
or regression target). Fine-tuning on
(a) all-hadronic assignment and (b) ttH against all-hadronic ttbar classification, with 1%,
10% and 100% of the labels (the 1% point with 5 seeds and different label subsets, the
others with ``--seeds``), each against the same network trained from scratch on the same
labels. Every fine-tuning runs at least ``FINETUNE_MIN_STEPS`` optimizer steps (on 1% of
the labels ``--epochs`` epochs are a handful of steps), with early stopping on its own
validation split. Scores on fixed test sets: the 6-jet matched event efficiency, the
classification AUC. ``multitask``: the pretrained body's AUCs (ttH vs ttbar, ttbar vs QCD),
its all-hadronic assignment efficiency before any fine-tuning, regression resolutions,
training and inference events/s; and ``multi_vs_single``: one network trained
on every labelled task (classification, all-hadronic assignment, regression, segmentation)
next to networks of the same size trained on one task each, on the same events (a random
share of every process, ``--multitask-events`` in all).

Every training is a job with its own checkpoint; ``--workers`` jobs run side by side, one
thread each (pretraining first, then fine-tuning, then the multi- vs single-task networks).
A re-run keeps the rows of the same setup already in the results file and resumes the
trainings from their checkpoints; checkpoints are keyed by the setup and by the source of
the model code (a change of the model or the training loop trains afresh).

``recipes``: the pretrained fine-tunings again with each learning rate of
``RECIPE_LEARNING_RATES`` (1e-3 is the main table's: a re-run of its rows) on 1% and 10% of
the labels, every row with its best validation loss; the recipe a physicist would choose
without test labels is, per task, label fraction and seed, the one with the lower validation
loss (its test score is reported as "chosen on validation"; rows under ``finetune_recipes``).

``evenet``: the optional peer, evenet-lite's classifier (EveNet's body with a classification
head, the package's own trainer; no pretrained weights: they are on a hub) at our network's
size in its own venv (.cache/evenet-venv, created if missing: evenet-lite pins numpy 1.26.4),
on the same classification labels, validation events, epochs and early stopping as our
from-scratch network, one thread each (``benchmarks/evenet_shim.py``); and again with its
ten event-level features set to zero (``evenet-lite (objects only)``: our network sees only
the objects).

``summary``: our network from scratch on the same classification labels with event-level
summaries of its objects as one more token (``EventModelConfig(summary=True)``: missing pT,
lepton / b-jet / jet counts, HT, HT with the lepton, the masses of all visible objects and of
the b-tagged jets; the peer's ten event-level features hold the same information), to see
whether they close the gap to evenet-lite at 10% of the labels (rows under ``summary``; a
run of this part alone leaves the other parts' rows as they are).

Usage: python benchmarks/event_model.py [--events 50000] [--test 10000] [--epochs 20]
       [--seeds 3] [--workers 2]
       [--parts pretrain,multitask,finetune,recipes,evenet,summary]
       [--multitask-events 40000] [--cache DIR] [--results FILE]
Writes the ``finetune``, ``multitask``, ``finetune_recipes`` and ``evenet`` parts of
benchmarks/results/event_model.json.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import functools
import hashlib
import json
import math
import multiprocessing
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, git_commit, write_result

from aihep.eventmodel.run import PROCESS_LABELS as LABELS

CACHE = ROOT.parent / ".cache" / "benchmarks" / "event_model"
ASSIGNMENT_DATA = ROOT.parent / ".cache" / "benchmarks" / "assignment" / "data"
RESULTS = ROOT / "results" / "event_model.json"
#: the code a checkpoint was trained with (a change here retrains)
MODEL_SOURCES = ("eventmodel/model.py", "eventmodel/tasks.py", "eventmodel/run.py",
                 "assign/model.py", "nn/train.py", "nn/kinematics.py")
#: pretraining heads: the hadronic top of semi-leptonic ttbar and the tops of ttH train the
#: assignment head (their labels are allowed; all-hadronic ttbar's never are)
PRETRAIN_TASKS = ("classification", "assignment", "regression", "segmentation",
                  "reconstruction")
#: the optional peer: evenet-lite's classifier (EveNet's body, no pretrained weights) in its
#: own venv, at our network's size (hidden 40, 2 PET layers: 176,882 against 175,025)
EVENET_VENV = ROOT.parent / ".cache" / "evenet-venv"
EVENET_PINS = ["evenet-lite==0.5.0"]
EVENET_SIZE = {"hidden": 40, "layers": 2}
#: the ablation row: evenet-lite with its ten event-level features set to zero (our network
#: has no such features: it sees only the objects)
EVENET_OBJECTS_ONLY = "evenet-lite (objects only)"
#: ``recipes``: the pretrained fine-tunings again at these learning rates (1e-3 is the main
#: table's), each row with its best validation loss; per (task, fraction, seed) the recipe with
#: the lower validation loss is the one a physicist would pick without test labels
RECIPE_LEARNING_RATES = (1e-3, 1e-4)
#: the few-label regime the targets are about (100% of the labels would double the cost)
RECIPE_FRACTIONS = (0.01, 0.1)
VARIANTS = {"multi-task": ("classification", "assignment", "regression", "segmentation"),
            "classification only": ("classification",), "assignment only": ("assignment",),
            "regression only": ("regression",), "segmentation only": ("segmentation",)}


def data_config(process: str, n: int):
    from aihep.assign.data import AssignmentDataConfig

    return AssignmentDataConfig(process=process, n_events=n, seed=7 + LABELS[process])


def assignment_events(n: int):
    """The first ``n`` events of the assignment benchmark's all-hadronic ttbar dataset, if it
    was made with the same objects, b-tag and detector and holds enough (else None)."""
    from aihep.io.assignment import read_events

    manifest = ASSIGNMENT_DATA / "manifest.json"
    if not manifest.is_file() or not (ASSIGNMENT_DATA / "events.h5").is_file():
        return None
    made = json.loads(manifest.read_text())
    same = {k: v for k, v in made.get("config", {}).items() if k not in ("n_events", "seed")}
    ours = data_config("ttbar", n).model_dump(mode="json")
    if same != {k: v for k, v in ours.items() if k not in ("n_events", "seed")}:
        return None
    if made.get("counts", {}).get("events", 0) < n:
        return None
    events = read_events(ASSIGNMENT_DATA / "events.h5")
    return events.select(np.arange(n))


def dataset(process: str, n: int, workers: int, cache: Path = CACHE):
    from aihep.assign.data import build_assignment_dataset

    if process == "ttbar":
        reused = assignment_events(n)
        if reused is not None:
            return reused
    return build_assignment_dataset(data_config(process, n), cache / process, workers).read()


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(positive, scores))


def code_hash() -> str:
    src = ROOT.parent / "src" / "aihep"
    digest = hashlib.sha256()
    for name in MODEL_SOURCES:
        digest.update((src / name).read_bytes())
    return digest.hexdigest()[:10]


def setup_of(args: argparse.Namespace) -> dict[str, Any]:
    """What rows and checkpoints must match to be kept (not the commit)."""
    from aihep.eventmodel.model import EventModelConfig

    return {"events": args.events, "test": args.test, "epochs": args.epochs,
            "multitask_events": args.multitask_events,
            "model": EventModelConfig().model_dump(mode="json", exclude={"seed"}),
            "pretrain_tasks": list(PRETRAIN_TASKS),
            "code": code_hash()}


@functools.lru_cache(maxsize=1)
def splits(events: int, n_test: int, cache: str) -> dict[str, Any]:
    """Test sets and the disjoint pretraining / fine-tuning parts (read from the cache)."""
    data = {p: dataset(p, events, 1, Path(cache)) for p in LABELS}
    half = (events - n_test) // 2
    out: dict[str, Any] = {"test": {p: e.select(np.arange(len(e) - n_test, len(e)))
                                    for p, e in data.items()}}
    # ttH and all-hadronic ttbar are split in a pretraining half and a fine-tuning half
    # (the fine-tuning classes must not have been seen with labels)
    out["pretrain"] = [(data[p].select(np.arange(len(data[p]) - n_test)), LABELS[p])
                       for p in ("ttbar-semileptonic", "qcd-multijet")]
    out["pretrain"].append((data["tth-bb"].select(np.arange(half)), LABELS["tth-bb"]))
    out["allhad_pre"] = data["ttbar"].select(np.arange(half))
    out["allhad_tune"] = data["ttbar"].select(np.arange(half, len(data["ttbar"]) - n_test))
    out["tth_tune"] = data["tth-bb"].select(np.arange(half, len(data["tth-bb"]) - n_test))
    return out


#: fine-tunings on few labels get more epochs: at least this many optimizer steps (the same
#: rule for pretrained and from-scratch networks; at 100% of the labels about ``--epochs``)
FINETUNE_MIN_STEPS = 600
BATCH_SIZE = 256


def _config(seed: int, epochs: int, n_train: int | None = None, learning_rate: float = 1e-3,
            summary: bool = False):
    """The training settings; with ``n_train`` (labelled events of a fine-tuning) the epochs
    are raised to give at least ``FINETUNE_MIN_STEPS`` steps, the patience with them."""
    from aihep.eventmodel.model import EventModelConfig
    from aihep.eventmodel.run import EventTrainConfig
    from aihep.nn.train import TrainConfig

    patience = 5
    if n_train is not None:
        steps_per_epoch = max(1, math.ceil(0.9 * n_train / BATCH_SIZE))
        epochs = max(epochs, math.ceil(FINETUNE_MIN_STEPS / steps_per_epoch))
        patience = max(patience, epochs // 4)
    return EventTrainConfig(model=EventModelConfig(seed=seed, summary=summary), train=TrainConfig(
        epochs=epochs, batch_size=BATCH_SIZE, learning_rate=learning_rate, patience=patience,
        seed=seed))


def _scores(model: Any, test: dict[str, Any], tasks: tuple[str, ...]) -> dict[str, Any]:
    """The test scores of the heads in ``tasks`` (and the inference rate)."""
    from aihep.eventmodel.run import evaluate_event_model

    t0 = time.perf_counter()
    sc = {p: evaluate_event_model(model, test[p], LABELS[p]) for p in test}
    n_test = len(test["ttbar"])
    out: dict[str, Any] = {"inference_events_per_second": sum(len(e) for e in test.values())
                           / (time.perf_counter() - t0)}
    pr = {p: v["probabilities"] for p, v in sc.items()}
    truth = np.r_[np.ones(n_test), np.zeros(n_test)]
    if "classification" in tasks:
        out["auc_tth_vs_ttbar"] = auc(np.concatenate([pr["tth-bb"][:, 1], pr["ttbar"][:, 1]]),
                                      truth)
        out["auc_ttbar_vs_qcd"] = auc(np.concatenate([1 - pr["ttbar"][:, 3],
                                                      1 - pr["qcd-multijet"][:, 3]]), truth)
    if "assignment" in tasks:
        a = next(r for r in sc["ttbar"]["assignment"]
                 if r["njets"] == "6" and r["subset"] == "matched")
        out["assignment_efficiency_6jet"] = a["event_efficiency"]
        out["assignment_efficiency_6jet_error"] = a["event_efficiency_error"]
    if "regression" in tasks:
        out["regression_resolution_gev"] = sc["ttbar-semileptonic"]["regression_resolution_gev"]
    if "segmentation" in tasks:
        out["segmentation_accuracy"] = float(np.mean(
            [sc[p]["segmentation_accuracy"] for p in ("ttbar", "tth-bb")]))
    return out


def _timing(history: Any, n_events: int) -> dict[str, Any]:
    seconds = sum(history.epoch_seconds)
    return {"minutes": seconds / 60, "cpu_minutes": sum(history.epoch_cpu_seconds) / 60,
            "epochs_run": len(history.train_loss),
            "train_events_per_second": 0.9 * n_events * len(history.train_loss)
            / max(seconds, 1e-9)}


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One training and its scores (in a worker process, one thread)."""
    import torch

    from aihep.eventmodel.run import load_event_model, train_event_model

    if job["kind"] == "evenet":
        return run_evenet(job)
    torch.set_num_threads(job["threads"])
    data = splits(job["events"], job["test"], job["cache"])
    cache, tag, epochs = Path(job["cache"]), job["tag"], job["epochs"]
    if job["kind"] == "pretrain":
        # through the product's file-level training (a run directory with manifest and
        # model card, registrable as an expert); the parts are written as event files
        from aihep.eventmodel.files import train_files
        from aihep.io.assignment import write_events

        names = {label: p for p, label in LABELS.items()}
        files = []
        # all-hadronic ttbar as data would come: no truth at all (its segmentation and
        # regression targets would carry the assignment labels the issue keeps out)
        unlabelled = data["allhad_pre"].without_truth()
        for events, label in [*data["pretrain"], (unlabelled, None)]:
            name = names[label] if label is not None else "ttbar-unlabelled"
            path = cache / f"pretrain_data_{tag}" / f"{name}.h5"
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                write_events(path, events)
            files.append((path, names.get(label) if label is not None else None))
        run = train_files(files, cache / f"pretrained_{tag}", _config(1, epochs),
                          tasks=PRETRAIN_TASKS)
        model, _ = load_event_model(run.directory)
        scores = _scores(model, data["test"], ("classification", "assignment", "regression"))
        n = sum(len(e) for e, _ in data["pretrain"]) + len(data["allhad_pre"])
        seconds = sum(run.epoch_seconds)
        return {"pretrained_auc_tth_vs_ttbar": scores["auc_tth_vs_ttbar"],
                "pretrained_auc_ttbar_vs_qcd": scores["auc_ttbar_vs_qcd"],
                "pretrained_regression_resolution_gev": scores["regression_resolution_gev"],
                # all-hadronic assignment without a single all-hadronic label
                "pretrained_assignment_efficiency_6jet": scores["assignment_efficiency_6jet"],
                "pretrain_tasks": list(PRETRAIN_TASKS),
                "pretrained_run": str(run.directory), "pretrain_parameters": run.parameters,
                "pretrain_events": n, "pretrain_epoch_seconds": run.epoch_seconds,
                "pretrain_minutes": seconds / 60,
                "pretrain_cpu_minutes": sum(run.epoch_cpu_seconds) / 60,
                "pretrain_epochs_run": len(run.epoch_seconds),
                "train_events_per_second": 0.9 * n * len(run.epoch_seconds)
                / max(seconds, 1e-9),
                "inference_events_per_second": scores["inference_events_per_second"]}
    if job["kind"] == "multitask":
        # one network on every labelled task against networks of the same size trained on
        # one task each, on the same labelled events (no pretraining involved)
        tasks = VARIANTS[job["model"]]
        labelled = [*data["pretrain"], (data["allhad_tune"], LABELS["ttbar"])]
        total = sum(len(e) for e, _ in labelled)
        if job["multitask_events"] < total:  # the same random share of every process
            rng = np.random.default_rng(0)
            share = job["multitask_events"] / total
            labelled = [(e.select(np.sort(rng.choice(len(e), round(share * len(e)), False))),
                         label) for e, label in labelled]
        model, history = train_event_model(
            labelled, _config(1, epochs), tasks=tasks,
            checkpoint=cache / f"mt_{tasks[0]}_{len(tasks)}_{tag}.ckpt")
        return {"model": job["model"], "tasks": list(tasks),
                **_timing(history, sum(len(e) for e, _ in labelled)),
                **_scores(model, data["test"], tasks)}
    task, fraction, seed = job["task"], job["fraction"], job["seed"]
    rng = np.random.default_rng(seed)
    if task == "assignment":
        pool = data["allhad_tune"]
        pick = rng.choice(len(pool), max(10, int(fraction * len(pool))), False)
        parts = [(pool.select(np.sort(pick)), None)]
    else:
        parts = classification_labels(data, fraction, seed)
    init = (load_event_model(cache / f"pretrained_{tag}")[0].state_dict()
            if job["pretrained"] else None)
    lr = job.get("learning_rate", 1e-3)
    summary = bool(job.get("summary"))
    suffix = ("" if lr == 1e-3 else f"_lr{lr:g}") + ("_summary" if summary else "")
    model, history = train_event_model(
        parts, _config(seed, epochs, sum(len(e) for e, _ in parts), lr, summary),
        tasks=(task,),
        init=init, checkpoint=cache / f"ft_{task}_{fraction}_{seed}_{int(job['pretrained'])}"
        f"_{tag}_{FINETUNE_MIN_STEPS}{suffix}.ckpt")
    scores = _scores(model, {p: data["test"][p] for p in data["test"]}, (task,))
    if task == "assignment":
        score = scores["assignment_efficiency_6jet"]
        error = scores["assignment_efficiency_6jet_error"]
    else:
        score, error = scores["auc_tth_vs_ttbar"], float("nan")
    return {"task": task, "fraction": fraction, "pretrained": job["pretrained"],
            "score": score, "score_error": error, "seed": seed,
            "labelled_events": sum(len(e) for e, _ in parts), "learning_rate": lr,
            "summary": summary,
            # the best validation loss (the fine-tuning's own held-out labels): what a
            # physicist without test labels can choose a recipe by
            "val_loss": float(min(history.val_loss)),
            **_timing(history, sum(len(e) for e, _ in parts))}


def evenet_python() -> Path:
    """The evenet-lite venv's python, created (pinned; CPU torch) if missing."""
    import subprocess
    import sys

    python = EVENET_VENV / "bin" / "python"
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(EVENET_VENV)], check=True)
        subprocess.run([str(EVENET_VENV / "bin" / "pip"), "install", "--quiet", "-c",
                        str(ROOT.parent / "constraints.txt"), "torch", *EVENET_PINS],
                       check=True)
    return python


def evenet_inputs(events: Any) -> dict[str, np.ndarray]:
    """evenet-lite's inputs: objects (jets, then the lepton) with energy [GeV], pT [GeV],
    eta, phi, b-tag, is-lepton, charge; and its ten event-level features (missing pT and
    its phi, lepton / b-jet / jet counts, HT and HT with the lepton [GeV], the masses of all
    objects, of the leptons and of the b-tagged jets [GeV])."""
    n, j = events.mask.shape
    lepton = events.lepton if events.lepton is not None else np.full((n, 4), np.nan)
    has_lep = np.isfinite(lepton[:, 0])
    pt = np.concatenate([events.pt, np.nan_to_num(lepton[:, :1])], 1)
    eta = np.concatenate([events.eta, np.nan_to_num(lepton[:, 1:2])], 1)
    phi = np.concatenate([events.phi, np.nan_to_num(lepton[:, 2:3])], 1)
    mass = np.concatenate([events.mass, np.zeros((n, 1))], 1)
    mask = np.concatenate([events.mask, has_lep[:, None]], 1)
    btag = np.concatenate([events.btag, np.zeros((n, 1))], 1) * mask
    is_lep = np.zeros((n, j + 1))
    is_lep[:, j] = has_lep
    charge = np.zeros((n, j + 1))
    charge[:, j] = np.where(has_lep, -np.sign(np.nan_to_num(lepton[:, 3])), 0.0)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    x = np.stack([energy, pt, eta, phi, btag, is_lep, charge], -1) * mask[..., None]

    def inv_mass(sel: np.ndarray) -> np.ndarray:
        e, x_, y_, z_ = ((v * sel).sum(1) for v in (energy, px, py, pz))
        return np.sqrt(np.maximum(e**2 - x_**2 - y_**2 - z_**2, 0.0))

    met = events.met if events.met is not None else np.zeros((n, 2))
    jets = mask.copy()
    jets[:, j] = False
    ht = (pt * jets).sum(1)
    globals_ = np.stack([np.nan_to_num(met[:, 0]), np.nan_to_num(met[:, 1]), has_lep,
                         (btag > 0).sum(1), jets.sum(1), ht, ht + pt[:, j] * has_lep,
                         inv_mass(mask), np.zeros(n), inv_mass(btag > 0)], 1)
    return {"x": x.astype(np.float32), "x_mask": mask,
            "globals": globals_.astype(np.float32)}


def run_evenet(job: dict[str, Any]) -> dict[str, Any]:
    """evenet-lite on the labels of a classification fine-tuning (same subset, validation
    events, epochs and early stopping as our from-scratch network; one thread)."""
    import os
    import subprocess

    from aihep.io.assignment import JetEvents

    data = splits(job["events"], job["test"], job["cache"])
    fraction, seed = job["fraction"], job["seed"]
    parts = classification_labels(data, fraction, seed)
    train = _config(seed, job["epochs"], sum(len(e) for e, _ in parts)).train
    events = JetEvents.concatenate([e for e, _ in parts])
    labels = np.concatenate([np.full(len(e), int(label == LABELS["tth-bb"]))
                             for e, label in parts])
    order = np.random.default_rng(seed).permutation(len(labels))  # as train_event_model
    n_val = max(1, round(0.1 * len(labels)))
    test = JetEvents.concatenate([data["test"]["tth-bb"], data["test"]["ttbar"]])
    truth = np.r_[np.ones(len(data["test"]["tth-bb"])), np.zeros(len(data["test"]["ttbar"]))]
    objects_only = job.get("objects_only", False)
    out = (Path(job["cache"]) / f"evenet_{job['tag']}"
           / f"{fraction}_{seed}_{FINETUNE_MIN_STEPS}{'_objects' if objects_only else ''}")
    if not (out / "result.json").is_file():
        out.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for name, index in (("val", order[:n_val]), ("train", order[n_val:])):
            arrays |= {f"{name}_{k}": v for k, v in evenet_inputs(events.select(index)).items()}
            arrays[f"{name}_y"] = labels[index]
        arrays |= {f"test_{k}": v for k, v in evenet_inputs(test).items()}
        if objects_only:  # the ablation: no event-level features, only the objects
            arrays |= {k: np.zeros_like(v) for k, v in arrays.items() if k.endswith("_globals")}
        np.savez(out / "data.npz", **arrays)
        subprocess.run([str(evenet_python()), str(ROOT / "evenet_shim.py"),
                        str(out / "data.npz"), str(out), "--epochs", str(train.epochs),
                        "--patience", str(train.patience), "--batch", str(train.batch_size),
                        "--seed", str(seed), "--hidden", str(EVENET_SIZE["hidden"]),
                        "--layers", str(EVENET_SIZE["layers"])], check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True)
        (out / "data.npz").unlink()
    result = json.loads((out / "result.json").read_text())
    return {"task": "classification", "fraction": fraction, "pretrained": False,
            "model": EVENET_OBJECTS_ONLY if objects_only else "evenet-lite",
            "score": auc(np.load(out / "scores.npy"), truth),
            "seed": seed, "labelled_events": len(labels), **result}


def classification_labels(data: dict[str, Any], fraction: float, seed: int
                          ) -> list[tuple[Any, int]]:
    """The labelled events of a classification fine-tuning: equal numbers of ttH and
    all-hadronic ttbar (the ttbar pool is the smaller), a subset drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    tth, tt = data["tth_tune"], data["allhad_tune"]
    k = max(10, int(fraction * min(len(tth), len(tt))))
    return [(tth.select(np.sort(rng.choice(len(tth), k, False))), LABELS["tth-bb"]),
            (tt.select(np.sort(rng.choice(len(tt), k, False))), LABELS["ttbar"])]


def row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["task"], float(row["fraction"]), bool(row["pretrained"]), int(row["seed"]))


def print_table(rows: list[dict[str, Any]]) -> None:
    print("\n| task | fraction | pretrained | score (mean +- std) | seeds |")
    print("|---|---|---|---|---|")
    for task in ("assignment", "classification"):
        for fraction in (0.01, 0.1, 1.0):
            for flag in (True, False):
                s = [r["score"] for r in rows if r["task"] == task
                     and r["fraction"] == fraction and r["pretrained"] == flag]
                if s:
                    print(f"| {task} | {fraction} | {flag} | {np.mean(s):.3f} +- "
                          f"{np.std(s):.3f} | {len(s)} |")


def chosen_by_validation(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (task, fraction, seed), the recipe row with the lowest validation loss."""
    best: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        key = (r["task"], float(r["fraction"]), int(r["seed"]))
        if key not in best or r["val_loss"] < best[key]["val_loss"]:
            best[key] = r
    return list(best.values())


def print_recipes(rows: list[dict[str, Any]]) -> None:
    chosen = chosen_by_validation(rows)
    print("\n| task | fraction | " + " | ".join(f"lr {lr:g}" for lr in RECIPE_LEARNING_RATES)
          + " | chosen on validation |")
    print("|---|---|" + "---|" * (len(RECIPE_LEARNING_RATES) + 1))
    for task in ("assignment", "classification"):
        for fraction in RECIPE_FRACTIONS:
            cells = []
            for group in [[r for r in rows if r["learning_rate"] == lr]
                          for lr in RECIPE_LEARNING_RATES] + [chosen]:
                s = [r["score"] for r in group
                     if r["task"] == task and r["fraction"] == fraction]
                cells.append(f"{np.mean(s):.3f} +- {np.std(s):.3f} ({len(s)})" if s else "-")
            print(f"| {task} | {fraction} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="per process")
    parser.add_argument("--test", type=int, default=10_000, help="per process, held out")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="trainings side by side")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--parts", default="pretrain,multitask,finetune,recipes,evenet,summary",
                        help="pretrain (and its scores), multitask (multi- vs single-task), "
                        "finetune (label fractions; needs pretrain), recipes (the pretrained "
                        "fine-tunings at other learning rates, chosen by validation loss), "
                        "evenet (the evenet-lite classifier on the classification labels, in "
                        "its own venv), summary (ours from scratch with event-level "
                        "summaries on the classification labels)")
    parser.add_argument("--multitask-events", type=int, default=40_000,
                        help="labelled events of the multi- vs single-task networks (a random "
                        "share of every process)")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    parts_to_run = set(args.parts.split(","))
    if args.test * 4 > args.events:
        parser.error("--test must be at most a quarter of --events (training needs the rest)")
    commit = git_commit()
    setup = setup_of(args)
    # the tag names the data split, the pretrained run and the checkpoints; the fine-tuning
    # rule is kept out of it (a change there retrains the fine-tunings, not the pretraining)
    tag = hashlib.sha256(json.dumps(setup, sort_keys=True).encode()).hexdigest()[:12]
    setup["finetune_min_steps"] = FINETUNE_MIN_STEPS
    args.cache.mkdir(parents=True, exist_ok=True)
    # generation (resumable, ``--workers`` processes) before any training
    for p in LABELS:
        e = dataset(p, args.events, args.workers, args.cache)
        print(f"{p}: {len(e)} events", flush=True)
    old = json.loads(args.results.read_text()) if args.results.is_file() else {}
    same = old.get("finetune_setup") == setup
    rows = [r for r in old.get("finetune", []) if same]
    multitask = dict(old.get("multitask", {})) if same else {}
    evenet_rows = [r for r in old.get("evenet", []) if same]
    recipe_rows = [r for r in old.get("finetune_recipes", []) if same]
    summary_rows = [r for r in old.get("summary", []) if old.get("summary_setup") == setup]
    done = {row_key(r) for r in rows}
    common = {"events": args.events, "test": args.test, "epochs": args.epochs,
              "cache": str(args.cache), "tag": tag, "threads": 1,
              "multitask_events": args.multitask_events}

    def save() -> None:
        current = json.loads(args.results.read_text()) if args.results.is_file() else {}
        update: dict[str, Any] = {"benchmark": "event_model", "evenet_size": EVENET_SIZE}
        if parts_to_run - {"summary"}:  # these parts share one setup
            update |= {"finetune": rows, "finetune_setup": setup, "multitask": multitask,
                       "evenet": evenet_rows, "finetune_recipes": recipe_rows}
        if "summary" in parts_to_run:
            update |= {"summary": summary_rows, "summary_setup": setup}
        write_result(args.results, {**current, **update}, current.get("commit") or commit)

    pretrained_ready = ("pretrained_auc_tth_vs_ttbar" in multitask
                        and (args.cache / f"pretrained_{tag}" / "model.pt").is_file())
    queue: list[dict[str, Any]] = []
    if parts_to_run & {"pretrain", "finetune", "recipes"} and not pretrained_ready:
        queue.append({**common, "kind": "pretrain"})
    finetune = [{**common, "kind": "finetune", "task": task, "fraction": fraction,
                 "seed": seed, "pretrained": flag}
                for fraction in (0.01, 0.1, 1.0)
                for seed in range(1, (5 if fraction == 0.01 else args.seeds) + 1)
                for task in ("assignment", "classification") for flag in (True, False)]
    finetune = [j for j in finetune if "finetune" in parts_to_run and row_key(j) not in done]
    recipes_done = {(*row_key(r), r["learning_rate"]) for r in recipe_rows}
    finetune += [{**common, "kind": "finetune", "task": task, "fraction": fraction,
                  "seed": seed, "pretrained": True, "learning_rate": lr, "recipe": True}
                 for lr in RECIPE_LEARNING_RATES for fraction in RECIPE_FRACTIONS
                 for seed in range(1, (5 if fraction == 0.01 else args.seeds) + 1)
                 for task in ("assignment", "classification")
                 if "recipes" in parts_to_run
                 and (task, fraction, True, seed, lr) not in recipes_done]
    measured = {r["model"] for r in multitask.get("multi_vs_single", [])}
    later = [{**common, "kind": "multitask", "model": name} for name in VARIANTS
             if "multitask" in parts_to_run and name not in measured]
    evenet_done = {(r["model"], r["fraction"], r["seed"]) for r in evenet_rows}
    later += [{**common, "kind": "evenet", "fraction": fraction, "seed": seed,
               "objects_only": objects_only}
              for objects_only in (False, True) for fraction in (0.01, 0.1, 1.0)
              for seed in range(1, (5 if fraction == 0.01 else args.seeds) + 1)
              if "evenet" in parts_to_run and (
                  EVENET_OBJECTS_ONLY if objects_only else "evenet-lite", fraction, seed)
              not in evenet_done]
    summary_done = {row_key(r) for r in summary_rows}
    later += [{**common, "kind": "finetune", "task": "classification", "fraction": fraction,
               "seed": seed, "pretrained": False, "summary": True}
              for fraction in (0.01, 0.1, 1.0)
              for seed in range(1, (5 if fraction == 0.01 else args.seeds) + 1)
              if "summary" in parts_to_run
              and ("classification", fraction, False, seed) not in summary_done]
    if pretrained_ready:
        queue += finetune
        finetune = []
    queue += later
    print(f"{len(queue) + len(finetune)} trainings to run ({len(rows)} rows kept)", flush=True)
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as pool:
        running: dict[cf.Future, dict[str, Any]] = {}
        while queue or running:
            while queue and len(running) < args.workers:
                job = queue.pop(0)
                running[pool.submit(run_job, job)] = job
            finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                job = running.pop(future)
                result = future.result()
                if job["kind"] == "pretrain":
                    multitask.update({**result, "pretrain_commit": commit})
                    queue[:0] = finetune  # fine-tuning before the multi-task comparison
                    finetune = []
                elif job["kind"] == "evenet":
                    evenet_rows.append({**result, "commit": commit})
                elif job.get("summary"):
                    summary_rows.append({**result, "commit": commit})
                elif job.get("recipe"):
                    recipe_rows.append({**result, "commit": commit})
                elif job["kind"] == "multitask":
                    multitask["multi_vs_single"] = [
                        *[r for r in multitask.get("multi_vs_single", [])
                          if r["model"] != result["model"]], {**result, "commit": commit}]
                else:
                    rows.append({**result, "commit": commit})
                print({k: v for k, v in result.items() if not isinstance(v, list)},
                      flush=True)
                save()
    print_table(rows)
    if recipe_rows:
        print_recipes(recipe_rows)
    named = [(model, [r for r in evenet_rows if r["model"] == model])
             for model in ("evenet-lite", EVENET_OBJECTS_ONLY)]
    for model, group in [*named, ("ours scratch + summaries", summary_rows)]:
        for fraction in (0.01, 0.1, 1.0):
            s = [r["score"] for r in group if r["fraction"] == fraction]
            if s:
                print(f"| classification | {fraction} | {model} | {np.mean(s):.3f} +- "
                      f"{np.std(s):.3f} | {len(s)} |")


if __name__ == "__main__":
    main()
