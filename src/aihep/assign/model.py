"""A SPANet-style assignment network (symmetry-preserving attention, arXiv:2010.09206).

Jets -> embedding -> a transformer encoder over the jets (no positions: permuting the jets
permutes the outputs) -> per top quark a branch encoder and a **symmetric triplet
attention**, either split (SPANet 2's default: one linear map per daughter and
``T_ijk = sum_d b_id q1_jd q2_kd`` symmetrized in (j, k)) or full (SPANet 1's
``T_ijk = sum_abc x_ia x_jb x_kc theta_abc`` with theta symmetrized in (b, c)); either way
the probability of (b = i, q1 = j, q2 = k) equals that of (i, k, j): the W daughters are
interchangeable by construction. A softmax runs over every valid triplet (unmasked,
distinct jets). Each branch also has a detection output: the probability that its top is
reconstructable (all three partons matched).

With ``kinematic_features`` (the default) the network also gets what the chi2 method uses,
computed from the same inputs: every attention layer adds a per-head bias from the jet
pairs' ln delta-R, ln kT, ln z and ln m^2 (Particle Transformer style), and each branch adds
to its triplet logits a learned quadratic form in ln m(q1 q2) and ln m(b q1 q2) (a learned
chi2). On 18k training events and 10 epochs (two seeds) it raised the 6-jet matched event
efficiency from 61-62% to 68% at 1.2x the time per epoch; ``kinematic_features=False`` is
plain SPANet.

The two tops are interchangeable: the loss takes, per event, the better of the two ways to
match the branches to t1 and t2 (so the model's outputs are invariant under t1 <-> t2 of the
targets). Partially reconstructable events train the branch of the reconstructable top and
the detection outputs; missing targets are masked.

Decoding: the branch with the more probable best triplet is assigned first, the other then
chooses among the remaining jets.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from aihep import DEFAULT_SEED
from aihep.io.assignment import JetEvents
from aihep.nn.kinematics import pair_features_between


class AssignmentModelConfig(BaseModel):
    """Sizes of the network (the CPU configuration by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hidden: int = Field(64, ge=8)
    layers: int = Field(4, ge=1, description="shared encoder layers")
    branch_layers: int = Field(1, ge=0, description="per-top encoder layers")
    heads: int = Field(4, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    attention: Literal["split", "full"] = Field(
        "split", description="triplet attention: 'split' (one linear map per daughter and a "
        "trilinear form, SPANet 2's default) or 'full' (a hidden^3 weight tensor, SPANet 1)")
    embed_layers: int = Field(2, ge=1, description="linear layers of the jet embedding: one "
                              "from the inputs, then residual blocks (layer norm, GELU, linear)")
    kinematic_features: bool = Field(
        True, description="add what the chi2 method uses, computed from the same jet inputs: "
        "a pair bias in every attention layer from the jet pairs' ln delta-R, ln kT, ln z, "
        "ln m^2 (Particle Transformer style) and, per triplet, a learned quadratic form in "
        "ln m(q1 q2) and ln m(b q1 q2) added to the triplet logits; false: plain SPANet")
    seed: int = DEFAULT_SEED


N_FEATURES = 6


def jet_inputs(events: JetEvents) -> np.ndarray:
    """(N, J, 6) float32: log pT, eta, sin phi, cos phi, log(1 + mass), b-tag (0 on padding)."""
    x = np.stack([np.log(np.maximum(events.pt, 1e-3)) - 4.0, events.eta, np.sin(events.phi),
                  np.cos(events.phi), np.log1p(np.maximum(events.mass, 0.0)) - 2.0,
                  events.btag], axis=-1).astype(np.float32)
    return np.where(events.mask[..., None], x, 0.0).astype(np.float32)


class SymmetricTensorAttention(nn.Module):
    """Logits (B, J, J, J) of (b, q1, q2) triplets, symmetric in (q1, q2)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.randn(hidden, hidden, hidden) / hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = 0.5 * (self.theta + self.theta.transpose(1, 2))
        y = torch.einsum("bia,acd->bicd", x, theta)
        z = torch.einsum("bjc,bicd->bijd", x, y)
        return torch.einsum("bkd,bijd->bijk", x, z) / math.sqrt(x.shape[-1])


def jet_four_vectors(x: torch.Tensor) -> torch.Tensor:
    """(..., 4) px, py, pz, E [GeV] from :func:`jet_inputs` features (..., 6)."""
    pt = torch.exp(x[..., 0] + 4.0)
    mass = torch.expm1(x[..., 4] + 2.0).clamp(min=0.0)
    px, py, pz = pt * x[..., 3], pt * x[..., 2], pt * torch.sinh(x[..., 1])
    return torch.stack([px, py, pz, torch.sqrt(px**2 + py**2 + pz**2 + mass**2)], -1)


#: rough centre and width of ln delta-R, ln kT, ln z, ln m^2 (GeV) of jet pairs
_PAIR_CENTRE = (0.5, 4.0, -1.5, 9.0)
_PAIR_WIDTH = (0.7, 1.2, 0.7, 1.5)


class KinematicFeatures(nn.Module):
    """The chi2 method's information for the network: an attention bias (B * heads, J, J)
    from the jet pairs' features (a small network per head; padded jets get -1e9) and, per
    branch, :func:`triplet_mass_terms` added to the triplet
    logits (B, 2, J, J, J): a learned chi2 (5 weights per branch, zero at the start); both
    symmetric in the W daughters. A small network of (u, v) instead of the quadratic form
    was no better and 1.7x slower per epoch."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.register_buffer("centre", torch.tensor(_PAIR_CENTRE), persistent=False)
        self.register_buffer("width", torch.tensor(_PAIR_WIDTH), persistent=False)
        self.pair = nn.Sequential(nn.Linear(4, hidden), nn.GELU(), nn.Linear(hidden, heads))
        self.quadratic = nn.Parameter(torch.zeros(2, 5))  # u, v, u^2, v^2, u v per branch

    def forward(self, x: torch.Tensor, mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        p4 = jet_four_vectors(x)
        b, j = mask.shape
        features = pair_features_between(p4[:, :, None], p4[:, None, :])
        bias = self.pair((features - self.centre) / self.width).permute(0, 3, 1, 2)
        bias = bias.masked_fill(~mask[:, None, None, :], -1e9)
        return bias.reshape(b * self.heads, j, j), triplet_mass_terms(p4, self.quadratic)


def triplet_mass_terms(p4: torch.Tensor, quadratic: torch.Tensor) -> torch.Tensor:
    """(B, K, J, J, J) learned-chi2 terms of (b, q1, q2) triplets of jets (B, J, 4) (px, py,
    pz, E in GeV): per row of ``quadratic`` (K, 5) the form w . (u, v, u^2, v^2, u v) with
    u = ln(m_qq / 80.4 GeV), v = ln(m_bqq / 172.5 GeV); symmetric in (q1, q2)."""
    pair = p4[:, :, None] + p4[:, None, :]
    m2_pair = pair[..., 3] ** 2 - (pair[..., :3] ** 2).sum(-1)
    u = (0.5 * torch.log(m2_pair.clamp(min=1e-4)) - math.log(80.4))[:, None]  # q1, q2
    triplet = pair[:, None] + p4[:, :, None, None]
    m2 = triplet[..., 3] ** 2 - (triplet[..., :3] ** 2).sum(-1)
    v = 0.5 * torch.log(m2.clamp(min=1.0)) - math.log(172.5)  # (B, J, J, J): b, q1, q2
    return torch.stack([q[0] * u + q[1] * v + q[2] * u * u + q[3] * v * v + q[4] * u * v
                        for q in quadratic], 1)


class SplitSymmetricAttention(nn.Module):
    """Logits (B, J, J, J) of (b, q1, q2) triplets from one linear map per daughter and the
    trilinear form sum_d b_id q1_jd q2_kd, symmetrized in (q1, q2): 3 hidden^2 weights
    instead of hidden^3 (SPANet 2's split attention)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.maps = nn.ModuleList([nn.Linear(hidden, hidden) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, q1, q2 = (m(x) for m in self.maps)
        logits = torch.einsum("bid,bjd,bkd->bijk", b, q1, q2) / math.sqrt(x.shape[-1])
        return 0.5 * (logits + logits.transpose(2, 3))


def _relu(x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x)


def _encoder(hidden: int, heads: int, layers: int, dropout: float,
             float_mask: bool = False) -> nn.Module | None:
    """Pre-norm transformer encoder layers; with ``float_mask`` (an additive attention bias)
    torch's inference fast path, which returns NaN with such masks (torch 2.13), is avoided
    by passing ReLU as a function it does not recognise."""
    if layers == 0:
        return None
    layer = nn.TransformerEncoderLayer(hidden, heads, 2 * hidden, dropout, batch_first=True,
                                       norm_first=True,
                                       activation=_relu if float_mask else "relu")
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class AssignmentNet(nn.Module):
    """The network: ``forward(x, mask) -> (triplet logits (B, 2, J, J, J), detection (B, 2))``;
    invalid triplets (padded or repeated jets) are -inf."""

    def __init__(self, config: AssignmentModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or AssignmentModelConfig()
        c = self.config
        self.embed = nn.Linear(N_FEATURES, c.hidden)
        self.embed_blocks = nn.ModuleList([
            nn.Sequential(nn.LayerNorm(c.hidden), nn.GELU(), nn.Linear(c.hidden, c.hidden))
            for _ in range(c.embed_layers - 1)])
        bias = c.kinematic_features
        self.encoder = _encoder(c.hidden, c.heads, c.layers, c.dropout, bias)
        self.branches = nn.ModuleList([_encoder(c.hidden, c.heads, c.branch_layers, c.dropout,
                                                bias) or nn.Identity() for _ in range(2)])
        attention = SplitSymmetricAttention if c.attention == "split" else SymmetricTensorAttention
        self.attention = nn.ModuleList([attention(c.hidden) for _ in range(2)])
        self.detect = nn.ModuleList([nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.GELU(),
                                                   nn.Linear(c.hidden, 1)) for _ in range(2)])
        self.kinematics = KinematicFeatures(c.hidden, c.heads) if c.kinematic_features else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pad = ~mask
        h = self.embed(x)
        for block in self.embed_blocks:
            h = h + block(h)
        bias, terms = (None, None) if self.kinematics is None else self.kinematics(x, mask)
        if bias is not None:  # the padding is in the bias
            pad = None
        if self.encoder is not None:
            h = self.encoder(h, mask=bias, src_key_padding_mask=pad)
        h = h * mask[..., None]
        j = x.shape[1]
        eye = torch.eye(j, dtype=torch.bool, device=x.device)
        distinct = ~(eye[:, :, None] | eye[:, None, :] | eye[None, :, :])
        valid = (mask[:, :, None, None] & mask[:, None, :, None] & mask[:, None, None, :]
                 & distinct)
        logits, detection = [], []
        for index, (branch, attention, detect) in enumerate(zip(
                self.branches, self.attention, self.detect, strict=True)):
            hb = branch(h, mask=bias, src_key_padding_mask=pad) if isinstance(
                branch, nn.TransformerEncoder) else h
            hb = hb * mask[..., None]
            scores = attention(hb) if terms is None else attention(hb) + terms[:, index]
            logits.append(scores.masked_fill(~valid, float("-inf")))
            pooled = hb.sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
            detection.append(detect(pooled).squeeze(-1))
        return torch.stack(logits, 1), torch.stack(detection, 1)


def _triplet_logp(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log P(b, {q1, q2}) of one branch (B, J, J, J) for targets (B, 3); 0 where absent."""
    b_size, j = logits.shape[0], logits.shape[1]
    logp = torch.log_softmax(logits.reshape(b_size, -1), dim=1)
    ok = (target >= 0).all(1)
    t = target.clamp(min=0)
    first = t[:, 0] * j * j + t[:, 1] * j + t[:, 2]
    second = t[:, 0] * j * j + t[:, 2] * j + t[:, 1]
    both = torch.stack([logp.gather(1, first[:, None])[:, 0],
                        logp.gather(1, second[:, None])[:, 0]], 1)
    # absent targets point at a masked triplet (-inf): zero them before logsumexp, whose
    # gradient at -inf is NaN and would pass through the final where (0 * NaN)
    both = torch.where(ok[:, None], both, torch.zeros_like(both))
    return torch.where(ok, torch.logsumexp(both, 1), torch.zeros_like(both[:, 0]))


def symmetric_assignment_nll(logits: torch.Tensor, detection: torch.Tensor,
                             targets: torch.Tensor) -> torch.Tensor:
    """(B,) the better top ordering's negative log-likelihood plus the detection cross
    entropy, from triplet logits (B, 2, J, J, J), detection logits (B, 2), targets (B, 6)."""
    tops = (targets[:, :3], targets[:, 3:])
    present = [(t >= 0).all(1).float() for t in tops]
    bce = nn.functional.binary_cross_entropy_with_logits
    losses = []
    for order in ((0, 1), (1, 0)):
        total = torch.zeros(len(targets))
        for branch, top in enumerate(order):
            total = total - _triplet_logp(logits[:, branch], tops[top])
            total = total + bce(detection[:, branch], present[top], reduction="none")
        losses.append(total)
    return torch.minimum(*losses)


def assignment_loss(module: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Mean over events of :func:`symmetric_assignment_nll`."""
    x, mask, targets = batch
    logits, detection = module(x, mask)
    return symmetric_assignment_nll(logits, detection, targets).mean()


def decode(logits: torch.Tensor, detection: torch.Tensor) -> np.ndarray:
    """(B, 6) predicted jets: the more confident branch first, the other on the jets left
    (-1 where no valid triplet remains)."""
    b_size, _, j = logits.shape[:3]
    flat = torch.log_softmax(logits.reshape(b_size, 2, -1), dim=2)
    best, index = flat.max(2)
    rows = torch.arange(b_size)
    first = torch.argmax(best, 1)
    second = 1 - first

    def triplet(k: torch.Tensor) -> torch.Tensor:
        return torch.stack([k // (j * j), (k // j) % j, k % j], 1)

    t_first = triplet(index[rows, first])
    used = torch.zeros(b_size, j, dtype=torch.bool)
    used[rows[:, None], t_first] = True
    scores = flat[rows, second].reshape(b_size, j, j, j)
    blocked = used[:, :, None, None] | used[:, None, :, None] | used[:, None, None, :]
    scores = scores.masked_fill(blocked, float("-inf")).reshape(b_size, -1)
    value, k_second = scores.max(1)
    t_second = torch.where(torch.isfinite(value)[:, None], triplet(k_second), -1)
    ok_first = torch.isfinite(best[rows, first])[:, None]
    t_first = torch.where(ok_first, t_first, -1)
    out = torch.empty(b_size, 6, dtype=torch.long)
    slots = torch.arange(3)
    out[rows[:, None], 3 * first[:, None] + slots] = t_first
    out[rows[:, None], 3 * second[:, None] + slots] = t_second
    return out.numpy()


def predict(module: AssignmentNet, events: JetEvents, batch_size: int = 512
            ) -> tuple[np.ndarray, np.ndarray]:
    """(N, 6) assignments and (N, 2) detection probabilities."""
    module.eval()
    x = torch.from_numpy(jet_inputs(events))
    mask = torch.from_numpy(events.mask)
    out, det = [], []
    with torch.no_grad():
        for s in range(0, len(x), batch_size):
            logits, detection = module(x[s:s + batch_size], mask[s:s + batch_size])
            out.append(decode(logits, detection))
            det.append(torch.sigmoid(detection).numpy())
    return np.concatenate(out), np.concatenate(det)


def parameter_count(module: nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def training_tensors(events: JetEvents) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(inputs, mask, targets) for :func:`aihep.nn.train.train` with
    :func:`assignment_loss`."""
    return (torch.from_numpy(jet_inputs(events)), torch.from_numpy(events.mask),
            torch.from_numpy(events.targets))


def describe(module: AssignmentNet) -> dict[str, Any]:
    return {"config": module.config.model_dump(), "parameters": parameter_count(module)}
