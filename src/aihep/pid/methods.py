"""PID methods: n-sigma selection, gradient-boosted trees with native missing values, an MLP
with imputation and missingness flags, and the detector-token transformer, optionally
domain-adversarial (DANN) from simulation to data.

Every method takes labelled simulation tracks (and, for DANN, unlabelled data tracks) and
returns class probabilities (n, 4) for any tracks; data labels are never used for training.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep.nn.dann import dann_schedule
from aihep.nn.train import TrainConfig, seeded, train
from aihep.pid.data import Tracks
from aihep.pid.detectors import (
    C_M_PER_NS,
    MASSES_GEV,
    SPECIES,
    DetectorConfig,
    expected_beta,
    expected_tpc,
    n_sigma_tof,
    n_sigma_tpc,
)
from aihep.pid.model import PIDModelConfig, PIDTransformer, token_inputs


def features(tracks: Tracks) -> np.ndarray:
    """(n, 5) log p and the four detector signals (NaN: absent)."""
    return np.column_stack([np.log(tracks.p_gev), tracks.signals.as_array()])


def nsigma_probabilities(tracks: Tracks, config: DetectorConfig) -> np.ndarray:
    """One-hot of the species with the smallest combined n-sigma (ALICE practice):
    sqrt(n_TPC^2 + n_TOF^2) where TOF has a signal, |n_TPC| where it has none."""
    tpc = n_sigma_tpc(tracks.signals, config)
    tof = n_sigma_tof(tracks.signals, config)
    ns = np.sqrt(tpc**2 + np.where(np.isfinite(tof), tof, 0.0) ** 2)
    out = np.zeros_like(ns)
    out[np.arange(len(ns)), np.argmin(ns, 1)] = 1.0
    return out


def bayes_probabilities(tracks: Tracks, config: DetectorConfig, priors: np.ndarray
                        ) -> np.ndarray:
    """Bayesian PID (ALICE practice): Gaussian likelihoods of the TPC n-sigma and, where
    present, of the TOF n-sigma (time resolution ``tof_resolution_ps``), times the species
    priors (e.g. the fractions in simulation); normalized per track."""
    tof = n_sigma_tof(tracks.signals, config)
    log_like = -0.5 * (n_sigma_tpc(tracks.signals, config) ** 2
                       + np.where(np.isfinite(tof), tof, 0.0) ** 2)
    log_post = log_like + np.log(np.maximum(np.asarray(priors, float), 1e-12))
    log_post -= log_post.max(1, keepdims=True)
    post = np.exp(log_post)
    return post / post.sum(1, keepdims=True)


def calibrate_on_v0(tracks: Tracks, v0_index: np.ndarray, v0_species: np.ndarray,
                    config: DetectorConfig) -> DetectorConfig:
    """The TPC gain (median of measured over expected dE/dx) and the TOF time offset
    (median of measured minus expected time [ps], mismatched hits beyond 5 resolutions
    left out) re-measured on the V0 pions of ``tracks``, as physicists calibrate n-sigma on
    data. Fewer than 20 pions (with TOF, for the offset): that value is left unchanged."""
    pions = v0_index[v0_species == SPECIES.index("pi")]
    if len(pions) < 20:
        return config
    ratio = tracks.signals.tpc[pions] / expected_tpc(tracks.p_gev[pions], MASSES_GEV["pi"],
                                                      config)
    update = {"tpc_gain": config.tpc_gain * float(np.median(ratio))}
    timed = pions[np.isfinite(tracks.signals.tof[pions])]
    if len(timed) >= 20:
        length = config.tof_length_m / C_M_PER_NS
        dt_ps = 1e3 * (length / tracks.signals.tof[timed]
                       - length / expected_beta(tracks.p_gev[timed], MASSES_GEV["pi"]))
        near = dt_ps[np.abs(dt_ps - config.tof_offset_ps) < 5 * config.tof_resolution_ps]
        if len(near) >= 20:
            update["tof_offset_ps"] = float(np.median(near))
    return config.model_copy(update=update)


def em_class_fractions(probabilities: np.ndarray, prior: np.ndarray,
                       iterations: int = 500, tolerance: float = 1e-7) -> np.ndarray:
    """Class fractions of an unlabelled sample from posteriors computed under ``prior``:
    the EM prior adjustment of Saerens, Latinne and Decaestecker (Neural Comput. 14, 2002).
    Each step re-weights the posteriors to the current estimate and averages them."""
    probabilities = np.asarray(probabilities, float)
    prior = np.asarray(prior, float)
    estimate = prior.copy()
    for _ in range(iterations):
        weighted = probabilities * (estimate / np.maximum(prior, 1e-12))
        weighted /= np.maximum(weighted.sum(1, keepdims=True), 1e-300)
        new = weighted.mean(0)
        if np.abs(new - estimate).max() < tolerance:
            return new
        estimate = new
    return estimate


def class_mixture_weights(simulation: Tracks, data: Tracks, detector: DetectorConfig
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Per-species weights for the simulated tracks of the DANN domain loss, so that the
    domain head sees the same class mixture from both domains without data labels: the data
    fractions estimated by EM prior adjustment on Bayesian PID posteriors (``detector``
    calibrated on data, e.g. by :func:`calibrate_on_v0`; priors: the simulation's
    fractions), divided by the simulation's fractions. Returns (weights, data fractions)."""
    prior = np.bincount(simulation.species, minlength=len(SPECIES)) / len(simulation)
    fractions = em_class_fractions(bayes_probabilities(data, detector, prior), prior)
    return fractions / np.maximum(prior, 1e-12), fractions


def fit_hgb(train_tracks: Tracks, seed: int = DEFAULT_SEED) -> Any:
    """scikit-learn's HistGradientBoosting (missing values handled natively)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.1,
                                           early_stopping=True, random_state=seed)
    return model.fit(features(train_tracks), train_tracks.species)


def imputed(x: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Absent signals replaced by the training means, plus one missingness flag each."""
    missing = ~np.isfinite(x)
    return np.column_stack([np.where(missing, means, x), missing.astype(float)])


def fit_mlp(train_tracks: Tracks, seed: int = DEFAULT_SEED) -> tuple[Any, np.ndarray]:
    """An MLP on imputed signals and missingness flags (scikit-learn)."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = features(train_tracks)
    means = np.nanmean(x, axis=0)
    model = make_pipeline(StandardScaler(), MLPClassifier((64, 64), max_iter=200,
                                                          early_stopping=True,
                                                          random_state=seed))
    return model.fit(imputed(x, means), train_tracks.species), means


class TransformerTrainConfig(BaseModel):
    """The detector-token transformer's training; ``dann_lambda_max`` > 0 adds DANN."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: PIDModelConfig = Field(default_factory=PIDModelConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(
        epochs=20, batch_size=512, learning_rate=2e-3, patience=5))
    dann_lambda_max: float = Field(0.0, ge=0)
    val_fraction: float = Field(0.1, gt=0, lt=1)


def fit_transformer(simulation: Tracks, config: TransformerTrainConfig | None = None,
                    data: Tracks | None = None, init: PIDTransformer | None = None,
                    labels: np.ndarray | None = None,
                    checkpoint: str | Path | None = None,
                    class_weights: np.ndarray | None = None) -> PIDTransformer:
    """Train on labelled simulation; with ``data`` and ``dann_lambda_max`` > 0, the domain
    head learns simulation (0) against data (1) through gradient reversal, its weight
    following the DANN schedule over the epochs. Validation: simulation only. ``init``
    starts from a trained model and ``labels`` replace the tracks' species (fine-tuning on
    a tagged sample). ``checkpoint``: a file for per-epoch checkpoints (a re-run resumes).
    ``class_weights`` (per species, e.g. from :func:`class_mixture_weights`) weight the
    simulated tracks in the domain loss so that it compares the same class mixture in both
    domains; None: every track counts once."""
    config = config or TransformerTrainConfig()
    dann = data is not None and config.dann_lambda_max > 0
    model_config = config.model.model_copy(update={"domain_head": dann})
    with seeded(model_config.seed):
        model = PIDTransformer(model_config)
    if init is not None:  # fine-tuning (e.g. on the V0 sample, whose labels are implied)
        model.load_state_dict(init.state_dict(), strict=False)
    tokens, mask, kinds = token_inputs(simulation.signals.as_array(), simulation.p_gev)
    y = torch.from_numpy(simulation.species if labels is None else labels)
    n = len(y)
    order = torch.from_numpy(np.random.default_rng(config.train.seed).permutation(n))
    n_val = max(1, round(config.val_fraction * n))
    domain = torch.zeros(n)
    tensors = [tokens, mask, y, domain]
    if dann:
        assert data is not None  # dann needs unlabelled data tracks (checked above)
        d_tokens, d_mask, _ = token_inputs(data.signals.as_array(), data.p_gev)
        # data tracks: no labels (-1), domain 1; as many as the simulation's training tracks
        pick = torch.from_numpy(np.random.default_rng(config.train.seed + 1).choice(
            len(data), n - n_val, replace=len(data) < n - n_val))
        extra = [d_tokens[pick], d_mask[pick], torch.full((len(pick),), -1),
                 torch.ones(len(pick))]
    train_part = [t[order[n_val:]] for t in tensors]
    if dann:
        train_part = [torch.cat([a, b]) for a, b in zip(train_part, extra, strict=True)]
    val_part = [t[order[:n_val]] for t in tensors]

    weights = (None if class_weights is None
               else torch.as_tensor(np.asarray(class_weights, np.float32)))

    def loss(module: torch.nn.Module, batch: Sequence[torch.Tensor]) -> torch.Tensor:
        net = cast(PIDTransformer, module)
        t, m, target, dom = batch
        logits, pooled = net(t, m, kinds)
        labelled = target >= 0
        out = torch.nn.functional.cross_entropy(logits[labelled], target[labelled])
        if net.domain is not None and net.training:
            bce = torch.nn.functional.binary_cross_entropy_with_logits(
                net.domain(pooled), dom, reduction="none")
            if weights is None:
                out = out + bce.mean()
            else:
                w = torch.where(dom > 0, torch.ones_like(dom), weights[target.clamp(min=0)])
                out = out + (w * bce).sum() / w.sum()
        return out

    schedule = None
    if dann:
        assert model.domain is not None  # built with a domain head when dann
        schedule = dann_schedule(model.domain, config.dann_lambda_max)
    with seeded(config.train.seed):
        train(model, loss, train_part, val_part, config.train, checkpoint=checkpoint,
              before_batch=schedule)
    return model


def transformer_probabilities(model: PIDTransformer, tracks: Tracks,
                              batch_size: int = 4096) -> np.ndarray:
    """Class probabilities (n, 4) of a trained transformer."""
    tokens, mask, kinds = token_inputs(tracks.signals.as_array(), tracks.p_gev)
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(tokens), batch_size):
            out.append(torch.softmax(model(tokens[s:s + batch_size], mask[s:s + batch_size],
                                           kinds)[0], 1).numpy())
    return np.concatenate(out)
