"""Designs made of numbered slots: a position ``z<i>_<unit>`` and a size per slot (0 or
"off": the slot is empty), as the built-in spectrometer and calorimeter problems use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from aihep.errors import ConfigError


def active_slots(design: Mapping[str, Any], unit: str, size: str, what: str
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(positions, sizes) of the non-empty slots, sorted by position.

    Args:
        design: parameters ``z<i>_<unit>`` and ``<size><i>``.
        unit: the position's unit suffix (``m``, ``mm``).
        size: the size parameter's prefix (``g`` for granularity, ``t`` for thickness).
        what: the detector, for the error message.
    """
    suffix = f"_{unit}"
    slots = sorted(int(k[1:-len(suffix)]) for k in design
                   if k.startswith("z") and k.endswith(suffix) and k[1:-len(suffix)].isdigit())
    if not slots:
        msg = f"a {what} design needs parameters z<i>{suffix} and {size}<i>"
        raise ConfigError(msg)
    z, sizes = [], []
    for i in slots:
        value = design.get(f"{size}{i}", 0)
        value = 0.0 if value == "off" else float(value)
        if value > 0:
            z.append(float(design[f"z{i}{suffix}"]))
            sizes.append(value)
    order = np.argsort(z, kind="stable")
    return np.asarray(z, dtype=float)[order], np.asarray(sizes, dtype=float)[order]
