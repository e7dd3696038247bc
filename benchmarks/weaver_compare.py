"""Side by side with weaver-core: the same lite ParticleNet / ParT on the same data and epochs.

The dataset and the train/test split are those of benchmarks/tagging.py (cached). The training
jets are split 80/20 into train/validation with aihep's own stratified split, all three parts
are written as JetClass ROOT files, and

- weaver-core (``pip install weaver-core``) trains its ParticleNet / ParticleTransformer with
  our lite sizes, from a data config and network files this script writes (kin features:
  log pT, log E, log pT/pT_jet, log E/E_jet, delta-R, delta-eta, delta-phi; 64 particles;
  auto standardization; AdamW; batch 256; the same epochs and start learning rate);
- aihep trains particlenet-lite / part-lite with feature set ``kin`` and 64 particles on the
  same train/validation jets.

Both frameworks are timed the same way: their command line in a subprocess (start-up,
reading the ROOT/Parquet files and preparing the inputs included), training then prediction
on the test ROOT file. Reported per model: test accuracy, macro AUC, training wall time and
jets/s (training jets x epochs / training wall time), inference jets/s.

Usage: python benchmarks/weaver_compare.py [--kind top] [--jets-per-class 10000]
       [--epochs 10] [--models particlenet-lite,part-lite] [--threads 2]
Writes benchmarks/results/weaver_compare_<kind>.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import write_result

from tagging import CACHE, dataset

ROOT = Path(__file__).resolve().parent

NETWORKS = {
    "particlenet-lite": '''import torch
from weaver.nn.model.ParticleNet import ParticleNet


class Wrapper(torch.nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.mod = ParticleNet(**kwargs)

    def forward(self, points, features, lorentz_vectors, mask):
        return self.mod(points, features, mask)


def get_model(data_config, **kwargs):
    model = Wrapper(input_dims=len(data_config.input_dicts["pf_features"]),
                    num_classes=len(data_config.label_value),
                    conv_params=[(7, (32, 32, 32)), (7, (64, 64, 64))], fc_params=[(128, 0.1)],
                    use_fusion=False, use_fts_bn=True, use_counts=True)
    return model, {"input_names": list(data_config.input_names),
                   "input_shapes": {k: ((1,) + s[1:]) for k, s in data_config.input_shapes.items()},
                   "output_names": ["softmax"], "dynamic_axes": {}}


def get_loss(data_config, **kwargs):
    return torch.nn.CrossEntropyLoss()
''',
    "part-lite": '''import torch
from weaver.nn.model.ParticleTransformer import ParticleTransformer


class Wrapper(torch.nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.mod = ParticleTransformer(**kwargs)

    def forward(self, points, features, lorentz_vectors, mask):
        return self.mod(features, v=lorentz_vectors, mask=mask)


def get_model(data_config, **kwargs):
    model = Wrapper(input_dim=len(data_config.input_dicts["pf_features"]),
                    num_classes=len(data_config.label_value), pair_input_dim=4,
                    embed_dims=[64, 128, 64], pair_embed_dims=[32, 32], num_heads=4,
                    num_layers=3, num_cls_layers=1, fc_params=[], activation="gelu")
    return model, {"input_names": list(data_config.input_names),
                   "input_shapes": {k: ((1,) + s[1:]) for k, s in data_config.input_shapes.items()},
                   "output_names": ["softmax"], "dynamic_axes": {}}


def get_loss(data_config, **kwargs):
    return torch.nn.CrossEntropyLoss()
''',
}


def data_config(classes: tuple[str, ...], length: int) -> str:
    """weaver data config: kin features computed from the JetClass branches."""
    feats = ["part_pt_log", "part_e_log", "part_logptrel", "part_logerel", "part_deltaR",
             "part_deta", "part_dphi"]
    lines = [
        "selection:", "new_variables:",
        "   part_mask: ak.ones_like(part_energy)",
        "   part_pt: np.hypot(part_px, part_py)",
        "   part_eta: np.arcsinh(part_pz / part_pt)",
        "   part_phi: np.arctan2(part_py, part_px)",
        "   part_deta: (part_eta - jet_eta) * np.where(jet_eta >= 0, 1, -1)",
        "   part_dphi: (part_phi - jet_phi + np.pi) % (2 * np.pi) - np.pi",
        "   part_pt_log: np.log(part_pt)",
        "   part_e_log: np.log(part_energy)",
        "   part_logptrel: np.log(part_pt / jet_pt)",
        "   part_logerel: np.log(part_energy / jet_energy)",
        "   part_deltaR: np.hypot(part_deta, part_dphi)",
        "preprocess:", "   method: auto", "   data_fraction: 1.0",
        "inputs:",
        "   pf_points:", f"      length: {length}", "      pad_mode: constant", "      vars:",
        "         - [part_deta, null]", "         - [part_dphi, null]",
        "   pf_features:", f"      length: {length}", "      pad_mode: constant", "      vars:",
        *[f"         - [{name}, null]" for name in feats],
        "   pf_vectors:", f"      length: {length}", "      pad_mode: constant", "      vars:",
        *[f"         - [{v}, null]" for v in ("part_px", "part_py", "part_pz", "part_energy")],
        "   pf_mask:", f"      length: {length}", "      pad_mode: constant", "      vars:",
        "         - [part_mask, null]",
        "labels:", "   type: simple", f"   value: [{', '.join(f'label_{c}' for c in classes)}]",
        "observers:", "   - jet_pt",
    ]
    return "\n".join(lines) + "\n"


def weaver_run(model: str, work: Path, classes: tuple[str, ...], args: argparse.Namespace,
               n_train: int, n_val: int) -> dict:
    import uproot
    from sklearn.metrics import roc_auc_score

    exe = str(Path(sys.executable).parent / "weaver")
    net = work / f"{model}_net.py"
    net.write_text(NETWORKS[model])
    out = work / f"weaver_{model}"
    out.mkdir(exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    common = ["--data-config", str(work / "data.yaml"), "--network-config", str(net),
              "--model-prefix", str(out / "net"), "--gpus", "", "--num-workers", "0",
              "--batch-size", "256", "--fetch-step", "1", "--in-memory"]
    start = time.perf_counter()
    subprocess.run([exe, "--data-train", str(work / "train.root"), "--data-val",
                    str(work / "val.root"), "--num-epochs", str(args.epochs),
                    "--steps-per-epoch", str(-(-n_train // 256)),
                    "--steps-per-epoch-val", str(-(-n_val // 256)), "--start-lr",
                    "1e-3", "--optimizer", "adamw", "--lr-scheduler", "flat+cos",
                    *common], check=True, env=env, capture_output=True)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([exe, "--predict", "--data-test", str(work / "test.root"),
                    "--predict-output", str(out / "pred.root"), *common], check=True, env=env,
                   capture_output=True)
    infer_seconds = time.perf_counter() - start
    tree = uproot.open(out / "pred.root")["Events"]
    probs = np.stack([tree[f"score_label_{c}"].array(library="np") for c in classes], 1)
    truth = np.stack([tree[f"label_{c}"].array(library="np") for c in classes], 1).argmax(1)
    auc = [roc_auc_score(truth == i, probs[:, i]) for i in range(len(classes))]
    return {"framework": "weaver-core", "model": model,
            "accuracy": float((probs.argmax(1) == truth).mean()),
            "macro_auc": float(np.mean(auc)), "train_seconds": train_seconds,
            "train_jets_per_second": n_train * args.epochs / train_seconds,
            "inference_jets_per_second": len(truth) / infer_seconds}


def aihep_run(model: str, work: Path, train_jets, args: argparse.Namespace) -> dict:
    """aihep timed as weaver is: its command line in a subprocess (start-up, reading the
    files and preparing the inputs included), training then prediction."""
    import awkward as ak

    from aihep.io.jets import load_jets, save_jets
    from aihep.tagging.metrics import tagger_metrics

    exe = str(Path(sys.executable).parent / "aihep")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    data = work / "aihep_train.parquet"  # train + validation: aihep splits them itself
    if not data.is_file():
        save_jets(train_jets, data)
    run_dir = work / f"aihep_{model}"
    shutil.rmtree(run_dir, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([exe, "tag", "train", model, str(data), "--out", str(run_dir),
                    "--features", "kin", "--max-particles", "64", "--epochs",
                    str(args.epochs), "--patience", str(args.epochs), "--batch-size", "256",
                    "--lr", "1e-3", "--seed", "1"], check=True, env=env, capture_output=True)
    train_seconds = time.perf_counter() - start
    pred = work / f"aihep_{model}_pred.parquet"
    pred.unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run([exe, "tag", "predict", str(run_dir), str(work / "test.root"), "--out",
                    str(pred)], check=True, env=env, capture_output=True)
    infer_seconds = time.perf_counter() - start
    scored = load_jets(pred)
    probs = np.stack([ak.to_numpy(scored.table[f"score_{c}"]) for c in scored.classes], 1)
    metrics = tagger_metrics(probs, scored.labels, scored.classes)
    n_train = round(len(train_jets) * 0.8)  # aihep's default val_fraction
    return {"framework": "aihep", "model": model, "accuracy": metrics.accuracy,
            "macro_auc": metrics.macro_auc, "train_seconds": train_seconds,
            "train_jets_per_second": n_train * args.epochs / train_seconds,
            "inference_jets_per_second": len(scored) / infer_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="top")
    parser.add_argument("--jets-per-class", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--models", default="particlenet-lite,part-lite")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    from aihep.io.jetclass import write_jetclass
    from aihep.tagging.tagger import split_indices

    jets = dataset(args.kind, args.jets_per_class, args.threads)
    train_idx, test_idx = split_indices(jets.labels, 0.25, 1234)
    train_jets, test_jets = jets.take(train_idx), jets.take(test_idx)
    fit_idx, val_idx = split_indices(train_jets.labels, 0.2, 1)  # aihep's split, seed 1
    work = CACHE / "weaver" / f"{args.kind}_{args.jets_per_class}"
    work.mkdir(parents=True, exist_ok=True)
    write_jetclass(train_jets.take(fit_idx), work / "train.root")
    write_jetclass(train_jets.take(val_idx), work / "val.root")
    write_jetclass(test_jets, work / "test.root")
    (work / "data.yaml").write_text(data_config(jets.classes, 64))
    rows = []
    for model in args.models.split(","):
        for runner in ("aihep", "weaver"):
            row = (aihep_run(model, work, train_jets, args) if runner == "aihep"
                   else weaver_run(model, work, jets.classes, args, len(fit_idx), len(val_idx)))
            rows.append(row)
            print(json.dumps(row), flush=True)
    path = ROOT / "results" / f"weaver_compare_{args.kind}.json"
    settings = {"benchmark": "weaver_compare", "kind": args.kind, "epochs": args.epochs,
                "threads": args.threads, "n_train": len(fit_idx), "n_val": len(val_idx),
                "n_test": len(test_jets)}
    if path.is_file():  # keep the other models' rows of a run with the same settings
        old = json.loads(path.read_text())
        if {k: old.get(k) for k in settings} == settings:
            done = {(r["model"], r["framework"]) for r in rows}
            rows = [r for r in old["runs"] if (r["model"], r["framework"]) not in done] + rows
    (ROOT / "results").mkdir(exist_ok=True)
    write_result(path, {**settings, "runs": rows})
    print("\n| model | framework | accuracy | macro AUC | train min | train jets/s | "
          "infer jets/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['framework']} | {r['accuracy']:.4f} | "
              f"{r['macro_auc']:.4f} | {r['train_seconds'] / 60:.1f} | "
              f"{r['train_jets_per_second']:.0f} | {r['inference_jets_per_second']:.0f} |")


if __name__ == "__main__":
    main()
