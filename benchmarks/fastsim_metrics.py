"""Cross-check: aihep's FPD and KPD against jetnet's on the same high-level features.

jetnet (0.2.5) cannot share our environment (its EMD dependency needs numpy < 2), so it runs
in its own virtual environment, made once under .cache/benchmarks/jetnet-venv
(``pip install jetnet==0.2.5 "numpy<2" "pandas<2.3"``) or given with ``--jetnet-python``.

Pairs of high-level feature sets (the CaloChallenge's, `aihep.fastsim.metrics`) of the
benchmark's cached coarse-layout reference showers (benchmarks/fastsim.py makes them):

* ``reference vs reference``: the two held-out sets (seeds 12 and 13): both should be ~0;
* ``reference vs 10% scale``: the second set with every voxel 10% higher (a known
  distortion).

Both libraries get the same arrays and their default protocols where they agree (FPD
extrapolated in 1/N over 10k-20k here, the sets holding 20k; KPD: batches of 5000, median
of 10), each run with ``--seeds`` random seeds of its own batches. The error a single FPD
quotes (from its 1/N fit) is smaller than its spread over seeds, so the libraries are
compared through the mean and spread over seeds.

Usage: python benchmarks/fastsim_metrics.py [--jetnet-python PATH]
Writes benchmarks/results/fastsim_metrics.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from common import ROOT, git_commit, write_result

CACHE = ROOT.parent / ".cache" / "benchmarks"
JETNET = """
import json, sys, time
import numpy as np
from jetnet.evaluation import fpd, kpd
data = np.load(sys.argv[1])
out = {}
for name in json.loads(sys.argv[2]):
    a, b = data[name + "_a"], data[name + "_b"]
    start = time.perf_counter()
    runs = [(fpd(a, b, min_samples=10000, max_samples=20000, seed=s),
             kpd(a, b, num_batches=10, batch_size=5000, seed=s)) for s in range(int(sys.argv[3]))]
    out[name] = {"fpd": [float(r[0][0]) for r in runs], "kpd": [float(r[1][0]) for r in runs],
                 "seconds": (time.perf_counter() - start) / len(runs)}
print(json.dumps(out))
"""


def jetnet_python(given: str | None) -> str:
    if given:
        return given
    venv = CACHE / "jetnet-venv"
    python = venv / "bin" / "python"
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "jetnet==0.2.5",
                        "numpy<2", "pandas<2.3"], check=True)
    return str(python)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jetnet-python", default=None)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    commit = git_commit()
    from aihep.fastsim.geometry import preset
    from aihep.fastsim.metrics import fpd, high_level_features, high_level_matrix, kpd
    from fastsim import reference_set

    layout = preset("coarse")
    a = reference_set("coarse", 20_000, 12, 2).read()
    b = reference_set("coarse", 20_000, 13, 2).read()

    def features(showers: np.ndarray) -> np.ndarray:
        return high_level_matrix(high_level_features(showers, layout), b.incident_mev)

    ref = high_level_matrix(high_level_features(a.showers_mev, layout), a.incident_mev)
    pairs = {"reference vs reference": features(b.showers_mev),
             "reference vs 10% scale": features(1.10 * b.showers_mev)}
    keys = {name: name.replace(" ", "_").replace("%", "pc") for name in pairs}
    arrays = CACHE / "fastsim_metrics_features.npz"
    np.savez(arrays, **{f"{keys[n]}_a": ref for n in pairs},
             **{f"{keys[n]}_b": g for n, g in pairs.items()})
    ours = {}
    for name, gen in pairs.items():
        start = time.perf_counter()
        runs = [(fpd(ref, gen, min_samples=10_000, max_samples=20_000, seed=s),
                 kpd(ref, gen, n_batches=10, batch_size=5000, seed=s)) for s in range(args.seeds)]
        ours[name] = {"fpd": [r[0][0] for r in runs], "kpd": [r[1][0] for r in runs],
                      "seconds": (time.perf_counter() - start) / args.seeds}
    done = subprocess.run([jetnet_python(args.jetnet_python), "-c", JETNET, str(arrays),
                           json.dumps(list(keys.values())), str(args.seeds)],
                          capture_output=True, text=True, check=True)
    theirs = json.loads(done.stdout.strip().splitlines()[-1])

    def summary(values: list[float]) -> list[float]:
        """Mean over seeds and its error."""
        return [float(np.mean(values)), float(np.std(values, ddof=1) / np.sqrt(len(values)))]

    rows = []
    for name in pairs:
        o, t = ours[name], theirs[keys[name]]
        row = {"pair": name, "aihep": o, "jetnet": t}
        for metric in ("fpd", "kpd"):
            mo, mt = summary(o[metric]), summary(t[metric])
            row[metric] = {"aihep": mo, "jetnet": mt,
                           "pull": (mo[0] - mt[0]) / max(np.hypot(mo[1], mt[1]), 1e-12)}
        rows.append(row)
    write_result(ROOT / "results" / "fastsim_metrics.json",
                 {"benchmark": "fastsim_metrics", "layout": "coarse", "n_showers": len(ref),
                  "n_features": ref.shape[1], "seeds": args.seeds, "rows": rows}, commit)
    print(f"\nmean over {args.seeds} seeds +- its error")
    print("| pair | FPD aihep | FPD jetnet | KPD aihep | KPD jetnet | pulls (FPD, KPD) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        f, k = r["fpd"], r["kpd"]
        print(f"| {r['pair']} | {f['aihep'][0]:.2e} +- {f['aihep'][1]:.1e} | "
              f"{f['jetnet'][0]:.2e} +- {f['jetnet'][1]:.1e} | {k['aihep'][0]:.2e} +- "
              f"{k['aihep'][1]:.1e} | {k['jetnet'][0]:.2e} +- {k['jetnet'][1]:.1e} | "
              f"{f['pull']:+.1f}, {k['pull']:+.1f} |")


if __name__ == "__main__":
    main()
