"""Analytic test objectives with controlled noise, to check optimizers in seconds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def quadratic(design: Mapping[str, Any], seed: int, events: int,
              optimum: Mapping[str, float] | None = None, noise: float = 0.01,
              ) -> dict[str, float]:
    """Squared distance of the numeric design values to ``optimum`` (default 0.5 each)
    plus Gaussian noise of ``noise / sqrt(events / 100)``; metric ``distance``."""
    values = {k: (0.0 if v == "off" else float(v)) for k, v in design.items()}
    target = optimum or {}
    d2 = sum((v - target.get(k, 0.5)) ** 2 for k, v in values.items())
    rng = np.random.default_rng(seed)
    return {"distance": d2 + float(rng.normal(0, noise / np.sqrt(events / 100)))}
