"""Seed derivation is deterministic, distinct per key and inside Pythia's range."""

from __future__ import annotations

from aihep.workflow import seeds


def test_pythia_seeds_in_range_and_distinct():
    values = [seeds.pythia_seed(1, "chunk", i) for i in range(5000)]
    assert all(1 <= v <= seeds.PYTHIA_SEED_MAX for v in values)
    assert len(set(values)) == len(values)
    assert values == [seeds.pythia_seed(1, "chunk", i) for i in range(5000)]
    assert values[:10] != [seeds.pythia_seed(2, "chunk", i) for i in range(10)]


def test_named_keys_differ():
    assert seeds.derive_seed(7, "background") != seeds.derive_seed(7, "reference")
    assert seeds.rng(7, "x").random() == seeds.rng(7, "x").random()
