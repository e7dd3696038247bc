"""Reading model replies: cut-off replies keep their complete designs; the memory is short."""

from __future__ import annotations

import json

from aihep.design.problem import DesignProblem
from aihep.design.proposer import complete_designs, memory_prompt, parse_reply

PROBLEM = DesignProblem.model_validate({
    "name": "two numbers",
    "parameters": [{"kind": "continuous", "name": f"x{i}", "low": 0, "high": 1}
                   for i in range(2)],
    "objective": {"simulator": "quadratic", "events": 10, "weights": {"distance": 1.0},
                  "settings": {"optimum": {"x0": 0.5, "x1": 0.5}}},
    "baseline": {"x0": 0.2, "x1": 0.2}})


def test_a_reply_cut_off_at_the_token_limit_keeps_its_complete_designs():
    full = json.dumps({"designs": [{"x0": 0.1, "x1": 0.2}, {"x0": 0.3, "x1": 0.4},
                                   {"x0": 0.5, "x1": 0.6}]})
    cut = full[:full.rindex("{") + 8]  # inside the third design
    assert complete_designs(cut) == [{"x0": 0.1, "x1": 0.2}, {"x0": 0.3, "x1": 0.4}]
    parsed = parse_reply(PROBLEM, cut, 8)
    assert parsed.usable and len(parsed.designs) == 2 and "cut off" in parsed.problem
    # nothing complete: unusable, as before
    assert not parse_reply(PROBLEM, '{"designs": [{"x0": 0.1, "x1', 8).usable
    assert not parse_reply(PROBLEM, "no json", 8).usable
    # a whole reply is read as it is
    whole = parse_reply(PROBLEM, full, 8)
    assert whole.usable and len(whole.designs) == 3 and whole.problem == ""


def test_the_memory_shows_numbers_to_four_significant_digits():
    text = memory_prompt([({"x0": 0.123456789012, "k": 0.75, "n": 3}, 1.0)], 2)
    assert '"x0": 0.1235' in text and '"k": 0.75' in text and '"n": 3' in text
    assert "0.12345" not in text
