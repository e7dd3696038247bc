"""Deterministic seed derivation: every chunk's seeds follow from the master seed alone."""

from __future__ import annotations

import hashlib

import numpy as np

from aihep import DEFAULT_SEED  # noqa: F401  re-exported: the one default seed

PYTHIA_SEED_MAX = 900_000_000
"""Pythia accepts ``Random:seed`` in 1..900000000."""


def _words(*keys: int | str) -> list[int]:
    """Turn a mixed key of ints and strings into 32-bit words for ``SeedSequence``."""
    out: list[int] = []
    for key in keys:
        if isinstance(key, str):
            digest = hashlib.sha256(key.encode()).digest()
            out.extend(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))
        else:
            if key < 0:
                msg = f"seed keys must be non-negative, got {key}"
                raise ValueError(msg)
            out.extend([key & 0xFFFFFFFF, key >> 32])
    return out


def derive_seed(master: int, *keys: int | str) -> int:
    """A 63-bit seed derived from ``master`` and a path of keys (names or indices)."""
    state = np.random.SeedSequence(_words(master, *keys)).generate_state(2, dtype=np.uint32)
    return int(state[0]) | (int(state[1] & 0x7FFFFFFF) << 32)


def pythia_seed(master: int, *keys: int | str) -> int:
    """A Pythia seed in 1..900000000 derived from ``master`` and keys."""
    return derive_seed(master, "pythia", *keys) % PYTHIA_SEED_MAX + 1


def rng(master: int, *keys: int | str) -> np.random.Generator:
    """A numpy Generator seeded from ``master`` and keys."""
    return np.random.default_rng(np.random.SeedSequence(_words(master, *keys)))
