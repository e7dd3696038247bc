"""Benchmark: jet taggers on one fixed generated JetClass-style dataset (and top vs QCD).

The dataset (Pythia 8 + FastJet, `aihep tag dataset`) is generated once into
.cache/benchmarks/tagging/<kind> and reused (regenerated when missing). A fixed 25% of the
jets (stratified, seed 1234) is the test set; every model trains on the rest (its own 20%
validation split) with each seed, and is evaluated on the test set: accuracy, macro AUC,
background rejections, training and inference speed. The table gives mean +- spread over
seeds.

Usage: python benchmarks/tagging.py [--kind jetclass|top|flavour|ee-origin]
       [--jets-per-class 10000] [--models bdt,pfn-lite,particlenet-lite,part-lite]
       [--features full,kinpid] [--seeds 1,2] [--epochs 20]
Writes benchmarks/results/tagging_<kind>.json (one row per model, feature set and seed;
re-running a subset replaces only its rows) and prints a Markdown table. Per kind:
jetclass/top rejections (1/eps_B at eps_S = 0.3 for top), flavour light and c rejections at
70% b efficiency, ee-origin b/c/s/u/d efficiency and charge-flip rate plus the confusion
matrix figure.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import write_result

ROOT = Path(__file__).resolve().parent
CACHE = ROOT.parent / ".cache" / "benchmarks" / "tagging"


def dataset(kind: str, jets_per_class: int, workers: int):
    from aihep.io.jets import load_jets
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


def kind_extras(kind: str, probs: np.ndarray, labels: np.ndarray,
                classes: tuple[str, ...]) -> dict[str, float]:
    """Benchmark-specific working points on top of :func:`tagger_metrics`."""
    from aihep.tagging.metrics import rejection

    if kind == "top":  # the Top Tagging landscape quotes 1/eps_B at eps_S = 0.3
        return {"rejection_at_30": rejection(probs, labels, 1, 0, 0.3).rejection}
    if kind == "flavour":  # GN2-style: light and c rejection at 70% b efficiency
        b, c, light = classes.index("b"), classes.index("c"), classes.index("light")
        return {"light_rejection_at_b70": rejection(probs, labels, b, light, 0.7).rejection,
                "c_rejection_at_b70": rejection(probs, labels, b, c, 0.7).rejection,
                "light_rejection_at_c50": rejection(probs, labels, c, light, 0.5).rejection}
    return {}


def train_and_test(args: argparse.Namespace, model: str, features: str, seed: int,
                   train_jets, test_jets) -> dict:
    """Train one (model, features, seed) on ``train_jets`` (or reuse its run) and test it."""
    from aihep.nn.train import TrainConfig
    from aihep.tagging.metrics import tagger_metrics
    from aihep.tagging.tagger import TaggerConfig, load_tagger, train_tagger

    run_dir = (CACHE / "runs" / f"{args.kind}_{args.jets_per_class}"
               / f"{model}_{features}_{seed}")
    config = TaggerConfig(model=model, feature_set=features, max_particles=args.max_particles,
                          seed=seed, train=TrainConfig(epochs=args.epochs,
                                                       batch_size=args.batch_size,
                                                       learning_rate=1e-3, weight_decay=0.01,
                                                       patience=5))
    run = train_tagger(train_jets, run_dir, config)
    start = time.perf_counter()
    probs = load_tagger(run_dir).predict_proba(test_jets)
    infer = len(test_jets) / (time.perf_counter() - start)
    metrics = tagger_metrics(probs, test_jets.labels, test_jets.classes)
    if args.kind == "ee-origin" and seed == min(int(s) for s in args.seeds.split(",")):
        from aihep.report.tagging import confusion_figure

        figure = ROOT / "results" / f"tagging_ee-origin_confusion_{model}_{features}.png"
        confusion_figure(metrics.confusion, test_jets.classes).savefig(
            figure, dpi=90, bbox_inches="tight")
    print(json.dumps({"model": model, "features": features, "seed": seed,
                      "accuracy": metrics.accuracy, "macro_auc": metrics.macro_auc,
                      "train_min": run.train_seconds / 60}), flush=True)
    return {"model": model, "features": features, "seed": seed, "test": metrics.to_dict(),
            **kind_extras(args.kind, probs, test_jets.labels, test_jets.classes),
            "best_epoch": run.best_epoch, "train_seconds": run.train_seconds,
            "train_jets_per_second": run.train_jets_per_second,
            "inference_jets_per_second": infer}


def spread(values: list[float], fmt: str = ".4f") -> str:
    """mean +- standard deviation over seeds (the value alone for one seed)."""
    return (f"{np.mean(values):{fmt}} +- {np.std(values):{fmt}}" if len(values) > 1
            else f"{values[0]:{fmt}}")


def table(kind: str, rows: list[dict], classes: list[str]) -> str:
    """The Markdown table of a benchmark's rows (one line per model and feature set)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["features"]), []).append(row)
    if kind == "ee-origin":
        flavours = [c for c in classes if f"{c}bar" in classes]
        head = ["model", "features", "accuracy"] + [
            f"{q} eff / charge flip" for q in flavours]
    elif kind == "flavour":
        head = ["model", "features", "accuracy", "macro AUC", "light rej. at eps_b 70%",
                "c rej. at eps_b 70%", "light rej. at eps_c 50%"]
    else:
        signal = [c for c in classes if c != "QCD"]
        head = ["model", "features", "accuracy", "macro AUC"] + [f"Rej {c}" for c in signal]
        head += ["1/eps_B at 0.3"] if kind == "top" else []
    head += ["train jets/s", "infer jets/s"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for (model, features), mine in groups.items():
        cells = [model, features, spread([r["test"]["accuracy"] for r in mine])]
        if kind == "ee-origin":
            for q in flavours:
                eff = spread([r["test"]["jet_origin"][q]["efficiency"] for r in mine], ".3f")
                flip = spread([r["test"]["jet_origin"][q]["charge_flip"] for r in mine], ".3f")
                cells.append(f"{eff} / {flip}")
        elif kind == "flavour":
            cells.append(spread([r["test"]["macro_auc"] for r in mine]))
            for key in ("light_rejection_at_b70", "c_rejection_at_b70",
                        "light_rejection_at_c50"):
                cells.append(spread([r[key] for r in mine], ".1f"))
        else:
            cells.append(spread([r["test"]["macro_auc"] for r in mine]))
            for c in signal:
                cells.append(spread([next(x["rejection"] for x in r["test"]["rejections"]
                                          if x["signal"] == c) for r in mine], ".0f"))
            if kind == "top":
                cells.append(spread([r["rejection_at_30"] for r in mine], ".0f"))
        cells.append(f"{np.mean([r['train_jets_per_second'] for r in mine]):.0f}")
        cells.append(f"{np.mean([r['inference_jets_per_second'] for r in mine]):.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="jetclass",
                        choices=["jetclass", "top", "flavour", "ee-origin"])
    parser.add_argument("--jets-per-class", type=int, default=10_000)
    parser.add_argument("--models", default="bdt,pfn-lite,particlenet-lite,part-lite")
    parser.add_argument("--features", default="full",
                        help="comma-separated feature sets (kin, kinpid, full, full_hid)")
    parser.add_argument("--max-particles", type=int, default=64)
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", default=None,
                        help="results JSON (default benchmarks/results/tagging_<kind>.json); "
                             "rows of other models/features already in it are kept")
    args = parser.parse_args()
    import torch

    from aihep.tagging.tagger import split_indices

    torch.set_num_threads(args.workers)
    jets = dataset(args.kind, args.jets_per_class, args.workers)
    train_idx, test_idx = split_indices(jets.labels, 0.25, 1234)
    train_jets, test_jets = jets.take(train_idx), jets.take(test_idx)
    print(f"{len(train_jets)} training and {len(test_jets)} test jets, classes "
          f"{', '.join(jets.classes)}", flush=True)
    (ROOT / "results").mkdir(exist_ok=True)
    path = Path(args.output) if args.output else ROOT / "results" / f"tagging_{args.kind}.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    rows = list(old.get("runs", [])) if old.get("n_test") == len(test_jets) else []
    for features in args.features.split(","):
        for model in args.models.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                row = train_and_test(args, model, features, seed, train_jets, test_jets)
                rows = [r for r in rows if (r["model"], r.get("features", "full"), r["seed"])
                        != (model, features, seed)] + [row]
                out = {"benchmark": "tagging", "kind": args.kind,
                       "jets_per_class": args.jets_per_class,
                       "max_particles": args.max_particles, "epochs": args.epochs,
                       "n_train": len(train_jets), "n_test": len(test_jets),
                       "classes": list(jets.classes), "runs": rows}
                write_result(path, out)
    for row in rows:
        row.setdefault("features", "full")
    print("\n" + table(args.kind, rows, list(jets.classes)))


if __name__ == "__main__":
    main()
