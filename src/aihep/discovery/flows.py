"""Conditional density estimation with normalizing flows (zuko), scikit-learn style.

``ConditionalDensity().fit(x, c)`` learns p(x | c) with a neural spline flow (NSF) or a masked
autoregressive flow (MAF); ``sample(c)`` draws one x per context row and ``log_prob(x, c)``
evaluates the density. Features and context are standardized internally (statistics of the
training set), and the density is reported in the original units (Jacobian included).

``FlowConfig.ensemble = k`` trains k flows with different seeds (and validation splits) and
uses their equal-weight mixture: ``sample`` draws each row from one member chosen at random,
``log_prob`` is log of the mean density. A mixture averages out the mis-modelling of single
flows, which is what makes CATHODE's background estimate unstable from one training to the
next (Hallin et al., arXiv:2109.00546, ensemble the flow for the same reason).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep.errors import InputError
from aihep.nn.train import TrainConfig, TrainResult, seeded, train


class FlowConfig(BaseModel):
    """Architecture of the conditional flow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["nsf", "maf"] = "nsf"
    transforms: int = Field(4, ge=1)
    ensemble: int = Field(1, ge=1, description="independently seeded flows in the mixture")
    hidden_features: tuple[int, ...] = (64, 64)
    validation_fraction: float = Field(0.2, gt=0, lt=1)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(epochs=60, batch_size=256,
                                                                   learning_rate=1e-3))


def build_flow(config: FlowConfig, n_features: int, n_context: int) -> Any:
    """One zuko conditional flow (NSF or MAF) of ``config``: ``flow(c).log_prob(x)``."""
    import zuko

    cls = zuko.flows.NSF if config.kind == "nsf" else zuko.flows.MAF
    return cls(features=n_features, context=n_context, transforms=config.transforms,
               hidden_features=config.hidden_features)


def cathode_flow_config() -> FlowConfig:
    """CATHODE's default background model: a mixture of three NSFs (stability across trainings)."""
    return FlowConfig(ensemble=3)


class ConditionalDensity:
    """p(x | c) with a zuko flow. x: (n, d) features; c: (n, k) context (e.g. mjj in GeV)."""

    def __init__(self, config: FlowConfig | None = None) -> None:
        self.config = config or FlowConfig()
        self.flows: list = []
        self.results: list[TrainResult] = []

    @property
    def result(self) -> TrainResult | None:
        """Training history of the first member (all members when ``results`` is read)."""
        return self.results[0] if self.results else None

    def _standardize(self, x: np.ndarray, c: np.ndarray):
        import torch

        xs = (x - self.x_mean) / self.x_std
        cs = (c - self.c_mean) / self.c_std
        return (torch.as_tensor(xs, dtype=torch.float32),
                torch.as_tensor(cs, dtype=torch.float32))

    def fit(self, x: np.ndarray, c: np.ndarray, seed: int = DEFAULT_SEED) -> ConditionalDensity:
        """Train on samples x (n, d) with contexts c (n, k) or (n,)."""
        x = np.asarray(x, dtype=float)
        c = np.asarray(c, dtype=float).reshape(len(x), -1)
        if x.ndim != 2 or len(x) < 20:
            raise InputError("flow training data", "shape", "(n >= 20, d) features")
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(c))):
            raise InputError("flow training data", "values", "finite features and context")
        self.x_mean, self.x_std = x.mean(0), x.std(0) + 1e-8
        self.c_mean, self.c_std = c.mean(0), c.std(0) + 1e-8
        self.flows, self.results = [], []
        for member in range(self.config.ensemble):
            flow, result = self._fit_one(x, c, seed + 7919 * member)
            self.flows.append(flow)
            self.results.append(result)
        return self

    def _fit_one(self, x: np.ndarray, c: np.ndarray, seed: int):
        with seeded(seed):
            flow = build_flow(self.config, x.shape[1], c.shape[1])
            order = np.random.default_rng(seed).permutation(len(x))
            n_val = max(1, int(self.config.validation_fraction * len(x)))
            xt, ct = self._standardize(x[order], c[order])
            val, tr = slice(0, n_val), slice(n_val, None)

            def loss(flow, batch):
                return -flow(batch[1]).log_prob(batch[0]).mean()

            result = train(flow, loss, (xt[tr], ct[tr]), (xt[val], ct[val]),
                           self.config.train.model_copy(update={"seed": seed}))
        return flow, result

    def _require_fit(self, what: str) -> None:
        if not self.flows:
            msg = f"ConditionalDensity.{what} called before fit"
            raise RuntimeError(msg)

    def sample(self, c: np.ndarray, seed: int = DEFAULT_SEED) -> np.ndarray:
        """One sample x per context row (each from a randomly chosen member); returns (n, d)."""
        import torch

        self._require_fit("sample")
        c = np.asarray(c, dtype=float).reshape(len(c), -1)
        _, ct = self._standardize(np.zeros((len(c), len(self.x_mean))), c)
        member = np.random.default_rng(seed).integers(len(self.flows), size=len(c))
        xs = np.empty((len(c), len(self.x_mean)))
        with seeded(seed), torch.no_grad():
            for k, flow in enumerate(self.flows):
                rows = np.flatnonzero(member == k)
                if len(rows):
                    xs[rows] = flow(ct[rows]).sample().numpy().astype(float)
        return xs * self.x_std + self.x_mean

    def log_prob(self, x: np.ndarray, c: np.ndarray) -> np.ndarray:
        """log p(x | c) of the mixture in the original units, shape (n,)."""
        import torch

        self._require_fit("log_prob")
        x = np.asarray(x, dtype=float)
        xt, ct = self._standardize(x, np.asarray(c, dtype=float).reshape(len(x), -1))
        with torch.no_grad():
            lp = torch.stack([flow(ct).log_prob(xt) for flow in self.flows])
            mix = torch.logsumexp(lp, 0) - np.log(len(self.flows))
        return mix.numpy().astype(float) - np.log(self.x_std).sum()
