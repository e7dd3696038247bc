"""The optimizer comparison: paired tests against random search and the per-run cost."""

import pytest

from aihep.design.compare import paired_test, summarize


def _row(optimizer: str, seed: int, best: float, seconds: float, **extra) -> dict:
    return {"problem": "p", "optimizer": optimizer, "seed": seed, "calls": 10,
            "best_objective": best, "baseline_objective": 10.0, "invalid_fraction": 0.0,
            "seconds": seconds, **extra}


def test_summary_pairs_by_seed_and_counts_the_cost_of_resumed_runs():
    rows = [_row("random", s, 5.0 + s, 2.0) for s in range(1, 6)]
    # the candidate beats random on every seed; its last session took 1 s, its cost 100 s
    rows += [_row("llm", s, 4.0 + s, 1.0, cost_seconds=100.0, filled_repeats=s)
             for s in range(1, 6)]
    by = {s.optimizer: s for s in summarize(rows)}
    assert by["llm"].vs_random_p == pytest.approx(1 / 32)
    assert by["llm"].vs_random_wins == "5/5"
    assert by["llm"].seconds_median == 100.0
    assert by["random"].seconds_median == 2.0
    assert by["llm"].best_median == 7.0 and by["llm"].improvement_pct == pytest.approx(30.0)
    # 1-5 of 10 calls went to random designs replacing repeats; rows without the field: 0
    assert by["llm"].filled_fraction == pytest.approx(0.3)
    assert by["random"].filled_fraction == 0.0


def test_paired_test_needs_five_pairs():
    assert paired_test([1, 2, 3, 4], [2, 3, 4, 5]) is None
    assert paired_test([2, 3, 4, 5, 6], [1, 2, 3, 4, 5]) == pytest.approx(1.0)
