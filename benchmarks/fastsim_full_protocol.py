"""Benchmark: the CaloChallenge classifier test under its full protocol, once, for one model.

The rows of `benchmarks/fastsim.py` use a reduced protocol (20k + 20k showers per side, <= 30
epochs, early stopping after 5). The challenge trains its classifier (2 x 2048, LeakyReLU,
Adam 2e-4) for 50 epochs on 60k / 20k / 20k showers per side and keeps the best validation
epoch. This script runs that once for the given model of `benchmarks/fastsim.py` (its cached,
trained run; default: the dataset-2 flow matching with the quantile calibration in 64 bins,
the layer energies' too, sampled with 8 steps) against a fresh held-out reference set (seed
14, 100k showers, made in resumable chunks), low and high level. Inputs stay standardized
as in the reduced protocol (the challenge feeds them raw). Each classifier checkpoints every
epoch under .cache/benchmarks/fastsim/<layout>/full_protocol/: a killed run resumes when
re-run.

Usage: python benchmarks/fastsim_full_protocol.py [--layout ds2] [--model flow-matching+q64L@8]
       [--n 100000] [--epochs 50] [--workers 2] [--generate-only]
Writes benchmarks/results/fastsim_full_protocol.json (one row per (layout, model)).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from common import ROOT, git_commit, utc_now, write_result

from fastsim import (
    CACHE,
    SIZES,
    base_kind,
    calibrated_surrogate,
    parse_model,
    reference_set,
    surrogate_dir,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", default="ds2")
    parser.add_argument("--model", default="flow-matching+q64L@8",
                        help="KIND[-lg][+qBINS[L]][@STEPS], trained by benchmarks/fastsim.py first")
    parser.add_argument("--train", type=int, default=50_000,
                        help="the model's training-set size (its cached run)")
    parser.add_argument("--train-epochs", type=int, default=100,
                        help="the model's --epochs in benchmarks/fastsim.py (its cached run)")
    parser.add_argument("--n", type=int, default=100_000, help="showers per side")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--generate-only", action="store_true",
                        help="only make (or complete) the held-out reference set")
    args = parser.parse_args()
    parsed = parse_model(args.model)
    if parsed is None or base_kind(parsed[0]) not in SIZES:
        parser.error(f"--model: KIND[-lg][+qBINS[L]][@STEPS] with KIND vae, flow-matching or "
                     f"caloflow and positive integers, not {args.model!r}")
    kind, bins, layers, steps = parsed
    commit = git_commit()
    import torch
    from threadpoolctl import threadpool_limits

    from aihep.fastsim.metrics import (
        ClassifierTestConfig,
        classifier_test,
        high_level_features,
        high_level_matrix,
        low_level_matrix,
    )
    from aihep.fastsim.surrogates import load_surrogate
    from aihep.nn.train import TrainConfig

    torch.set_num_threads(args.workers)
    threadpool_limits(args.workers)
    run = surrogate_dir(kind, argparse.Namespace(layout=args.layout, train=args.train,
                                                 epochs=args.train_epochs))
    if not args.generate_only and not (run / "surrogate.pt").is_file():
        message = f"{args.model}: no trained run {run}; train it with benchmarks/fastsim.py"
        raise SystemExit(message)  # before hours of reference showers are made
    reference = reference_set(args.layout, args.n, 14, args.workers)
    if args.generate_only:
        return
    if bins:
        train = reference_set(args.layout, args.train, 11, args.workers).read()
        run = calibrated_surrogate(run, bins, train, steps, layers)
        del train
    surrogate = load_surrogate(run, steps)
    ref = reference.read()
    layout = surrogate.layout
    start = time.perf_counter()
    generated = surrogate.generate(ref.incident_mev, seed=7)
    generate_minutes = (time.perf_counter() - start) / 60
    config = ClassifierTestConfig(train=TrainConfig(
        epochs=args.epochs, batch_size=1000, learning_rate=2e-4, patience=args.epochs,
        cosine_schedule=False))
    work = CACHE / args.layout / "full_protocol"
    work.mkdir(parents=True, exist_ok=True)
    tag = f"{args.model}_{args.n}_{args.epochs}".replace("@", "_s")
    threshold = layout.threshold_mev
    matrices = {"high": (  # the high level first: the voxels are dropped before the low level
        high_level_matrix(high_level_features(ref.showers_mev, layout, threshold),
                          ref.incident_mev),
        high_level_matrix(high_level_features(generated, layout, threshold),
                          ref.incident_mev))}
    results = {}
    for level in ("high", "low"):
        start = time.perf_counter()
        if level == "low":  # float32 (the classifier's dtype): 100k x 6481 is 2.6 GB a side
            a = low_level_matrix(ref.showers_mev, ref.incident_mev).astype(np.float32)
            b = low_level_matrix(generated, ref.incident_mev).astype(np.float32)
            del ref, generated
        else:
            a, b = matrices.pop("high")
        result = classifier_test(a, b, config, checkpoint=work / f"{tag}_{level}.ckpt")
        del a, b
        results[level] = {**result.to_dict(),
                          "minutes_this_session": (time.perf_counter() - start) / 60}
        print(json.dumps({"level": level, **results[level]}), flush=True)
    row = {"layout": args.layout, "model": args.model, "n_per_side": args.n,
           "split": list(config.split), "epochs": args.epochs, "standardized": True,
           "auc_low": results["low"]["auc"], "auc_low_ci": results["low"]["auc_ci"],
           "jsd_low": results["low"]["jsd"], "auc_high": results["high"]["auc"],
           "auc_high_ci": results["high"]["auc_ci"], "jsd_high": results["high"]["jsd"],
           "best_epoch_low": results["low"]["best_epoch"],
           "best_epoch_high": results["high"]["best_epoch"],
           "generate_minutes": generate_minutes, "commit": commit}
    path = ROOT / "results" / "fastsim_full_protocol.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    rows = [r for r in old.get("rows", []) if (r["layout"], r["model"]) != (
        args.layout, args.model)] + [row]
    write_result(path, {"benchmark": "fastsim_full_protocol", "date": utc_now(),
                        "rows": rows}, commit)
    print(f"\n| model | layout | showers per side | AUC low (68%) | AUC high (68%) |\n"
          f"|---|---|---|---|---|\n| {args.model} | {args.layout} | {args.n} | "
          f"{row['auc_low']:.3f} ({row['auc_low_ci'][0]:.3f}-{row['auc_low_ci'][1]:.3f}) | "
          f"{row['auc_high']:.3f} ({row['auc_high_ci'][0]:.3f}-{row['auc_high_ci'][1]:.3f}) |")


if __name__ == "__main__":
    main()
