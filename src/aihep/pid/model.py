"""A transformer over the detector signals a track has (ALICE-style feature-set embedding).

Each present detector becomes a token: its own small MLP embeds (signal, log p) and a
learned detector embedding is added; a momentum token is always there. Absent detectors are
not imputed: their tokens are masked out of the attention and the pooling, so what would be
in a missing detector's slot cannot change the output, and the order of the tokens does not
matter (no positions). The pooled representation feeds the class logits and, for
domain-adversarial training, a :class:`~aihep.nn.dann.DomainHead`.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from aihep import DEFAULT_SEED
from aihep.errors import ConfigError
from aihep.nn.dann import DomainHead
from aihep.pid.detectors import DETECTORS, SPECIES

# rough centring of each detector's signal (ITS/TPC dE/dx a.u., TOF beta, TRD score)
_CENTRE = {"its": (80.0, 60.0), "tpc": (50.0, 40.0), "tof": (0.9, 0.1), "trd": (0.3, 0.3)}


class PIDModelConfig(BaseModel):
    """Sizes of the network and whether it has a domain head."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hidden: int = Field(32, ge=8)
    layers: int = Field(2, ge=1)
    heads: int = Field(4, ge=1)
    domain_head: bool = False
    seed: int = DEFAULT_SEED


def token_inputs(signals: np.ndarray, p_gev: np.ndarray,
                 detectors: tuple[str, ...] = DETECTORS
                 ) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """(n, D + 1, 2) token inputs (signal centred, log p), the (n, D + 1) presence mask and
    the detector of each slot (0: momentum), from signals (n, D) with NaN for an absent
    detector, in the order of ``detectors``."""
    unknown = [d for d in detectors if d not in DETECTORS]
    if unknown:
        msg = f"unknown detectors {unknown}; known: {', '.join(DETECTORS)}"
        raise ConfigError(msg)
    signals = np.asarray(signals, dtype=float)
    if signals.ndim != 2 or signals.shape[1] != len(detectors):
        msg = f"signals must have shape (n, {len(detectors)}) for detectors {detectors}"
        raise ConfigError(msg)
    if np.isinf(signals).any() or not np.isfinite(p_gev).all():
        msg = "signals must be finite or NaN (absent), momenta finite"
        raise ConfigError(msg)
    present = np.isfinite(signals)
    centred = np.stack([(signals[:, k] - _CENTRE[d][0]) / _CENTRE[d][1]
                        for k, d in enumerate(detectors)], axis=1)
    logp = np.log(np.asarray(p_gev, dtype=float))[:, None]
    tokens = np.concatenate([np.nan_to_num(centred)[..., None],
                             np.broadcast_to(logp, centred.shape)[..., None]], axis=-1)
    p_token = np.concatenate([logp, logp], axis=1)[:, None, :]
    tokens = np.concatenate([p_token, tokens], axis=1).astype(np.float32)
    mask = np.concatenate([np.ones((len(signals), 1), bool), present], axis=1)
    tokens = np.where(mask[..., None], tokens, 0.0).astype(np.float32)
    order = [0, *(1 + DETECTORS.index(d) for d in detectors)]  # detector identity per slot
    return torch.from_numpy(tokens), torch.from_numpy(mask), order


class PIDTransformer(nn.Module):
    """``forward(tokens, mask, kinds) -> (class logits (n, 4), pooled features)``; ``kinds``
    gives the detector of each token slot (0: momentum, 1..4: DETECTORS)."""

    def __init__(self, config: PIDModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or PIDModelConfig()
        c = self.config
        self.embed = nn.ModuleList([nn.Sequential(nn.Linear(2, c.hidden), nn.GELU(),
                                                  nn.Linear(c.hidden, c.hidden))
                                    for _ in range(1 + len(DETECTORS))])
        self.kind = nn.Embedding(1 + len(DETECTORS), c.hidden)
        layer = nn.TransformerEncoderLayer(c.hidden, c.heads, 2 * c.hidden, 0.0,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.classify = nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.GELU(),
                                      nn.Linear(c.hidden, len(SPECIES)))
        self.domain = DomainHead(c.hidden) if c.domain_head else None

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor, kinds: list[int]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.stack([self.embed[k](tokens[:, i]) for i, k in enumerate(kinds)], 1)
        h = h + self.kind(torch.tensor(kinds))[None]
        h = self.encoder(h, src_key_padding_mask=~mask)
        h = torch.where(mask[..., None], h, torch.zeros_like(h))
        pooled = h.sum(1) / mask.sum(1, keepdim=True)
        return self.classify(pooled), pooled
