"""Resonance searches: dijet background fits, bump hunts with look-elsewhere-corrected p-values.

Three lines::

    from aihep.discovery import bump_hunt
    result = bump_hunt(mjj_gev, seed=1)
    result.window_gev, result.z_local, result.p_global
"""

from __future__ import annotations

from aihep.discovery.bumphunt import BumpHuntResult, bump_hunt
from aihep.discovery.dijet import DijetFit, fit_dijet, select_dijet_fit
from aihep.discovery.scan import WindowScan, scan_windows

__all__ = ["BumpHuntResult", "DijetFit", "WindowScan", "bump_hunt", "fit_dijet",
           "scan_windows", "select_dijet_fit"]
