"""Vectorized kinematics on flat numpy arrays (GeV, radians)."""

from __future__ import annotations

import numpy as np


def pt(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Transverse momentum."""
    return np.hypot(px, py)


def phi(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Azimuth in (-pi, pi]."""
    return np.arctan2(py, px)


def eta(px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> np.ndarray:
    """Pseudorapidity; +-inf-safe (particles along the beam get a large finite value)."""
    p_t = np.maximum(np.hypot(px, py), 1e-12)
    return np.arcsinh(pz / p_t)


def rapidity(e: np.ndarray, pz: np.ndarray) -> np.ndarray:
    """Rapidity y = 0.5 ln((E + pz) / (E - pz))."""
    num = np.maximum(e + pz, 1e-12)
    den = np.maximum(e - pz, 1e-12)
    return 0.5 * np.log(num / den)


def mass(px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Invariant mass; tiny negative m^2 from rounding is clipped to 0."""
    m2 = e * e - px * px - py * py - pz * pz
    return np.sqrt(np.maximum(m2, 0.0))
