"""The hybrid GNN reconstruction: EdgeConv on hit DOMs, per-DOM emission points, a line fit.

Nodes are an event's cleaned hit DOMs (:func:`aihep.reco.linefit.causal_mask`; at most
``max_doms``, the highest-charge ones), with features: position and first-hit time relative to
the charge-weighted centre (metres; time times the photon speed), log(1 + charge) and
log(1 + number of hits); optionally (``frame="linefit"``) positions are rotated into the frame
of the event's line fit, so the track runs near +z and the network learns corrections to one
canonical orientation (predictions are rotated back). EdgeConv blocks
(:class:`aihep.nn.edgeconv.EdgeConv`; the first finds neighbours in (x, y, z, c_medium t),
later ones in the learnt features) feed a per-node head
(optionally also given the event's pooled features, as in DGCNN segmentation) that predicts
the DOM's direct Cherenkov emission point on the track (``target="points"``,
loss: squared distance weighted by the DOM's photo-electron count, its component along the
true track optionally down-weighted as it does not move the line). The track is the weighted
least-squares line through the predicted points (principal axis), its sense taken from the
hit times. ``target="direction"`` instead pools the nodes and regresses the unit direction
directly (loss 1 - cos), for comparison.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import awkward as ak
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from aihep.errors import ConfigError
from aihep.nn.edgeconv import EdgeConv
from aihep.nn.norm import MaskedBatchNorm
from aihep.reco.events import DomSummary, dom_summaries, hit_columns, truth_directions
from aihep.reco.linefit import causal_mask, line_fit, select
from aihep.reco.medium import C_VACUUM_M_PER_NS, Medium

SCALE_M = 100.0  # positions are given to the network in units of 100 m
N_FEATURES = 6


class GNNConfig(BaseModel):
    """Network sizes; see :data:`PRESETS` for LITE and LARGE."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: int = Field(8, ge=1)
    blocks: tuple[tuple[int, ...], ...] = ((32, 32, 32), (64, 64, 64))
    head_sizes: tuple[int, ...] = (64,)
    target: Literal["points", "direction"] = "points"
    max_doms: int = Field(128, ge=4)
    global_context: bool = Field(False, description=(
        "points head also sees the event's pooled features (DGCNN segmentation style); "
        "worse on 20k-event trials: 1.95 vs 1.76 deg median with offsets"))
    frame: Literal["detector", "linefit", "hypothesis"] = Field("detector", description=(
        "coordinates given to the network: the detector's, or rotated so that the event's "
        "line fit points along +z (the network then learns corrections to a canonical "
        "track instead of every orientation; directions are rotated back; worse on 20k-event "
        "trials: 2.03 vs 1.57 deg median with offsets and along_weight 0.1), or the frame of "
        "a previous track hypothesis with time residuals (a refiner: :mod:`aihep.reco.refine`)"
        ))
    passes: int = Field(4, ge=1, description=(
        "refinement passes of a refiner (frame 'hypothesis'); GNN-LITE refiner on 2000 test "
        "events, median >= 10 TeV: 1.18 deg (seed) -> 0.65 / 0.37 / 0.24 / 0.20 / 0.18 after "
        "1-5 passes, 0.17 after 8, each pass ~ GNN-LITE's time"))
    along_weight: float = Field(1.0, ge=0, description=(
        "loss weight of the point error's component along the true track (the part that does "
        "not move the fitted line) relative to the perpendicular component; 20k-event trials "
        "with offsets: 1.76 / 1.63 / 1.57 / 1.67 deg median at 1 / 0.3 / 0.1 / 0.02"))
    offsets: bool = Field(False, description=(
        "points head predicts each DOM's offset to its emission point (added to the DOM "
        "position) instead of the point itself"))


PRESETS: dict[str, GNNConfig] = {
    # the 64 brightest DOMs (~2x cheaper than 128); offsets and along_weight 0.1 chosen on
    # 20k-event, 4-epoch trials (median 2.45 deg plain, 1.76 with offsets, 1.57 with both)
    "gnn-lite": GNNConfig(max_doms=64, offsets=True, along_weight=0.1),
    # ~3x LITE's training time per epoch on one CPU core
    "gnn-large": GNNConfig(k=12, blocks=((32, 32, 32), (64, 64, 64), (64, 64, 64)),
                           head_sizes=(128,), max_doms=96, offsets=True, along_weight=0.1),
}


def gnn_preset(name: str, target: str = "points") -> GNNConfig:
    """``gnn-lite`` or ``gnn-large``, with the per-DOM points or the direct-direction head."""
    if name not in PRESETS:
        msg = f"unknown GNN '{name}'; known: {', '.join(PRESETS)}"
        raise ConfigError(msg)
    if target not in ("points", "direction"):
        msg = f"target must be 'points' or 'direction', got '{target}'"
        raise ConfigError(msg)
    return PRESETS[name].model_copy(update={"target": target})


@dataclass(frozen=True)
class GraphBatch:
    """Padded network inputs of n events with P node slots.

    features (n, P, 6), coords (n, P, 4), mask (n, P), charge (n, P) pe, time (n, P) ns
    (first hits, relative to ``t_centre``), centre (n, 3) m, t_centre (n,) ns, ok (n,) (events
    with >= 3 cleaned DOMs), rotation (n, 3, 3) from detector to network coordinates
    (identity in the detector frame), and for simulated events emission (n, P, 3) (relative,
    in 100 m) and direction (n, 3), both in network coordinates.
    """

    features: torch.Tensor
    coords: torch.Tensor
    mask: torch.Tensor
    charge: torch.Tensor
    time: torch.Tensor
    centre: np.ndarray
    t_centre: np.ndarray
    ok: np.ndarray
    emission: torch.Tensor | None
    direction: torch.Tensor | None
    rotation: np.ndarray | None = None
    origin: np.ndarray | None = None


def frame_along(direction: np.ndarray) -> np.ndarray:
    """A rotation matrix (3, 3) whose rows are an orthonormal frame with ``direction`` (unit,
    (3,)) as the third axis: ``R @ direction = (0, 0, 1)``."""
    return frames_along(np.asarray(direction, float)[None])[0]


def frames_along(directions: np.ndarray) -> np.ndarray:
    """:func:`frame_along` of unit vectors (n, 3): rotations (n, 3, 3)."""
    helper = np.where((np.abs(directions[:, :1]) < 0.9), np.array([[1.0, 0.0, 0.0]]),
                      np.array([[0.0, 1.0, 0.0]]))
    e1 = np.cross(helper, directions)
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    return np.stack([e1, np.cross(directions, e1), directions], axis=1)


def graph_inputs(events: ak.Array, max_doms: int, medium: Medium | None = None,
                 with_truth: bool = True, frame: str = "detector",
                 cleaned: list[DomSummary] | None = None) -> GraphBatch:
    """Build the padded inputs of every event (cleaning, top-``max_doms`` by charge), in
    detector coordinates or in the frame of each event's line fit (``frame="linefit"``);
    ``cleaned``: the events' already cleaned DOMs, if at hand."""
    medium = medium or Medium()
    speed = medium.photon_speed_m_per_ns
    n = len(events)
    features = np.zeros((n, max_doms, N_FEATURES), np.float32)
    mask = np.zeros((n, max_doms), bool)
    charge = np.zeros((n, max_doms), np.float32)
    times = np.zeros((n, max_doms), np.float32)
    emission = np.zeros((n, max_doms, 3), np.float32)
    centre = np.zeros((n, 3))
    t_centre = np.zeros(n)
    ok = np.zeros(n, bool)
    rotation = np.tile(np.eye(3), (n, 1, 1))
    has_emission = with_truth and "emit_x" in events.fields
    if cleaned is None:
        cleaned = [select(d, causal_mask(d, medium=medium)) for d in dom_summaries(events)]
    if has_emission:
        emit_columns, offsets = hit_columns(events, ("emit_x", "emit_y", "emit_z"))
    for i, doms in enumerate(cleaned):
        if len(doms) < 3:
            continue
        if frame == "linefit":
            seed = line_fit(doms.position, doms.first_time).direction
            if np.all(np.isfinite(seed)):
                rotation[i] = frame_along(seed)
        keep = np.argsort(-doms.charge, kind="stable")[:max_doms]
        q = doms.charge[keep]
        pos, t = doms.position[keep], doms.first_time[keep]
        w = q / q.sum()
        centre[i] = (pos * w[:, None]).sum(0)
        t_centre[i] = float((t * w).sum())
        m = len(keep)
        features[i, :m, :3] = (pos - centre[i]) @ rotation[i].T / SCALE_M
        features[i, :m, 3] = (t - t_centre[i]) * speed / SCALE_M
        features[i, :m, 4] = np.log1p(q)
        features[i, :m, 5] = np.log1p(doms.n_hits[keep])
        mask[i, :m], charge[i, :m], times[i, :m] = True, q, t - t_centre[i]
        ok[i] = True
        if has_emission:
            first = offsets[i] + doms.first_hit[keep]
            emit = np.stack([emit_columns[f"emit_{c}"][first] for c in "xyz"], axis=1)
            emission[i, :m] = (emit - centre[i]) @ rotation[i].T / SCALE_M
    feats = torch.from_numpy(features)
    direction = None
    if with_truth and "dir_x" in events.fields:
        direction = torch.from_numpy(
            np.einsum("nij,nj->ni", rotation, truth_directions(events)).astype(np.float32))
    return GraphBatch(feats, feats[..., :4].clone(), torch.from_numpy(mask),
                      torch.from_numpy(charge), torch.from_numpy(times), centre, t_centre, ok,
                      torch.from_numpy(emission) if has_emission else None, direction,
                      rotation)


class TrackGNN(nn.Module):
    """``forward(features, coords, mask)``: emission points (n, P, 3) or directions (n, 3)."""

    def __init__(self, config: GNNConfig) -> None:
        super().__init__()
        self.config = config
        self.cot_cherenkov = 1.0 / np.tan(Medium().cherenkov_angle)
        self.input_norm = MaskedBatchNorm(N_FEATURES)
        blocks, width, widths = [], N_FEATURES, []
        for channels in config.blocks:
            blocks.append(EdgeConv(config.k, width, tuple(channels)))
            width = channels[-1]
            widths.append(width)
        self.blocks = nn.ModuleList(blocks)
        layers: list[nn.Module] = []
        # per node: its block outputs and, as in DGCNN's segmentation network, the event's
        # pooled (mean, max) features, so every node sees the whole track
        if config.target == "direction":
            width = 2 * sum(widths)  # pooled mean and max
        else:
            width = (3 if config.global_context else 1) * sum(widths)
        for size in config.head_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, 3))
        self.head = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor, coords: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        x = self.input_norm(features, mask)
        outputs = []
        for block in self.blocks:
            x = block(coords, x, mask)
            coords = x
            outputs.append(x)
        h = torch.cat(outputs, dim=-1)
        count = mask.sum(1, keepdim=True).clamp(min=1)
        mean = h.sum(1) / count
        peak = h.masked_fill(~mask[..., None], float("-inf")).amax(1)
        pooled = torch.cat([mean, peak], dim=-1)
        if self.config.target == "points":
            if self.config.global_context:
                h = torch.cat([h, pooled[:, None, :].expand(-1, h.shape[1], -1)], dim=-1)
            points = self.head(h)
            if self.config.frame == "hypothesis":  # correction to the hypothesis's point
                points = points + emission_on_axis(features[..., :3], self.cot_cherenkov)
            elif self.config.offsets:
                points = points + features[..., :3]
            return points * mask[..., None]
        out = self.head(pooled)
        return out / out.norm(dim=-1, keepdim=True).clamp(min=1e-9)


def emission_on_axis(position: torch.Tensor, cot_cherenkov: float) -> torch.Tensor:
    """Direct Cherenkov emission points (..., 3) of DOMs at ``position`` (..., 3) for a track
    along the z axis through the origin: (0, 0, z - rho cot(theta_c)) (same length unit)."""
    rho = position[..., :2].norm(dim=-1)
    zero = torch.zeros_like(rho)
    return torch.stack([zero, zero, position[..., 2] - rho * cot_cherenkov], dim=-1)


def line_through_points(points_m: torch.Tensor, weights: torch.Tensor, times_ns: torch.Tensor,
                        mask: torch.Tensor, doms_m: torch.Tensor,
                        medium: Medium | None = None) -> torch.Tensor:
    """Unit directions (n, 3) of the weighted least-squares lines through points (n, P, 3) m.

    The sense is the one of the two whose direct Cherenkov times (from DOM positions ``doms_m``
    (n, P, 3) m, same origin as the points) match the hit times ``times_ns`` better: smaller
    weighted mean absolute residual after removing the weighted mean offset.
    """
    medium = medium or Medium()
    w = (weights * mask).double()
    w = w / w.sum(1, keepdim=True).clamp(min=1e-12)
    p = points_m.double()
    centre = (p * w[..., None]).sum(1, keepdim=True)
    d = (p - centre) * mask[..., None]
    cov = torch.einsum("np,npi,npj->nij", w, d, d)
    _, vectors = torch.linalg.eigh(cov)
    axis = vectors[..., -1]  # largest eigenvalue
    theta = medium.cherenkov_angle
    v = doms_m.double() - centre
    spread: list[torch.Tensor] = []
    for sign in (1.0, -1.0):
        u = sign * axis[:, None, :]
        along = (v * u).sum(-1)
        rho = (v - along[..., None] * u).norm(dim=-1)
        t_geo = ((along - rho / np.tan(theta)) / C_VACUUM_M_PER_NS
                 + rho / np.sin(theta) / medium.photon_speed_m_per_ns)
        r = times_ns.double() - t_geo
        r = r - (r * w).sum(1, keepdim=True)
        spread.append((w * r.abs()).sum(1))
    sense = torch.where(spread[0] <= spread[1], 1.0, -1.0).double()
    return (axis * sense[:, None]).float()


def gnn_loss(module: torch.nn.Module, batch: Sequence[torch.Tensor]) -> torch.Tensor:
    """Batch loss: charge-weighted squared distance of the points (the component along the true
    track weighted by ``along_weight``), or 1 - cos of the direction."""
    model = cast(TrackGNN, module)
    features, coords, mask, charge, emission, direction = batch
    out = model(features, coords, mask)
    if model.config.target == "points":
        w = charge * mask
        error = out - emission
        along = (error * direction[:, None, :]).sum(-1)
        squared = (error**2).sum(-1) - (1.0 - model.config.along_weight) * along**2
        return (squared * w).sum() / w.sum().clamp(min=1e-9)
    return (1.0 - (out * direction).sum(-1)).mean()


def predict_directions(model: TrackGNN, inputs: GraphBatch, batch_size: int = 128
                       ) -> np.ndarray:
    """Reconstructed unit directions (n, 3); NaN for events the cleaning left < 3 DOMs.

    Batches of 128 events keep the edge tensors in cache: GNN-LITE on 2 cores took 0.27 ms per
    event with 64-128, 0.39 with 512 and 0.46 with 2048.
    """
    return predict_tracks(model, inputs, batch_size)[0]


def predict_tracks(model: TrackGNN, inputs: GraphBatch, batch_size: int = 128
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions (n, 3) and, for the points head, a point on each track (n, 3) m
    (the charge-weighted mean of the predicted emission points, relative to
    ``inputs.centre``), both in detector axes; NaN for events with < 3 cleaned DOMs."""
    model.eval()
    n = len(inputs.ok)
    out = np.full((n, 3), np.nan, np.float32)
    centres = np.zeros((n, 3))
    with torch.no_grad():
        for start in range(0, n, batch_size):
            sl = slice(start, start + batch_size)
            f, c, m = inputs.features[sl], inputs.coords[sl], inputs.mask[sl]
            pred = model(f, c, m)
            if model.config.target == "points":
                w = inputs.charge[sl] * m
                centres[sl] = ((pred * w[..., None]).sum(1) * SCALE_M
                               / w.sum(1, keepdim=True).clamp(min=1e-9)).numpy()
                pred = line_through_points(pred * SCALE_M, inputs.charge[sl], inputs.time[sl],
                                           m, f[..., :3] * SCALE_M)
            out[sl] = pred.numpy()
    if inputs.rotation is not None:  # back to detector axes: R^T d
        out = np.einsum("nji,nj->ni", inputs.rotation, out).astype(np.float32)
        centres = np.einsum("nji,nj->ni", inputs.rotation, centres)
    if inputs.origin is not None:
        centres = centres + inputs.origin
    out[~inputs.ok] = np.nan
    return out, centres


def save_gnn(model: TrackGNN, directory: str | Path) -> Path:
    """Write ``model.pt`` (weights) and ``gnn.json`` (config) into ``directory``."""
    from aihep._atomic import ensure_writable_dir, save_torch_atomic, write_atomic

    directory = ensure_writable_dir(directory)
    write_atomic(directory / "gnn.json",
                 lambda p: p.write_text(json.dumps(model.config.model_dump(mode="json"))))
    save_torch_atomic(directory / "model.pt", model.state_dict())
    return directory


def load_gnn(directory: str | Path) -> TrackGNN:
    """A GNN saved by :func:`save_gnn` (eval mode)."""
    from aihep.errors import InputError

    directory = Path(directory)
    if not (directory / "gnn.json").is_file() or not (directory / "model.pt").is_file():
        raise InputError(directory, "gnn.json, model.pt", "a GNN run directory "
                         "(aihep reco train)")
    config = GNNConfig.model_validate_json((directory / "gnn.json").read_text())
    model = TrackGNN(config)
    model.load_state_dict(torch.load(directory / "model.pt", weights_only=True))
    return model.eval()
