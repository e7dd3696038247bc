"""Ablation: which flow-matching shape model gets dataset 2's lateral shape right?

On the dataset-2 layout the surrogates are too compact (too little energy beyond the second
radial ring, too few hits; benchmarks/README.md). This script trains small two-stage
flow-matching models that differ in one choice (the velocity field: a residual MLP over all
6480 voxels, or a transformer with the 45 layers as tokens; the empty-voxel gap) on the same
reference showers (cascade MC, training seed 11, held-out seed 12; cached as in
benchmarks/fastsim.py) and compares, on held-out showers:

* the high-level classifier AUC (the challenge's network, the benchmark's reduced protocol),
  FPD and KPD;
* energy fractions in radial rings 1-4 and 9, hits per shower, the 10% quantile of hit
  energies (the defects seen at full size), GFlash's for reference.

Small on purpose (default 15k training showers, 12 epochs): it ranks choices, it does not
replace the full-size rows of benchmarks/fastsim.py.

Usage: python benchmarks/fastsim_ablation.py [--train 15000] [--test 5000] [--epochs 12]
       [--variants mlp,layer-transformer,mlp@128,mlp-gap2+q8] [--workers 2]
(NAME@STEPS: the trained NAME sampled with STEPS midpoint steps instead of 32; NAME+qBINS:
the trained NAME with the quantile calibration fitted on the training showers in BINS bins of
E_inc, aihep.fastsim.surrogates.calibrate; NAME+qBINSL: the layer energies mapped too.)
Rows also hold the mean separation power of the layer-energy histograms and the largest
difference from the reference in the fraction of showers with a layer empty (points).
Writes benchmarks/results/fastsim_ablation.json (rows of other variants are kept, each with
the commit that made it).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from common import ROOT, git_commit, utc_now, write_result

from fastsim import CACHE, parse_model, reference_set

# name -> (SurrogateConfig updates): flow matching, two-stage, 32 midpoint steps
VARIANTS = {
    "mlp": {"velocity_net": "mlp", "hidden": (512, 512, 512)},
    "layer-transformer": {"velocity_net": "layer-transformer", "hidden": (128,) * 4,
                          "heads": 4},
    "layer-transformer-gap2": {"velocity_net": "layer-transformer", "hidden": (128,) * 4,
                               "heads": 4, "gap_decades": 2.0},
    "mlp-gap2": {"velocity_net": "mlp", "hidden": (512, 512, 512), "gap_decades": 2.0},
    "mlp-gap2-voxelhead": {"velocity_net": "mlp", "hidden": (512, 512, 512),
                           "gap_decades": 2.0, "voxel_head": 16},
    "mlp-voxelhead": {"velocity_net": "mlp", "hidden": (512, 512, 512), "voxel_head": 16},
    "mlp-global": {"velocity_net": "mlp", "hidden": (512, 512, 512), "shape_scale": "global"},
    "mlp-global-gap2": {"velocity_net": "mlp", "hidden": (512, 512, 512),
                        "shape_scale": "global", "gap_decades": 2.0},
    "mlp-layergap": {"velocity_net": "mlp", "hidden": (512, 512, 512), "layer_gap": True},
}


def shape_summary(showers: np.ndarray, layout, threshold: float) -> dict:
    """Radial energy fractions (%, rings 1-4 and the last), hits per shower, the 10%
    quantile of hit energies (MeV) and the empty layers (per shower, and % per layer)."""
    per = showers.reshape(len(showers), layout.n_layers, layout.n_alpha, -1)
    rings = per.sum((1, 2))
    fraction = 100 * rings.sum(0) / rings.sum()
    hits = showers[showers > threshold]
    empty = ~(per > threshold).any((2, 3))
    return {"ring_pct": [float(v) for v in (*fraction[:4], fraction[-1])],
            "hits_per_shower": float((showers > threshold).sum(1).mean()),
            "hit_q10_mev": float(np.quantile(hits, 0.1)) if len(hits) else 0.0,
            "empty_layers_per_shower": float(empty.sum(1).mean()),
            "empty_layer_pct": [float(v) for v in 100 * empty.mean(0)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=15_000)
    parser.add_argument("--test", type=int, default=5_000)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--variants", default="mlp,layer-transformer")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    parsed = {v: parse_model(v) for v in args.variants.split(",") if v != "gflash"}
    unknown = sorted(v for v, p in parsed.items() if p is None or p[0] not in VARIANTS)
    if unknown:
        parser.error(f"--variants: unknown {unknown}; known: gflash, NAME[+qBINS[L]][@STEPS] "
                     f"with NAME one of {', '.join(VARIANTS)}")
    import torch
    from threadpoolctl import threadpool_limits

    from aihep.fastsim.evaluate import EvaluationConfig
    from aihep.fastsim.geometry import preset
    from aihep.fastsim.gflash import GFlash, tune
    from aihep.fastsim.metrics import (
        ClassifierTestConfig,
        classifier_test,
        feature_separations,
        fpd,
        high_level_features,
        high_level_matrix,
        kpd,
    )
    from aihep.fastsim.surrogates import (
        REPRESENTATION,
        SurrogateConfig,
        calibrate,
        load_surrogate,
        train_surrogate,
    )
    from aihep.nn.train import TrainConfig

    torch.set_num_threads(args.workers)
    threadpool_limits(args.workers)
    commit = git_commit()
    layout = preset("ds2")
    train = reference_set("ds2", args.train, 11, args.workers).read()
    test = reference_set("ds2", args.test, 12, args.workers).read()
    threshold = layout.threshold_mev
    ref_f = high_level_features(test.showers_mev, layout, threshold)
    ref_h = high_level_matrix(ref_f, test.incident_mev)
    evaluation = EvaluationConfig(fpd_min_samples=min(2000, args.test // 2),
                                  kpd_batch_size=min(2000, args.test))
    path = ROOT / "results" / "fastsim_ablation.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    rows = {r["variant"]: {"commit": old["commit"], **r} for r in old.get("rows", [])
            if (r["n_train"], r["epochs"]) == (args.train, args.epochs)}  # rows keep their commit
    rows["reference"] = {"variant": "reference", "n_train": args.train,
                         "epochs": args.epochs,
                         **shape_summary(test.showers_mev, layout, threshold)}
    print(json.dumps(rows["reference"]), flush=True)
    for variant in args.variants.split(","):
        start = time.perf_counter()
        if variant == "gflash":
            model = GFlash(layout, tune(train.showers_mev, train.incident_mev, layout))
            minutes = (time.perf_counter() - start) / 60
            generated = model.generate(test.incident_mev, seed=5)
        else:
            # "mlp@128": the trained "mlp" sampled with 128 midpoint steps instead of 32;
            # "mlp+q8": the trained "mlp" with the quantile calibration in 8 bins of E_inc
            name, bins, layers, steps = parsed[variant]
            run = CACHE / "ds2" / "ablation" / (f"{name}_{args.train}_{args.epochs}"
                                                f"_r{REPRESENTATION}")
            if not (run / "surrogate.pt").is_file():
                config = SurrogateConfig(kind="flow-matching", **VARIANTS[name],
                                         train=TrainConfig(epochs=args.epochs, batch_size=256,
                                                           learning_rate=1e-3, patience=10))
                surrogate = train_surrogate(train.showers_mev, train.incident_mev, layout,
                                            config, checkpoint=run.with_suffix(".ckpt"))
                surrogate.save(run)
                (run / "train_minutes.json").write_text(json.dumps(
                    (time.perf_counter() - start) / 60))
            minutes = json.loads((run / "train_minutes.json").read_text())
            surrogate = load_surrogate(run, steps)
            if bins:
                t0 = time.perf_counter()
                surrogate = calibrate(surrogate, train.showers_mev, train.incident_mev,
                                      bins, layers=layers)
                minutes += (time.perf_counter() - t0) / 60
            t0 = time.perf_counter()
            generated = surrogate.generate(test.incident_mev, seed=5)
            gen_ms = 1e3 * (time.perf_counter() - t0) / len(generated)
        gen_f = high_level_features(generated, layout, threshold)
        gen_h = high_level_matrix(gen_f, test.incident_mev)
        shape = shape_summary(generated, layout, threshold)
        cls = classifier_test(ref_h, gen_h, ClassifierTestConfig())
        row = {"variant": variant, "commit": commit, "n_train": args.train,
               "epochs": args.epochs, "train_minutes": minutes,
               "generate_ms_per_shower": None if variant == "gflash" else gen_ms,
               "auc_high": cls.auc, "auc_high_ci": list(cls.auc_interval),
               "fpd": fpd(ref_h, gen_h, min_samples=evaluation.fpd_min_samples)[0],
               "kpd": kpd(ref_h, gen_h, batch_size=evaluation.kpd_batch_size)[0],
               "e_layer_separation": feature_separations(
                   ref_f, gen_f, test.incident_mev, test.incident_mev)["e_layer"],
               "empty_layer_max_diff_pct": float(np.max(np.abs(
                   np.subtract(shape["empty_layer_pct"],
                               rows["reference"]["empty_layer_pct"])))),
               **shape}
        rows[variant] = row
        print(json.dumps(row), flush=True)
        write_result(path, {"benchmark": "fastsim_ablation", "layout": "ds2",
                            "n_test": args.test, "date": utc_now(),
                            "rows": list(rows.values())}, commit)
    print("\n| variant | AUC high | FPD | KPD | rings 1-4, 9 (%) | hits | hit q10 [MeV] "
          "| empty layers | e_layer sep. | empty-layer max diff (pts) | train min |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")

    def number(row: dict, key: str, form: str) -> str:
        return "-" if row.get(key) is None else format(row[key], form)

    for r in rows.values():
        rings = " / ".join(f"{v:.2f}" for v in r["ring_pct"])
        common = (f"{rings} | {r['hits_per_shower']:.0f} | {r['hit_q10_mev']:.3f} | "
                  f"{number(r, 'empty_layers_per_shower', '.2f')}")
        if r["variant"] == "reference":
            print(f"| reference | - | - | - | {common} | - | - | - |")
            continue
        print(f"| {r['variant']} | {r['auc_high']:.3f} | {r['fpd']:.2f} | {r['kpd']:.4f} | "
              f"{common} | {number(r, 'e_layer_separation', '.3f')} | "
              f"{number(r, 'empty_layer_max_diff_pct', '.1f')} | {r['train_minutes']:.1f} |")


if __name__ == "__main__":
    main()
