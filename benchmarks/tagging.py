"""Benchmark: jet taggers on one fixed generated JetClass-style dataset (and top vs QCD).

The dataset (Pythia 8 + FastJet, `aihep tag dataset`) is generated once into
.cache/benchmarks/tagging/<kind> and reused (regenerated when missing). A fixed 25% of the
jets (stratified, seed 1234) is the test set; every model trains on the rest (its own 20%
validation split) with each seed, and is evaluated on the test set: accuracy, macro AUC,
background rejections, training and inference speed. The table gives mean +- spread over
seeds.

Usage: python benchmarks/tagging.py [--kind jetclass|top] [--jets-per-class 10000]
       [--models bdt,pfn-lite,particlenet-lite,part-lite] [--seeds 1,2] [--epochs 20]
Writes benchmarks/results/tagging_<kind>.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
CACHE = ROOT.parent / ".cache" / "benchmarks" / "tagging"


def dataset(kind: str, jets_per_class: int, workers: int):
    from aihep.tagging.data import load_jets
    from aihep.tagging.generate import TagDatasetConfig, build_tag_dataset

    out = CACHE / f"{kind}_{jets_per_class}"
    if (out / "jets.parquet").is_file():
        return load_jets(out / "jets.parquet")
    config = TagDatasetConfig(kind=kind, jets_per_class=jets_per_class, seed=2026)
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"  dataset: {done}/{total} jets in the smallest class, "
              f"{(time.perf_counter() - start) / 60:.1f} min", flush=True)

    return build_tag_dataset(config, out, workers, progress)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="jetclass")
    parser.add_argument("--jets-per-class", type=int, default=10_000)
    parser.add_argument("--models", default="bdt,pfn-lite,particlenet-lite,part-lite")
    parser.add_argument("--features", default="full")
    parser.add_argument("--max-particles", type=int, default=64)
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import torch

    from aihep.nn.train import TrainConfig
    from aihep.tagging.tagger import TaggerConfig, load_tagger, split_indices, train_tagger

    torch.set_num_threads(args.workers)
    jets = dataset(args.kind, args.jets_per_class, args.workers)
    train_idx, test_idx = split_indices(jets.labels, 0.25, 1234)
    train_jets, test_jets = jets.take(train_idx), jets.take(test_idx)
    print(f"{len(train_jets)} training and {len(test_jets)} test jets, classes "
          f"{', '.join(jets.classes)}", flush=True)
    from aihep.tagging.metrics import rejection, tagger_metrics

    rows = []
    for model in args.models.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            run_dir = CACHE / "runs" / f"{args.kind}_{args.jets_per_class}" / f"{model}_{seed}"
            config = TaggerConfig(model=model, feature_set=args.features,
                                  max_particles=args.max_particles, seed=seed,
                                  train=TrainConfig(epochs=args.epochs,
                                                    batch_size=args.batch_size,
                                                    learning_rate=1e-3, weight_decay=0.01,
                                                    patience=5))
            run = train_tagger(train_jets, run_dir, config)
            start = time.perf_counter()
            probs = load_tagger(run_dir).predict_proba(test_jets)
            infer = len(test_jets) / (time.perf_counter() - start)
            metrics = tagger_metrics(probs, test_jets.labels, test_jets.classes)
            extra = {}
            if args.kind == "top":  # the Top Tagging landscape quotes 1/eps_B at eps_S = 0.3
                extra["rejection_at_30"] = rejection(probs, test_jets.labels, 1, 0, 0.3).rejection
            row = {"model": model, "seed": seed, "test": metrics.to_dict(), **extra,
                   "best_epoch": run.best_epoch, "train_seconds": run.train_seconds,
                   "train_jets_per_second": run.train_jets_per_second,
                   "inference_jets_per_second": infer}
            rows.append(row)
            print(json.dumps({"model": model, "seed": seed, "accuracy": metrics.accuracy,
                              "macro_auc": metrics.macro_auc,
                              "train_min": run.train_seconds / 60}), flush=True)
    out = {"benchmark": "tagging", "kind": args.kind, "jets_per_class": args.jets_per_class,
           "features": args.features, "max_particles": args.max_particles,
           "epochs": args.epochs, "n_train": len(train_jets), "n_test": len(test_jets),
           "classes": list(jets.classes), "runs": rows}
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / f"tagging_{args.kind}.json").write_text(
        json.dumps(out, indent=2, default=float) + "\n")
    signal = [c for c in jets.classes if c not in ("QCD",)]
    top = args.kind == "top"
    print(f"\n| model | accuracy | macro AUC | {' | '.join(f'Rej {c}' for c in signal)} | "
          f"{'1/eps_B at 0.3 | ' if top else ''}train jets/s | infer jets/s |")
    print("|---" * (5 + len(signal) + top) + "|")
    for model in args.models.split(","):
        mine = [r for r in rows if r["model"] == model]

        def spread(values: list[float], fmt: str = ".4f") -> str:
            return (f"{np.mean(values):{fmt}} +- {np.std(values):{fmt}}" if len(values) > 1
                    else f"{values[0]:{fmt}}")

        rej = []
        for c in signal:
            vals = [next(x["rejection"] for x in r["test"]["rejections"] if x["signal"] == c)
                    for r in mine]
            rej.append(spread(vals, ".0f"))
        at30 = f"{spread([r['rejection_at_30'] for r in mine], '.0f')} | " if top else ""
        print(f"| {model} | {spread([r['test']['accuracy'] for r in mine])} | "
              f"{spread([r['test']['macro_auc'] for r in mine])} | {' | '.join(rej)} | {at30}"
              f"{np.mean([r['train_jets_per_second'] for r in mine]):.0f} | "
              f"{np.mean([r['inference_jets_per_second'] for r in mine]):.0f} |")


if __name__ == "__main__":
    main()
