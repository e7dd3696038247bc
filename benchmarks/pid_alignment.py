"""Diagnostic: how far DANN aligns the PID transformer's features between simulation and data.

For the fits of a finished `benchmarks/pid.py` run (``--commit``, under
.cache/benchmarks/pid/fits/<commit>/), the pooled features of the simulation-trained
transformer and of the DANN transformer are computed on simulated tracks and on the data
test tracks; a boosted-tree domain classifier (fitted on one half, scored on the other)
gives the domain AUC (0.5: the domains are indistinguishable in that representation). The
simulated tracks are weighted to the data's true class mixture (the data labels are used
only for this diagnostic), so what remains is the covariate shift within each species; the
AUC is given for all tracks and for tracks with and without TOF (the TOF efficiency itself
differs between the domains). DANN's domain loss had only an unlabelled estimate of that
mixture. Also each model's accuracy on the data's V0 sample (species implied by the decay
kinematics, no data labels): a label-free way to choose between the models.

Usage: python benchmarks/pid_alignment.py --commit da380c2 [--events 80000] [--seeds 1,2,3]
       [--shifts 0,1,2] [--tracks 100000]
Writes benchmarks/results/pid_alignment.json and prints a table.
"""

from __future__ import annotations

import argparse

import numpy as np
from common import ROOT, write_result

from pid import CACHE, tracks_for, v0_accuracy

RESULTS = ROOT / "results" / "pid_alignment.json"


def load_fit(checkpoint, domain_head: bool):
    """The best state of a fit checkpoint as a transformer."""
    import torch

    from aihep.pid.model import PIDModelConfig, PIDTransformer

    model = PIDTransformer(PIDModelConfig(domain_head=domain_head))
    model.load_state_dict(torch.load(checkpoint, weights_only=False)["best_state"])
    return model.eval()


def pooled_features(model, tracks) -> np.ndarray:
    """The pooled representation (n, hidden) of a transformer."""
    import torch

    from aihep.pid.model import token_inputs

    tokens, mask, kinds = token_inputs(tracks.signals.as_array(), tracks.p_gev)
    with torch.no_grad():
        return np.concatenate([model(tokens[s:s + 8192], mask[s:s + 8192], kinds)[1].numpy()
                               for s in range(0, len(tokens), 8192)])


def domain_auc(sim: np.ndarray, data: np.ndarray, weights: np.ndarray, seed: int) -> float:
    """Weighted ROC AUC of a domain classifier (simulation 0, data 1) on a held-out half."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    x = np.concatenate([sim, data])
    y = np.r_[np.zeros(len(sim)), np.ones(len(data))]
    w = np.r_[weights, np.ones(len(data))]
    order = np.random.default_rng(seed).permutation(len(x))
    fit, score = order[: len(x) // 2], order[len(x) // 2:]
    clf = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    clf.fit(x[fit], y[fit], sample_weight=w[fit])
    return float(roc_auc_score(y[score], clf.predict_proba(x[score])[:, 1],
                               sample_weight=w[score]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", required=True, help="the pid.py run whose fits to read")
    parser.add_argument("--events", type=int, default=80_000)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--shifts", default="0,1,2")
    parser.add_argument("--tracks", type=int, default=100_000,
                        help="tracks per domain (sampled)")
    args = parser.parse_args()
    from aihep.pid.data import DomainConfig, shifted_data_domain, v0_sample

    fits = CACHE / "fits" / args.commit
    rows = []
    print("| seed | shift | quantity | transformer | transformer+dann |\n|---|---|---|---|---|")
    for seed in (int(s) for s in args.seeds.split(",")):
        sim = tracks_for(DomainConfig(), args.events, seed)
        for shift in (float(s) for s in args.shifts.split(",")):
            data = tracks_for(shifted_data_domain(shift), args.events, 1000 + seed)
            test = data.select(np.arange(len(data) // 2, len(data)))
            rng = np.random.default_rng(seed)
            sim_part = sim.select(np.sort(rng.choice(len(sim), min(args.tracks, len(sim)),
                                                     replace=False)))
            data_part = test.select(np.sort(rng.choice(len(test), min(args.tracks, len(test)),
                                                       replace=False)))
            sim_frac = np.bincount(sim_part.species, minlength=4) / len(sim_part)
            data_frac = np.bincount(data_part.species, minlength=4) / len(data_part)
            weights = (data_frac / np.maximum(sim_frac, 1e-12))[sim_part.species]
            models = {"transformer": load_fit(fits / f"transformer_seed{seed}.ckpt", False),
                      "transformer+dann": load_fit(
                          fits / f"transformer+dann_seed{seed}_{shift:g}x.ckpt", True)}
            features = {name: [pooled_features(model, t) for t in (sim_part, data_part)]
                        for name, model in models.items()}
            adapt = data.select(np.arange(len(data) // 2))  # as in pid.py
            v0 = v0_sample(adapt, seed=seed)
            v0_tracks = adapt.select(v0.index)
            accuracy = {name: v0_accuracy(model, v0_tracks, v0.species)
                        for name, model in models.items()}
            rows.append({"seed": seed, "shift": f"{shift:g}x", "v0_accuracy": accuracy,
                         "v0_tracks": len(v0.index)})
            print(f"| {seed} | {shift:g}x | V0 accuracy | {accuracy['transformer']:.4f} | "
                  f"{accuracy['transformer+dann']:.4f} |", flush=True)
            tof = [np.isfinite(t.signals.tof) for t in (sim_part, data_part)]
            for name, (s_keep, d_keep) in (("all", (np.ones_like(tof[0]), np.ones_like(tof[1]))),
                                           ("with", tuple(tof)),
                                           ("without", (~tof[0], ~tof[1]))):
                aucs = {model: domain_auc(a[s_keep], b[d_keep], weights[s_keep], seed)
                        for model, (a, b) in features.items()}
                rows.append({"seed": seed, "shift": f"{shift:g}x", "tof": name,
                             "domain_auc": aucs})
                print(f"| {seed} | {shift:g}x | domain AUC, TOF {name} | "
                      f"{aucs['transformer']:.3f} | "
                      f"{aucs['transformer+dann']:.3f} |", flush=True)
    write_result(RESULTS, {"benchmark": "pid_alignment", "fits_commit": args.commit,
                           "events": args.events, "tracks_per_domain": args.tracks,
                           "rows": rows})


if __name__ == "__main__":
    main()
