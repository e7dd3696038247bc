"""Hand-made all-hadronic ttbar events: exact top and W decays, jets = partons (+ extras)."""

from __future__ import annotations

import numpy as np

from aihep.io.assignment import JetEvents

M_T, M_W, M_B = 172.5, 80.4, 4.8


def two_body(m: float, m1: float, m2: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Decay at rest of a particle of mass m into m1, m2 (isotropic)."""
    p = np.sqrt((m**2 - (m1 + m2) ** 2) * (m**2 - (m1 - m2) ** 2)) / (2 * m)
    u = rng.normal(size=3)
    u /= np.linalg.norm(u)
    return (np.array([*(p * u), np.hypot(p, m1)]), np.array([*(-p * u), np.hypot(p, m2)]))


def boost(v: np.ndarray, beta: np.ndarray) -> np.ndarray:
    b2 = beta @ beta
    gamma = 1 / np.sqrt(1 - b2)
    bp = beta @ v[:3]
    space = v[:3] + ((gamma - 1) * bp / b2 + gamma * v[3]) * beta
    return np.array([*space, gamma * (v[3] + bp)])


def top_decay(rng) -> list[np.ndarray]:
    """b, q1, q2 four-momenta of a top with a random boost."""
    b, w = two_body(M_T, M_B, M_W, rng)
    q1, q2 = two_body(M_W, 0.0, 0.0, rng)
    beta_w = w[:3] / w[3]
    q1, q2 = boost(q1, beta_w), boost(q2, beta_w)
    direction = rng.normal(size=3)
    beta_t = rng.uniform(0.0, 0.8) * direction / np.linalg.norm(direction)
    return [boost(x, beta_t) for x in (b, q1, q2)]


def hand_made(n_events: int, extra_jets: int, seed: int = 1) -> JetEvents:
    rng = np.random.default_rng(seed)
    j = 6 + extra_jets
    cols = {k: np.zeros((n_events, j), np.float32) for k in ("pt", "eta", "phi", "mass",
                                                              "btag")}
    targets = np.zeros((n_events, 6), np.int64)
    for i in range(n_events):
        partons = top_decay(rng) + top_decay(rng)
        extras = [np.array([*(v := rng.normal(0, 40, 3)), np.linalg.norm(v) + 1.0])
                  for _ in range(extra_jets)]
        order = rng.permutation(j)
        jets = [None] * j
        for k, p in enumerate(partons + extras):
            jets[order[k]] = p
        targets[i] = order[:6]
        for k, p in enumerate(jets):
            pt = np.hypot(p[0], p[1])
            cols["pt"][i, k] = pt
            cols["eta"][i, k] = np.arcsinh(p[2] / pt)
            cols["phi"][i, k] = np.arctan2(p[1], p[0])
            cols["mass"][i, k] = np.sqrt(max(p[3] ** 2 - p[:3] @ p[:3], 0.0))
        cols["btag"][i, order[0]] = cols["btag"][i, order[3]] = 1.0
    return JetEvents(**cols, mask=np.ones((n_events, j), bool), targets=targets)
