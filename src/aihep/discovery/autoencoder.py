"""A (conditional) autoencoder for outlier detection, scikit-learn style.

``Autoencoder().fit(x, c)`` learns to compress x (n, d) through a narrow latent layer; the
reconstruction error (mean squared, in standardized units) is the outlier score: events
unlike the training sample reconstruct badly. With a context c (e.g. mjj in GeV) the encoder
and decoder both see it, so the model learns how x changes with mjj instead of calling
high-mjj events anomalous for their heavier jets.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from aihep import DEFAULT_SEED
from aihep.errors import InputError
from aihep.nn.layers import Standardizer, mlp
from aihep.nn.train import TrainConfig, TrainResult, seeded, train


class AutoencoderConfig(BaseModel):
    """Architecture and optimization of the autoencoder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latent: int = Field(2, ge=1, description="bottleneck size (< number of features)")
    hidden: tuple[int, ...] = (32, 32)
    validation_fraction: float = Field(0.2, gt=0, lt=1)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(
        epochs=60, batch_size=256, learning_rate=2e-3, patience=8))


class ConditionalAutoencoderNet(nn.Module):
    """Encoder (x, c) -> z, decoder (z, c) -> x_hat; ``n_context = 0`` for a plain AE."""

    def __init__(self, n_features: int, n_context: int, config: AutoencoderConfig) -> None:
        super().__init__()
        self.encoder = mlp([n_features + n_context, *config.hidden, config.latent])
        self.decoder = mlp([config.latent + n_context, *config.hidden[::-1], n_features])

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        z = self.encoder(torch.cat([x, c], dim=-1))
        return self.decoder(torch.cat([z, c], dim=-1))


class Autoencoder:
    """Reconstruction-error outlier scorer. x: (n, d); c: (n, k) or (n,) context, or None."""

    def __init__(self, config: AutoencoderConfig | None = None) -> None:
        self.config = config or AutoencoderConfig()
        self.net: ConditionalAutoencoderNet | None = None
        self.result: TrainResult | None = None

    def fit(self, x: np.ndarray, c: np.ndarray | None = None,
            seed: int = DEFAULT_SEED) -> Autoencoder:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or len(x) < 20:
            raise InputError("autoencoder training data", "shape", "(n >= 20, d) features")
        if self.config.latent >= x.shape[1]:
            raise InputError("autoencoder config", "latent",
                             f"a bottleneck smaller than the {x.shape[1]} features")
        c = np.zeros((len(x), 0)) if c is None else np.asarray(c, float).reshape(len(x), -1)
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(c))):
            raise InputError("autoencoder training data", "values", "finite features, context")
        self.x_scale, self.c_scale = Standardizer(x), Standardizer(c)
        with seeded(seed):
            self.net = ConditionalAutoencoderNet(x.shape[1], c.shape[1], self.config)
            order = np.random.default_rng(seed).permutation(len(x))
            n_val = max(1, int(self.config.validation_fraction * len(x)))
            xt, ct = self.x_scale(x[order]), self.c_scale(c[order])
            val, tr = slice(0, n_val), slice(n_val, None)

            def loss(net, batch):
                return ((net(batch[0], batch[1]) - batch[0]) ** 2).mean()

            self.result = train(self.net, loss, (xt[tr], ct[tr]), (xt[val], ct[val]),
                                self.config.train.model_copy(update={"seed": seed}))
        return self

    def score(self, x: np.ndarray, c: np.ndarray | None = None) -> np.ndarray:
        """Mean squared reconstruction error per event (standardized units), shape (n,)."""
        if self.net is None:
            msg = "Autoencoder.score called before fit"
            raise RuntimeError(msg)
        x = np.asarray(x, dtype=float)
        c = np.zeros((len(x), 0)) if c is None else np.asarray(c, float).reshape(len(x), -1)
        xt, ct = self.x_scale(x), self.c_scale(c)
        with torch.no_grad():
            return ((self.net(xt, ct) - xt) ** 2).mean(dim=-1).numpy().astype(float)
