"""A small LHCO-like feature table: dijet-shaped background plus a 3.5 TeV resonance."""

from __future__ import annotations

import numpy as np

from aihep.discovery.dijet import bin_integrals


def toy_table(n_bkg: int, n_sig: int, seed: int) -> dict[str, np.ndarray]:
    """Columns index, mjj, mj1, delta_mj, tau21_j1, tau21_j2 (GeV); signal rows come last."""
    rng = np.random.default_rng(seed)
    edges = np.arange(2600.0, 6001.0, 50.0)
    shape = bin_integrals(edges, np.array([1.0, 8.0, 6.0]), 13000.0)
    counts = rng.multinomial(n_bkg, shape / shape.sum())
    mjj = np.concatenate([np.repeat(edges[:-1], counts) + rng.uniform(0, 50.0, n_bkg),
                          rng.normal(3500.0, 90.0, n_sig)])
    n = n_bkg + n_sig
    sig = np.arange(n) >= n_bkg
    return {"index": np.arange(n), "mjj": mjj,
            "mj1": np.where(sig, rng.normal(100, 8, n), rng.gamma(2.0, 40.0, n)),
            "delta_mj": np.where(sig, rng.normal(400, 20, n), rng.gamma(2.0, 60.0, n)),
            "tau21_j1": np.where(sig, rng.beta(4, 5, n), rng.beta(5, 3, n)),
            "tau21_j2": np.where(sig, rng.beta(4, 5, n), rng.beta(5, 3, n))}
