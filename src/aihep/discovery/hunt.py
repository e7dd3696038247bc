"""``aihep hunt``: anomaly scores in signal regions, cut, bump hunt, signal extraction.

For each signal-region (SR) window and method, a classifier is trained (CATHODE, CWoLa, IAD or
supervised) with k-folding over all events: each event, inside or outside the SR, is scored by
the one fold model that never saw it, so background scores do not depend on mjj through the
scoring procedure (see :mod:`aihep.discovery.classifiers`).
Events whose score passes the (1 - ``keep_fraction``) quantile of the SR scores are selected
and their mjj spectrum is bump-hunted (dijet fit, window scan, toy-based p-value). With several
windows x methods, the global p-value takes the look-elsewhere effect over these trials into
account with the Sidak correction p = 1 - (1 - p_min)^K (K trials; conservative for positively
correlated trials). When windows overlap, an event's reported score comes from the window whose
centre is nearest its mjj.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy import stats

from aihep import DEFAULT_SEED
from aihep.discovery.bumphunt import BumpHuntResult, bump_hunt, default_edges
from aihep.discovery.classifiers import ClassifierConfig
from aihep.discovery.dijet import DijetFit, fit_dijet
from aihep.discovery.extraction import (
    Estimate,
    SignalExtraction,
    SignalShape,
    extract_signal,
    jet_mass_peak,
    signal_posterior,
    spurious_signal,
)
from aihep.discovery.flows import FlowConfig, cathode_flow_config
from aihep.discovery.limits import UpperLimit, resonance_limits
from aihep.discovery.outliers import OutlierConfig, outlier
from aihep.discovery.review import (
    Check,
    Opinion,
    Review,
    check_second_opinion,
    median_opinion,
    review,
)
from aihep.discovery.weak import SignalRegion, cathode, cwola, idealized, supervised
from aihep.errors import InputError
from aihep.events.features import FEATURES
from aihep.workflow.executor import ExecutorConfig, make_executor

Method = Literal["cathode", "cwola", "ae", "flow", "idealized", "supervised"]
#: What ``--method all`` runs: every method that needs no truth (idealized only with a
#: reference). The supervised bound uses truth labels and is never part of a discovery claim.
DISCOVERY_METHODS = ("cathode", "cwola", "ae", "flow")
INPUTS = ("mj1", "delta_mj", "tau21_j1", "tau21_j2")


class HuntConfig(BaseModel):
    """What to run. Masses in GeV."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    methods: tuple[Method, ...] = ("cathode",)
    signal_region_gev: tuple[float, float] | None = Field(
        None, description="one signal region LO,HI [GeV]; none given (the default): signal "
        "regions slid over the spectrum (a fixed default window would sit on someone's "
        "resonance, e.g. the LHC Olympics' 3.5 TeV W')")
    sr_scan: bool = Field(False, description="slide the signal region over mjj (also when "
                          "no signal_region_gev is given)")
    scan_width_gev: float = Field(400.0, gt=0)
    scan_step_gev: float = Field(200.0, gt=0)
    scan_range_gev: tuple[float, float] | None = None
    sideband_gev: float = Field(200.0, gt=0)
    keep_fraction: float = Field(0.01, gt=0, le=1)
    min_selected: int = Field(50, ge=10, description="events the cut keeps over the full "
                              "mass range at least: a cut this tight keeps the top-scored "
                              "min_selected events instead (a window is never dropped)")
    n_folds: int = Field(5, ge=2)
    n_toys: int = Field(200, ge=10)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    flow: FlowConfig = Field(default_factory=cathode_flow_config,
                             description="CATHODE's conditional density (a 3-flow mixture)")
    outlier: OutlierConfig = Field(default_factory=OutlierConfig)
    signal_shape: SignalShape = "gaussian"
    limit_masses_gev: tuple[float, ...] | None = Field(
        None, description="mass hypotheses for limits when nothing is found "
        "(default: the SR centres)")
    limit_width_fraction: float = Field(0.05, gt=0, lt=1, description="signal width / mass")
    limit_cl: float = Field(0.95, gt=0, lt=1)
    limits: bool = Field(True, description="CLs limits at every window when nothing is "
                         "claimed (pyhf; minutes on a scan)")
    opinion_seeds: int = Field(3, ge=1, description="retrainings (seeds) behind the "
                               "reviewer's second opinion; it compares their medians")
    refine: bool = Field(True, description="after a significant scan, retrain the best method "
                         "in a window centred on the fitted resonance (one extra trial)")
    bump_scan: Literal["spectrum", "signal_region"] = Field(
        "signal_region", description="windows each trial's bump hunt scans after its cut: "
        "only those centred in the signal region the classifier was trained in (CWoLa "
        "hunting's test; a smaller look-elsewhere effect per trial, and a bump outside the "
        "trained region is vetoed by the reviewer anyway), or every window of the spectrum")
    seed: int = DEFAULT_SEED

    @field_validator("signal_region_gev", "scan_range_gev")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 <= value[0] < value[1]:
            msg = f"expected LO,HI in GeV with 0 <= LO < HI, got {value[0]:g},{value[1]:g}"
            raise ValueError(msg)
        return value


@dataclass(frozen=True)
class Trial:
    """One (window, method) pair: its cut and its bump hunt."""

    method: str
    window_gev: tuple[float, float]
    threshold: float
    n_selected: int
    bump: BumpHuntResult

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "signal_region_gev": list(self.window_gev),
                "threshold": self.threshold, "n_selected": self.n_selected,
                **{k: v for k, v in self.bump.to_dict().items() if k != "fit"}}


@dataclass(frozen=True)
class HuntResult:
    """Everything ``aihep hunt`` reports."""

    index: np.ndarray
    scores: np.ndarray
    trials: list[Trial]
    best: Trial
    p_value: float
    significance: float
    extraction: SignalExtraction | None
    daughters: dict[str, Estimate]
    n_events: int
    uncut_fit_pvalue: float
    selected: np.ndarray = field(repr=False)
    mjj: np.ndarray = field(repr=False)
    order: np.ndarray = field(repr=False)  # scores[i] belongs to input row order[i]
    method_scores: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    limits: dict[str, list[UpperLimit]] = field(default_factory=dict)
    review: Review | None = None
    scan_best: Trial | None = None  # the scan's best trial, when a refinement replaced it
    uncut_fit: DijetFit | None = field(default=None, repr=False)  # of the whole spectrum
    #: what ``scores`` are: "classifier" (the best method's output) or, after a claim,
    #: "posterior" (P(signal | mjj, features) under the fitted resonance)
    final_score: str = "classifier"

    @property
    def significant(self) -> bool:
        """p < 1e-3 (about 3 sigma) after the look-elsewhere correction."""
        return self.p_value < 1e-3

    @property
    def discovery(self) -> bool:
        """Significant, and every reviewer check passed (:mod:`aihep.discovery.review`)."""
        return self.significant and (self.review is None or self.review.passed)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "p_value": self.p_value, "significance": self.significance,
            "p_value_local": self.best.bump.p_local, "significance_local": self.best.bump.z_local,
            "p_value_best_trial": self.best.bump.p_global, "discovery": self.discovery,
            "significant": self.significant,
            "n_trials": len(self.trials), "best_trial": self.best.to_dict(),
            "refined": self.scan_best is not None, "final_score": self.final_score,
            "n_events": self.n_events,
            # chi2 p-value of the dijet fit to the whole spectrum: a tiny value means the
            # spectrum is not dijet-like (phase-space cuts, sculpting) or holds a strong
            # signal; read the significance with care then.
            "uncut_fit_pvalue": self.uncut_fit_pvalue,
        }
        if self.extraction is not None:
            ext = self.extraction.to_dict()
            n = ext["n_signal"]
            fitted = {"m_res": ext["m_res_gev"], "width": ext["width_gev"], "n_signal": n,
                      "signal_percentage": {k: 100 * n[k] / self.n_events
                                            for k in ("value", "error", "lower", "upper")}}
            if "spurious_signal" in ext:  # measured on the background-only reference
                fitted["spurious_signal"] = ext["spurious_signal"]
            # the total's parts: passing the cut, and rejected by it (split estimator)
            fitted.update({k: ext[k] for k in ("n_signal_selected", "n_signal_rejected",
                                               "total_yield") if k in ext})
            # Without a discovery the fit of the largest excess is kept for inspection but
            # not reported as a resonance.
            out.update(fitted if self.discovery else {"largest_excess_fit": fitted})
        if self.review is not None:
            out["review"] = self.review.to_dict()
            if self.significant and not self.review.passed:
                out["no_claim_because"] = [c.detail for c in self.review.checks
                                           if not c.passed]
        out["daughter_masses"] = {k: v.to_dict() for k, v in self.daughters.items()}
        if self.limits:
            # CLs upper limits on the signal yield (events): "all events" is the uncut
            # spectrum (total yield); a method's entry is the yield after its cut.
            out["limits"] = {k: [lim.to_dict() for lim in v] for k, v in self.limits.items()}
        if self.scan_best is not None:
            out["scan_best_trial"] = self.scan_best.to_dict()
        out["trials"] = [t.to_dict() for t in self.trials]
        return out


def check_features(table: dict[str, np.ndarray], source: str,
                   columns: tuple[str, ...] = FEATURES) -> np.ndarray:
    """Stack ``columns`` of a feature table, refusing missing columns and NaNs."""
    missing = [c for c in columns if c not in table]
    if missing:
        raise InputError(source, "columns", f"columns {', '.join(columns)}; missing "
                         f"{', '.join(missing)}")
    x = np.column_stack([np.asarray(table[c], dtype=float) for c in columns])
    if len(x) == 0:
        raise InputError(source, "rows", "at least one event")
    bad = ~np.isfinite(x)
    if bad.any():
        worst = columns[int(bad.sum(axis=0).argmax())]
        raise InputError(source, worst, f"finite values ({int(bad.any(axis=1).sum())} events "
                         "have NaN or infinite features)")
    return x


def windows(config: HuntConfig, mjj: np.ndarray) -> list[SignalRegion]:
    """The SR windows: one, or a sliding scan of overlapping windows."""
    if not config.sr_scan and config.signal_region_gev is not None:
        lo, hi = config.signal_region_gev
        return [SignalRegion(lo, hi, config.sideband_gev)]
    if config.scan_range_gev:
        lo, hi = config.scan_range_gev
    else:  # 5% to 99.5% quantiles of mjj, rounded to 100 GeV for readable windows
        lo, hi = (100.0 * np.round(np.quantile(mjj, [0.05, 0.995]) / 100.0)).tolist()
    starts = np.arange(lo, hi - config.scan_width_gev + 1e-9, config.scan_step_gev)
    return [SignalRegion(float(s), float(s + config.scan_width_gev), config.sideband_gev)
            for s in starts]


#: window widths (bins) of the hunt's bump hunts: bump_hunt's defaults, which it uses
BUMP_MIN_WIDTH, BUMP_MAX_WIDTH = (inspect.signature(bump_hunt).parameters[k].default
                                  for k in ("min_width", "max_width"))

#: methods that never train on the reference: the same cut applied to the reference is an
#: unbiased background-only check of the selection (see :mod:`aihep.discovery.review`)
REFERENCE_BLIND = ("cwola", "cathode", "supervised")


def _run_method(method: str, x: np.ndarray, mjj: np.ndarray, sr: SignalRegion,
                config: HuntConfig, truth: np.ndarray | None, reference: np.ndarray | None,
                reference_mjj: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Scores of every event for one method in one window, and of the reference events
    when the method never trains on them (else None)."""
    if method in ("ae", "flow"):
        # Learnt from the reference when there is one (then independent of the window),
        # otherwise from the data outside the SR.
        return outlier("ae" if method == "ae" else "flow", x, mjj,
                       train_rows=~sr.contains(mjj), reference_x=reference,
                       reference_mjj=reference_mjj, config=config.outlier,
                       n_folds=config.n_folds, seed=config.seed).scores, None
    trained = sr.contains(mjj) | (sr.in_sidebands(mjj) if method == "cwola" else False)
    score_reference = reference is not None and method in REFERENCE_BLIND
    held_out = np.concatenate([x[~trained], reference]) if score_reference else x[~trained]
    common: dict[str, Any] = {"config": config.classifier, "n_folds": config.n_folds,
                              "seed": config.seed, "held_out_x": held_out}
    if method == "cathode":
        result = cathode(x, mjj, sr, flow_config=config.flow, **common)
    elif method == "cwola":
        result = cwola(x, mjj, sr, **common)
    elif method == "idealized":
        if reference is None or reference_mjj is None:
            raise InputError("reference", "file", "a background reference sample (--reference) "
                             "for the idealized detector")
        result = idealized(x, mjj, sr, reference[sr.contains(reference_mjj)], **common)
    else:
        if truth is None:
            raise InputError("data", "label", "truth labels for the supervised reference")
        result = supervised(x, mjj, sr, truth, **common)
    n_out = int((~trained).sum())
    held = result.held_out_scores
    assert held is not None  # asked for with held_out_x
    scores = np.empty(len(x))
    scores[~trained] = held[:n_out]
    scores[result.index] = result.scores
    return scores, (held[n_out:] if score_reference else None)


def _threads_limited(single_thread: bool):
    """One BLAS/OpenMP/torch thread inside a worker process: parallel workers each running
    multi-threaded OpenMP on a busy machine slow down many-fold (spin-waiting threads)."""
    from contextlib import nullcontext

    if not single_thread:
        return nullcontext()
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    return threadpool_limits(1)


def _score_task(task: tuple) -> tuple[tuple[str, int | None],
                                      tuple[np.ndarray, np.ndarray | None]]:
    """Executor task: one method's scores in one window (or window-free)."""
    method, w, x, mjj, sr, config, truth, ref_x, ref_mjj, single_thread = task
    with _threads_limited(single_thread):
        return (method, w), _run_method(method, x, mjj, sr, config, truth, ref_x, ref_mjj)


def _bump_task(task: tuple) -> tuple[int, BumpHuntResult]:
    """Executor task: the bump hunt of one selected spectrum."""
    i, mjj_selected, edges, n_toys, seed, source, region, single_thread = task
    with _threads_limited(single_thread):
        return i, bump_hunt(mjj_selected, edges, n_toys=n_toys, seed=seed, source=source,
                            centre_range_gev=region)


def _scored(scored: dict[tuple[str, int | None], tuple[np.ndarray, np.ndarray | None]],
            method: str, window: int) -> tuple[np.ndarray, np.ndarray | None]:
    """A trial's (scores, reference scores): per window, or one for every window (outlier
    methods learnt from the reference)."""
    return scored[(method, window)] if (method, window) in scored else scored[(method, None)]


class _TrialStore:
    """Scores of finished (method, window) trials on disk, so a killed hunt resumes where it
    stopped. A file is used only if its key (the hunt's configuration and the data's and
    reference's content) matches."""

    def __init__(self, directory: Path | None, config: HuntConfig, arrays: list) -> None:
        import hashlib

        self.directory = directory
        digest = hashlib.sha256(config.model_dump_json().encode())
        for array in arrays:
            if array is not None:
                digest.update(np.ascontiguousarray(array).tobytes())
        self.key = digest.hexdigest()[:24]

    def _path(self, key: tuple[str, int | None]) -> Path:
        assert self.directory is not None
        return self.directory / f"{key[0]}-{'all' if key[1] is None else key[1]}.npz"

    def load(self, key: tuple[str, int | None]) -> tuple[np.ndarray, np.ndarray | None] | None:
        import zipfile

        if self.directory is None or not self._path(key).is_file():
            return None
        try:
            with np.load(self._path(key)) as f:
                if str(f["key"]) != self.key:
                    return None
                return f["scores"], f.get("reference")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None  # a damaged file: the trial runs again

    def save(self, key: tuple[str, int | None],
             value: tuple[np.ndarray, np.ndarray | None]) -> None:
        if self.directory is None:
            return
        from aihep._atomic import write_atomic

        self.directory.mkdir(parents=True, exist_ok=True)
        extra: dict[str, Any] = {} if value[1] is None else {"reference": value[1]}

        def write(path: Path) -> None:
            with open(path, "wb") as f:
                np.savez(f, key=self.key, scores=value[0], **extra)

        write_atomic(self._path(key), write)

    def run(self, key: tuple[str, int | None], compute: Callable[[], tuple[np.ndarray,
            np.ndarray | None]]) -> tuple[np.ndarray, np.ndarray | None]:
        """The stored scores of ``key``, else ``compute()`` (then stored)."""
        if (kept := self.load(key)) is not None:
            return kept
        value = compute()
        self.save(key, value)
        return value


def hunt(data: dict[str, np.ndarray], config: HuntConfig | None = None,
         reference: dict[str, np.ndarray] | None = None, source: str = "data",
         executor: ExecutorConfig | None = None,
         progress: Callable[[str, int, int], None] | None = None,
         checkpoint: Path | None = None) -> HuntResult:
    """Search ``data`` (a feature table: mjj, mj1, delta_mj, tau21_j1, tau21_j2) for a resonance.

    Args:
        data: feature columns (GeV); optional ``label`` (truth) and ``index``.
        config: methods, windows, cut, toys, seed.
        reference: background-only feature table (needed by the idealized detector).
        source: name used in error messages.
        executor: where the (method, window) trials run (default: serially, in process);
            results do not depend on it.
        progress: called as ``progress(what, done, total)`` after each trial finishes.
        checkpoint: a directory keeping the scores of finished trials (a re-run with the
            same configuration and data takes them from there).
    """
    config = config or HuntConfig()
    table = check_features(data, source)
    mjj, x = table[:, 0], table[:, 1:]
    ref_x = ref_mjj = None
    if reference is not None:
        ref = check_features(reference, "reference")
        ref_mjj, ref_x = ref[:, 0], ref[:, 1:]
    truth = np.asarray(data["label"]).astype(int) if "label" in data else None
    index = (np.asarray(data["index"]).astype(np.int64) if "index" in data
             else np.arange(len(mjj), dtype=np.int64))

    # The fit range comes from the full spectrum: a selected spectrum may peak at the signal.
    edges = default_edges(mjj)
    regions = windows(config, mjj)
    if config.bump_scan == "signal_region":
        one_sr = config.signal_region_gev is not None and not config.sr_scan
        regions = testable_regions(regions, edges, source,
                                   "signal_region_gev" if one_sr else "scan_range_gev")
    centres = np.array([0.5 * (r.lo_gev + r.hi_gev) for r in regions])
    nearest = np.argmin(np.abs(mjj[:, None] - centres[None, :]), axis=1)
    engine = make_executor(executor or ExecutorConfig(kind="serial"))
    single_thread = engine.n_workers > 1  # one BLAS/OpenMP thread per worker process
    try:
        # 1. scores per (method, window); outliers learnt from a reference need one run only
        jobs: list[tuple[str, int | None]] = []
        for method in config.methods:
            window_free = method in ("ae", "flow") and ref_x is not None
            jobs += [(method, None)] if window_free else [(method, w)
                                                          for w in range(len(regions))]
        store = _TrialStore(checkpoint, config, [table, ref_x, ref_mjj, truth])
        scored: dict[tuple[str, int | None], tuple[np.ndarray, np.ndarray | None]] = {}
        for key in jobs:
            if (kept := store.load(key)) is not None:
                scored[key] = kept
        score_tasks = [(method, w, x, mjj, regions[w or 0], config, truth, ref_x, ref_mjj,
                        single_thread) for method, w in jobs if (method, w) not in scored]
        n_tasks = len(jobs)
        for key, value in engine.map_unordered(_score_task, score_tasks):
            scored[key] = value
            store.save(key, value)
            if progress is not None:
                region = regions[key[1] or 0]
                progress(f"scored {key[0]} in SR {region.lo_gev:g}-{region.hi_gev:g} GeV",
                         len(scored), n_tasks)
        # 2. cut and bump hunt per (window, method)
        cuts: list[tuple[int, Method, float, np.ndarray]] = []
        best_scores: dict[str, np.ndarray] = {m: np.zeros(len(mjj)) for m in config.methods}
        for w, sr in enumerate(regions):
            for method in config.methods:
                scores, _ = _scored(scored, method, w)
                # the best classifier (signal in its SR) cuts hardest: loosen, not drop
                threshold, selected = _cut(scores, sr.contains(mjj), config)
                best_scores[method][nearest == w] = scores[nearest == w]
                if selected.sum() >= config.min_selected:
                    cuts.append((w, method, threshold, selected))
        hunt_tasks = [(i, mjj[sel], edges, config.n_toys, config.seed,
                       f"{source} ({m}, SR {regions[w].lo_gev:g}-{regions[w].hi_gev:g})",
                       _bump_region(regions[w], config), single_thread)
                      for i, (w, m, _, sel) in enumerate(cuts)]
        bumps = {}
        for key, value in engine.map_unordered(_bump_task, hunt_tasks):
            bumps[key] = value
            if progress is not None:
                w, m = cuts[key][0], cuts[key][1]
                progress(f"bump hunt after the {m} cut of SR {regions[w].lo_gev:g}-"
                         f"{regions[w].hi_gev:g} GeV ({config.n_toys} toys)", len(bumps),
                         len(hunt_tasks))
    finally:
        engine.close()
    trials: list[Trial] = []
    selections: dict[tuple[str, int], np.ndarray] = {}
    for i, (w, method, threshold, selected) in enumerate(cuts):
        trials.append(Trial(method, (regions[w].lo_gev, regions[w].hi_gev), threshold,
                            int(selected.sum()), bumps[i]))
        selections[(method, i)] = selected
    if not trials:
        raise InputError(source, "events", f"at least min_selected = "
                         f"{config.min_selected} events for a bump hunt; provide more data")
    best_i = min(range(len(trials)), key=lambda i: (trials[i].bump.p_global,
                                                    -trials[i].bump.z_local))
    best = trials[best_i]
    p_min = best.bump.p_global
    selected = selections[(best.method, best_i)]
    w_best = cuts[best_i][0]
    ref_scores = _scored(scored, best.method, w_best)[1]
    extraction, daughters = _characterize(data, mjj, selected, best, config)
    scan_best = None
    if _lee(p_min, len(trials)) < 1e-3 and config.refine:
        # Refine on the found resonance: retrain the best method in a window centred on it;
        # the refined trial is the candidate the reviewer judges and gives the final scores.
        refined = _refine(best, extraction, x, mjj, edges, config, truth, ref_x, ref_mjj,
                          source, store, progress)
        if refined is not None:
            trial, refined_scores, selected, ref_scores = refined
            trials.append(trial)  # every attempt counts as a trial
            scan_best, best = best, trial
            best_scores[best.method] = refined_scores
            extraction, daughters = _characterize(data, mjj, selected, best, config)
    if extraction is not None and ref_mjj is not None:
        extraction = spurious_signal(extraction, ref_mjj, best.bump.edges_gev, len(mjj),
                                     shape=config.signal_shape)
    # the claim's significance stays the scan's best p, over every trial made
    p_value = _lee(p_min, len(trials))
    uncut_fit = fit_dijet(edges, np.histogram(mjj, edges)[0])
    signal = extraction.after_cut if extraction is not None else None
    opinion = _second_opinion(best, extraction, x, mjj, edges, config, truth, ref_x,
                              ref_mjj, store, progress) if _lee(p_min, len(trials)) < 1e-3 else None
    checks = review(mjj, selected, best.bump.edges_gev, best.window_gev, best.bump.window_gev,
                    best.bump.observed, best.bump.expected,
                    signal.mass.value if signal else None,
                    signal.n_signal.value if signal else None,
                    signal.n_signal.error if signal else None, best.bump.fit.n_params,
                    signal.width.value if signal else None,
                    reference_mjj=ref_mjj if ref_scores is not None else None,
                    reference_selected=ref_scores >= best.threshold
                    if ref_scores is not None else None)
    if opinion is not None:
        checks = Review((*checks.checks, opinion))
    claimed = p_value < 1e-3 and checks.passed
    limits = {} if claimed or not config.limits else _limits(mjj, edges, regions, cuts,
                                                                config)
    method_scores = best_scores[best.method]
    final_score = "classifier"
    if claimed and extraction is not None and extraction.before_cut.n_signal.value > 0:
        # the answer to "which events are signal": the fitted resonance's mass odds times
        # the classifier's likelihood ratio (the classifier alone ranks poorly far from
        # the window it was trained in)
        method_scores = signal_posterior(mjj, method_scores, extraction.before_cut,
                                         best.bump.edges_gev, best.window_gev,
                                         config.signal_shape)
        final_score = "posterior"
    order = np.argsort(index, kind="stable")
    return HuntResult(index[order], method_scores[order], trials, best, p_value,
                      float(stats.norm.isf(p_value)), extraction, daughters, len(mjj),
                      uncut_fit.chi2_pvalue, selected, mjj, order,
                      {m: v[order] for m, v in best_scores.items()}, limits, checks, scan_best,
                      uncut_fit, final_score)


def testable_regions(regions: list[SignalRegion], edges_gev: np.ndarray, source: str,
                     field: str = "scan_range_gev") -> list[SignalRegion]:
    """The SRs where an in-window bump hunt can place a window (bump_scan = signal_region).

    An SR outside the fit range (e.g. under a trigger turn-on) has no window centre inside
    it: its classifier could never be tested, so it is not trained. None left is an
    :class:`InputError` naming ``field`` (the scan's range, or the one SR given).
    """
    from aihep.discovery.scan import scan_windows

    flat = np.ones(len(edges_gev) - 1)
    kept = [r for r in regions if len(scan_windows(
        flat, flat, BUMP_MIN_WIDTH, BUMP_MAX_WIDTH, edges_gev, (r.lo_gev, r.hi_gev)).start)]
    if not kept:
        raise InputError(source, field, "signal regions that overlap the bump "
                         f"hunt's fit range {edges_gev[0]:g}-{edges_gev[-1]:g} GeV (with "
                         "bump_scan = signal_region each SR is tested inside itself)")
    return kept


def _bump_region(sr: SignalRegion, config: HuntConfig) -> tuple[float, float] | None:
    """Where a trial's bump hunt may put its window centre (None: anywhere)."""
    return (sr.lo_gev, sr.hi_gev) if config.bump_scan == "signal_region" else None


def _lee(p_min: float, n_trials: int) -> float:
    """Global p of the smallest of ``n_trials`` p-values (independent-trials bound)."""
    return float(-np.expm1(n_trials * np.log1p(-min(p_min, 1.0 - 1e-16))))


def _cut(scores: np.ndarray, in_sr: np.ndarray, config: HuntConfig) -> tuple[float, np.ndarray]:
    """The anomaly cut: keep ``keep_fraction`` of the SR, loosened to keep at least
    ``min_selected`` events over the whole range."""
    threshold = float(np.quantile(scores[in_sr], 1.0 - config.keep_fraction))
    if len(scores) >= config.min_selected:
        threshold = min(threshold, float(np.partition(
            scores, len(scores) - config.min_selected)[-config.min_selected]))
    return threshold, scores >= threshold


def _characterize(data: dict[str, np.ndarray], mjj: np.ndarray, selected: np.ndarray,
                  trial: Trial, config: HuntConfig
                  ) -> tuple[SignalExtraction | None, dict[str, Estimate]]:
    """Mass, width and yields of a trial's bump, and the daughter-jet masses under it."""
    lo, hi = trial.bump.window_gev
    try:
        extraction = extract_signal(mjj, selected, trial.bump.edges_gev, 0.5 * (lo + hi),
                                    shape=config.signal_shape)
    except (InputError, RuntimeError, ValueError):
        return None, {}  # too few selected events for a peak fit: reported as missing
    try:
        centre, width = extraction.mass.value, max(extraction.after_cut.width.value, 50.0)
        in_peak = selected & (np.abs(mjj - centre) < 2 * width)
        mj1, mj2 = data["mj1"][in_peak], data["mj1"][in_peak] + data["delta_mj"][in_peak]
        daughters = {"m_j1": jet_mass_peak(mj1, (0.0, float(np.quantile(mj2, 0.9)) + 50)),
                     "m_j2": jet_mass_peak(mj2, (0.0, float(np.quantile(mj2, 0.99)) + 100))}
    except (InputError, RuntimeError, ValueError, IndexError):
        daughters = {}
    return extraction, daughters


def _second_opinion(best: Trial, extraction: SignalExtraction | None, x: np.ndarray,
                    mjj: np.ndarray, edges: np.ndarray, config: HuntConfig,
                    truth: np.ndarray | None, ref_x: np.ndarray | None,
                    ref_mjj: np.ndarray | None, store: _TrialStore,
                    progress: Callable[[str, int, int], None] | None = None) -> Check:
    """Retrain another configured method (else the same one with other seeds)
    ``opinion_seeds`` times in the candidate's window and compare the median of their
    resonances with the candidate's (medians over seeds, each retraining k-folded; each
    retraining's scores kept in ``store``, so a killed hunt resumes after the last one)."""
    others = [m for m in config.methods if m not in (best.method, "supervised")]
    method = others[0] if others else best.method
    seeds = [config.seed + (0 if others else 1) + i for i in range(config.opinion_seeds)]
    label = (f"{method} in the same window" if others else f"{method}") + (
        f" with seed {seeds[0]}" if len(seeds) == 1 else
        f", median of seeds {seeds[0]}-{seeds[-1]}")
    mass = total = None
    start = 0.5 * sum(best.bump.window_gev)
    if extraction is not None:
        mass = (extraction.mass.value, extraction.mass.error)
        total = (extraction.n_signal.value, extraction.n_signal.error)
        start = extraction.mass.value
    sr = SignalRegion(best.window_gev[0], best.window_gev[1], config.sideband_gev)
    opinions: list[Opinion] = []
    for i, seed in enumerate(seeds):
        if progress is not None:
            progress(f"second opinion: {method} with seed {seed} in {sr.lo_gev:.0f}-"
                     f"{sr.hi_gev:.0f} GeV", i, len(seeds))
        scores, _ = store.run(
            (f"{method}-opinion-s{seed}-{sr.lo_gev:.1f}-{sr.hi_gev:.1f}", None),
            partial(_run_method, method, x, mjj, sr, config.model_copy(update={"seed": seed}),
                    truth, ref_x, ref_mjj))
        _, selected = _cut(scores, sr.contains(mjj), config)
        opinion = None
        try:
            other = extract_signal(mjj, selected, best.bump.edges_gev, start,
                                   shape=config.signal_shape)
            if (sr.lo_gev <= other.mass.value <= sr.hi_gev
                    and other.after_cut.n_signal.value > 0):
                opinion = ((other.mass.value, other.mass.error),
                           (other.n_signal.value, other.n_signal.error))
        except (InputError, RuntimeError, ValueError):
            pass
        opinions.append(opinion)
    median = median_opinion(opinions)
    check = check_second_opinion(label, mass, total, *(median or (None, None)))
    per_seed = [None if o is None else {"mass_gev": o[0][0], "mass_error_gev": o[0][1],
                                        "n_signal": o[1][0], "n_signal_error": o[1][1]}
                for o in opinions]
    return Check(check.name, check.passed, check.detail,
                 {**check.values, "seeds": seeds, "per_seed": per_seed})


def _refine(best: Trial, extraction: SignalExtraction | None, x: np.ndarray, mjj: np.ndarray,
            edges: np.ndarray, config: HuntConfig, truth: np.ndarray | None,
            ref_x: np.ndarray | None, ref_mjj: np.ndarray | None, source: str,
            store: _TrialStore, progress: Callable[[str, int, int], None] | None = None
            ) -> tuple[Trial, np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Retrain ``best.method`` (k-folded: each event scored by a model that never saw it) in
    a window centred on the fitted resonance, +- 2 fitted widths (at least +- 100 GeV, at
    most half the scan width); cut and bump-hunt again. None when the cut keeps too few.
    The retraining's scores are kept in ``store`` (a killed hunt does not redo it)."""
    lo, hi = best.bump.window_gev
    centre = 0.5 * (lo + hi)
    half = 0.25 * config.scan_width_gev
    if extraction is not None and np.isfinite(extraction.mass.value):
        centre = extraction.mass.value
        half = 2.0 * abs(extraction.after_cut.width.value)
    half = float(np.clip(half, 100.0, 0.5 * config.scan_width_gev))
    sr = SignalRegion(centre - half, centre + half, config.sideband_gev)
    if sr.contains(mjj).sum() < config.min_selected:
        return None
    if progress is not None:
        progress(f"refining: {best.method} retrained in {sr.lo_gev:.0f}-{sr.hi_gev:.0f} GeV, "
                 f"centred on the resonance", 0, 1)
    scores, ref_scores = store.run(
        (f"{best.method}-refine-{sr.lo_gev:.1f}-{sr.hi_gev:.1f}", None),
        partial(_run_method, best.method, x, mjj, sr, config, truth, ref_x, ref_mjj))
    threshold, selected = _cut(scores, sr.contains(mjj), config)
    if selected.sum() < config.min_selected:
        return None
    bump = bump_hunt(mjj[selected], edges, n_toys=config.n_toys, seed=config.seed,
                     source=f"{source} ({best.method}, refined SR {sr.lo_gev:.0f}-"
                     f"{sr.hi_gev:.0f})", centre_range_gev=_bump_region(sr, config))
    trial = Trial(best.method, (sr.lo_gev, sr.hi_gev), threshold, int(selected.sum()), bump)
    return trial, scores, selected, ref_scores


def _limits(mjj: np.ndarray, edges: np.ndarray, regions: list[SignalRegion],
            cuts: list[tuple[int, Method, float, np.ndarray]], config: HuntConfig
            ) -> dict[str, list[UpperLimit]]:
    """CLs limits per mass hypothesis: uncut spectrum, and each method's cut in the window
    whose centre is nearest the mass."""
    centres = np.array([0.5 * (r.lo_gev + r.hi_gev) for r in regions])
    masses = np.asarray(config.limit_masses_gev or centres, float)
    common: dict[str, Any] = {"relative_width": config.limit_width_fraction,
                              "shape": config.signal_shape, "cl": config.limit_cl,
                              "seed": config.seed}
    out = {"all events": resonance_limits(mjj, edges, masses, **common)}
    for method in config.methods:
        limits = []
        for mass in masses:
            w = int(np.argmin(np.abs(centres - mass)))
            sel = [c for c in cuts if c[0] == w and c[1] == method]
            if sel:
                try:
                    limits += resonance_limits(mjj[sel[0][3]], edges, [mass], **common)
                except (InputError, RuntimeError, ValueError):
                    continue  # a selection too sparse for the background-uncertainty toys
        out[method] = limits
    return out


def read_table(path: str | Path, labels: str | Path | None = None) -> dict[str, np.ndarray]:
    """Read a feature table: aihep Parquet or the LHCO CSV layout (optional labels CSV)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        from aihep.events.lhco import read_feature_table

        return read_feature_table(path)
    if path.suffix.lower() == ".csv":
        from aihep.io.lhco import read_feature_csv

        table, label = read_feature_csv(path, labels)
        if label is not None:
            table["label"] = label
        return table
    raise InputError(path, "suffix", "a .parquet feature table or an LHCO-layout .csv")


#: draws a hunt's report: ``reporter(path, result, labels)`` (e.g.
#: :func:`aihep.report.hunt.write_hunt_report`, which the CLI and the agent pass)
HuntReporter = Callable[[Path, HuntResult, "np.ndarray | None"], Any]


def write_hunt_outputs(result: HuntResult, out: str | Path, config: HuntConfig,
                       inputs: list[Path], labels: np.ndarray | None = None,
                       reporter: HuntReporter | None = None) -> Path:
    """Write scores.csv, results.json, manifest.json and, with a ``reporter``, report.html
    into ``out``."""
    import csv

    from aihep._atomic import ensure_writable_dir, write_atomic, write_json_atomic
    from aihep.workflow.manifest import build_manifest, file_entry, write_manifest

    directory = ensure_writable_dir(out)

    def write_scores(tmp: Path) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("index", "score"))
            writer.writerows(zip(result.index.tolist(), result.scores.tolist(), strict=True))

    write_atomic(directory / "scores.csv", write_scores)
    write_json_atomic(directory / "results.json", result.to_dict())
    names = ["scores.csv", "results.json"]
    if reporter is not None:
        reporter(directory / "report.html", result, labels)
        names.append("report.html")
    outputs = [file_entry(directory / n, directory) for n in names]
    manifest = build_manifest("aihep.hunt", config=config.model_dump(mode="json"),
                              seed=config.seed, inputs=[file_entry(p) for p in inputs],
                              outputs=outputs, counts={"n_events": result.n_events,
                                                       "n_trials": len(result.trials)})
    write_manifest(directory, manifest)
    return directory


PROGRESS_FILE = ".progress.json"
TRIALS_DIR = ".trials"


def run_hunt(data: str | Path, out: str | Path, config: HuntConfig | None = None,
             reference: str | Path | None = None, labels: str | Path | None = None,
             executor: ExecutorConfig | None = None, force: bool = False,
             progress: Callable[[str, int, int], None] | None = None,
             reporter: HuntReporter | None = None) -> HuntRun:
    """Read files, hunt, write ``out`` (scores.csv, results.json, manifest; the report
    with a ``reporter``).

    The one entry point of the CLI and the agent. A directory holding another command's
    results (a dataset, say) is refused unless ``force``. While it runs,
    ``out/.progress.json`` says which trial finished last (read by the agent's display,
    which runs the hunt in another process) and ``out/.trials`` keeps the scores of the
    finished trials (a killed hunt, re-run, resumes from them); both are removed at the end.
    """
    from aihep._atomic import ensure_writable_dir, write_json_atomic
    from aihep.workflow.manifest import claim_output_dir

    config = config or HuntConfig()
    # a hunt killed mid-run leaves only its progress file: re-running it resumes the claim
    claim_output_dir(out, "aihep.hunt", force, allowed=(PROGRESS_FILE, TRIALS_DIR))
    table = read_table(data, labels)
    ref_table = read_table(reference) if reference is not None else None
    ensure_writable_dir(out)
    state = Path(out) / PROGRESS_FILE

    def report(what: str, done: int, total: int) -> None:
        write_json_atomic(state, {"what": what, "done": done, "total": total})
        if progress is not None:
            progress(what, done, total)

    try:
        result = hunt(table, config, ref_table, source=str(data), executor=executor,
                      progress=report, checkpoint=Path(out) / TRIALS_DIR)
    finally:
        state.unlink(missing_ok=True)
    inputs = [Path(p) for p in (data, labels, reference) if p is not None]
    write_hunt_outputs(result, out, config, inputs, table.get("label"), reporter)
    import shutil

    shutil.rmtree(Path(out) / TRIALS_DIR, ignore_errors=True)
    return HuntRun(result, Path(out))


@dataclass(frozen=True)
class HuntRun:
    """A hunt and the directory its outputs were written to."""

    result: HuntResult
    out: Path

    def to_dict(self) -> dict[str, Any]:
        """results.json's content without the per-trial list, plus ``out``."""
        summary = self.result.to_dict()
        summary.pop("trials")
        summary["out"] = str(self.out)
        return summary
