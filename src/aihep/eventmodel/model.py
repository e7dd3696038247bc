"""One event transformer body with several heads (EveNet-style, arXiv:2601.17126).

Objects: up to ``max_jets`` jets (log pT, eta, sin/cos phi, log(1 + m), b-tag), the leading
isolated lepton and the missing pT (as objects with their own type embedding). Between
every pair of objects, Particle-Transformer-style pair features (ln delta-R, ln kT, ln z,
ln m^2 of the pair) become an additive bias of every attention head. Heads on the shared
body (one forward pass):

* ``classification``: process logits from the pooled objects;
* ``assignment``: two symmetric triplet attentions over the jets (t1, t2), split (SPANet 2,
  the default) or full (SPANet 1) as in :mod:`aihep.assign.model`, plus its learned
  W/top-mass term per triplet, with detection outputs;
* ``regression``: top and antitop (pT, mass) and the neutrino momentum (px, py, pz), scaled;
* ``segmentation``: per jet its parent (t1, t2, Higgs, other);
* ``reconstruction``: per object its input features (masked-object pretraining).

With ``summary`` set, event-level summaries of the visible objects (counts, HT, masses:
:func:`event_summary`) enter as one more token (its own embedding, no pair bias) that every
object attends to and that the pooled heads read.

Missing targets (NaN or -1) are masked out of their loss; the loss weights are in the
config.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from aihep import DEFAULT_SEED
from aihep.assign.model import (
    SplitSymmetricAttention,
    SymmetricTensorAttention,
    triplet_mass_terms,
)
from aihep.nn.kinematics import pair_features_between

N_JET_FEATURES = 6
N_PAIR_FEATURES = 4
OBJECT_TYPES = 3  # jet, lepton, missing pT
N_SUMMARY = 8
SEGMENTS = ("t1", "t2", "higgs", "other")
N_REGRESSION = 7  # top pT, top m, antitop pT, antitop m, neutrino px, py, pz (scaled)


class EventModelConfig(BaseModel):
    """Sizes and multi-task loss weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hidden: int = Field(64, ge=8)
    layers: int = Field(4, ge=1)
    heads: int = Field(4, ge=1)
    n_classes: int = Field(4, ge=2, description="processes")
    attention: Literal["split", "full"] = Field(
        "split", description="assignment head: 'split' (3 hidden^2 weights, SPANet 2) or "
        "'full' (a hidden^3 tensor, SPANet 1)")
    summary: bool = Field(False, description="event-level summaries (counts, HT, masses of "
                          "the objects) as an extra token")
    weights: dict[str, float] = Field(default_factory=lambda: {
        "classification": 1.0, "assignment": 1.0, "regression": 1.0, "segmentation": 1.0,
        "reconstruction": 1.0})
    seed: int = DEFAULT_SEED


def pair_features(p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, N, N, 4) ln delta-R, ln kT, ln z, ln m^2 of object pairs from (B, N, 4) px, py,
    pz, E [GeV] (:func:`aihep.nn.kinematics.pair_features_between`, clamped at 1e-4);
    zeros for pairs with a masked object."""
    out = pair_features_between(p4[:, :, None, :], p4[:, None, :, :], eps=1e-4)
    both = mask[:, :, None] & mask[:, None, :]
    return torch.where(both[..., None], out, torch.zeros_like(out))


SUMMARY_FEATURES = ("log missing pT", "has lepton", "b-tagged jets / 4", "jets / 10",
                    "log HT", "log (HT + lepton pT)", "log mass of jets and lepton",
                    "log mass of the b-tagged jets")


def _mass(p4: torch.Tensor, select: torch.Tensor) -> torch.Tensor:
    total = (p4 * select[..., None]).sum(1)
    return torch.sqrt((total[:, 3] ** 2 - (total[:, :3] ** 2).sum(1)).clamp(min=0.0))


def event_summary(objects: torch.Tensor, types: torch.Tensor, p4: torch.Tensor,
                  mask: torch.Tensor) -> torch.Tensor:
    """(B, 8) :data:`SUMMARY_FEATURES` of the objects in ``mask`` (logs of GeV, shifted to
    order one): only what the reconstructed objects hold, no truth; hidden objects are left
    out by the caller's mask."""
    jets, lepton, met = (mask & (types == k) for k in range(OBJECT_TYPES))
    pt = torch.hypot(p4[..., 0], p4[..., 1])
    btagged = jets & (objects[..., 5] > 0.5)
    ht = (pt * jets).sum(1)
    return torch.stack([torch.log1p((pt * met).sum(1)) - 4.0, lepton.any(1).float(),
                        btagged.sum(1) / 4.0, jets.sum(1) / 10.0, torch.log1p(ht) - 6.0,
                        torch.log1p(ht + (pt * lepton).sum(1)) - 6.0,
                        torch.log1p(_mass(p4, jets | lepton)) - 6.0,
                        torch.log1p(_mass(p4, btagged)) - 5.0], 1)


class PairBiasedLayer(nn.Module):
    """Pre-norm self-attention with an additive per-head bias, then a feed-forward block."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.GELU(),
                                 nn.Linear(2 * hidden, hidden))

    def forward(self, h: torch.Tensor, bias: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, d = h.shape
        q, k, v = self.qkv(self.norm1(h)).reshape(b, n, 3, self.heads, d // self.heads
                                                  ).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads) + bias
        scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
        attention = torch.softmax(scores, -1)
        out = (attention @ v).transpose(1, 2).reshape(b, n, d)
        h = h + self.proj(out)
        return h + self.ffn(self.norm2(h))


class EventTransformer(nn.Module):
    """The body and its heads: ``forward(objects, types, p4, mask, n_jets)`` returns a dict
    of head outputs (see the module docstring)."""

    def __init__(self, config: EventModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or EventModelConfig()
        c = self.config
        if c.hidden % c.heads:
            msg = "hidden must be a multiple of heads"
            raise ValueError(msg)
        self.embed = nn.Sequential(nn.Linear(N_JET_FEATURES, c.hidden), nn.GELU(),
                                   nn.Linear(c.hidden, c.hidden))
        self.type_embed = nn.Embedding(OBJECT_TYPES, c.hidden)
        self.pair_embed = nn.Sequential(nn.Linear(N_PAIR_FEATURES, c.hidden), nn.GELU(),
                                        nn.Linear(c.hidden, c.heads * c.layers))
        self.layers = nn.ModuleList([PairBiasedLayer(c.hidden, c.heads)
                                     for _ in range(c.layers)])
        self.norm = nn.LayerNorm(c.hidden)
        self.classify = nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.GELU(),
                                      nn.Linear(c.hidden, c.n_classes))
        self.regress = nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.GELU(),
                                     nn.Linear(c.hidden, N_REGRESSION))
        self.segment = nn.Linear(c.hidden, len(SEGMENTS))
        self.reconstruct = nn.Linear(c.hidden, N_JET_FEATURES)
        attention = SplitSymmetricAttention if c.attention == "split" else SymmetricTensorAttention
        self.assign = nn.ModuleList([attention(c.hidden) for _ in range(2)])
        # a learned chi2 per top: w . (u, v, u^2, v^2, u v) of the W and top candidate masses
        self.assign_masses = nn.Parameter(torch.zeros(2, 5))
        self.detect = nn.Linear(c.hidden, 2)
        self.mask_token = nn.Parameter(torch.zeros(c.hidden))
        if c.summary:  # created last: the other weights start as without it
            self.summary_embed = nn.Sequential(nn.Linear(N_SUMMARY, c.hidden), nn.GELU(),
                                               nn.Linear(c.hidden, c.hidden))

    def body(self, objects: torch.Tensor, types: torch.Tensor, p4: torch.Tensor,
             mask: torch.Tensor, hidden_objects: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N, hidden) object representations (B, N + 1 with the summary token last when
        the config has ``summary``); ``hidden_objects`` (B, N) are replaced by a learned
        token (masked-object pretraining)."""
        c = self.config
        h = self.embed(objects) + self.type_embed(types)
        if hidden_objects is not None:
            h = torch.where(hidden_objects[..., None], self.mask_token.expand_as(h), h)
            p4 = p4.masked_fill(hidden_objects[..., None], 0.0)
        pairs = self.pair_embed(pair_features(p4, mask))  # (B, N, N, heads * layers)
        b, n = mask.shape
        if c.summary:
            seen = mask if hidden_objects is None else mask & ~hidden_objects
            token = self.summary_embed(event_summary(objects, types, p4, seen))
            h = torch.cat([h, token[:, None]], 1)
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
            pairs = nn.functional.pad(pairs, (0, 0, 0, 1, 0, 1))  # no pair bias for it
            n += 1
        biases = pairs.reshape(b, n, n, c.layers, c.heads).permute(3, 0, 4, 1, 2)
        for layer, bias in zip(self.layers, biases, strict=True):
            h = layer(h, bias, mask)
        return self.norm(h) * mask[..., None]

    def forward(self, objects: torch.Tensor, types: torch.Tensor, p4: torch.Tensor,
                mask: torch.Tensor, n_jets: int,
                hidden_objects: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        h = self.body(objects, types, p4, mask, hidden_objects)
        extra = h.shape[1] - mask.shape[1]  # the summary token, when there is one
        pooled = h.sum(1) / (mask.sum(1, keepdim=True) + extra).clamp(min=1)
        h = h[:, : mask.shape[1]]
        jets, jet_mask = h[:, :n_jets], mask[:, :n_jets]
        eye = torch.eye(n_jets, dtype=torch.bool)
        distinct = ~(eye[:, :, None] | eye[:, None, :] | eye[None, :, :])
        valid = (jet_mask[:, :, None, None] & jet_mask[:, None, :, None]
                 & jet_mask[:, None, None, :] & distinct)
        if hidden_objects is not None:
            p4 = p4.masked_fill(hidden_objects[..., None], 0.0)
        terms = triplet_mass_terms(p4[:, :n_jets], self.assign_masses)
        assignment = torch.stack([(a(jets) + terms[:, k]).masked_fill(~valid, float("-inf"))
                                  for k, a in enumerate(self.assign)], 1)
        return {"classification": self.classify(pooled), "regression": self.regress(pooled),
                "segmentation": self.segment(jets), "reconstruction": self.reconstruct(h),
                "assignment": assignment, "detection": self.detect(pooled)}
