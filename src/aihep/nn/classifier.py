"""A binary MLP classifier with a scikit-learn face (``fit`` / ``predict_proba``).

Inputs are standardized with training statistics; the loss is the sample-weighted binary
cross-entropy; training runs through the shared loop (:mod:`aihep.nn.train`) with a
validation split for early stopping.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep.nn.layers import Standardizer, mlp
from aihep.nn.train import TrainConfig, TrainResult, seeded, train


class MLPConfig(BaseModel):
    """Architecture and optimization of the MLP classifier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden: tuple[int, ...] = (64, 64, 64)
    dropout: float = Field(0.0, ge=0, lt=1)
    validation_fraction: float = Field(0.2, gt=0, lt=1)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(
        epochs=40, batch_size=256, learning_rate=1e-3, patience=8))


class MLPClassifier:
    """P(class 1 | x) from a perceptron; x: (n, d) floats, y: (n,) in {0, 1}."""

    def __init__(self, config: MLPConfig | None = None, seed: int = DEFAULT_SEED) -> None:
        self.config = config or MLPConfig()
        self.seed = seed
        self.net: torch.nn.Module | None = None
        self.result: TrainResult | None = None

    def fit(self, x: np.ndarray, y: np.ndarray,
            sample_weight: np.ndarray | None = None) -> MLPClassifier:
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
        self.scale = Standardizer(x)
        with seeded(self.seed):
            self.net = mlp([x.shape[1], *self.config.hidden, 1], dropout=self.config.dropout)
            order = np.random.default_rng(self.seed).permutation(len(x))
            n_val = max(1, int(self.config.validation_fraction * len(x)))
            xt = self.scale(x[order])
            yt = torch.as_tensor(y[order], dtype=torch.float32)
            wt = torch.as_tensor(w[order] / w.mean(), dtype=torch.float32)
            val, tr = slice(0, n_val), slice(n_val, None)

            def loss(net, batch):
                logits = net(batch[0]).squeeze(-1)
                return torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, batch[1], weight=batch[2])

            self.result = train(self.net, loss, (xt[tr], yt[tr], wt[tr]),
                                (xt[val], yt[val], wt[val]),
                                self.config.train.model_copy(update={"seed": self.seed}))
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(n, 2) class probabilities, like scikit-learn."""
        if self.net is None:
            msg = "MLPClassifier.predict_proba called before fit"
            raise RuntimeError(msg)
        with torch.no_grad():
            p = torch.sigmoid(self.net(self.scale(x)).squeeze(-1)).numpy().astype(float)
        return np.column_stack([1 - p, p])
