"""Track geometry: a muon at the speed of light through the DOMs.

A track is a vertex ``r0`` (m), a unit direction ``d`` and the time ``t0`` (ns) at the vertex.
For a DOM at ``r``: ``l = (r - r0) . d`` is the distance along the track to the point of
closest approach, ``rho`` the perpendicular distance. Direct Cherenkov light reaching the DOM is
emitted at ``s = l - rho / tan(theta_c)`` along the track and travels ``rho / sin(theta_c)`` at
the group velocity, so it arrives at
``t_geo = t0 + s / c + n_group rho / (c sin(theta_c))``.
"""

from __future__ import annotations

import numpy as np

from aihep.reco.medium import C_VACUUM_M_PER_NS, Medium


def direction(zenith: np.ndarray | float, azimuth: np.ndarray | float) -> np.ndarray:
    """Unit vectors (..., 3) of the direction the particle travels, from the zenith angle of the
    direction it comes from (0: down-going from above) and its azimuth, radians."""
    zenith, azimuth = np.asarray(zenith, float), np.asarray(azimuth, float)
    return -np.stack([np.sin(zenith) * np.cos(azimuth), np.sin(zenith) * np.sin(azimuth),
                      np.cos(zenith)], axis=-1)


def zenith_azimuth(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`direction`: (zenith, azimuth) in radians of unit vectors (..., 3)."""
    source = -np.asarray(d, float)
    zenith = np.arccos(np.clip(source[..., 2], -1.0, 1.0))
    return zenith, np.mod(np.arctan2(source[..., 1], source[..., 0]), 2 * np.pi)


def opening_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between direction vectors (..., 3), radians (numerically stable near 0 and pi)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return 2.0 * np.arctan2(np.linalg.norm(a - b, axis=-1), np.linalg.norm(a + b, axis=-1))


def closest_approach(r0: np.ndarray, d: np.ndarray, doms: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(l, rho) in metres of DOMs (..., 3) for a track (r0, d) (broadcastable)."""
    v = doms - r0
    along = (v * d).sum(-1)
    rho = np.linalg.norm(v - along[..., None] * d, axis=-1)
    return along, rho


def direct_time(r0: np.ndarray, d: np.ndarray, t0: np.ndarray | float, doms: np.ndarray,
                medium: Medium) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Direct Cherenkov light: (arrival time ns, photon path m, emission distance s m)."""
    along, rho = closest_approach(r0, d, doms)
    theta = medium.cherenkov_angle
    s = along - rho / np.tan(theta)
    path = rho / np.sin(theta)
    t = t0 + s / C_VACUUM_M_PER_NS + path / medium.photon_speed_m_per_ns
    return t, path, s
