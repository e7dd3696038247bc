"""Physics validation of the reference cascade Monte Carlo (issue 20's list).

On the dataset-2 stack (W/Si) and variants of it:

* shower maximum of electrons and photons (a gamma fit to the total deposit in 0.4 X0
  slices) vs ln(E/Ec) -/+ 0.5, and the photon-electron shift;
* the radius holding 90% of the deposit, in effective Moliere radii;
* linearity: mean silicon response / E_inc at 2-50 GeV relative to its mean;
* sampling term: for W thicknesses 0.7, 1.4 and 2.8 mm (0.3 mm Si), sigma/E = a/sqrt(E) (+) b
  fitted to the resolution at 2, 5, 10 and 20 GeV; the stochastic term a as a power of the
  energy a MIP loses per cell (expected exponent 0.5 +- 0.1);
* cuts: the sampling fraction with halved photon and electron cuts.

Usage: python benchmarks/fastsim_validation.py [--showers 1000]
Writes benchmarks/results/fastsim_validation.json and prints a table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import ROOT, git_commit, write_result
from scipy import optimize, stats


def profile_tmax(layout, config, energy: float, n: int, seed: int) -> tuple[float, np.ndarray,
                                                                              np.ndarray]:
    from aihep.fastsim.cascade import Calorimeter, simulate_shower
    from aihep.fastsim.geometry import effective_properties
    from aihep.workflow import seeds

    calo = Calorimeter(layout, config)
    x0 = effective_properties(layout)["x0_mm"]
    profile = np.zeros(len(calo.material))
    voxels = np.array([simulate_shower(calo, energy, seeds.rng(seed, config.particle, i),
                                       profile) for i in range(n)])
    centres = 0.5 * (calo.edges[1:] + calo.edges[:-1]) / x0
    bins = np.arange(0.0, calo.depth / x0 + 0.4, 0.4)
    counts, _ = np.histogram(centres, bins, weights=profile)
    mids = 0.5 * (bins[1:] + bins[:-1])
    (a, b, _), _ = optimize.curve_fit(
        lambda t, a, b, c: c * stats.gamma.pdf(t * b, a) * b, mids,
        counts / counts.sum() / 0.4, p0=(4, 0.5, 1))
    return (a - 1) / b, voxels, voxels.sum(1) / energy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--showers", type=int, default=1000)
    args = parser.parse_args()
    commit = git_commit()
    from aihep.fastsim.cascade import CascadeConfig
    from aihep.fastsim.geometry import Slab, effective_properties, preset

    ds2 = preset("ds2")
    eff = effective_properties(ds2)
    n = args.showers
    start = time.perf_counter()
    out: dict = {"benchmark": "fastsim_validation", "showers_per_point": n,
                 "effective": eff}
    rows = []
    for energy in (5e3, 10e3, 50e3):
        count = n if energy < 2e4 else max(n // 4, 20)
        t_e, vox_e, _ = profile_tmax(ds2, CascadeConfig(particle="electron"), energy, count, 1)
        t_g, _, _ = profile_tmax(ds2, CascadeConfig(particle="photon"), energy, count, 2)
        ln = np.log(energy / eff["critical_energy_mev"])
        per_r = vox_e.reshape(len(vox_e), -1, ds2.n_radial).sum((0, 1))
        cum = np.concatenate([[0.0], np.cumsum(per_r) / per_r.sum()])
        r90 = float(np.interp(0.9, cum, ds2.radial_edges_mm)) / eff["moliere_radius_mm"]
        rows.append({"energy_gev": energy / 1e3, "showers": count, "t_max_electron": t_e,
                     "expected_electron": ln - 0.5, "t_max_photon": t_g,
                     "expected_photon": ln + 0.5, "shift": t_g - t_e, "r90_over_rm": r90})
        print(rows[-1], flush=True)
    out["shower_shape"] = rows
    linearity = {}
    for energy in (2e3, 5e3, 10e3, 20e3, 50e3):
        count = n if energy <= 1e4 else max(n // 4, 20)
        _, _, resp = profile_tmax(ds2, CascadeConfig(), energy, count, 3)
        linearity[str(energy / 1e3)] = {"mean": float(resp.mean()),
                                        "error": float(resp.std() / np.sqrt(len(resp)))}
    mean = np.mean([v["mean"] for v in linearity.values()])
    out["linearity"] = {k: {**v, "relative": v["mean"] / mean} for k, v in linearity.items()}
    print(out["linearity"], flush=True)
    sampling = []
    for w_mm in (0.7, 1.4, 2.8):
        # the same depth (~36 X0 of the dataset-2 stack), an even number of cells
        cells = 2 * round(90 * 1.7 / (w_mm + 0.3) / 2)
        layout = type(ds2).model_validate({**ds2.model_dump(), "n_cells": cells, "cell": (
            Slab(material="W", thickness_mm=w_mm),
            Slab(material="Si", thickness_mm=0.3, active=True))})
        from aihep.fastsim.materials import MATERIALS

        mip_cell = (MATERIALS["W"].mip_mev_per_mm * w_mm + MATERIALS["Si"].mip_mev_per_mm * 0.3)
        # sigma/E = a / sqrt(E) (+) b fitted over 2-20 GeV: a is the stochastic term
        energies = np.array([2.0, 5.0, 10.0, 20.0])
        rel, err = [], []
        for energy in energies:
            count = n if energy <= 10 else max(n * 3 // 5, 20)
            _, _, resp = profile_tmax(layout, CascadeConfig(), 1e3 * energy, count, 4)
            rel.append(resp.std() / resp.mean())
            err.append(rel[-1] / np.sqrt(2 * (count - 1)))
        (a, b), cov = optimize.curve_fit(lambda e, a, b: np.hypot(a / np.sqrt(e), b), energies,
                                         rel, p0=(0.1, 0.005), sigma=err, absolute_sigma=True,
                                         bounds=([0, 0], [1, 0.2]))
        sampling.append({"w_mm": w_mm, "mip_mev_per_cell": mip_cell, "stochastic": float(a),
                         "stochastic_error": float(np.sqrt(cov[0, 0])), "constant": float(b),
                         "relative_resolution": dict(zip(map(str, energies), map(float, rel),
                                                         strict=True)),
                         "at_10_gev_times_sqrt10": float(rel[2] * np.sqrt(10.0))})
        print(sampling[-1], flush=True)
    x = np.log([s["mip_mev_per_cell"] for s in sampling])
    y = np.log([s["stochastic"] for s in sampling])
    w = 1 / np.array([s["stochastic_error"] / s["stochastic"] for s in sampling]) ** 2
    slope = np.polyfit(x, y, 1, w=np.sqrt(w))[0]
    mean_x = np.sum(w * x) / np.sum(w)
    slope_error = float(1 / np.sqrt(np.sum(w * (x - mean_x) ** 2)))
    out["sampling_term"] = {"points": sampling, "exponent": float(slope),
                            "exponent_error": slope_error}
    base = profile_tmax(ds2, CascadeConfig(), 1e4, n, 5)[2].mean()
    default = CascadeConfig()
    halved_cuts = CascadeConfig(k_cut_mev=default.k_cut_mev / 2, t_cut_mev=default.t_cut_mev / 2)
    halved = profile_tmax(ds2, halved_cuts, 1e4, n, 5)[2].mean()
    out["cuts"] = {"k_cut_mev": default.k_cut_mev, "t_cut_mev": default.t_cut_mev,
                   "sampling_fraction": float(base), "halved_cuts": float(halved),
                   "relative_change": float(halved / base - 1)}
    out["minutes"] = (time.perf_counter() - start) / 60
    write_result(ROOT / "results" / "fastsim_validation.json", out, commit)
    print(f"\nexponent of the stochastic term vs MIP loss per cell: {slope:.2f} +- "
          f"{slope_error:.2f} (0.5 +- 0.1)")
    print(f"halving the cuts changes the sampling fraction by {100 * (halved / base - 1):+.1f}%")


if __name__ == "__main__":
    main()
