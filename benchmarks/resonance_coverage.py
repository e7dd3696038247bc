"""Coverage of the resonance estimates, and the false-claim rate, measured with toys.

Three studies, all on the **toy feature model** of the tests (``tests/agent/toy.py``: a
dijet-function mjj spectrum with independent gamma/beta substructure features, and a Gaussian
resonance at 3.5 TeV whose jets are lighter-tau21 two-prong-like; a simplified model, not
Pythia: it measures the statistics of the pipeline, not the physics of real jets):

1. **fit level** (``--fit-toys``, default 200): Poisson spectra of 200k background +
   ``--fit-injected`` signal events, a cut with known efficiencies (signal 50%, background 2%);
   :func:`extract_signal` from a start 50 GeV off the truth. Pulls and 68% coverage of the
   total yield (both estimators on the same toys: split, the default, and inclusive) and of
   the mass.
2. **full pipeline, signal injected** (``--signal-toys``, default 50): ``hunt`` with a sliding
   signal-region scan (window placement, CWoLa, cut, bump hunt, refinement, review, extraction)
   on 40k background + ``--injected`` signal events. Claims, and pulls / coverage of the total
   yield and the mass on the toys with a fitted resonance.
3. **full pipeline, background only** (``--null-toys``, default 50): global p-values (KS test
   against uniform) and false claims, with the 95% CL upper bound on the false-claim rate.

Finished toys are kept under .cache/benchmarks/resonance_coverage/<commit>/ (a killed run
resumes). Pass bands (issue 18): 68% intervals covering 56-80%, pull mean |mu| < 0.3, pull width
0.8-1.25. Writes benchmarks/results/resonance_coverage.json (commit, date) and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from common import asymmetric_pull, git_commit
from scipy import stats

ROOT = Path(__file__).resolve().parent
CACHE = ROOT.parent / ".cache" / "benchmarks" / "resonance_coverage"
sys.path.insert(0, str(ROOT.parent / "tests" / "agent"))

MASS, WIDTH = 3500.0, 90.0
EDGES = np.arange(2600.0, 6001.0, 100.0)
HUNT = {"methods": ["cwola"], "sr_scan": True, "scan_range_gev": [3000.0, 4200.0],
        "n_folds": 3, "n_toys": 60, "keep_fraction": 0.05,
        "classifier": {"n_ensemble": 1, "max_iter": 60}}


def fit_toy(args: tuple[int, int], n_bkg: int = 200_000) -> dict:
    """One fit-level toy: both total-yield estimators (split, the default, and inclusive)
    on the same spectrum."""
    from aihep.discovery.dijet import bin_integrals
    from aihep.discovery.extraction import extract_signal

    seed, n_sig = args
    rng = np.random.default_rng(seed)
    shape = bin_integrals(EDGES, np.array([1.0, 8.0, 6.0]), 13000.0)
    counts = rng.multinomial(n_bkg, shape / shape.sum())
    background = np.repeat(EDGES[:-1], counts) + rng.uniform(0, 100.0, n_bkg)
    signal = rng.normal(MASS, WIDTH, rng.poisson(n_sig))
    mjj = np.concatenate([background, signal])
    selected = np.concatenate([rng.random(len(background)) < 0.02,
                               rng.random(len(signal)) < 0.5])
    out: dict = {"seed": seed, "injected": n_sig}
    for total, key in (("split", "n"), ("inclusive", "n_inclusive")):
        try:
            ext = extract_signal(mjj, selected, EDGES, MASS + 50.0, total_yield=total)
        except (RuntimeError, ValueError) as exc:
            return {"seed": seed, "failed": str(exc)}
        n = ext.n_signal
        out[f"{key}_signal"], out[f"{key}_signal_error"] = n.value, n.error
        out[f"{key}_pull"], out[f"{key}_covered"] = asymmetric_pull(n.value, n.lower,
                                                                    n.upper, n_sig)
    m = ext.mass
    m_pull, m_cover = asymmetric_pull(m.value, m.lower, m.upper, MASS)
    return out | {"mass": m.value, "mass_error": m.error, "mass_pull": m_pull,
                  "mass_covered": m_cover}


def hunt_toy(args: tuple[int, int, str, float]) -> dict:
    import warnings

    from toy import toy_table

    from aihep.discovery.hunt import HuntConfig, hunt

    warnings.filterwarnings("ignore")
    seed, n_sig, bump_scan, keep = args
    start = time.perf_counter()
    result = hunt(toy_table(40_000, n_sig, seed), HuntConfig.model_validate(
        {**HUNT, "seed": seed, "bump_scan": bump_scan, "keep_fraction": keep}))
    out = {"seed": seed, "injected": n_sig, "p_value": result.p_value,
           "significant": result.significant, "discovery": result.discovery,
           "failed_checks": result.review.failed if result.review else [],
           "refined": result.scan_best is not None,
           "seconds": round(time.perf_counter() - start, 1)}
    if result.extraction is not None:
        n, m = result.extraction.n_signal, result.extraction.mass
        out.update(n_signal=n.value, n_signal_error=n.error, mass=m.value, mass_error=m.error)
        if n_sig:
            out["n_pull"], out["n_covered"] = asymmetric_pull(n.value, n.lower, n.upper,
                                                              n_sig)
            out["mass_pull"], out["mass_covered"] = asymmetric_pull(m.value, m.lower,
                                                                    m.upper, MASS)
    return out


def one_thread() -> None:
    """Each toy worker on one BLAS/OpenMP/torch thread. Two workers each running 2-thread
    OpenMP (the boosted trees) on 2 cores spin-wait: a 400-injected toy took 205-351 s beside a
    low-priority job, 7.5 s with one thread per worker (2026-12-07)."""
    import os

    os.environ["OMP_NUM_THREADS"] = "1"  # for OpenMP runtimes loaded later (scikit-learn's)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)  # the libraries already loaded (numpy's BLAS)


def summarize(rows: list[dict], key: str) -> dict:
    pulls = np.array([r[f"{key}_pull"] for r in rows if np.isfinite(r.get(f"{key}_pull",
                                                                            np.nan))])
    covered = [r[f"{key}_covered"] for r in rows if f"{key}_covered" in r]
    if len(pulls) < 2:
        return {"n": len(pulls)}
    mean, width, coverage = float(pulls.mean()), float(pulls.std(ddof=1)), float(
        np.mean(covered))
    return {"n": len(pulls), "pull_mean": mean, "pull_width": width,
            "coverage_68": coverage,
            "pass": bool(abs(mean) < 0.3 and 0.8 <= width <= 1.25 and 0.56 <= coverage <= 0.80)}


def resumed(pool: ProcessPoolExecutor, toy, jobs: list, directory: Path) -> list[dict]:
    """``toy`` on every job, each result kept in ``directory`` as it finishes (a re-run
    reads the finished ones back), in job order."""
    directory.mkdir(parents=True, exist_ok=True)

    def path(job) -> Path:
        return directory / f"{job if isinstance(job, int) else job[0]}.json"

    todo = [job for job in jobs if not path(job).is_file()]
    for job, row in zip(todo, pool.map(toy, todo), strict=True):
        tmp = path(job).with_suffix(".tmp")
        tmp.write_text(json.dumps(row, default=float))
        tmp.replace(path(job))
    return [json.loads(path(job).read_text()) for job in jobs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit-toys", type=int, default=200)
    parser.add_argument("--signal-toys", type=int, default=50)
    parser.add_argument("--null-toys", type=int, default=50)
    parser.add_argument("--injected", type=int, default=400)
    parser.add_argument("--fit-injected", type=int, default=600,
                        help="signal events in each fit-level toy (200k background)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bump-scan", choices=("spectrum", "signal_region"),
                        default="signal_region", help="HuntConfig.bump_scan")
    parser.add_argument("--keep", type=float, default=HUNT["keep_fraction"],
                        help="fraction of each SR the cut keeps (the agent's hunts: 0.01)")
    parser.add_argument("--out", type=Path, default=None, help="default: results/"
                        "resonance_coverage.json (resonance_coverage_signal_region.json)")
    args = parser.parse_args()
    if not 0 < args.keep <= 1:
        parser.error(f"--keep must be in (0, 1], got {args.keep:g}")
    suffix = "" if args.bump_scan == "spectrum" else f"_{args.bump_scan}"
    if args.keep != HUNT["keep_fraction"]:  # another cut: its own file
        suffix += f"_keep{args.keep:g}"
    args.out = args.out or ROOT / "results" / f"resonance_coverage{suffix}.json"
    start = time.perf_counter()
    commit = git_commit()  # the code measured: the commit when the run starts
    cache = CACHE / commit / args.bump_scan  # finished toys: a killed run resumes
    if args.keep != HUNT["keep_fraction"]:
        cache = cache / f"keep{args.keep:g}"
    with ProcessPoolExecutor(args.workers, initializer=one_thread) as pool:
        fit_rows = resumed(pool, fit_toy, [(s, args.fit_injected) for s in
                                           range(1000, 1000 + args.fit_toys)],
                           cache / f"fit{args.fit_injected}")
        signal_rows = resumed(pool, hunt_toy, [(s, args.injected, args.bump_scan, args.keep)
                                               for s in range(2000, 2000 + args.signal_toys)],
                              cache / f"signal{args.injected}")
        null_rows = resumed(pool, hunt_toy, [(s, 0, args.bump_scan, args.keep) for s in
                                             range(3000, 3000 + args.null_toys)],
                            cache / "null")
    p_null = np.array([r["p_value"] for r in null_rows])
    false_claims = int(sum(r["discovery"] for r in null_rows))
    n_null = len(null_rows)
    # Clopper-Pearson 95% upper bound on the false-claim rate
    bound = float(stats.beta.ppf(0.95, false_claims + 1, n_null - false_claims)) if n_null else 1
    claimed = [r for r in signal_rows if r["discovery"]]
    result = {
        "benchmark": "resonance_coverage", "commit": commit,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "model": "toy feature model (tests/agent/toy.py), not Pythia",
        "hunt": {**HUNT, "bump_scan": args.bump_scan, "keep_fraction": args.keep},
        "seconds": round(time.perf_counter() - start, 1),
        "fit_level": {"toys": len(fit_rows), "failed": sum("failed" in r for r in fit_rows),
                      "injected": args.fit_injected, "total_yield": "split",
                      "n_signal": summarize(fit_rows, "n"),
                      "n_signal_inclusive": summarize(fit_rows, "n_inclusive"),
                      "mass": summarize(fit_rows, "mass")},
        "signal_injected": {"toys": len(signal_rows), "injected": args.injected,
                            "claims": len(claimed),
                            "significant": sum(r["significant"] for r in signal_rows),
                            "n_signal": summarize(signal_rows, "n"),
                            "mass": summarize(signal_rows, "mass"),
                            "n_signal_on_claims": summarize(claimed, "n")},
        "background_only": {"toys": n_null, "false_claims": false_claims,
                            "significant": int(sum(r["significant"] for r in null_rows)),
                            "false_claim_rate_95cl_upper": bound,
                            "ks_uniform_pvalue": float(stats.kstest(p_null, "uniform").pvalue)
                            if n_null else None,
                            "p_value_quantiles": np.quantile(p_null, [0.1, 0.5, 0.9]).tolist()
                            if n_null else []},
        "rows": {"fit_level": fit_rows, "signal_injected": signal_rows,
                 "background_only": null_rows},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=float) + "\n")

    def line(name: str, s: dict) -> str:
        if s.get("n", 0) < 2:
            return f"| {name} | {s.get('n', 0)} | - | - | - | - |"
        return (f"| {name} | {s['n']} | {s['pull_mean']:+.2f} | {s['pull_width']:.2f} | "
                f"{100 * s['coverage_68']:.0f}% | {'yes' if s['pass'] else 'no'} |")

    print(f"\nCoverage, commit {result['commit']}, {result['seconds'] / 60:.1f} min, "
          f"{result['model']}\n")
    print("| quantity | toys | pull mean | pull width | 68% coverage | in band |")
    print("|---|---|---|---|---|---|")
    print(line(f"fit level ({args.fit_injected} injected): total yield",
               result["fit_level"]["n_signal"]))
    print(line("fit level: total yield, inclusive fit", result["fit_level"]["n_signal_inclusive"]))
    print(line("fit level: mass", result["fit_level"]["mass"]))
    print(line(f"full pipeline ({args.injected} injected): total yield",
               result["signal_injected"]["n_signal"]))
    print(line("full pipeline: mass", result["signal_injected"]["mass"]))
    b = result["background_only"]
    print(f"\nsignal toys: {len(claimed)}/{len(signal_rows)} claims; background-only toys: "
          f"{b['false_claims']}/{n_null} false claims (rate <= {100 * bound:.1f}% at 95% CL), "
          f"{b['significant']} significant before review, KS p of uniform global p-values "
          + ("-" if b["ks_uniform_pvalue"] is None else f"{b['ks_uniform_pvalue']:.2g}"))


if __name__ == "__main__":
    main()
