"""Benchmark: fast calorimeter simulation judged with the CaloChallenge metrics.

Reference showers come from aihep's cascade Monte Carlo (`aihep.fastsim.cascade`), made in
cached, resumable installments under .cache/benchmarks/fastsim/<layout>/ (the one chunk
engine): a training set (seed 11) and two independent held-out sets (seeds 12 and 13) of
electrons log-uniform in the layout's energy range. Then, per model:

* ``reference``: the second held-out set against the first (the sanity row: |AUC - 0.5|
  should be <= 0.02 and KPD ~ 0);
* ``gflash``: GFlash tuned on the training set;
* ``vae``, ``flow-matching``: surrogates trained on the training set (runs cached);
  ``KIND+qN``: the trained KIND with the post-hoc quantile calibration in N bins of E_inc
  fitted on the training set (``aihep.fastsim.surrogates.calibrate``; cached beside it, its
  minutes added to the training's); ``KIND+qNL``: the layer energies mapped too;
  ``KIND-lg``: trained with ``layer_gap`` (empty layers far below the threshold);

each generates showers with the first held-out set's incident energies and is compared with
it: classifier AUC (low and high level, 68% bootstrap interval) and JSD, FPD and KPD,
separation powers. Timing: ms per shower at batch sizes 1, 100 and 10,000 (showers per call;
a surrogate draws them in network passes of at most 1024; the reference:
its simulation time per shower over the training spectrum, batch-independent), the speed-up
at batch 10,000 over the training spectrum and at 10, 50 and 100 GeV.

Usage: python benchmarks/fastsim.py [--layout coarse|ds2] [--train 50000] [--test 20000]
       [--models gflash,vae,flow-matching,caloflow] [--workers 2] [--epochs 100]
       [--generate-only | --train-only]  (split the work over processes sharing the cache)
Writes benchmarks/results/fastsim.json (rows of other layouts are kept) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import ROOT, git_commit, utc_now, write_result

CACHE = ROOT.parent / ".cache" / "benchmarks" / "fastsim"
# hidden sizes: VAE encoder/decoder layers, flow matching residual blocks (width x count),
# CaloFlow's spline-flow hypernetworks
SIZES = {"vae": (512, 512), "flow-matching": (512, 512, 512), "caloflow": (256, 256)}
# "KIND-lg": the same surrogate with SurrogateConfig.layer_gap (an empty layer's energy a
# decade or more below the threshold, so the first stage decides which layers are empty)
LAYER_GAP = "-lg"
# the reference kernel: the rows in results/fastsim.json were measured against the kernel of
# that time (Highland angle per step added in the tangent plane, step 0.05); the library's
# default became the transport-mean-free-path scattering later (docs/fastsim.md). Sets of
# another kernel are cached under names ending in its settings
KERNEL = {"scattering": "tangent", "scattering_power": "highland", "max_loss": 0.05}
_FIRST_KERNEL = {"scattering": "tangent", "scattering_power": "highland", "max_loss": 0.05}


def reference_kernel():
    from aihep.fastsim.cascade import CascadeConfig

    return CascadeConfig(**KERNEL)


def reference_set(layout_name: str, n: int, seed: int, workers: int):
    from aihep.fastsim.dataset import ShowerDatasetConfig, simulate_dataset
    from aihep.fastsim.geometry import preset
    from aihep.workflow.executor import ExecutorConfig

    config = ShowerDatasetConfig(layout=preset(layout_name), cascade=reference_kernel(),
                                 n_showers=n, seed=seed, showers_per_chunk=250)
    out = CACHE / layout_name / (f"reference_seed{seed}_{n}"
                                 + ("" if KERNEL == _FIRST_KERNEL else "_" + "_".join(
                                     map(str, KERNEL.values()))))
    start = time.perf_counter()
    result = simulate_dataset(config, out, ExecutorConfig(
        kind="local" if workers > 1 else "serial", workers=workers),
        lambda done, total: print(f"  {out.name}: {done}/{total}", flush=True))
    print(f"  {out.name}: {time.perf_counter() - start:.0f} s", flush=True)
    return result


def surrogate_dir(kind: str, args: argparse.Namespace) -> Path:
    """Where a trained surrogate is cached (keyed by the voxel representation's version too:
    a model of an older representation is never reused)."""
    from aihep.fastsim.surrogates import REPRESENTATION

    return CACHE / args.layout / f"{kind}_{args.train}_{args.epochs}_r{REPRESENTATION}"


def trained_surrogate(kind: str, args: argparse.Namespace, layout, train) -> Path:
    """The cached run directory of surrogate ``kind`` trained on ``train``; trains (or
    resumes from its checkpoint) when missing. Its wall time over every session is kept in
    ``train_minutes.json``."""
    from aihep.fastsim.surrogates import SurrogateConfig, train_surrogate, training_minutes
    from aihep.nn.train import TrainConfig

    run = surrogate_dir(kind, args)
    if not (run / "surrogate.pt").is_file():
        start = time.perf_counter()
        surrogate = train_surrogate(
            train.showers_mev, train.incident_mev, layout,
            SurrogateConfig(kind=base_kind(kind), hidden=SIZES[base_kind(kind)],
                            layer_gap=kind.endswith(LAYER_GAP), train=TrainConfig(
                epochs=args.epochs, batch_size=256, learning_rate=1e-3, patience=10)),
            checkpoint=run.with_suffix(".ckpt"))
        surrogate.save(run)
        # every session of a resumed training (its checkpoint keeps each epoch's time)
        (run / "train_minutes.json").write_text(json.dumps(
            training_minutes(surrogate, time.perf_counter() - start)))
    return run


def base_kind(kind: str) -> str:
    """The surrogate kind without the ``-lg`` (layer gap) suffix."""
    return kind.removesuffix(LAYER_GAP)


def parse_model(model: str) -> tuple[str, int, bool, int | None] | None:
    """``KIND[-lg][+qBINS[L]][@STEPS]`` -> (kind, bins (0: none), layers mapped, ODE steps), or
    None when malformed."""
    base, _, steps = model.partition("@")
    kind, _, bins = base.partition("+q")
    layers = bins.endswith("L")
    bins = bins.removesuffix("L")
    if not all(v.isdigit() and int(v) > 0 for v in (bins, steps) if v) or (
            layers and not bins):
        return None
    return kind, int(bins or 0), layers, int(steps) if steps else None


def calibrated_surrogate(run: Path, bins: int, train, steps: int | None = None,
                         layers: bool = False) -> Path:
    """The cached run ``run`` (sampled with ``steps`` ODE steps) with the quantile calibration
    in ``bins`` bins of E_inc fitted on the training showers (``layers``: of the layer
    energies too; fitted and saved beside it when missing; its minutes added to the
    training's in ``train_minutes.json``)."""
    from aihep.fastsim.surrogates import calibrate, load_surrogate

    out = run.with_name(f"{run.name}_q{bins}" + ("L" if layers else "")
                        + (f"_s{steps}" if steps else ""))
    if not (out / "surrogate.pt").is_file():
        start = time.perf_counter()
        calibrated = calibrate(load_surrogate(run, steps), train.showers_mev,
                               train.incident_mev, bins, layers=layers)
        calibrated.save(out)
        base = json.loads((run / "train_minutes.json").read_text())
        (out / "train_minutes.json").write_text(json.dumps(
            base + (time.perf_counter() - start) / 60))
    return out


def ensure_manifest(run: Path, surrogate, reference: Path) -> None:
    """Give a cached surrogate run a manifest (so `aihep models register` can card it):
    the configuration and layout saved with the model, the training showers' hash."""
    from aihep.workflow.manifest import build_manifest, file_entry, write_manifest

    if (run / "manifest.json").is_file():
        return
    write_manifest(run, build_manifest(
        "aihep.calo.train", config={"surrogate": surrogate.config.model_dump(mode="json"),
                                    "layout": surrogate.layout.model_dump(mode="json")},
        seed=surrogate.config.seed, inputs=[file_entry(reference)],
        outputs=[file_entry(run / "surrogate.pt", run)],
        extra={"written_by": "benchmarks/fastsim.py"}))


def merged(old: dict, rows: list[dict], layout: str, run: dict) -> dict:
    """The results file after a run on ``layout``: its ``rows`` replace the old rows of the
    same (layout, model), the others are kept; ``run`` (sizes, reference timing, commit,
    date) goes under ``layouts[layout]`` (a file from before that kept one layout's at the
    top level)."""
    mine = {(r["layout"], r["model"]) for r in rows}
    kept = [r for r in old.get("rows", []) if (r["layout"], r["model"]) not in mine]
    keys = ("n_train", "n_test", "reference_ms_per_shower", "reference_ms_by_energy",
            "commit", "date")
    layouts = dict(old.get("layouts") or (
        {old["layout"]: {k: old[k] for k in keys if k in old}} if "layout" in old else {}))
    layouts[layout] = run
    return {"benchmark": "fastsim", "layouts": layouts, "rows": kept + rows}


def time_reference(layout, energies_mev: np.ndarray) -> float:
    """Mean ms per shower of the cascade at the given energies (one core)."""
    from aihep.fastsim.cascade import simulate

    kernel = reference_kernel()
    simulate(layout, energies_mev[:2], kernel, seed=98)  # compile first (numba, per checkout)
    start = time.perf_counter()
    simulate(layout, energies_mev, kernel, seed=99)
    return 1e3 * (time.perf_counter() - start) / len(energies_mev)


def time_model(generate, energies_mev: np.ndarray, batch: int) -> float:
    """ms per shower generating len(energies) showers in batches of ``batch``, on one core
    (as the reference is timed)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    for i in range(0, len(energies_mev), batch):
        generate(energies_mev[i:i + batch], batch)
    seconds = time.perf_counter() - start
    torch.set_num_threads(threads)
    return 1e3 * seconds / len(energies_mev)


def plot(layout: str) -> None:
    """AUC against ms per shower for the layout's rows, as docs/img/fastsim_<layout>.png."""
    from aihep.report.calo import tradeoff_figure
    from aihep.report.html import save_figure

    path = ROOT / "results" / "fastsim.json"
    rows = [r for r in json.loads(path.read_text())["rows"] if r["layout"] == layout]
    if rows:
        save_figure(tradeoff_figure(rows), ROOT.parent / "docs" / "img" /
                    f"fastsim_{layout}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", default="coarse")
    parser.add_argument("--train", type=int, default=50_000)
    parser.add_argument("--test", type=int, default=20_000)
    parser.add_argument("--models",
                        default="reference,gflash,vae,flow-matching,flow-matching@8,caloflow",
                        help="model@N: a flow-matching model sampled with N ODE steps; "
                        "model+qN: with the quantile calibration in N bins of E_inc "
                        "(model+qNL: of the layer energies too)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--cls-epochs", type=int, default=30)
    parser.add_argument("--generate-only", action="store_true",
                        help="only make (or complete) the cached reference sets")
    parser.add_argument("--train-only", action="store_true",
                        help="only train (or resume) the listed surrogates on the cached "
                             "training set (another process can evaluate them later)")
    parser.add_argument("--plot-only", action="store_true",
                        help="only draw docs/img/fastsim_<layout>.png from the results")
    args = parser.parse_args()
    for model in args.models.split(","):
        parsed = parse_model(model)
        if model not in ("reference", "gflash") and (
                parsed is None or base_kind(parsed[0]) not in SIZES):
            parser.error(f"--models: reference, gflash or KIND[-lg][+qBINS[L]][@STEPS] with "
                         f"KIND vae, flow-matching or caloflow, not {model!r}")
    if args.plot_only:
        plot(args.layout)
        return
    commit = git_commit()
    import torch

    from aihep.fastsim.evaluate import EvaluationConfig, evaluate
    from aihep.fastsim.geometry import preset
    from aihep.fastsim.gflash import GFlash, tune
    from aihep.fastsim.metrics import ClassifierTestConfig
    from aihep.fastsim.surrogates import load_surrogate
    from aihep.io.calo import ShowerSet

    torch.set_num_threads(args.workers)
    # numpy's BLAS too (FPD's eigendecompositions, covariances): its default of one thread
    # per core slowed a dataset-2 evaluation ~6x on two cores shared with other jobs
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.workers)
    layout = preset(args.layout)
    train = reference_set(args.layout, args.train, 11, args.workers).read()
    if args.train_only:
        for kind in {m.partition("@")[0].partition("+q")[0] for m in args.models.split(",")} - {
                "reference", "gflash"}:
            trained_surrogate(kind, args, layout, train)
        return
    test_a = reference_set(args.layout, args.test, 12, args.workers).read()
    test_b = reference_set(args.layout, args.test, 13, args.workers).read()
    if args.generate_only:
        return
    cls = ClassifierTestConfig()
    cls = cls.model_copy(update={"train": cls.train.model_copy(update={
        "epochs": args.cls_epochs})})
    config = EvaluationConfig(classifier=cls, seed=1)
    spectrum = train.incident_mev[:200]
    ref_ms = time_reference(layout, spectrum)
    ref_by_energy = {str(e): time_reference(layout, np.full(10, 1e3 * e)) for e in (10, 50, 100)}
    rows = []

    def row(model: str, generated: ShowerSet, timing: dict, n_train: int,
            minutes: float) -> dict:
        result = evaluate(test_a, generated, layout, config)
        r = {"model": model, "layout": args.layout,
             "auc_low": result.classifier_low["auc"],
             "auc_low_ci": result.classifier_low["auc_ci"],
             "auc_high": result.classifier_high["auc"],
             "auc_high_ci": result.classifier_high["auc_ci"],
             "jsd_low": result.classifier_low["jsd"], "jsd_high": result.classifier_high["jsd"],
             "fpd": result.fpd[0], "fpd_error": result.fpd[1], "kpd": result.kpd[0],
             "reference_ms_same_run": ref_ms,
             "kpd_error": result.kpd[1], "separation_power": result.separation, **timing,
             "n_train": n_train, "train_minutes": minutes, "notes": result.notes}
        print(json.dumps({k: r[k] for k in ("model", "auc_low", "auc_high", "fpd", "kpd")}),
              flush=True)
        return r

    path = ROOT / "results" / "fastsim.json"

    def save(rows: list[dict]) -> None:
        """This run's rows replace the file's rows of the same layout and model (others are
        kept: a run can add one model); written after every model."""
        old = json.loads(path.read_text()) if path.is_file() else {}
        write_result(path, merged(old, rows, args.layout, {
            "n_train": args.train, "n_test": args.test, "reference_ms_per_shower": ref_ms,
            "reference_ms_by_energy": ref_by_energy, "commit": commit, "date": utc_now()}),
            commit)

    models = args.models.split(",")
    if "reference" in models:
        rows.append(row("reference", test_b, {
            "ms_per_shower": {k: ref_ms for k in ("1", "100", "10000")},
            "speedup_vs_reference": 1.0,
            "speedup_by_energy": {k: 1.0 for k in ref_by_energy}}, 0, 0.0))
        save(rows)
    for model in (m for m in models if m != "reference"):
        start = time.perf_counter()
        base, _, steps = model.partition("@")
        kind, bins, layers, _ = parse_model(model) or (model, 0, False, None)
        if model == "gflash":
            gflash = GFlash(layout, tune(train.showers_mev, train.incident_mev, layout))

            def generate(e: np.ndarray, batch: int, g: GFlash = gflash) -> np.ndarray:
                return g.generate(e, seed=5)
        else:
            # "flow-matching@8": the trained flow-matching model sampled with 8 ODE steps
            run = surrogate_dir(kind, args)
            if steps and not (run / "surrogate.pt").is_file():
                message = f"{model}: train {kind} first"
                raise SystemExit(message)
            trained_surrogate(kind, args, layout, train)
            if bins:
                run = calibrated_surrogate(run, bins, train, int(steps) if steps else None,
                                           layers)
            surrogate = load_surrogate(run, int(steps) if steps else None)
            # the training's wall time (every session of it), not this process's
            start = time.perf_counter() - 60 * json.loads(
                (run / "train_minutes.json").read_text())
            ensure_manifest(run, surrogate, reference_set(args.layout, args.train, 11,
                                                          args.workers).path)

            def generate(e: np.ndarray, batch: int, s=surrogate) -> np.ndarray:
                # ``batch`` showers per call, drawn in network passes of PASS_SIZE (default)
                return s.generate(e, seed=5)
        minutes = (time.perf_counter() - start) / 60
        generated = generate(test_a.incident_mev, 10_000)
        ms = {str(b): time_model(generate, spectrum if b < 10_000 else np.resize(
            spectrum, 10_000), b) for b in (1, 100, 10_000)}
        by_energy = {k: ref_by_energy[k] / time_model(generate, np.full(100, 1e3 * float(k)),
                                                      100) for k in ref_by_energy}
        name = f"{base} ({steps} ODE steps)" if steps else model
        rows.append(row(name, ShowerSet(test_a.incident_mev, generated),
                        {"ms_per_shower": ms,
                                           "speedup_vs_reference": ref_ms / ms["10000"],
                                           "speedup_by_energy": by_energy},
                        len(train), minutes))
        save(rows)
    save(rows)
    plot(args.layout)
    print("\n| model | layout | AUC low (68%) | AUC high (68%) | FPD | KPD | ms/shower @10k "
          "| speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['layout']} | {r['auc_low']:.3f} ({r['auc_low_ci'][0]:.3f}-"
              f"{r['auc_low_ci'][1]:.3f}) | {r['auc_high']:.3f} ({r['auc_high_ci'][0]:.3f}-"
              f"{r['auc_high_ci'][1]:.3f}) | {r['fpd']:.2e} | {r['kpd']:.2e} | "
              f"{r['ms_per_shower']['10000']:.3f} | {r['speedup_vs_reference']:.0f} |")


if __name__ == "__main__":
    main()
