"""Benchmark: does pretraining one event transformer save labels? (EveNet-style, CPU scale)

Data (cached under .cache/benchmarks/event_model/, resumable): semi-leptonic ttbar, ttH(bb)
and QCD multijet with their labels, and all-hadronic ttbar, all from the event factory with
the objects and b-tag of the assignment benchmark. Pretraining (events disjoint from
fine-tuning: ttH and all-hadronic ttbar are split in halves, one for pretraining, one for
fine-tuning): process classification of semi-leptonic ttbar / ttH / QCD, their regression
and segmentation targets, and masked-object reconstruction on every process including
all-hadronic ttbar, whose assignment labels are never used. Fine-tuning on
(a) all-hadronic assignment and (b) ttH against all-hadronic ttbar classification, with 1%,
10% and 100% of the labels (the 1% point with 5 seeds and different label subsets, the
others with 3), each against the same network trained from scratch on the same labels.
Scores on fixed test sets: the 6-jet matched event efficiency, the classification AUC.
``multitask``: the pretrained body's AUCs (ttH vs ttbar, ttbar vs QCD), regression
resolutions, training and inference events/s; and ``multi_vs_single``: one network trained
on every labelled task (classification, all-hadronic assignment, regression, segmentation)
next to networks of the same size trained on one task each, on the same events.

Usage: python benchmarks/event_model.py [--events 50000] [--epochs 20] [--workers 2]
       [--parts pretrain,multitask,finetune]
Writes the ``finetune`` and ``multitask`` parts of benchmarks/results/event_model.json.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from common import ROOT, git_commit, write_result

from aihep.eventmodel.run import PROCESS_LABELS as LABELS

CACHE = ROOT.parent / ".cache" / "benchmarks" / "event_model"
RESULTS = ROOT / "results" / "event_model.json"


def dataset(process: str, n: int, workers: int):
    from aihep.assign.data import AssignmentDataConfig, build_assignment_dataset

    return build_assignment_dataset(AssignmentDataConfig(process=process, n_events=n,
                                                         seed=7 + LABELS[process]),
                                    CACHE / process, workers).read()


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(positive, scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="per process")
    parser.add_argument("--test", type=int, default=10_000, help="per process, held out")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--parts", default="pretrain,multitask,finetune",
                        help="pretrain (and its scores), multitask (multi- vs single-task), "
                        "finetune (label fractions); finetune needs pretrain")
    args = parser.parse_args()
    parts_to_run = set(args.parts.split(","))
    commit = git_commit()
    import torch

    from aihep.eventmodel.model import EventModelConfig
    from aihep.eventmodel.run import EventTrainConfig, evaluate_event_model, train_event_model
    from aihep.nn.train import TrainConfig

    torch.set_num_threads(args.workers)
    data = {p: dataset(p, args.events, args.workers) for p in LABELS}
    n_test = args.test
    half = (args.events - n_test) // 2
    test = {p: e.select(np.arange(len(e) - n_test, len(e))) for p, e in data.items()}
    # disjoint events: ttH and all-hadronic ttbar are split in a pretraining half and a
    # fine-tuning half (the fine-tuning classes must not have been seen with labels)
    pretrain_parts = [(data[p].select(np.arange(len(data[p]) - n_test)), LABELS[p])
                      for p in ("ttbar-semileptonic", "qcd-multijet")]
    pretrain_parts.append((data["tth-bb"].select(np.arange(half)), LABELS["tth-bb"]))
    allhad_pre = data["ttbar"].select(np.arange(half))
    allhad_tune = data["ttbar"].select(np.arange(half, len(data["ttbar"]) - n_test))
    tth_tune = data["tth-bb"].select(np.arange(half, len(data["tth-bb"]) - n_test))

    def config(seed: int) -> EventTrainConfig:
        return EventTrainConfig(model=EventModelConfig(seed=seed), train=TrainConfig(
            epochs=args.epochs, batch_size=256, learning_rate=1e-3, patience=5, seed=seed))

    rows, multitask = [], {}
    # checkpoints belong to one code version and size: another commit trains afresh
    tag = f"{commit}_{args.events}_{args.epochs}"

    def save() -> None:
        old = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
        write_result(RESULTS, {**old, "benchmark": "event_model",
                               "finetune": rows or old.get("finetune", []),
                               "event_model_commit": commit,
                               "multitask": {**old.get("multitask", {}), **multitask}}, commit)

    pretrained = None
    if parts_to_run & {"pretrain", "finetune"}:
        start = time.perf_counter()
        pretrained, history = train_event_model(
            [*pretrain_parts, (allhad_pre, None)], config(1),
            tasks=("classification", "regression", "segmentation", "reconstruction"),
            checkpoint=CACHE / f"pretrain_{tag}.ckpt")
        pretrain_seconds = time.perf_counter() - start
        torch.save(pretrained.state_dict(), CACHE / "pretrained.pt")
        start = time.perf_counter()
        scores = {p: evaluate_event_model(pretrained, test[p], LABELS[p]) for p in test}
        infer_seconds = time.perf_counter() - start
        probs = {p: s["probabilities"] for p, s in scores.items()}
        n_pre = sum(len(e) for e, _ in pretrain_parts) + len(allhad_pre)
        multitask.update({
            "pretrained_auc_tth_vs_ttbar": auc(
                np.concatenate([probs["tth-bb"][:, 1], probs["ttbar"][:, 1]]),
                np.r_[np.ones(n_test), np.zeros(n_test)]),
            "pretrained_auc_ttbar_vs_qcd": auc(
                np.concatenate([1 - probs["ttbar"][:, 3], 1 - probs["qcd-multijet"][:, 3]]),
                np.r_[np.ones(n_test), np.zeros(n_test)]),
            "pretrained_regression_resolution_gev":
                scores["ttbar-semileptonic"]["regression_resolution_gev"],
            "pretrain_events": n_pre, "pretrain_minutes": pretrain_seconds / 60,
            "pretrain_epoch_seconds": history.epoch_seconds,
            "train_events_per_second": 0.9 * n_pre * len(history.train_loss)
            / pretrain_seconds,
            "inference_events_per_second": 4 * n_test / infer_seconds})
    save()
    if "multitask" in parts_to_run:
        # one network on every labelled task against networks of the same size trained on
        # one task each, on the same labelled events (no pretraining involved)
        labelled = [*pretrain_parts, (allhad_tune, LABELS["ttbar"])]
        n_labelled = sum(len(e) for e, _ in labelled)
        variants = {"multi-task": ("classification", "assignment", "regression",
                                   "segmentation"),
                    "classification only": ("classification",),
                    "assignment only": ("assignment",), "regression only": ("regression",),
                    "segmentation only": ("segmentation",)}
        rows_mt = []
        for name, tasks in variants.items():
            t0 = time.perf_counter()
            model, hist = train_event_model(labelled, config(1), tasks=tasks,
                                            checkpoint=CACHE / f"mt_{tasks[0]}_{len(tasks)}_{tag}"
                                            ".ckpt")
            train_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            sc = {p: evaluate_event_model(model, test[p], LABELS[p]) for p in test}
            infer_s = time.perf_counter() - t0
            row = {"model": name, "tasks": list(tasks), "minutes": train_s / 60,
                   "train_events_per_second": 0.9 * n_labelled * len(hist.train_loss) / train_s,
                   "inference_events_per_second": 4 * n_test / infer_s}
            pr = {p: v["probabilities"] for p, v in sc.items()}
            if "classification" in tasks:
                row["auc_tth_vs_ttbar"] = auc(
                    np.concatenate([pr["tth-bb"][:, 1], pr["ttbar"][:, 1]]),
                    np.r_[np.ones(n_test), np.zeros(n_test)])
                row["auc_ttbar_vs_qcd"] = auc(
                    np.concatenate([1 - pr["ttbar"][:, 3], 1 - pr["qcd-multijet"][:, 3]]),
                    np.r_[np.ones(n_test), np.zeros(n_test)])
            if "assignment" in tasks:
                a = next(r for r in sc["ttbar"]["assignment"]
                         if r["njets"] == "6" and r["subset"] == "matched")
                row["assignment_efficiency_6jet"] = a["event_efficiency"]
                row["assignment_efficiency_6jet_error"] = a["event_efficiency_error"]
            if "regression" in tasks:
                row["regression_resolution_gev"] = sc["ttbar-semileptonic"][
                    "regression_resolution_gev"]
            if "segmentation" in tasks:
                row["segmentation_accuracy"] = float(np.mean(
                    [sc[p]["segmentation_accuracy"] for p in ("ttbar", "tth-bb")]))
            rows_mt.append(row)
            print(row, flush=True)
            multitask["multi_vs_single"] = rows_mt
            save()
    if "finetune" not in parts_to_run:
        return
    for fraction in (0.01, 0.1, 1.0):
        seeds = 5 if fraction == 0.01 else args.seeds
        for seed in range(1, seeds + 1):
            rng = np.random.default_rng(seed)
            for task in ("assignment", "classification"):
                if task == "assignment":
                    pool = allhad_tune
                    pick = rng.choice(len(pool), max(10, int(fraction * len(pool))), False)
                    parts = [(pool.select(np.sort(pick)), None)]
                    tasks = ("assignment",)
                else:
                    # equal numbers of ttH and ttbar labels (the ttbar pool is the smaller)
                    k = max(10, int(fraction * min(len(tth_tune), len(allhad_tune))))
                    parts = [(tth_tune.select(np.sort(rng.choice(len(tth_tune), k, False))),
                              LABELS["tth-bb"]),
                             (allhad_tune.select(np.sort(rng.choice(len(allhad_tune), k,
                                                                    False))),
                              LABELS["ttbar"])]
                    tasks = ("classification",)
                for pretrained_flag in (True, False):
                    t0 = time.perf_counter()
                    model, _ = train_event_model(
                        parts, config(seed), tasks=tasks,
                        init=pretrained.state_dict() if pretrained_flag else None)
                    if task == "assignment":
                        result = evaluate_event_model(model, test["ttbar"], LABELS["ttbar"])
                        row = next(r for r in result["assignment"]
                                   if r["njets"] == "6" and r["subset"] == "matched")
                        score, error = row["event_efficiency"], row["event_efficiency_error"]
                    else:
                        a = evaluate_event_model(model, test["tth-bb"], LABELS["tth-bb"])
                        b = evaluate_event_model(model, test["ttbar"], LABELS["ttbar"])
                        s = np.concatenate([a["probabilities"][:, 1],
                                            b["probabilities"][:, 1]])
                        score = auc(s, np.r_[np.ones(n_test), np.zeros(n_test)])
                        error = float("nan")
                    rows.append({"task": task, "fraction": fraction,
                                 "pretrained": pretrained_flag, "score": score,
                                 "score_error": error, "seed": seed,
                                 "minutes": (time.perf_counter() - t0) / 60})
                    print(rows[-1], flush=True)
                    save()
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


if __name__ == "__main__":
    main()
