"""Generative shower surrogates conditioned on the incident energy: a VAE and a
flow-matching model, trained with the one training loop (:mod:`aihep.nn.train`).

Both work on the same representation (CaloFlow's): uniform noise below the voxel threshold
is added to every voxel (empty voxels become a continuum instead of a spike), then per voxel
u = log(E_voxel / E_inc), standardized with the training showers' statistics; the condition
is log10(E_inc / MeV) rescaled to [-1, 1] over the training range. Decoding clips u to the
training range, and voxels below the threshold are zeroed.

* ``vae``: encoder and decoder MLPs (the LHCb/ATLAS choice), Gaussian latent, the
  reconstruction as a Gaussian likelihood in u, beta-weighted KL.
* ``flow-matching``: an MLP velocity field v(x_t, t, c) trained on straight paths from
  standard normal noise to showers (rectified flow / conditional flow matching); sampled by
  integrating dx/dt = v with the midpoint rule (CaloDREAM-style, sized for a CPU).
* ``caloflow``: CaloFlow's two stages as two conditional neural-spline flows (zuko, coupling
  transforms with ``passes=2``): the layer energies (log fractions of E_inc) given E_inc,
  then the voxel fractions within each layer (logit) given E_inc and the layer energies;
  sampled fractions are renormalized per layer. One flow over all voxels: sized for the
  coarse layout (dataset 2 would need the layer-wise second stage).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep.fastsim.geometry import CaloLayout
from aihep.nn.layers import mlp
from aihep.nn.train import TrainConfig, seeded, train


class SurrogateConfig(BaseModel):
    """Which surrogate and its sizes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["vae", "flow-matching", "caloflow"] = "vae"
    hidden: tuple[int, ...] = (512, 512)
    latent: int = Field(32, ge=1, description="VAE latent dimension")
    beta: float = Field(1.0, gt=0, description="VAE KL weight")
    ode_steps: int = Field(32, ge=1, description="flow matching: midpoint steps")
    flow_transforms: int = Field(4, ge=1, description="caloflow: transforms per flow")
    val_fraction: float = Field(0.1, gt=0, lt=1)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(
        epochs=60, batch_size=256, learning_rate=1e-3, patience=10))
    seed: int = DEFAULT_SEED


class _Scaler:
    """Voxels <-> standardized log fractions; energies <-> condition in [-1, 1]."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.mean = np.asarray(state["mean"], np.float32)
        self.std = np.asarray(state["std"], np.float32)
        self.low = np.asarray(state["low"], np.float32)
        self.high = np.asarray(state["high"], np.float32)
        self.noise = float(state["noise"])
        self.log_e = tuple(state["log_e"])

    @classmethod
    def fit(cls, voxels: np.ndarray, energies: np.ndarray, noise_mev: float,
            rng: np.random.Generator) -> _Scaler:
        u = np.log((voxels + noise_mev * rng.random(voxels.shape)) / energies[:, None])
        log_e = np.log10(energies)
        std = np.maximum(u.std(0), 1e-3)
        z = (u - u.mean(0)) / std
        return cls({"mean": u.mean(0), "std": std, "low": z.min(0), "high": z.max(0),
                    "noise": noise_mev,
                    "log_e": (float(log_e.min()), float(max(log_e.max(), log_e.min() + 1e-3)))})

    def state(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "low": self.low.tolist(),
                "high": self.high.tolist(), "noise": self.noise, "log_e": self.log_e}

    def encode(self, voxels: np.ndarray, energies: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        noisy = voxels + self.noise * rng.random(voxels.shape)
        u = np.log(noisy / energies[:, None])
        return ((u - self.mean) / self.std).astype(np.float32)

    def condition(self, energies: np.ndarray) -> np.ndarray:
        lo, hi = self.log_e
        return (2 * (np.log10(energies) - lo) / (hi - lo) - 1).astype(np.float32)[:, None]

    def decode(self, z: np.ndarray, energies: np.ndarray) -> np.ndarray:
        u = np.clip(z, self.low, self.high) * self.std + self.mean
        return np.exp(u) * energies[:, None]


class ShowerVAE(torch.nn.Module):
    """Conditional VAE: encoder (x, c) -> (mu, log var), decoder (z, c) -> x."""

    def __init__(self, n_voxels: int, config: SurrogateConfig) -> None:
        super().__init__()
        self.latent = config.latent
        self.encoder = mlp([n_voxels + 1, *config.hidden, 2 * config.latent])
        self.decoder = mlp([config.latent + 1, *reversed(config.hidden), n_voxels])

    def loss(self, x: torch.Tensor, c: torch.Tensor, beta: float) -> torch.Tensor:
        mu, log_var = self.encoder(torch.cat([x, c], 1)).chunk(2, 1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)
        recon = self.decoder(torch.cat([z, c], 1))
        nll = 0.5 * ((recon - x) ** 2).sum(1)
        kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(1)
        return (nll + beta * kl).mean()

    def sample(self, c: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        z = torch.randn(len(c), self.latent, generator=generator)
        return self.decoder(torch.cat([z, c], 1))


class ShowerFlowMatching(torch.nn.Module):
    """Velocity field v(x_t, t, c) of conditional flow matching on straight paths."""

    def __init__(self, n_voxels: int, config: SurrogateConfig) -> None:
        super().__init__()
        self.steps = config.ode_steps
        self.net = mlp([n_voxels + 2, *config.hidden, n_voxels])

    def velocity(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, t, c], 1))

    def loss(self, x1: torch.Tensor, c: torch.Tensor, beta: float) -> torch.Tensor:
        x0 = torch.randn_like(x1)
        t = torch.rand(len(x1), 1)
        xt = (1 - t) * x0 + t * x1
        return ((self.velocity(xt, t, c) - (x1 - x0)) ** 2).sum(1).mean()

    def sample(self, c: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = torch.randn(len(c), self.net[-1].out_features, generator=generator)
        h = 1.0 / self.steps
        for i in range(self.steps):
            t = torch.full((len(c), 1), i * h)
            mid = x + 0.5 * h * self.velocity(x, t, c)
            x = x + h * self.velocity(mid, t + 0.5 * h, c)
        return x


class ShowerCaloFlow(torch.nn.Module):
    """Two conditional flows: layer energies | E_inc, voxel fractions | E_inc, layers.

    Works on its own representation of the standardized log voxel fractions ``x`` (see
    :class:`_Scaler`): it converts them back to energies per E_inc, then to (layer log
    fractions, logit of the within-layer fractions)."""

    ALPHA = 1e-6

    def __init__(self, n_voxels: int, config: SurrogateConfig, n_layers: int = 1) -> None:
        super().__init__()
        import zuko

        self.n_layers = n_layers
        self.per_layer = n_voxels // n_layers
        hidden = tuple(config.hidden)
        self.layers_flow = zuko.flows.NSF(n_layers, context=1,
                                          transforms=config.flow_transforms,
                                          hidden_features=hidden, passes=2)
        self.voxel_flow = zuko.flows.NSF(n_voxels, context=1 + n_layers,
                                         transforms=config.flow_transforms,
                                         hidden_features=hidden, passes=2)
        self.register_buffer("scale", torch.ones(2, n_voxels))  # mean, std of the scaler

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fraction = torch.exp(x * self.scale[1] + self.scale[0])  # voxel / E_inc
        per = fraction.view(len(x), self.n_layers, self.per_layer)
        layer = per.sum(2)
        within = (per / layer.unsqueeze(2)).reshape(len(x), -1)
        a = self.ALPHA
        logit = torch.logit(a + (1 - 2 * a) * within)
        return torch.log(layer), logit

    def loss(self, x: torch.Tensor, c: torch.Tensor, beta: float) -> torch.Tensor:
        log_layer, logit = self._split(x)
        nll = -self.layers_flow(c).log_prob(log_layer)
        nll = nll - self.voxel_flow(torch.cat([c, log_layer], 1)).log_prob(logit)
        return nll.mean() / x.shape[1]

    def sample(self, c: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            log_layer = self.layers_flow(c).sample()
            logit = self.voxel_flow(torch.cat([c, log_layer], 1)).sample()
        a = self.ALPHA
        within = ((torch.sigmoid(logit) - a) / (1 - 2 * a)).clamp(min=0.0)
        per = within.view(len(c), self.n_layers, self.per_layer)
        per = per / per.sum(2, keepdim=True).clamp(min=1e-12)
        fraction = (per * torch.exp(log_layer).unsqueeze(2)).reshape(len(c), -1)
        return (torch.log(fraction.clamp(min=1e-30)) - self.scale[0]) / self.scale[1]


def build(kind: str, n_voxels: int, config: SurrogateConfig, n_layers: int = 1
          ) -> torch.nn.Module:
    """The surrogate network of ``kind`` for ``n_voxels`` (in ``n_layers`` layers)."""
    if kind == "caloflow":
        return ShowerCaloFlow(n_voxels, config, n_layers)
    return (ShowerVAE if kind == "vae" else ShowerFlowMatching)(n_voxels, config)


@dataclass(frozen=True)
class Surrogate:
    """A trained surrogate: ``generate(energies_mev, seed)`` -> voxels (N, n_voxels)."""

    config: SurrogateConfig
    layout: CaloLayout
    network: torch.nn.Module
    scaler: _Scaler
    history: dict[str, list[float]] = field(default_factory=dict)

    def generate(self, energies_mev: np.ndarray, seed: int = DEFAULT_SEED,
                 batch_size: int = 10_000) -> np.ndarray:
        energies = np.asarray(energies_mev, float)
        generator = torch.Generator().manual_seed(seed)
        out = np.empty((len(energies), self.layout.n_voxels), np.float32)
        self.network.eval()
        with torch.no_grad():
            for start in range(0, len(energies), batch_size):
                e = energies[start:start + batch_size]
                c = torch.from_numpy(self.scaler.condition(e))
                z = self.network.sample(c, generator).numpy()
                out[start:start + len(e)] = self.scaler.decode(z, e)
        out[out < self.layout.threshold_mev] = 0.0
        return out

    def save(self, directory: str | Path) -> Path:
        from aihep._atomic import ensure_writable_dir, write_atomic

        directory = ensure_writable_dir(directory)
        state = {"config": self.config.model_dump(mode="json"),
                 "layout": self.layout.model_dump(mode="json"),
                 "scaler": self.scaler.state(), "state_dict": self.network.state_dict(),
                 "history": self.history}
        return write_atomic(Path(directory) / "surrogate.pt", lambda p: torch.save(state, p))


def load_surrogate(directory: str | Path) -> Surrogate:
    """A surrogate saved by :meth:`Surrogate.save`."""
    from aihep.errors import InputError

    path = Path(directory) / "surrogate.pt"
    if not path.is_file():
        raise InputError(directory, "surrogate.pt", "a surrogate run directory "
                         "(aihep calo train)")
    state = torch.load(path, weights_only=False)
    config = SurrogateConfig.model_validate(state["config"])
    layout = CaloLayout.model_validate(state["layout"])
    network = build(config.kind, layout.n_voxels, config, layout.n_layers)
    network.load_state_dict(state["state_dict"])
    return Surrogate(config, layout, network.eval(), _Scaler(state["scaler"]),
                     state.get("history", {}))


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
    scaler = _Scaler.fit(voxels, energies, noise, rng)
    x = torch.from_numpy(scaler.encode(voxels, energies, rng))
    c = torch.from_numpy(scaler.condition(energies))
    order = np.random.default_rng(config.seed).permutation(len(x))
    n_val = max(1, math.ceil(config.val_fraction * len(x)))
    val, tr = torch.from_numpy(order[:n_val]), torch.from_numpy(order[n_val:])
    with seeded(config.seed):
        network = build(config.kind, layout.n_voxels, config, layout.n_layers)
        if isinstance(network, ShowerCaloFlow):
            network.scale.copy_(torch.from_numpy(np.stack([scaler.mean, scaler.std])))

        def loss(module: torch.nn.Module, batch: Any) -> torch.Tensor:
            return module.loss(batch[0], batch[1], config.beta)

        result = train(network, loss, (x[tr], c[tr]), (x[val], c[val]),
                       config.train.model_copy(update={"seed": config.seed}),
                       checkpoint=checkpoint, progress=progress)
    return Surrogate(config, layout, network.eval(), scaler,
                     {"train": result.train_loss, "val": result.val_loss})


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
    minutes = (time.perf_counter() - start) / 60
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
