"""Generative shower surrogates conditioned on the incident energy, trained with the one
training loop (:mod:`aihep.nn.train`).

Two stages, as CaloFlow and CaloDREAM do (``two_stage=True``, the default): a conditional
neural-spline flow (zuko, coupling transforms with ``passes=2``) learns the layer energies
given E_inc; the chosen model learns the shape, the voxel energies as fractions of their
layer's energy, given E_inc and the layer energies. Generated voxels are renormalized to the
sampled layer energies, so the response and the longitudinal profile come from the
low-dimensional flow, which learns them well. The shape models:

* ``vae``: encoder and decoder MLPs (the LHCb/ATLAS choice), Gaussian latent, the
  reconstruction as a Gaussian likelihood with a learned variance per voxel (sampled from,
  not its mean), beta-weighted KL.
* ``flow-matching``: a residual-MLP velocity field v(x_t, t, context) trained on straight
  paths from standard normal noise to showers (rectified flow / conditional flow matching);
  sampled by integrating dx/dt = v with the midpoint rule (CaloDREAM-style, sized for a CPU).
* ``caloflow``: a second neural-spline flow (CaloFlow's second stage): one flow over all the
  voxels (the coarse layout), or layer by layer above 1000 voxels (dataset 2: L2LFlows-style,
  one flow shared by the layers, conditioned on the layer and the previous layer's shape).

Representation: an empty voxel gets an energy drawn log-uniformly one to two decades below
the voxel threshold (a continuum instead of a spike, a decade away from the smallest real
deposit so that "empty or not" is a clear decision for the model), then u = log(E_voxel /
E_layer) (``two_stage=False``: log(E_voxel / E_inc), one model for everything) and the layer
energies as log(E_layer / E_inc), E_layer the sum of the layer's hits (of its stand-ins when
it has none), all standardized with the training showers' statistics (per column, or the
voxel columns with one mean and width: ``shape_scale="global"``). With ``layer_gap`` an
empty layer's energy is drawn like an empty voxel's instead (a decade or more below the
threshold, where no real layer lies: it holds at least one hit), so whether a layer is empty
is decided by the first stage alone (on decoding, a layer at or above the threshold whose
voxels all fall below it keeps its largest voxel);
the condition is log10(E_inc / MeV) rescaled to [-1, 1] over the training range. Decoding
clips to the training range; voxels below the threshold are zeroed. (``gap_decades=0``
gives CaloFlow's uniform noise below the threshold added to every voxel.)

Optional post-hoc **quantile calibration** (``quantile_bins > 0``; off by default): after
training, the model generates as many showers as it was trained on, at the training
energies; in each of ``quantile_bins`` equal-count bins of E_inc, every voxel's generated
log energy (MeV, before the threshold; a fixed threshold there, so "hit or not" is one cut) is
mapped monotonically onto the training showers' (quantile mapping, ``quantile_knots`` knots,
linear in between). It fixes each voxel's marginal (occupancy, energy spread) per energy bin,
not the correlations between voxels: a calibration of the network's output, named as such,
not a better network. With ``quantile_layers`` (two-stage models) the layer energies
log(E_layer / E_inc) the first stage draws are mapped the same way first (each layer's
marginal per energy bin; the correlations between layers stay the flow's), then the voxels.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from aihep import DEFAULT_SEED
from aihep.fastsim.geometry import CaloLayout
from aihep.nn.layers import mlp
from aihep.nn.train import TrainConfig, seeded, train

# the voxel representation's version (2: a layer's energy is its hits'); a cache of trained
# surrogates keyed by it never hands back a model of another representation
REPRESENTATION = 2


class SurrogateConfig(BaseModel):
    """Which surrogate and its sizes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["vae", "flow-matching", "caloflow"] = "vae"
    hidden: tuple[int, ...] = (512, 512)
    latent: int = Field(32, ge=1, description="VAE latent dimension")
    beta: float = Field(1.0, gt=0, description="VAE KL weight")
    ode_steps: int = Field(32, ge=1, description="flow matching: midpoint steps")
    two_stage: bool = Field(True, description="layer energies from a flow, then the shape")
    flow_transforms: int = Field(4, ge=1, description="transforms per spline flow")
    layer_hidden: tuple[int, ...] = Field((256, 256), description="the layer-energy flow")
    layerwise: bool | None = Field(None, description="caloflow: a second stage layer by "
                                   "layer (None: when the layout has > 1000 voxels)")
    layers_per_step: int = Field(8, ge=1, description="layer-wise flow: layers of each "
                                 "shower seen per training step")
    velocity_net: Literal["mlp", "layer-transformer"] = Field(
        "mlp", description="flow matching's velocity field: a residual MLP over all voxels, "
        "or a transformer whose tokens are the layers (width hidden[0], len(hidden) blocks)")
    heads: int = Field(4, ge=1, description="layer-transformer: attention heads")
    voxel_head: int = Field(0, ge=0, description="flow matching, MLP field: width of a "
                            "small network shared by the voxels that refines each voxel's "
                            "velocity from its own value (0: none)")
    gap_decades: float = Field(1.0, ge=0, description="empty voxels this far below the "
                               "threshold (0: uniform noise below it, CaloFlow's)")
    layer_gap: bool = Field(False, description="two-stage, gap_decades > 0: an empty layer's "
                            "energy drawn like an empty voxel's (a decade or more below the "
                            "threshold) instead of the sum of its voxels' stand-ins, so "
                            "'layer empty' is a clear decision of the first stage")
    shape_scale: Literal["voxel", "global"] = Field(
        "voxel", description="standardize the voxel part per voxel, or with one mean and "
        "width over all voxels (a rarely hit voxel's hits then stay a few units from its "
        "empty value instead of far out in its own standardized tail)")
    quantile_bins: int = Field(0, ge=0, description="post-hoc quantile calibration of the "
                               "voxels' log energies in this many bins of E_inc (0: none)")
    quantile_knots: int = Field(64, ge=2, description="quantile calibration: knots per "
                                "column and bin")
    quantile_layers: bool = Field(False, description="with quantile_bins: also map the layer "
                                  "energies log(E_layer / E_inc) per bin of E_inc (two-stage "
                                  "models), before the voxels")
    val_fraction: float = Field(0.1, gt=0, lt=1)

    @model_validator(mode="after")
    def _voxel_head_needs_the_mlp_field(self) -> SurrogateConfig:
        if self.voxel_head and (self.kind != "flow-matching" or self.velocity_net != "mlp"):
            msg = ("voxel_head refines flow matching's MLP field: it needs kind=flow-matching "
                   "and velocity_net=mlp")
            raise ValueError(msg)
        if self.layer_gap and not (self.two_stage and self.gap_decades > 0):
            msg = "layer_gap needs two_stage=True and gap_decades > 0"
            raise ValueError(msg)
        return self

    train: TrainConfig = Field(default_factory=lambda: TrainConfig(
        epochs=60, batch_size=256, learning_rate=1e-3, patience=10))
    seed: int = DEFAULT_SEED


class _Scaler:
    """Voxels <-> standardized (layer, shape) log fractions; energies <-> condition."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.mean = np.asarray(state["mean"], np.float32)
        self.std = np.asarray(state["std"], np.float32)
        self.low = np.asarray(state["low"], np.float32)
        self.high = np.asarray(state["high"], np.float32)
        self.noise = float(state["noise"])
        self.gap = float(state.get("gap", 0.0))
        self.layer_gap = bool(state.get("layer_gap", False))
        self.n_layers = int(state.get("n_layers", 0))
        self.log_e = tuple(state["log_e"])

    @classmethod
    def fit(cls, voxels: np.ndarray, energies: np.ndarray, noise_mev: float,
            rng: np.random.Generator, gap_decades: float = 0.0, n_layers: int = 0,
            shape_scale: str = "voxel", layer_gap: bool = False) -> _Scaler:
        scaler = cls({"mean": 0.0, "std": 1.0, "low": 0.0, "high": 0.0, "noise": noise_mev,
                      "gap": gap_decades, "layer_gap": layer_gap, "n_layers": n_layers,
                      "log_e": (0.0, 1.0)})
        u = scaler._represent(voxels, energies, rng)
        log_e = np.log10(energies)
        mean, std = u.mean(0), np.maximum(u.std(0), 1e-3)
        if shape_scale == "global":  # one mean and width over the voxel columns
            mean[n_layers:], std[n_layers:] = u[:, n_layers:].mean(), u[:, n_layers:].std()
        z = (u - mean) / std
        return cls({"mean": mean, "std": std, "low": z.min(0), "high": z.max(0),
                    "noise": noise_mev, "gap": gap_decades, "layer_gap": layer_gap,
                    "n_layers": n_layers,
                    "log_e": (float(log_e.min()),
                              float(max(log_e.max(), log_e.min() + 1e-3)))})

    def _represent(self, voxels: np.ndarray, energies: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
        if self.gap > 0:
            empty = self.noise * 10.0 ** (-self.gap - rng.random(voxels.shape))
            noisy = np.where(voxels >= self.noise, voxels, empty)
        else:
            noisy = voxels + self.noise * rng.random(voxels.shape)
        if not self.n_layers:
            return np.log(noisy / energies[:, None])
        per = noisy.reshape(len(noisy), self.n_layers, -1)
        layer = per.sum(2)
        shape = per / layer[:, :, None]
        if self.gap > 0:  # a layer's energy is that of its hits (the stand-ins only when
            # it has none), so decoding (stand-ins zeroed, hits renormalized) is exact
            hits = np.where(per >= self.noise, per, 0.0).sum(2)
            if self.layer_gap:  # an empty layer far below any real one (>= the threshold);
                # its voxels (fractions of it) then all decode below the threshold
                empty = self.noise * 10.0 ** (-self.gap - rng.random(hits.shape))
                layer = np.where(hits > 0, hits, empty)
                shape = np.where(hits[:, :, None] > 0, per / layer[:, :, None], shape)
            else:
                layer = np.where(hits > 0, hits, layer)
                shape = per / layer[:, :, None]
        return np.concatenate([np.log(layer / energies[:, None]),
                               np.log(shape).reshape(len(noisy), -1)], 1)

    def state(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "low": self.low.tolist(),
                "high": self.high.tolist(), "noise": self.noise, "gap": self.gap,
                "layer_gap": self.layer_gap, "n_layers": self.n_layers, "log_e": self.log_e}

    def encode(self, voxels: np.ndarray, energies: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        u = self._represent(voxels, energies, rng)
        return ((u - self.mean) / self.std).astype(np.float32)

    def condition(self, energies: np.ndarray) -> np.ndarray:
        lo, hi = self.log_e
        return (2 * (np.log10(energies) - lo) / (hi - lo) - 1).astype(np.float32)[:, None]


class ShowerModel(torch.nn.Module, abc.ABC):
    """What every surrogate network provides: a training loss on represented showers ``x``
    (N, d) given the condition ``c`` (N, n_context), the sizes of the standard-normal noise
    one sample needs, and the map from (condition, noise) to a represented shower."""

    @abc.abstractmethod
    def loss(self, x: torch.Tensor, c: torch.Tensor, beta: float) -> torch.Tensor: ...

    @abc.abstractmethod
    def noise_dims(self) -> list[int]: ...

    @abc.abstractmethod
    def sample_from(self, c: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor: ...


class ShowerVAE(ShowerModel):
    """Conditional VAE: encoder (x, c) -> (mu, log var), decoder (z, c) -> a Gaussian per
    voxel (mean and log variance: a shower is sampled from it, not its mean)."""

    def __init__(self, n_voxels: int, config: SurrogateConfig, n_context: int = 1) -> None:
        super().__init__()
        self.latent = config.latent
        self.n_voxels = n_voxels
        self.encoder = mlp([n_voxels + n_context, *config.hidden, 2 * config.latent])
        self.decoder = mlp([config.latent + n_context, *reversed(config.hidden),
                            2 * n_voxels])

    def _decode(self, z: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = self.decoder(torch.cat([z, c], 1)).chunk(2, 1)
        return mean, log_var.clamp(-9.0, 3.0)

    def loss(self, x: torch.Tensor, c: torch.Tensor, beta: float) -> torch.Tensor:
        mu, log_var = self.encoder(torch.cat([x, c], 1)).chunk(2, 1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
        mean, var_x = self._decode(z, c)
        nll = 0.5 * ((mean - x) ** 2 * torch.exp(-var_x) + var_x).sum(1)
        kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(1)
        return (nll + beta * kl).mean()

    def noise_dims(self) -> list[int]:
        return [self.latent, self.n_voxels]

    def sample_from(self, c: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
        mean, log_var = self._decode(noise[0], c)
        return mean + torch.exp(0.5 * log_var) * noise[1]


class _ResidualField(torch.nn.Module):
    """x -> output of the same size, given a context: pre-norm residual MLP blocks of one
    width, the context embedded and added to the input projection.

    With ``voxel_head`` > 0 a small network shared by the voxels (one hidden layer of that
    width) adds, to each voxel's output, a function of that output, the voxel's own x, the
    context's first entry (flow matching's time) and a learned 4-number voxel embedding:
    each voxel can then take its own nonlinear empty-or-hit decision late in the flow,
    which the global network's ``width``-dimensional hidden state must otherwise carry for
    every voxel at once. Its last layer starts at zero (the field starts as the plain
    one)."""

    def __init__(self, n: int, n_context: int, width: int, blocks: int,
                 voxel_head: int = 0) -> None:
        super().__init__()
        self.inp = torch.nn.Linear(n, width)
        self.context = mlp([n_context, width, width])
        self.blocks = torch.nn.ModuleList(torch.nn.Sequential(
            torch.nn.LayerNorm(width), torch.nn.Linear(width, width), torch.nn.SiLU(),
            torch.nn.Linear(width, width)) for _ in range(blocks))
        self.out = torch.nn.Sequential(torch.nn.LayerNorm(width), torch.nn.Linear(width, n))
        self.voxel_head = voxel_head
        if voxel_head:  # one hidden layer, its input map split so nothing (B, n, 7) is built
            self.voxel_embedding = torch.nn.Parameter(0.1 * torch.randn(n, 4))
            self.head_in = torch.nn.Parameter(torch.randn(3, voxel_head) / math.sqrt(7))
            self.head_embedding = torch.nn.Linear(4, voxel_head)
            self.head_out = torch.nn.Parameter(torch.zeros(voxel_head))  # starts as plain

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        h = self.inp(x) + self.context(context)
        for block in self.blocks:
            h = h + block(h)
        out = self.out(h)
        if not self.voxel_head:
            return out
        w = self.head_in
        hidden = torch.nn.functional.silu(
            out.unsqueeze(2) * w[0] + x.unsqueeze(2) * w[1] + context[:, :1, None] * w[2]
            + self.head_embedding(self.voxel_embedding))
        return out + hidden @ self.head_out


class _LayerTransformerField(torch.nn.Module):
    """x -> output of the same size, given a context, with the calorimeter layers as tokens
    (CaloDREAM's idea of patches, one patch per layer, sized for a CPU): each token is its
    layer's voxels and that layer's energy (the context's last ``n_layers`` entries in a
    two-stage model), embedded with a learned layer position; the global context (time,
    E_inc, all layer energies) is added to every token; pre-norm transformer blocks share
    information between layers; one linear map back to each layer's voxels."""

    def __init__(self, n: int, n_context: int, n_layers: int, width: int, blocks: int,
                 heads: int, own_energy: bool) -> None:
        super().__init__()
        if n % n_layers:
            msg = f"{n} voxels do not split into {n_layers} equal layers"
            raise ValueError(msg)
        self.n_layers, self.per_layer = n_layers, n // n_layers
        self.own_energy = own_energy  # the context ends with the layer energies
        self.inp = torch.nn.Linear(self.per_layer + int(self.own_energy), width)
        self.position = torch.nn.Parameter(torch.zeros(1, n_layers, width))
        self.context = mlp([n_context, width, width])
        self.blocks = torch.nn.ModuleList(torch.nn.TransformerEncoderLayer(
            width, heads, dim_feedforward=2 * width, dropout=0.0, activation="gelu",
            batch_first=True, norm_first=True) for _ in range(blocks))
        self.out = torch.nn.Sequential(torch.nn.LayerNorm(width),
                                       torch.nn.Linear(width, self.per_layer))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        tokens = x.view(len(x), self.n_layers, self.per_layer)
        if self.own_energy:
            tokens = torch.cat([tokens, context[:, -self.n_layers:, None]], 2)
        h = self.inp(tokens) + self.position + self.context(context)[:, None]
        for block in self.blocks:
            h = block(h)
        return self.out(h).reshape(len(x), -1)


class ShowerFlowMatching(ShowerModel):
    """Velocity field v(x_t, t, c) of conditional flow matching on straight paths (a
    residual MLP: ``len(hidden)`` blocks of width ``hidden[0]``; or, with
    ``velocity_net="layer-transformer"``, a transformer over the layers)."""

    def __init__(self, n_voxels: int, config: SurrogateConfig, n_context: int = 1,
                 n_layers: int = 1, layer_energies: bool = False) -> None:
        super().__init__()
        self.steps = config.ode_steps
        self.n_voxels = n_voxels
        if config.velocity_net == "layer-transformer":
            self.net: torch.nn.Module = _LayerTransformerField(
                n_voxels, 1 + n_context, n_layers, config.hidden[0], len(config.hidden),
                config.heads, own_energy=layer_energies)
        else:
            self.net = _ResidualField(n_voxels, 1 + n_context, config.hidden[0],
                                      len(config.hidden), config.voxel_head)

    def velocity(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.net(x, torch.cat([t, c], 1))

    def loss(self, x1: torch.Tensor, c: torch.Tensor, beta: float) -> torch.Tensor:
        x0 = torch.randn_like(x1)
        t = torch.rand(len(x1), 1)
        xt = (1 - t) * x0 + t * x1
        return ((self.velocity(xt, t, c) - (x1 - x0)) ** 2).sum(1).mean()

    def noise_dims(self) -> list[int]:
        return [self.n_voxels]

    def sample_from(self, c: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
        x = noise[0]
        h = 1.0 / self.steps
        for i in range(self.steps):
            t = torch.full((len(c), 1), i * h)
            mid = x + 0.5 * h * self.velocity(x, t, c)
            x = x + h * self.velocity(mid, t + 0.5 * h, c)
        return x


def _spline_flow(n: int, n_context: int, transforms: int, hidden: tuple[int, ...]) -> Any:
    import zuko

    return zuko.flows.NSF(n, context=n_context, transforms=transforms,
                          hidden_features=tuple(hidden), passes=2)


def _flow_sample(flow: Any, context: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The sample of a zuko flow (standard normal base) at base point ``z``."""
    return flow(context).transform.inv(z)


class ShowerSplineFlow(ShowerModel):
    """A conditional neural-spline flow over the shape (CaloFlow's second stage)."""

    def __init__(self, n_voxels: int, config: SurrogateConfig, n_context: int = 1) -> None:
        super().__init__()
        self.n_voxels = n_voxels
        self.flow = _spline_flow(n_voxels, n_context, config.flow_transforms, config.hidden)

    def loss(self, x: torch.Tensor, c: torch.Tensor, beta: float) -> torch.Tensor:
        return -self.flow(c).log_prob(x).mean() / x.shape[1]

    def noise_dims(self) -> list[int]:
        return [self.n_voxels]

    def sample_from(self, c: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
        return _flow_sample(self.flow, c, noise[0])


class ShowerLayerwiseFlow(ShowerModel):
    """CaloFlow's second stage layer by layer (L2LFlows-style, one flow shared by all
    layers): the shape of layer l given E_inc, the layer energies, l (one-hot) and the
    shape of layer l - 1. Training sees ``layers_per_step`` random layers of each shower per
    step; sampling runs through the layers in order."""

    def __init__(self, n_voxels: int, config: SurrogateConfig, n_context: int = 1,
                 n_layers: int = 1) -> None:
        super().__init__()
        self.n_layers, self.per_layer = n_layers, n_voxels // n_layers
        self.layers_per_step = config.layers_per_step
        self.flow = _spline_flow(self.per_layer, n_context + n_layers + self.per_layer,
                                 config.flow_transforms, config.hidden)

    def _context(self, c: torch.Tensor, layer: torch.Tensor,
                 previous: torch.Tensor) -> torch.Tensor:
        one_hot = torch.nn.functional.one_hot(layer, self.n_layers).to(c.dtype)
        return torch.cat([c, one_hot, previous], 1)

    def loss(self, x: torch.Tensor, c: torch.Tensor, beta: float) -> torch.Tensor:
        n, p = len(x), self.per_layer
        per = x.view(n, self.n_layers, p)
        previous = torch.cat([torch.zeros(n, 1, p), per[:, :-1]], 1)
        k = min(self.layers_per_step, self.n_layers)
        layer = torch.rand(n, self.n_layers).argsort(1)[:, :k]  # k random layers per shower
        rows = torch.arange(n).unsqueeze(1).expand(n, k)
        target = per[rows, layer].reshape(n * k, p)
        context = self._context(c.repeat_interleave(k, 0), layer.reshape(-1),
                                previous[rows, layer].reshape(n * k, p))
        return -self.flow(context).log_prob(target).mean() / p

    def noise_dims(self) -> list[int]:
        return [self.n_layers * self.per_layer]

    def sample_from(self, c: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
        previous = torch.zeros_like(noise[0][:, :self.per_layer])
        out = []
        for layer in range(self.n_layers):
            index = torch.full_like(c[:, 0], layer, dtype=torch.long)
            z = noise[0][:, layer * self.per_layer:(layer + 1) * self.per_layer]
            previous = _flow_sample(self.flow, self._context(c, index, previous), z)
            out.append(previous)
        return torch.cat(out, 1)


class TwoStage(ShowerModel):
    """Layer energies from a spline flow given E_inc, then the shape from ``shape`` given
    E_inc and the layer energies; ``x`` = (standardized layer, shape) representation."""

    def __init__(self, shape: ShowerModel, n_layers: int, config: SurrogateConfig) -> None:
        super().__init__()
        self.n_layers = n_layers
        self.layers_flow = _spline_flow(n_layers, 1, config.flow_transforms,
                                        config.layer_hidden)
        self.shape = shape

    def loss(self, x: torch.Tensor, c: torch.Tensor, beta: float) -> torch.Tensor:
        layers, voxels = x[:, :self.n_layers], x[:, self.n_layers:]
        nll = -self.layers_flow(c).log_prob(layers).mean() / self.n_layers
        return nll + self.shape.loss(voxels, torch.cat([c, layers], 1), beta)

    def noise_dims(self) -> list[int]:
        return [self.n_layers, *self.shape.noise_dims()]

    def sample_from(self, c: torch.Tensor, noise: list[torch.Tensor]) -> torch.Tensor:
        layers = _flow_sample(self.layers_flow, c, noise[0])
        return torch.cat([layers, self.shape.sample_from(torch.cat([c, layers], 1),
                                                         noise[1:])], 1)


_SHAPES: dict[str, type[ShowerVAE] | type[ShowerSplineFlow] | type[ShowerFlowMatching]] = {
    "vae": ShowerVAE, "flow-matching": ShowerFlowMatching, "caloflow": ShowerSplineFlow}


def build(kind: str, n_voxels: int, config: SurrogateConfig, n_layers: int = 1
          ) -> ShowerModel:
    """The surrogate network of ``kind`` for ``n_voxels`` (in ``n_layers`` layers)."""
    if not config.two_stage:
        if kind == "flow-matching":
            return ShowerFlowMatching(n_voxels, config, 1, n_layers)
        return _SHAPES[kind](n_voxels, config)
    layerwise = config.layerwise if config.layerwise is not None else n_voxels > 1000
    if kind == "caloflow" and layerwise:
        return TwoStage(ShowerLayerwiseFlow(n_voxels, config, 1 + n_layers, n_layers),
                        n_layers, config)
    if kind == "flow-matching":
        return TwoStage(ShowerFlowMatching(n_voxels, config, 1 + n_layers, n_layers,
                                           layer_energies=True), n_layers, config)
    return TwoStage(_SHAPES[kind](n_voxels, config, 1 + n_layers), n_layers, config)


class QuantileMap:
    """Monotone per-column maps, one per bin of the condition c (E_inc): generated
    quantiles ``source`` (bins, columns, knots) -> training quantiles ``target``; linear
    between knots, the end knots' values beyond them."""

    def __init__(self, edges: np.ndarray, source: np.ndarray, target: np.ndarray) -> None:
        self.edges = torch.as_tensor(np.asarray(edges, np.float32))
        self.source = torch.as_tensor(np.asarray(source, np.float32))
        self.target = torch.as_tensor(np.asarray(target, np.float32))

    def state(self) -> dict[str, Any]:
        return {"edges": self.edges, "source": self.source, "target": self.target}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> QuantileMap:
        return cls(np.asarray(state["edges"]), np.asarray(state["source"]),
                   np.asarray(state["target"]))

    def apply(self, values: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """``values`` (N, columns) mapped, given the conditions ``c`` (N, 1)."""
        out = values.clone()
        bins = torch.bucketize(c[:, 0].contiguous(), self.edges)
        knots = self.source.shape[2]
        for b in torch.unique(bins).tolist():
            rows = torch.nonzero(bins == b)[:, 0]
            x = values[rows].T.contiguous()  # (columns, n)
            src, dst = self.source[b], self.target[b]
            hi = torch.searchsorted(src, x).clamp(1, knots - 1)
            lo = hi - 1
            x0, x1 = src.gather(1, lo), src.gather(1, hi)
            y0, y1 = dst.gather(1, lo), dst.gather(1, hi)
            w = ((x - x0) / (x1 - x0).clamp(min=1e-12)).clamp(0.0, 1.0)
            out[rows] = (y0 + w * (y1 - y0)).T
        return out


def log_voxel_energies(u: torch.Tensor, energies_mev: torch.Tensor, n_layers: int
                       ) -> torch.Tensor:
    """log(E_voxel / MeV) (N, n_voxels), empty voxels' stand-ins included, from the
    unstandardized representation ``u`` (layer columns first when ``n_layers``)."""
    log_e = torch.log(energies_mev).unsqueeze(1)
    if not n_layers:
        return u + log_e
    log_layer = u[:, :n_layers] + log_e
    per = u[:, n_layers:].reshape(len(u), n_layers, -1) + log_layer.unsqueeze(2)
    return per.reshape(len(u), -1)


def fit_quantile_map(generated: np.ndarray, training: np.ndarray, condition: np.ndarray,
                     bins: int, knots: int) -> QuantileMap:
    """The quantile map taking ``generated`` columns (N, columns) onto the ``training`` ones
    in ``bins`` equal-count bins of ``condition`` (N,): row i of both drawn at condition i."""
    edges = np.quantile(condition, np.linspace(0, 1, bins + 1)[1:-1])
    which = np.searchsorted(edges, condition, side="left")  # torch.bucketize's convention
    levels = np.linspace(0.0, 1.0, knots)
    source = np.empty((bins, generated.shape[1], knots), np.float32)
    target = np.empty_like(source)
    ramp = 1e-6 * np.arange(knots)  # strictly increasing knots where quantiles tie
    for b in range(bins):
        rows = which == b
        source[b] = np.quantile(generated[rows], levels, axis=0).T + ramp
        target[b] = np.quantile(training[rows], levels, axis=0).T
    return QuantileMap(edges, source, target)


# showers per network pass: on one core the flows' per-shower time rises again above ~1000
# (CaloFlow on the coarse layout: 2.2 ms per shower in passes of 1000, 3.2 in passes of
# 10,000; flow matching 1.3 / 1.6; the VAE 0.15 / 0.13)
PASS_SIZE = 1024


@dataclass(frozen=True)
class Surrogate:
    """A trained surrogate: ``generate(energies_mev, seed)`` -> voxels (N, n_voxels)."""

    config: SurrogateConfig
    layout: CaloLayout
    network: ShowerModel
    scaler: _Scaler
    history: dict[str, list[float]] = field(default_factory=dict)
    calibration: QuantileMap | None = None
    layer_calibration: QuantileMap | None = None

    def generate(self, energies_mev: np.ndarray, seed: int = DEFAULT_SEED,
                 batch_size: int = PASS_SIZE) -> np.ndarray:
        """Showers (N, n_voxels) in MeV for incident energies in MeV; ``batch_size``
        showers per network pass (the default was fastest per shower on one core)."""
        sampler = ShowerSampler(self)
        out = np.empty((len(energies_mev), self.layout.n_voxels), np.float32)
        with torch.no_grad():
            for start, e, noise in self._passes(energies_mev, seed, batch_size):
                out[start:start + len(e)] = sampler(e, *noise).numpy()
        return out

    def raw_output(self, energies_mev: np.ndarray, seed: int,
                   batch_size: int = PASS_SIZE) -> np.ndarray:
        """The network's standardized output (N, dims) before calibration and decoding
        (the same noise as :meth:`generate` with the same seed)."""
        lo, hi = self.scaler.log_e
        parts = []
        with torch.no_grad():
            for _, e, noise in self._passes(energies_mev, seed, batch_size):
                c = (2 * (torch.log10(e) - lo) / (hi - lo) - 1).unsqueeze(1)
                parts.append(self.network.sample_from(c, noise).numpy())
        return np.concatenate(parts)

    def _passes(self, energies_mev: np.ndarray, seed: int, batch_size: int) -> Any:
        """(start, incident energies, standard-normal noise) of each network pass."""
        energies = np.asarray(energies_mev, np.float32)
        generator = torch.Generator().manual_seed(seed)
        for start in range(0, len(energies), batch_size):
            e = torch.from_numpy(energies[start:start + batch_size])
            yield start, e, [torch.randn(len(e), d, generator=generator)
                             for d in self.network.noise_dims()]

    def save(self, directory: str | Path) -> Path:
        from aihep._atomic import ensure_writable_dir, save_torch_atomic

        directory = ensure_writable_dir(directory)
        state = {"config": self.config.model_dump(mode="json"),
                 "layout": self.layout.model_dump(mode="json"),
                 "scaler": self.scaler.state(), "state_dict": self.network.state_dict(),
                 # losses only: wall-clock times would make the file differ run to run
                 "history": {k: v for k, v in self.history.items() if k in ("train", "val")},
                 "calibration": None if self.calibration is None else self.calibration.state(),
                 "layer_calibration": None if self.layer_calibration is None
                 else self.layer_calibration.state()}
        return save_torch_atomic(Path(directory) / "surrogate.pt", state)


class ShowerSampler(torch.nn.Module):
    """A surrogate's whole sampler in one module: incident energies (N,) in MeV and its
    standard-normal noise (``network.noise_dims()``) -> voxel energies (N, n_voxels) in MeV
    (condition, network, decoding, threshold); what ONNX export writes."""

    # buffers: the representation's per-dimension mean, spread and clamp range
    mean: torch.Tensor
    std: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor

    def __init__(self, surrogate: Surrogate) -> None:
        super().__init__()
        scaler = surrogate.scaler
        self.network = surrogate.network.eval()
        for name in ("mean", "std", "low", "high"):
            self.register_buffer(name, torch.from_numpy(getattr(scaler, name)).float())
        self.calibration = surrogate.calibration
        self.layer_calibration = surrogate.layer_calibration
        self.log_e = (float(scaler.log_e[0]), float(scaler.log_e[1]))
        self.noise = float(scaler.noise)
        self.n_layers = int(scaler.n_layers)
        self.layer_gap = bool(scaler.layer_gap)
        self.threshold = float(surrogate.layout.threshold_mev)

    def forward(self, energies: torch.Tensor, *noise: torch.Tensor) -> torch.Tensor:
        lo, hi = self.log_e
        c = (2 * (torch.log10(energies) - lo) / (hi - lo) - 1).unsqueeze(1)
        z = self.network.sample_from(c, list(noise))
        u = torch.clamp(z, min=self.low, max=self.high) * self.std + self.mean
        if self.layer_calibration is not None:  # log(E_layer / E_inc), the first columns
            n = self.n_layers
            u = torch.cat([self.layer_calibration.apply(u[:, :n], c), u[:, n:]], 1)
        if self.calibration is not None:  # on log voxel energies, back to the shape columns
            n = self.n_layers
            log_voxels = log_voxel_energies(u, energies, n)
            mapped = self.calibration.apply(log_voxels, c) - log_voxels
            u = torch.cat([u[:, :n], u[:, n:] + mapped], 1)
        e = energies.unsqueeze(1)
        if not self.n_layers:
            voxels = torch.exp(u) * e
        else:
            n = self.n_layers
            layer = torch.exp(u[:, :n]) * e
            per = torch.exp(u[:, n:]).reshape(len(u), n, -1)
            kept = torch.where(per * layer.unsqueeze(2) < self.noise, 0.0, per)  # empty voxels
            if self.layer_gap:  # the first stage decides emptiness: a layer at or above the
                # threshold keeps at least its largest voxel (a real layer has a hit)
                largest = torch.zeros_like(per).scatter(2, per.argmax(2, keepdim=True),
                                                        1.0) > 0
                lost = (kept.sum(2, keepdim=True) == 0) & (layer.unsqueeze(2) >= self.noise)
                kept = torch.where(lost & largest, per, kept)
            per = kept
            total = per.sum(2, keepdim=True)
            per = torch.where(total > 0, per / total.clamp(min=1e-30), 0.0)
            voxels = (per * layer.unsqueeze(2)).reshape(len(u), -1)
        return torch.where(voxels < self.threshold, 0.0, voxels)


def export_onnx(run_dir: str | Path, path: str | Path, batch_size: int = 1000) -> Path:
    """Export a trained surrogate's sampler (:class:`ShowerSampler`) to ONNX: inputs
    ``energies_mev`` (B,) and ``noise_0``, ``noise_1``... (B, d) standard normal, output
    ``voxels_mev`` (B, n_voxels). The batch size B is fixed at export (zuko's flows, in
    every two-stage model, build their shapes from the example's batch); generate in
    batches of B. Needs ``pip install aihep[onnx]``."""
    from aihep._atomic import write_atomic

    surrogate = load_surrogate(run_dir)
    if surrogate.calibration is not None or surrogate.layer_calibration is not None:
        from aihep.errors import InputError

        raise InputError(run_dir, "surrogate.pt: calibration", "a surrogate without quantile "
                         "calibration (ONNX export does not carry the quantile map)")
    sampler = ShowerSampler(surrogate).eval()
    dims = surrogate.network.noise_dims()
    example = (torch.full((batch_size,), 1e4), *[torch.zeros(batch_size, d) for d in dims])
    names = ["energies_mev", *[f"noise_{i}" for i in range(len(dims))]]

    def write(tmp: Path) -> None:
        torch.onnx.export(sampler, example, str(tmp), dynamo=True, input_names=names,
                          output_names=["voxels_mev"])

    return write_atomic(Path(path), write)


def load_surrogate(directory: str | Path, ode_steps: int | None = None) -> Surrogate:
    """A surrogate saved by :meth:`Surrogate.save` (``ode_steps``: sample a flow-matching
    model with another number of midpoint steps: fewer are faster, less exact)."""
    from aihep.errors import InputError

    path = Path(directory) / "surrogate.pt"
    if not path.is_file():
        raise InputError(directory, "surrogate.pt", "a surrogate run directory "
                         "(aihep calo train)")
    state = torch.load(path, weights_only=True)  # tensors and plain data only, no code
    config = SurrogateConfig.model_validate(state["config"])
    if ode_steps is not None:
        config = config.model_copy(update={"ode_steps": ode_steps})
    layout = CaloLayout.model_validate(state["layout"])
    network = build(config.kind, layout.n_voxels, config, layout.n_layers)
    network.load_state_dict(state["state_dict"])
    calibration, by_layer = state.get("calibration"), state.get("layer_calibration")
    return Surrogate(config, layout, network.eval(), _Scaler(state["scaler"]),
                     state.get("history", {}),
                     None if calibration is None else QuantileMap.from_state(calibration),
                     None if by_layer is None else QuantileMap.from_state(by_layer))


def train_surrogate(voxels_mev: np.ndarray, incident_mev: np.ndarray, layout: CaloLayout,
                    config: SurrogateConfig | None = None,
                    checkpoint: str | Path | None = None,
                    progress: Any = None) -> Surrogate:
    """Train a surrogate on showers (N, n_voxels) and their incident energies (MeV)."""
    config = config or SurrogateConfig()
    voxels = np.asarray(voxels_mev, np.float64)
    energies = np.asarray(incident_mev, float)
    rng = np.random.default_rng(config.seed)
    noise = layout.threshold_mev if layout.threshold_mev > 0 else 1e-3
    scaler = _Scaler.fit(voxels, energies, noise, rng, config.gap_decades,
                         layout.n_layers if config.two_stage else 0, config.shape_scale,
                         config.layer_gap)
    x = torch.from_numpy(scaler.encode(voxels, energies, rng))
    c = torch.from_numpy(scaler.condition(energies))
    order = np.random.default_rng(config.seed).permutation(len(x))
    n_val = max(1, math.ceil(config.val_fraction * len(x)))
    val, tr = torch.from_numpy(order[:n_val]), torch.from_numpy(order[n_val:])
    with seeded(config.seed):
        network = build(config.kind, layout.n_voxels, config, layout.n_layers)

        def loss(module: torch.nn.Module, batch: Any) -> torch.Tensor:
            return cast(ShowerModel, module).loss(batch[0], batch[1], config.beta)

        result = train(network, loss, (x[tr], c[tr]), (x[val], c[val]),
                       config.train.model_copy(update={"seed": config.seed}),
                       checkpoint=checkpoint, progress=progress)
    surrogate = Surrogate(config, layout, network.eval(), scaler,
                          {"train": result.train_loss, "val": result.val_loss,
                           "seconds": result.epoch_seconds,
                           "resumed_from": [float(result.resumed_from)]})
    if not config.quantile_bins:
        return surrogate
    return calibrate(surrogate, voxels, energies, config.quantile_bins, config.quantile_knots,
                     np.random.default_rng(config.seed + 1), layers=config.quantile_layers)


def calibrate(surrogate: Surrogate, voxels_mev: np.ndarray, incident_mev: np.ndarray,
              bins: int, knots: int = 64, rng: np.random.Generator | None = None,
              layers: bool = False) -> Surrogate:
    """``surrogate`` with the quantile calibration (module docstring) fitted on showers
    (N, n_voxels) in MeV at incident energies (N,) in MeV, normally its training showers:
    it generates N showers at the same energies and maps each voxel's log energy onto the
    showers' in ``bins`` equal-count bins of E_inc (``layers``: the layer energies first,
    then the voxels as they come out with the mapped layer energies)."""
    rng = rng or np.random.default_rng(surrogate.config.seed + 1)
    scaler = surrogate.scaler
    energies = np.asarray(incident_mev, float)
    if bins < 1 or len(energies) < 10 * bins:
        from aihep.errors import InputError

        raise InputError("quantile calibration", "quantile_bins", f"1 to {len(energies) // 10} "
                         f"bins for {len(energies)} showers (at least 10 per bin), not {bins}")
    n = scaler.n_layers
    if layers and not n:
        from aihep.errors import InputError

        raise InputError("quantile calibration", "quantile_layers", "a two-stage surrogate "
                         "(layer energies drawn by a first stage)")
    incident = torch.from_numpy(energies)
    condition = scaler.condition(energies)

    def unscaled(z: np.ndarray) -> np.ndarray:
        return (np.clip(z, scaler.low, scaler.high) * scaler.std + scaler.mean).astype(
            np.float32)

    def log_voxels(u: np.ndarray) -> np.ndarray:
        return log_voxel_energies(torch.from_numpy(u.astype(float)), incident,
                                  n).numpy().astype(np.float32)

    training = unscaled(scaler.encode(np.asarray(voxels_mev, np.float64), energies, rng))
    generated = unscaled(surrogate.raw_output(energies, int(rng.integers(2**31))))
    by_layer = None
    if layers:
        by_layer = fit_quantile_map(generated[:, :n], training[:, :n], condition[:, 0], bins,
                                    knots)
        generated[:, :n] = by_layer.apply(torch.from_numpy(generated[:, :n]),
                                          torch.from_numpy(condition)).numpy()
    calibration = fit_quantile_map(log_voxels(generated), log_voxels(training), condition[:, 0],
                                   bins, knots)
    return dataclasses.replace(surrogate, calibration=calibration, layer_calibration=by_layer)


def training_minutes(surrogate: Surrogate, session_seconds: float) -> float:
    """Wall time of a surrogate's training in minutes, over every session of a resumed run.

    The epochs' wall times come from the checkpoint's history (all sessions); the time this
    session spent outside its epochs (data preparation, saving) is added.
    """
    epochs = surrogate.history.get("seconds") or []
    resumed = int((surrogate.history.get("resumed_from") or [0])[0])
    this_session = sum(epochs[resumed:])
    return (sum(epochs) + max(session_seconds - this_session, 0.0)) / 60


@dataclass(frozen=True)
class SurrogateRun:
    """A trained surrogate's run directory and its losses."""

    directory: Path
    kind: str
    n_train: int
    best_epoch: int
    train_minutes: float

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "kind": self.kind, "n_train": self.n_train,
                "best_epoch": self.best_epoch, "train_minutes": self.train_minutes}


def train_file(reference: Path, layout: CaloLayout, out: Path,
               config: SurrogateConfig | None = None, progress: Any = None,
               force: bool = False) -> SurrogateRun:
    """Train a surrogate on a CaloChallenge file into the run directory ``out`` (resumes
    from its checkpoint when re-run)."""
    import time

    from aihep._atomic import ensure_writable_dir
    from aihep.io.calo import read_showers
    from aihep.workflow.manifest import (
        build_manifest,
        claim_output_dir,
        file_entry,
        write_manifest,
    )

    config = config or SurrogateConfig()
    data = read_showers(reference, n_voxels=layout.n_voxels)
    claim_output_dir(out, "aihep.calo.train", force, strict=False)
    directory = ensure_writable_dir(out)
    start = time.perf_counter()
    model = train_surrogate(data.showers_mev, data.incident_mev, layout, config,
                            checkpoint=Path(directory) / "checkpoint.pt", progress=progress)
    minutes = training_minutes(model, time.perf_counter() - start)  # every session's
    target = model.save(directory)
    val = model.history.get("val") or [0.0]
    write_manifest(directory, build_manifest(
        "aihep.calo.train", config={"surrogate": config.model_dump(mode="json"),
                                    "layout": layout.model_dump(mode="json")},
        seed=config.seed, inputs=[file_entry(reference)],
        outputs=[file_entry(target, directory)]))
    return SurrogateRun(Path(directory), config.kind, len(data), int(np.argmin(val)), minutes)


def generate_file(run: Path, out: Path, n_showers: int = 1000, seed: int = DEFAULT_SEED,
                  force: bool = False) -> Any:
    """Generate ``n_showers`` (energies log-uniform in the layout's range) with a trained
    surrogate into ``out/showers.h5`` (a :class:`~aihep.fastsim.dataset.GeneratedShowers`)."""
    from aihep.fastsim.dataset import write_generated
    from aihep.workflow.manifest import claim_output_dir

    model = load_surrogate(run)
    claim_output_dir(out, "aihep.calo.generate", force)
    return write_generated(out, "aihep.calo.generate", lambda e: model.generate(e, seed),
                           model.layout, n_showers, seed,
                           {"run": str(run), "n_showers": n_showers},
                           [Path(run) / "surrogate.pt"])
