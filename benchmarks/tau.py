"""Benchmark: tau identification with adaptation from simulation to data (DeepTau-style).

Samples (cached under .cache/benchmarks/tau/<domain>/<sample>, resumable): Z -> tau tau,
Z'(1 TeV) -> tau tau, QCD (pT-hat > 15 GeV), Z -> ee and Z -> mumu, in the simulation
(seed 1) and in the "data" domain (seed 2; calorimeter scale +4%, 8% extra calorimeter
resolution, twice the pile-up, tracking efficiency 95 -> 92%: ``aihep.tau.data.data_domain``,
fixed before any training). Simulation: 80% training, 20% test (for the simulation-fixed
cuts). Data: the non-QCD samples are generated with ``--data-signal-scale`` (1.6) times
the simulated events; half of each and the candidates of ``--data-adapt-qcd-events`` QCD
events are the unlabelled adaptation sample (and the oracle's labelled training set: as
many taus, electrons and muons as the simulated training set, 0.5 x 1.6 = 0.8), the rest is
the test set (its labels score only).

Models per seed: the DeepTau-style CNN trained on simulation; the same with DANN (its
maximum weight from ``--dann-lambdas``, default 1 fixed in advance; with several, the one whose
data/simulation pass-fraction ratio in a tau-enriched control region is closest to 1: the
Z -> tau tau candidates, as CMS's mu-tau_h region, at the cuts fixed in simulation; no data
labels); ParT-lite on simulation; an oracle CNN trained on labelled data (upper
bound). Rows in the data domain at tau efficiency 50% and 70%: ``sim-fixed`` (the cut giving
that efficiency on simulated taus, applied to data; the data/simulation efficiency ratio)
and ``data-equal-eff`` (jet misidentification at equal efficiency in data). Also the
adaptation's cost in simulation: each model's simulated tau efficiency at the jet misID the
simulation-trained CNN has at 50% / 70% (``sim_eff_at_reference_misid``).

Usage: python benchmarks/tau.py [--seeds 3|2,3] [--epochs 10] [--workers 2]
       [--events ztautau=20000,zprime-tautau=5000,qcd=100000,zee=10000,zmumu=10000]
       [--data-qcd-events 1350000] [--data-adapt-qcd-events 150000]
       [--data-signal-scale 1.6] [--data-shift 1] [--dann-lambdas 1|0.3,1,3]
       [--summary]
Writes benchmarks/results/tau.json (rows, runs and the issue's ``targets``) and prints a
table; ``--summary`` re-prints the table and targets from the file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import ROOT, git_commit, merged_rows, seed_list, write_result

CACHE = ROOT.parent / ".cache" / "benchmarks" / "tau"
RESULTS = ROOT / "results" / "tau.json"
DEFAULT_EVENTS = "ztautau=20000,zprime-tautau=5000,qcd=100000,zee=10000,zmumu=10000"


def domain_dir(shift: float) -> str:
    """The data domain's cache folder ("data" at the nominal shift)."""
    return "data" if shift == 1.0 else f"data-shift{shift:g}"


def sample(name: str, domain: str, events: int, workers: int, shift: float = 1.0):
    from aihep.tau.data import TauDataConfig, TauDomainConfig, build_tau_dataset, data_domain

    config = TauDataConfig(sample=name, n_events=events, seed=1 if domain == "simulation"
                           else 2, domain=TauDomainConfig() if domain == "simulation"
                           else data_domain(shift))
    domain = domain if domain == "simulation" else domain_dir(shift)
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"  {domain} {name}: {done}/{total} events, "
              f"{(time.perf_counter() - start) / 60:.1f} min", flush=True)

    return build_tau_dataset(config, CACHE / domain / f"{name}_{events}", workers,
                             progress).read()


def by_seed(rows: list[dict], model: str, wp: str, eff: float, key: str) -> dict[int, float]:
    return {r["seed"]: r[key] for r in rows if r["model"] == model
            and r["working_point"] == wp and r["tau_eff"] == eff and key in r}


def targets(rows: list[dict]) -> dict:
    """The issue's targets from the rows, seeds paired, at 50% and 70% tau efficiency:
    ``gap``: the share of the CNN-to-oracle jet-misID gap in data (equal data efficiency)
    that DANN recovers (>= 0.5), applicable where the gap exceeds twice its error (the
    binomial error of the test jets, common to the seeds, or the seed spread, whichever is
    larger); ``ratio``: DANN's data/simulation efficiency ratio at the cut fixed in
    simulation is closer to 1 than the CNN's, applicable where the CNN's ratio is off 1 by
    more than twice its error;
    ``sim_cost``: the simulated tau efficiency DANN gives up at the jet misID the CNN
    has in simulation (<= 0.02), against the CNN's own efficiency at that cut."""
    out: dict = {}
    for eff in (0.5, 0.7):
        key = f"eff{eff}"
        cnn = by_seed(rows, "cnn", "data-equal-eff", eff, "jet_misid")
        dann = by_seed(rows, "cnn+dann", "data-equal-eff", eff, "jet_misid")
        oracle = by_seed(rows, "oracle", "data-equal-eff", eff, "jet_misid")
        seeds = sorted(set(cnn) & set(dann) & set(oracle))
        if seeds:
            gap = np.array([cnn[k] - oracle[k] for k in seeds])
            gain = np.array([cnn[k] - dann[k] for k in seeds])
            err = {m: by_seed(rows, m, "data-equal-eff", eff, "jet_misid_error")
                   for m in ("cnn", "oracle")}
            binomial = float(np.mean([np.hypot(err["cnn"][k], err["oracle"][k])
                                      for k in seeds]))
            spread = float(gap.std(ddof=1) / np.sqrt(len(seeds))) if len(seeds) > 1 else 0.0
            # every seed is scored on the same test jets: their binomial error is common to
            # the seeds and does not shrink with their number
            gap_error = max(binomial, spread)
            applicable = bool(gap.mean() > 2 * gap_error)
            recovered = float(gain.mean() / gap.mean()) if gap.mean() > 0 else None
            out.setdefault("gap", {})[key] = {
                "cnn_misid": float(np.mean([cnn[k] for k in seeds])),
                "dann_misid": float(np.mean([dann[k] for k in seeds])),
                "oracle_misid": float(np.mean([oracle[k] for k in seeds])),
                "gap": float(gap.mean()), "gap_error": float(gap_error),
                "recovered": recovered, "applicable": applicable,
                "met": bool(recovered >= 0.5) if applicable and recovered is not None
                else None, "seeds": len(seeds)}
        cnn_r = by_seed(rows, "cnn", "sim-fixed", eff, "data_sim_eff_ratio")
        dann_r = by_seed(rows, "cnn+dann", "sim-fixed", eff, "data_sim_eff_ratio")
        seeds = sorted(set(cnn_r) & set(dann_r))
        if seeds:
            closer = [abs(dann_r[k] - 1) < abs(cnn_r[k] - 1) for k in seeds]
            # the ratio's error from the data taus' binomial error (the simulated cut's
            # efficiency is the target efficiency by construction; the same test taus for
            # every seed, so it does not shrink with the seeds)
            eff_err = by_seed(rows, "cnn", "sim-fixed", eff, "data_tau_eff_error")
            ratio_error = float(np.mean([eff_err[k] for k in seeds]) / eff
                                ) if eff_err else float("nan")
            cnn_mean = float(np.mean([cnn_r[k] for k in seeds]))
            dann_mean = float(np.mean([dann_r[k] for k in seeds]))
            applicable = bool(abs(cnn_mean - 1) > 2 * ratio_error)
            out.setdefault("ratio", {})[key] = {
                "cnn": cnn_mean, "dann": dann_mean, "error": ratio_error,
                "closer_in": int(sum(closer)), "seeds": len(seeds),
                "applicable": applicable,
                "met": bool(abs(dann_mean - 1) < abs(cnn_mean - 1)) if applicable else None}
        at_ref = by_seed(rows, "cnn+dann", "sim-fixed", eff, "sim_eff_at_reference_misid")
        own = by_seed(rows, "cnn", "sim-fixed", eff, "sim_eff_at_reference_misid")
        seeds = sorted(set(at_ref) & set(own))
        if seeds:
            # against the CNN's own value at that cut (not ``eff``): with few simulated test
            # jets passing, the jet-quantile cut is coarse, and this pairing cancels that
            cost = np.array([own[k] - at_ref[k] for k in seeds])
            out.setdefault("sim_cost", {})[key] = {
                "cost": float(cost.mean()),
                "std": float(cost.std(ddof=1)) if len(seeds) > 1 else None,
                "cnn_own": float(np.mean([own[k] for k in seeds])),
                "met": bool(cost.mean() <= 0.02), "seeds": len(seeds)}
    return out


def plot_curves(curves: list[dict], path: Path) -> None:
    """``path`` (benchmarks/results/tau_misid.png): jet misidentification against tau efficiency in
    data for every model (mean over seeds), and the data/simulation efficiency ratio against
    visible pT at the 50% cut fixed in simulation, for the CNN with and without DANN."""
    if not curves:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_pt) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name in dict.fromkeys(c["model"] for c in curves):
        sel = [c for c in curves if c["model"] == name]
        eff = sel[0]["data"]["tau_efficiency"]
        ax.plot(eff, np.mean([c["data"]["jet_misid"] for c in sel], axis=0), marker="o",
                ms=3, label=f"{name} ({len(sel)} seeds)")
        if name in ("cnn", "cnn+dann"):
            e = [c["efficiency_sim_fixed_50"] for c in sel]
            edges = np.asarray(e[0]["data"]["pt_edges_gev"])
            ratio = np.mean([np.asarray(x["data"]["efficiency_vs_pt"], float)
                             / np.asarray(x["simulation"]["efficiency_vs_pt"], float)
                             for x in e], axis=0)
            ax_pt.plot(np.sqrt(edges[:-1] * edges[1:]), ratio, marker="o", label=name)
    ax.set_yscale("log")
    ax.set_xlabel("tau efficiency (data)")
    ax.set_ylabel("jet -> tau misidentification (data)")
    ax.legend(fontsize=9)
    ax_pt.axhline(1.0, color="grey", lw=0.8)
    ax_pt.set_xscale("log")
    ax_pt.set_xlabel("visible tau pT [GeV]")
    ax_pt.set_ylabel("data / simulation tau efficiency (sim-fixed 50% cut)")
    ax_pt.legend(fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def control_region_ratio(d_data: np.ndarray, d_sim: np.ndarray, sim_tau_scores: np.ndarray,
                         eff: float) -> float:
    """The data/simulation pass-fraction ratio in the tau-enriched control region (D_jet of its
    candidates in data, ``d_data``, and in simulation, ``d_sim``) at the cut that keeps
    ``eff`` of the simulated taus: a scale factor measured without data labels."""
    from aihep.tau.metrics import passing, threshold_for

    cut = threshold_for(sim_tau_scores, eff)
    return passing(d_data, cut)[0] / max(passing(d_sim, cut)[0], 1e-12)


def print_summary(rows: list[dict]) -> None:
    print("\n| model | working point | tau eff | jet misID (mean +- std) | data/sim eff | "
          "e misID | mu misID | seeds |")
    print("|---|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["model"] for r in rows):
        for wp in ("sim-fixed", "data-equal-eff"):
            for eff in (0.5, 0.7):
                sel = [r for r in rows if r["model"] == name and r["working_point"] == wp
                       and r["tau_eff"] == eff]
                if sel:
                    m = [r["jet_misid"] for r in sel]
                    spread = np.std(m, ddof=1) if len(m) > 1 else sel[0]["jet_misid_error"]
                    print(f"| {name} | {wp} | {eff} | {np.mean(m):.2e} +- {spread:.1e} | "
                          f"{np.mean([r['data_sim_eff_ratio'] for r in sel]):.3f} | "
                          f"{np.mean([r['e_misid'] for r in sel]):.1e} | "
                          f"{np.mean([r['mu_misid'] for r in sel]):.1e} | {len(sel)} |")
    print(json.dumps(targets(rows), indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="3", help="a count (1..N) or a list (2,3); "
                        "rows of other seeds already in tau.json are kept")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--events", default=DEFAULT_EVENTS)
    parser.add_argument("--data-qcd-events", type=int, default=1_350_000,
                        help="QCD events in the data domain (~0.17 test jets each: >= 200k "
                        "test jets)")
    parser.add_argument("--data-adapt-qcd-events", type=int, default=150_000,
                        help="of which the adaptation (and oracle training) sample takes "
                        "this many events' candidates (at most half), the test set the rest")
    parser.add_argument("--data-signal-scale", type=float, default=1.6,
                        help="data events of the non-QCD samples per simulated event: half "
                        "go to the adaptation (oracle) sample, so 1.6 gives the oracle as "
                        "many taus, electrons and muons as the simulated training set (80%%)")
    parser.add_argument("--models", default="cnn,cnn+dann,part-lite,oracle")
    parser.add_argument("--data-shift", type=float, default=1.0,
                        help="scale of the data domain's shift (data_domain(scale)); other "
                        "than 1 writes tau_shift<scale>.json, a stress test")
    parser.add_argument("--dann-lambdas", default="1",
                        help="DANN weights to fit; with several, the cnn+dann row takes the one "
                        "whose control-region data/simulation ratio is closest to 1")
    parser.add_argument("--summary", action="store_true",
                        help="only print the table and the targets of the results file")
    parser.add_argument("--retarget", action="store_true",
                        help="recompute the targets of the results file at this code "
                        "(targets_commit), then print them")
    args = parser.parse_args()
    tag = "" if args.data_shift == 1.0 else f"_shift{args.data_shift:g}"
    results = RESULTS.with_name(f"tau{tag}.json")
    if args.summary or args.retarget:
        if not results.is_file():
            parser.error(f"{results}: no results file; run the benchmark first")
        result = json.loads(results.read_text())
        if args.retarget:
            from aihep._atomic import write_json_atomic

            # the run's commit and date stay; the targets say which code computed them
            result.update(targets=targets(result["rows"]), targets_commit=git_commit())
            write_json_atomic(results, result)
        print_summary(result["rows"])
        return
    try:
        events = {k: int(v) for k, v in (item.split("=") for item in args.events.split(","))}
    except ValueError:
        parser.error(f"--events {args.events!r}: expected sample=count,... "
                     f"(e.g. {DEFAULT_EVENTS})")
    from aihep.tau.data import SAMPLES

    unknown = sorted(set(events) - set(SAMPLES))
    if unknown or "qcd" not in events or min(events.values()) < 1:
        parser.error(f"--events {args.events!r}: expected positive counts of samples among "
                     f"{', '.join(SAMPLES)}, qcd included")
    if not 0 < args.data_adapt_qcd_events < args.data_qcd_events:
        parser.error("--data-adapt-qcd-events / --data-qcd-events: expected 0 < adaptation "
                     f"events < data QCD events, got {args.data_adapt_qcd_events} / "
                     f"{args.data_qcd_events}")
    if not 0 < args.data_signal_scale < float("inf"):
        parser.error(f"--data-signal-scale: expected a finite number > 0, got "
                     f"{args.data_signal_scale}")
    try:
        lambdas = [float(x) for x in args.dann_lambdas.split(",")]
    except ValueError:
        lambdas = []
    if not lambdas or min(lambdas) <= 0 or max(lambdas) == float("inf"):
        parser.error(f"--dann-lambdas {args.dann_lambdas!r}: expected comma-separated "
                     "finite weights > 0 (e.g. 0.3,1,3)")
    if len(lambdas) > 1 and "ztautau" not in events:
        parser.error(f"--dann-lambdas {args.dann_lambdas!r}: choosing among weights needs the "
                     "ztautau sample (the control region) in --events")
    bad_models = sorted(set(args.models.split(",")) - {"cnn", "cnn+dann", "part-lite", "oracle"})
    if bad_models:
        parser.error(f"--models {args.models!r}: unknown {', '.join(bad_models)} (expected "
                     "names among cnn, cnn+dann, part-lite, oracle)")
    if results.is_file():  # seeds of one run are merged, runs of other setups are not
        setup = {"events": events, "data_qcd_events": args.data_qcd_events,
                 "data_adapt_qcd_events": args.data_adapt_qcd_events,
                 "data_signal_scale": args.data_signal_scale, "epochs": args.epochs,
                 "dann_lambdas": lambdas}
        earlier = json.loads(results.read_text())
        earlier.setdefault("data_adapt_qcd_events", earlier.get("data_qcd_events", 0) // 2)
        earlier.setdefault("data_signal_scale", 1.0)  # runs before the option
        earlier.setdefault("dann_lambdas", [1.0])
        differs = [k for k, v in setup.items() if earlier.get(k) != v]
        if differs:
            parser.error(f"{results}: holds a run with other {', '.join(differs)}; move it "
                         "away (e.g. to tau_<size>.json) to start this setup")
    commit = git_commit()
    import torch

    from aihep.nn.train import TrainConfig
    from aihep.tau.data import JET, TAU, TauCandidates
    from aihep.tau.metrics import (
        discriminant,
        efficiency_by,
        misid_curve,
        passing,
        threshold_for,
        working_points,
    )
    from aihep.tau.model import TauModelConfig
    from aihep.tau.run import TauTrainConfig, fit_tau_model, tau_probabilities

    torch.set_num_threads(args.workers)

    def data_events(name: str, n: int) -> int:
        """Events of a sample in the data domain (``n`` simulated)."""
        return (args.data_qcd_events if name == "qcd"
                else max(1, round(args.data_signal_scale * n)))

    sim_parts, data_parts = [], []
    for name, n in events.items():
        sim_parts.append(sample(name, "simulation", n, args.workers))
        data_parts.append(sample(name, "data", data_events(name, n), args.workers,
                                 args.data_shift))
    rng = np.random.default_rng(0)

    blocks: dict[str, list[int]] = {}  # candidates per sample, in order, of each split part

    def split(parts: list[TauCandidates], fractions: list[float], names: tuple[str, str]
              ) -> tuple[TauCandidates, ...]:
        a, b = [], []
        for p, first in zip(parts, fractions, strict=True):
            order = rng.permutation(len(p))
            k = int(first * len(p))
            a.append(p.select(np.sort(order[:k])))
            b.append(p.select(np.sort(order[k:])))
        blocks[names[0]], blocks[names[1]] = [len(x) for x in a], [len(x) for x in b]
        return TauCandidates.concatenate(a), TauCandidates.concatenate(b)

    def from_sample(part: str, name: str) -> np.ndarray:
        """Which candidates of a split part come from sample ``name`` (the control region:
        in data, a selection such as CMS's mu-tau_h region, not a label)."""
        return np.repeat([n == name for n in events], blocks[part])

    sim_train, sim_test = split(sim_parts, [0.8] * len(sim_parts), ("sim_train", "sim_test"))
    # the oracle's labelled training set stays the size of the simulated one: more QCD
    # events in data enlarge the test set only
    adapt_qcd = min(0.5, args.data_adapt_qcd_events / args.data_qcd_events)
    data_adapt, data_test = split(data_parts, [adapt_qcd if name == "qcd" else 0.5
                                               for name in events], ("data_adapt", "data_test"))
    # the test sets on disk, for `aihep tau evaluate` on the registered runs
    split_dir = CACHE / "splits" / "_".join(f"{n}{k}" for n, k in events.items())
    data_name = (f"{domain_dir(args.data_shift)}-test-qcd{args.data_qcd_events}"
                 f"-adapt{args.data_adapt_qcd_events}"
                 + ("" if args.data_signal_scale == 1 else f"-signal{args.data_signal_scale:g}"))
    for part, name in ((sim_test, "sim-test"), (data_test, data_name)):
        if not (split_dir / name / "candidates.npz").is_file():
            (split_dir / name).mkdir(parents=True, exist_ok=True)
            part.save(split_dir / name / "candidates.npz")
    sizes = {"sim_train": len(sim_train), "sim_test": len(sim_test),
             "data_adapt": len(data_adapt), "data_test": len(data_test),
             "data_test_jets": int((data_test.label == JET).sum()),
             "data_test_taus": int((data_test.label == TAU).sum())}
    print(sizes, flush=True)
    rows, runs, curves = [], [], []
    seeds = seed_list(args.seeds)
    for seed in seeds:
        def config(kind: str, dann: float = 0.0, s: int = seed) -> TauTrainConfig:
            return TauTrainConfig(model=TauModelConfig(kind=kind, seed=s), train=TrainConfig(
                epochs=args.epochs, batch_size=256, learning_rate=1e-3, patience=3, seed=s),
                dann_lambda_max=dann)

        def dann_by_control_region(s: int, train_set: TauCandidates, adapt: TauCandidates
                                   ) -> tuple:
            """DANN at every ``--dann-lambdas`` weight; the one whose control-region
            data/simulation ratio (mean over 50% / 70%) is closest to 1 (first of equals).
            Each weight's data misID at equal efficiency is recorded for evaluation only;
            returns the chosen fit, its config, the scan and its simulated / data test
            probabilities."""
            region_data = data_adapt.select(np.flatnonzero(from_sample("data_adapt",
                                                                       "ztautau")))
            sim_region = from_sample("sim_test", "ztautau")
            fits, scan = {}, {}
            for lam in lambdas:
                stem = "cnn+dann" if lam == 1 else f"cnn+dann_l{lam:g}"
                lam_start = time.perf_counter()
                fitted = fit_tau_model(train_set, config("deeptau-cnn", lam, s), adapt,
                                       checkpoint=CACHE / f"{stem}{tag}_seed{s}_{commit}.ckpt")
                p_sim = tau_probabilities(fitted[0], sim_test)
                d_sim = discriminant(p_sim, JET)
                d_region = discriminant(tau_probabilities(fitted[0], region_data), JET)
                ratios = {f"cr_ratio{int(eff * 100)}": control_region_ratio(
                    d_region, d_sim[sim_region], d_sim[sim_test.label == TAU], eff)
                    for eff in (0.5, 0.7)}
                p_data = tau_probabilities(fitted[0], data_test)
                d_data = discriminant(p_data, JET)
                taus, jets = d_data[data_test.label == TAU], d_data[data_test.label == JET]
                fits[lam] = (*fitted, p_sim, p_data)
                scan[f"{lam:g}"] = {**ratios, "score": float(np.mean(
                    [abs(r - 1) for r in ratios.values()])), **{  # data labels: evaluation
                    f"jet_misid_data_eff{int(eff * 100)}": passing(
                        jets, threshold_for(taus, eff))[0] for eff in (0.5, 0.7)},
                    "minutes": (time.perf_counter() - lam_start) / 60}
            chosen = min(lambdas, key=lambda lam: scan[f"{lam:g}"]["score"])
            model, history, p_sim, p_data = fits[chosen]
            return model, history, config("deeptau-cnn", chosen, s), scan, (p_sim, p_data)

        plans = {"cnn": (sim_train, config("deeptau-cnn"), None, False),
                 "cnn+dann": (sim_train, config("deeptau-cnn", 1.0), data_adapt, True),
                 "part-lite": (sim_train, config("part-lite"), None, False),
                 "oracle": (data_adapt, config("deeptau-cnn"), None, False)}
        probabilities = {}
        for name in args.models.split(","):
            train_set, cfg, adapt, adapted = plans[name]
            start = time.perf_counter()
            if name == "cnn+dann":
                model, history, cfg, dann_scan, (p_sim, p_data) = dann_by_control_region(
                    seed, train_set, adapt)
                minutes = (time.perf_counter() - start) / 60
            else:
                model, history = fit_tau_model(
                    train_set, cfg, adapt,
                    checkpoint=CACHE / f"{name}{tag}_seed{seed}_{commit}.ckpt")
                minutes = (time.perf_counter() - start) / 60
                p_sim, p_data = (tau_probabilities(model, sim_test),
                                 tau_probabilities(model, data_test))
            probabilities[name] = p_sim
            cut50 = threshold_for(discriminant(p_sim, JET)[sim_test.label == TAU], 0.5)
            curves.append({"model": name, "seed": seed,
                           "data": misid_curve(p_data, data_test.label),
                           "simulation": misid_curve(p_sim, sim_test.label),
                           "efficiency_sim_fixed_50": {
                               "data": efficiency_by(p_data, data_test.label,
                                                     data_test.true_pt_gev,
                                                     data_test.true_decay_mode, cut50),
                               "simulation": efficiency_by(p_sim, sim_test.label,
                                                           sim_test.true_pt_gev,
                                                           sim_test.true_decay_mode, cut50)}})
            runs.append({"model": name, "seed": seed, "minutes": minutes,
                         "best_epoch": history.best_epoch,
                         "epochs": len(history.train_loss)})
            for r in working_points(p_sim, sim_test.label, p_data, data_test.label):
                rows.append({"model": name, "adapted": adapted, **r, "seed": seed,
                             **({"dann_lambda": cfg.dann_lambda_max, "dann_scan": dann_scan}
                                if name == "cnn+dann" else {})})
            if "cnn" in probabilities:  # the adaptation's cost in simulation
                d_ref = discriminant(probabilities["cnn"], JET)
                d_now = discriminant(p_sim, JET)
                for eff in (0.5, 0.7):
                    ref_cut = threshold_for(d_ref[sim_test.label == TAU], eff)
                    ref_misid = passing(d_ref[sim_test.label == JET], ref_cut)[0]
                    jets = np.sort(d_now[sim_test.label == JET])
                    cut = float(np.quantile(jets, 1 - ref_misid)) if len(jets) else 1.0
                    for row in rows[-4:]:
                        if row["tau_eff"] == eff:
                            row["sim_eff_at_reference_misid"] = passing(
                                d_now[sim_test.label == TAU], cut)[0]
            if seed == 1:  # a registrable run (aihep models register)
                from aihep.tau.run import write_run

                run_dir = CACHE / "runs" / f"{name}{tag}_seed1"
                run_dir.mkdir(parents=True, exist_ok=True)
                from aihep.workflow.manifest import file_entry

                files = [CACHE / "simulation" / f"{n}_{k}" / "candidates.npz"
                         for n, k in events.items()]
                if name == "oracle" or adapted:
                    files += [CACHE / domain_dir(args.data_shift)
                              / f"{n}_{data_events(n, k)}"
                              / "candidates.npz" for n, k in events.items()]
                write_run(run_dir, model, cfg, history, minutes, [file_entry(f) for f in files], {
                    "simulation": len(train_set),
                    "data": len(adapt) if adapt is not None else 0})
            print(f"seed {seed} {name}: {minutes:.1f} min", flush=True)
            merged = merged_rows(results, rows, seeds, commit)
            write_result(results, {"benchmark": "tau", "events": events,
                                   "data_shift": args.data_shift,
                                   "data_qcd_events": args.data_qcd_events,
                                   "data_adapt_qcd_events": args.data_adapt_qcd_events,
                                   "data_signal_scale": args.data_signal_scale,
                                   "dann_lambdas": lambdas, "sizes": sizes,
                                   "epochs": args.epochs, "rows": merged,
                                   "runs": merged_rows(results, runs, seeds, commit, "runs"),
                                   "curves": merged_rows(results, curves, seeds, commit,
                                                         "curves"),
                                   "targets": targets(merged)}, commit)
    plot_curves(json.loads(results.read_text()).get("curves", []),
                results.with_name(f"tau{tag}_misid.png"))
    print_summary(merged_rows(results, rows, seeds, commit))  # with the other seeds' rows


if __name__ == "__main__":
    main()
