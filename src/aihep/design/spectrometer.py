"""Benchmark B: a magnetic spectrometer in its bending plane, simulated and reconstructed.

A simplified model, named so: one coordinate (x, the bending plane) per station; a dipole
field of ``field_tesla`` between ``field_start_m`` and ``field_end_m`` along z; tracks from
a beam spot at z = 0. Per event: several tracks of one momentum and random charge, multiple
scattering (Highland) in every station, hit efficiency, acceptance (|x| <= width/2),
digitization to pixels of pitch ``width / g`` (resolution pitch/sqrt(12); two particles in
one pixel make one hit) and Poisson noise hits, so pattern recognition meets real ambiguity.

Reconstruction (numba): seeds from hit pairs in two stations with the beam spot, a search
road in the other stations (hit error and multiple scattering), a generalized least-squares
fit with the full multiple-scattering covariance (x0, slope, curvature; the beam spot as a
measurement), and greedy selection of candidates sharing at most one hit. Stations in the
field measure a sagitta, stations on both sides a kink: the model is linear in
(x0, slope, kappa) with kappa = 0.3 B q / p [1/m].

Metrics: ``efficiency_pct`` (generated tracks with a reconstructed track holding >= 70% of
its hits from them, over all generated tracks, so acceptance counts), and
``resolution_<p>_pct``: half the width of the central 68.27% interval of p_fit/p - 1 over
found tracks at momentum p (100% when fewer than 20 are found).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

GEV_TO_KAPPA = 0.299792458
"""kappa [1/m] = 0.2998 * B [T] * q / p [GeV]."""


class SpectrometerSettings(BaseModel):
    """The spectrometer's fixed part (everything the design does not choose)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    field_tesla: float = Field(1.0, gt=0)
    field_start_m: float = 3.0
    field_end_m: float = 6.0
    width_m: float = Field(2.0, gt=0, description="station width W (pitch = W / g)")
    material_x0: float = Field(0.02, ge=0, description="x/X0 of one station")
    multiple_scattering: bool = True
    hit_efficiency: float = Field(0.97, gt=0, le=1)
    tracks_per_event: int = Field(3, ge=1)
    noise_hits_per_station: float = Field(3.0, ge=0, description="Poisson mean per event")
    vertex_sigma_mm: float | None = Field(1.0, gt=0, description="beam spot; None: no "
                                          "vertex measurement and no spread")
    angle_max_rad: float = Field(0.05, ge=0)
    momenta_gev: tuple[float, ...] = (10.0, 100.0)
    min_hits: int = Field(4, ge=3)
    window_sigma: float = Field(5.0, gt=0)
    chi2_ndf_max: float = Field(5.0, gt=0)
    match_fraction: float = Field(0.7, gt=0, le=1)


@dataclass(frozen=True)
class TrackingResult:
    """One momentum point: counts, efficiency and resolution (fractions, not %)."""

    momentum_gev: float
    generated: int
    found: int
    reconstructed: int
    efficiency: float
    resolution: float
    ghost_rate: float
    residuals: np.ndarray  # p_fit / p - 1 of found tracks

    def to_dict(self) -> dict[str, Any]:
        return {"momentum_gev": self.momentum_gev, "generated": self.generated,
                "found": self.found, "reconstructed": self.reconstructed,
                "efficiency": self.efficiency, "resolution": self.resolution,
                "ghost_rate": self.ghost_rate}


def field_integral(z_m: np.ndarray, start_m: float, end_m: float) -> np.ndarray:
    """F(z) = double integral of the field indicator: x(z) = x0 + t z + kappa F(z)."""
    z = np.asarray(z_m, dtype=float)
    inside = np.clip(z, start_m, end_m) - start_m
    return 0.5 * inside**2 + (end_m - start_m) * np.clip(z - end_m, 0.0, None)


def highland_theta0_sq(momentum_gev: float, x_over_x0: float) -> float:
    """Squared plane projected multiple-scattering angle [rad^2] of a beta = 1 particle."""
    if x_over_x0 <= 0:
        return 0.0
    return (0.0136 / momentum_gev * math.sqrt(x_over_x0)
            * (1 + 0.038 * math.log(x_over_x0))) ** 2


def stations_of(design: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(z [m], granularity) of the active stations of a design, sorted in z.

    Design keys ``z<i>_m`` and ``g<i>`` for slots i = 1..K; g = 0 or "off" means absent.
    """
    from aihep.design.slots import active_slots

    z, g = active_slots(design, "m", "g", "spectrometer")
    return z, g.astype(np.int64)


def _seed_pairs(z: np.ndarray, f: np.ndarray, n: int = 4) -> np.ndarray:
    """Up to ``n`` station pairs that fix slope and curvature with the beam spot, longest
    lever arm first."""
    pairs = []
    for a in range(len(z)):
        for b in range(a + 1, len(z)):
            det = z[a] * f[b] - z[b] * f[a]
            if abs(det) > 1e-6:
                pairs.append((z[b] - z[a], a, b))
    pairs.sort(reverse=True)
    return np.asarray([(a, b) for _, a, b in pairs[:n]], dtype=np.int64).reshape(-1, 2)


def generate_hits(z: np.ndarray, g: np.ndarray, settings: SpectrometerSettings,
                  momentum_gev: float, events: int, rng: np.random.Generator):
    """Simulated hits. Returns (hit_x [m], offsets (events, S+1), hit_track, kappa_true
    (events, tracks) [1/m])."""
    s = settings
    n_st, tracks = len(z), s.tracks_per_event
    f = field_integral(z, s.field_start_m, s.field_end_m)
    charge = rng.choice([-1.0, 1.0], size=(events, tracks))
    kappa = GEV_TO_KAPPA * s.field_tesla * charge / momentum_gev
    slope = rng.uniform(-s.angle_max_rad, s.angle_max_rad, size=(events, tracks))
    x0 = (rng.normal(0.0, 1e-3 * s.vertex_sigma_mm, size=(events, tracks))
          if s.vertex_sigma_mm else np.zeros((events, tracks)))
    x = x0[..., None] + slope[..., None] * z + kappa[..., None] * f
    if s.multiple_scattering and s.material_x0 > 0:
        theta0 = math.sqrt(highland_theta0_sq(momentum_gev, s.material_x0))
        kinks = rng.normal(0.0, theta0, size=(events, tracks, n_st))
        lever = np.clip(z[None, :] - z[:, None], 0.0, None)  # [k, s]: z_s - z_k if k < s
        x = x + np.einsum("etk,ks->ets", kinks, lever)
    half = 0.5 * s.width_m
    seen = (np.abs(x) < half) & (rng.random(x.shape) < s.hit_efficiency)
    pitch = s.width_m / g
    pixel = np.floor((x + half) / pitch).astype(np.int64)
    ev, tr, st = np.nonzero(seen)
    keys = [ev, st, pixel[ev, tr, st], tr]
    n_noise = rng.poisson(s.noise_hits_per_station, size=(events, n_st))
    ne, ns = np.nonzero(n_noise)
    ne, ns = np.repeat(ne, n_noise[ne, ns]), np.repeat(ns, n_noise[ne, ns])
    npix = rng.integers(0, g[ns]) if len(ns) else np.zeros(0, dtype=np.int64)
    ev = np.concatenate([keys[0], ne])
    st = np.concatenate([keys[1], ns])
    px = np.concatenate([keys[2], npix])
    track = np.concatenate([keys[3], np.full(len(ne), -1)])
    # one hit per pixel: a particle's id wins over noise, the lower track id over others
    order = np.lexsort((np.where(track < 0, tracks, track), px, st, ev))
    ev, st, px, track = ev[order], st[order], px[order], track[order]
    first = np.ones(len(ev), dtype=bool)
    first[1:] = (ev[1:] != ev[:-1]) | (st[1:] != st[:-1]) | (px[1:] != px[:-1])
    ev, st, px, track = ev[first], st[first], px[first], track[first]
    hit_x = (px + 0.5) * pitch[st] - half
    counts = np.zeros((events, n_st), dtype=np.int64)
    np.add.at(counts, (ev, st), 1)
    starts = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(counts.ravel())])
    offsets = starts[np.arange(events)[:, None] * n_st + np.arange(n_st + 1)[None, :]]
    return hit_x, offsets, track, kappa


@numba.njit(cache=True)
def _fit(xs, zs, fs, sig2, idx, n_meas, z_all, theta0_sq, vtx_var):
    """GLS fit of (x0, t, kappa) to the stations ``idx[:n_meas]``; returns params, chi2."""
    m = n_meas + (1 if vtx_var > 0 else 0)
    a = np.zeros((m, 3))
    y = np.zeros(m)
    v = np.zeros((m, m))
    for i in range(n_meas):
        s = idx[i]
        a[i, 0], a[i, 1], a[i, 2] = 1.0, zs[s], fs[s]
        y[i] = xs[i]
        v[i, i] = sig2[s]
    for i in range(n_meas):
        zi = zs[idx[i]]
        for j in range(n_meas):
            zj = zs[idx[j]]
            zmin = min(zi, zj)
            acc = 0.0
            for k in range(len(z_all)):
                if z_all[k] < zmin:
                    acc += (zi - z_all[k]) * (zj - z_all[k])
            v[i, j] += theta0_sq * acc
    if vtx_var > 0:
        a[n_meas, 0] = 1.0
        v[n_meas, n_meas] = vtx_var
    w = np.linalg.inv(v)
    cov = np.linalg.inv(a.T @ w @ a)
    params = cov @ (a.T @ (w @ y))
    r = y - a @ params
    return params, float(r @ (w @ r)), m


@numba.njit(cache=True)
def _reconstruct(hit_x, offsets, z, f, sig2, pairs, theta0_sq_gev2, vtx_var, kappa_per_gev,
                 window_sigma, min_hits, chi2_ndf_max, max_tracks):
    """Tracks per event: (event, kappa [1/m], hit index per station or -1)."""
    n_ev, n_st = offsets.shape[0], z.shape[0]
    out_event = np.full(n_ev * max_tracks, -1, dtype=np.int64)
    out_kappa = np.zeros(n_ev * max_tracks)
    out_hits = np.full((n_ev * max_tracks, n_st), -1, dtype=np.int64)
    n_out = 0
    for e in range(n_ev):
        n_cand_max = 0
        for p in range(pairs.shape[0]):
            a, b = pairs[p, 0], pairs[p, 1]
            n_cand_max += (offsets[e, a + 1] - offsets[e, a]) * (offsets[e, b + 1] - offsets[e, b])
        if n_cand_max == 0:
            continue
        c_hits = np.full((n_cand_max, n_st), -1, dtype=np.int64)
        c_count = np.zeros(n_cand_max, dtype=np.int64)
        c_chi2 = np.full(n_cand_max, np.inf)
        c_kappa = np.zeros(n_cand_max)
        n_c = 0
        for p in range(pairs.shape[0]):
            a, b = pairs[p, 0], pairs[p, 1]
            det = z[a] * f[b] - z[b] * f[a]
            for ha in range(offsets[e, a], offsets[e, a + 1]):
                for hb in range(offsets[e, b], offsets[e, b + 1]):
                    t = (hit_x[ha] * f[b] - hit_x[hb] * f[a]) / det
                    kap = (z[a] * hit_x[hb] - z[b] * hit_x[ha]) / det
                    p_est = kappa_per_gev / max(abs(kap), 1e-12)
                    if p_est < 0.5:
                        continue
                    th2 = theta0_sq_gev2 / (p_est * p_est)
                    hits = np.full(n_st, -1, dtype=np.int64)
                    hits[a], hits[b] = ha, hb
                    count = 2
                    for s in range(n_st):
                        if s in (a, b):
                            continue
                        pred = t * z[s] + kap * f[s]
                        ms = 0.0
                        for k in range(s):
                            ms += (z[s] - z[k]) ** 2
                        win = window_sigma * math.sqrt(sig2[s] + th2 * ms + vtx_var + 1e-12)
                        best, best_d = -1, win
                        for h in range(offsets[e, s], offsets[e, s + 1]):
                            d = abs(hit_x[h] - pred)
                            if d < best_d:
                                best, best_d = h, d
                        if best >= 0:
                            hits[s] = best
                            count += 1
                    if count < min_hits:
                        continue
                    duplicate = False
                    for c in range(n_c):
                        same = True
                        for s in range(n_st):
                            if c_hits[c, s] != hits[s]:
                                same = False
                                break
                        if same:
                            duplicate = True
                            break
                    if duplicate:
                        continue
                    idx = np.empty(count, dtype=np.int64)
                    xs = np.empty(count)
                    j = 0
                    for s in range(n_st):
                        if hits[s] >= 0:
                            idx[j] = s
                            xs[j] = hit_x[hits[s]]
                            j += 1
                    params, chi2, m = _fit(xs, z, f, sig2, idx, count, z, th2, vtx_var)
                    p_fit = kappa_per_gev / max(abs(params[2]), 1e-12)
                    if th2 > 0 and abs(p_fit / p_est - 1.0) > 0.1:  # refit with its own p
                        params, chi2, m = _fit(xs, z, f, sig2, idx, count, z,
                                               theta0_sq_gev2 / (p_fit * p_fit), vtx_var)
                    ndf = max(m - 3, 1)
                    c_hits[n_c] = hits
                    c_count[n_c] = count
                    c_chi2[n_c] = chi2 / ndf
                    c_kappa[n_c] = params[2]
                    n_c += 1
        order = np.argsort(c_chi2[:n_c] - 1000.0 * c_count[:n_c])
        used = np.zeros(offsets[e, n_st] - offsets[e, 0], dtype=np.bool_)
        base = offsets[e, 0]
        kept = 0
        for c in order:
            if c_chi2[c] > chi2_ndf_max or kept >= max_tracks:
                continue
            shared = 0
            for s in range(n_st):
                h = c_hits[c, s]
                if h >= 0 and used[h - base]:
                    shared += 1
            # one shared hit is allowed (two particles in one pixel), a clone is not
            if shared > 1 or c_count[c] - shared < min_hits:
                continue
            for s in range(n_st):
                h = c_hits[c, s]
                if h >= 0:
                    used[h - base] = True
            out_event[n_out] = e
            out_kappa[n_out] = c_kappa[c]
            out_hits[n_out] = c_hits[c]
            n_out += 1
            kept += 1
    return out_event[:n_out], out_kappa[:n_out], out_hits[:n_out]


def track_momentum(z: np.ndarray, g: np.ndarray, settings: SpectrometerSettings,
                   momentum_gev: float, events: int, seed: int) -> TrackingResult:
    """Simulate and reconstruct ``events`` events of tracks at one momentum."""
    s = settings
    rng = np.random.default_rng(seed)
    tracks = s.tracks_per_event
    generated = events * tracks
    f = field_integral(z, s.field_start_m, s.field_end_m)
    pairs = _seed_pairs(z, f)
    if len(z) < s.min_hits or len(pairs) == 0:
        return TrackingResult(momentum_gev, generated, 0, 0, 0.0, 1.0, 0.0, np.zeros(0))
    hit_x, offsets, hit_track, kappa = generate_hits(z, g, s, momentum_gev, events, rng)
    sig2 = (s.width_m / g) ** 2 / 12.0
    th2 = highland_theta0_sq(1.0, s.material_x0) if s.multiple_scattering else 0.0
    vtx_var = (1e-3 * s.vertex_sigma_mm) ** 2 if s.vertex_sigma_mm else 0.0
    ev, kap, hits = _reconstruct(hit_x, offsets, z, f, sig2, pairs, th2, vtx_var,
                                 GEV_TO_KAPPA * s.field_tesla, s.window_sigma, s.min_hits,
                                 s.chi2_ndf_max, 3 * tracks + 5)
    # truth matching: the majority particle of each track's hits
    owner = np.where(hits >= 0, hit_track[np.maximum(hits, 0)], -2)
    n_hits = (hits >= 0).sum(1)
    best_track = np.full(len(ev), -1)
    best_share = np.zeros(len(ev))
    for t in range(tracks):
        share = (owner == t).sum(1) / np.maximum(n_hits, 1)
        better = share > best_share
        best_track[better], best_share[better] = t, share[better]
    matched = best_share >= s.match_fraction
    found = np.zeros((events, tracks), dtype=bool)
    residual = np.full((events, tracks), np.nan)
    for i in np.nonzero(matched)[0][::-1]:  # the first track found for a particle counts
        e, t = ev[i], best_track[i]
        found[e, t] = True
        residual[e, t] = kappa[e, t] / kap[i] - 1.0 if kap[i] != 0 else np.inf
    residuals = residual[found]
    n_found = int(found.sum())
    if n_found >= 20:
        lo, hi = np.quantile(residuals, [0.5 - 0.6827 / 2, 0.5 + 0.6827 / 2])
        resolution = float(0.5 * (hi - lo))
    else:
        resolution = 1.0
    return TrackingResult(momentum_gev, generated, n_found, len(ev), n_found / generated,
                          resolution, float((~matched).sum() / max(len(ev), 1)), residuals)


def metric_names(settings: SpectrometerSettings) -> list[str]:
    """The metrics :func:`evaluate_layout` returns with these settings."""
    return [f"{kind}_{p:g}_pct" for p in settings.momenta_gev
            for kind in ("resolution", "efficiency")] + [
        "efficiency_pct", "inefficiency_pct", "ghost_rate_pct"]


def evaluate_layout(z_m: Sequence[float] | np.ndarray, granularity: Sequence[int] | np.ndarray,
                    settings: SpectrometerSettings, events: int,
                    seed: int) -> dict[str, float]:
    """Metrics of a station layout (z [m], pixels per station), one seed."""
    z = np.asarray(z_m, dtype=float)
    g = np.asarray(granularity, dtype=np.int64)
    metrics: dict[str, float] = {}
    found = generated = 0
    ghosts = []
    for i, p in enumerate(settings.momenta_gev):
        r = track_momentum(z, g, settings, p, events, seed * 1000 + i)
        metrics[f"resolution_{p:g}_pct"] = 100 * r.resolution
        metrics[f"efficiency_{p:g}_pct"] = 100 * r.efficiency
        found, generated = found + r.found, generated + r.generated
        ghosts.append(r.ghost_rate)
    metrics["efficiency_pct"] = 100 * found / generated
    metrics["inefficiency_pct"] = 100 - metrics["efficiency_pct"]
    metrics["ghost_rate_pct"] = 100 * float(np.mean(ghosts))
    return metrics


def simulate_design(design: Mapping[str, Any], seed: int, events: int,
                    **settings: Any) -> dict[str, float]:
    """The simulator of the ``spectrometer`` problem: design keys ``z<i>_m``, ``g<i>``."""
    z, g = stations_of(design)
    return evaluate_layout(z, g, SpectrometerSettings(**settings), events, seed)


def exact_kappa_sigma(z_m: np.ndarray, hit_sigma_m: np.ndarray, field_start_m: float,
                      field_end_m: float, vertex_sigma_m: float | None = None) -> float:
    """The least-squares standard error of kappa [1/m] without multiple scattering."""
    z = np.asarray(z_m, dtype=float)
    a = np.stack([np.ones_like(z), z, field_integral(z, field_start_m, field_end_m)], axis=1)
    w = 1.0 / np.asarray(hit_sigma_m, dtype=float) ** 2
    info = a.T @ (a * w[:, None])
    if vertex_sigma_m:
        info[0, 0] += 1.0 / vertex_sigma_m**2
    return float(np.sqrt(np.linalg.inv(info)[2, 2]))


def gluckstern_kappa_sigma(n_stations: int, length_m: float, hit_sigma_m: float) -> float:
    """Gluckstern's sigma(kappa) [1/m] for N equally spaced stations over ``length_m`` in a
    uniform field: hit sigma / L^2 * sqrt(720 / (N + 4)), kappa = 1/R as in
    x = x0 + t z + kappa z^2 / 2."""
    return hit_sigma_m / length_m**2 * math.sqrt(720.0 / (n_stations + 4))
