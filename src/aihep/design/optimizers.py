"""Optimizers behind one interface, on equal budgets of simulator calls.

Each optimizer is a function ``(problem, evaluate, seed, config)`` that calls
``evaluate(design)`` until the evaluator raises :class:`BudgetExhausted`; an optimizer
that converges early restarts. Vector optimizers (CMA-ES, BOBYQA, PPO) work in the relaxed
[0, 1]^d encoding of :class:`~aihep.design.problem.DesignProblem` (discrete choices
rounded on decoding). Libraries that seed global generators (cma, Py-BOBYQA,
stable-baselines3) run inside :func:`isolated_global_rngs`, so the caller's generators are
untouched.

``+tr`` variants spend ``1 - refine_fraction`` of the budget on the proposer and the rest
on trust-region refinement: BOBYQA on the continuous parameters of the best design so far,
its discrete choices fixed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aihep import DEFAULT_SEED
from aihep.design.evaluator import BudgetExhausted, Evaluator, isolated_global_rngs, same_design
from aihep.design.problem import Continuous, Design, DesignProblem
from aihep.design.proposer import (
    ProposalState,
    Proposer,
    memory_prompt,
    parse_reply,
    problem_prompt,
)
from aihep.errors import ConfigError
from aihep.workflow.seeds import derive_seed

OptimizerName = Literal["random", "cma-es", "bobyqa", "optuna-tpe", "ppo", "llm", "llm+tr",
                        "random+tr", "heuristic", "heuristic+tr"]
OPTIMIZERS: tuple[str, ...] = OptimizerName.__args__  # type: ignore[attr-defined]


class OptimizerConfig(BaseModel):
    """Settings of every optimizer (each reads its own)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: OptimizerName = "random"
    budget: int = Field(350, ge=1, description="simulator calls")
    seed: int = DEFAULT_SEED
    refine_fraction: float = Field(0.3, ge=0, lt=1, description="share of the budget "
                                   "spent on trust-region refinement by '+tr' variants")
    cma_sigma0: float = Field(0.25, gt=0, description="initial step in the [0, 1] encoding")
    bobyqa_rhobeg: float = Field(0.2, gt=0)
    tr_rhobeg: float = Field(0.05, gt=0, description="trust-region start radius, +tr")
    ppo_n_steps: int = Field(128, ge=2, description="episodes per PPO update")
    ppo_batch_size: int = Field(64, ge=2)
    designs_per_round: int = Field(8, ge=1, description="designs asked per LLM reply")
    memory_size: int = Field(10, ge=1, description="best designs shown to the proposer")
    max_failed_replies: int = Field(3, ge=1, description="unusable replies in a row before "
                                    "a round of random designs (counted)")
    fill_repeats: bool = Field(True, description="a proposed design already evaluated (or "
                               "twice in a reply) is not evaluated again: its slot gets a "
                               "random design (source '<actor>-fill', counted)")


def run_random(problem: DesignProblem, evaluate: Evaluator, config: OptimizerConfig) -> None:
    rng = np.random.default_rng(derive_seed(config.seed, "random"))
    while True:
        evaluate(problem.random_design(rng), source="random")


def run_cma(problem: DesignProblem, evaluate: Evaluator, config: OptimizerConfig) -> None:
    import cma

    x0 = problem.encode(problem.baseline)
    restart = 0
    while True:
        seed = derive_seed(config.seed, "cma", restart) % 2**31 + 1
        with isolated_global_rngs(seed):
            es = cma.CMAEvolutionStrategy(x0, config.cma_sigma0, inopts={
                "bounds": [0.0, 1.0], "seed": seed, "verbose": -9,
                "maxfevals": evaluate.remaining})
            while not es.stop():
                xs = es.ask()
                values = [evaluate(problem.decode(x), source="cma-es") for x in xs]
                es.tell(xs, values)
        restart += 1
        x0 = np.random.default_rng(seed).random(problem.dimension)


def _bobyqa(evaluate: Evaluator, decode: Callable[[np.ndarray], Design], x0: np.ndarray,
            rhobeg: float, seed: int, source: str) -> None:
    """Py-BOBYQA on [0, 1]^n until the budget is spent (restarts from new points)."""
    import pybobyqa

    logging.getLogger("pybobyqa").setLevel(logging.ERROR)
    n = len(x0)
    restart = 0
    while evaluate.remaining > 0:
        if evaluate.remaining < n + 2:  # too few calls for a model: sample around x0
            rng = np.random.default_rng(derive_seed(seed, "bobyqa-tail"))
            while True:
                evaluate(decode(np.clip(x0 + rng.normal(0, rhobeg / 2, n), 0, 1)),
                         source=source)
        with isolated_global_rngs(derive_seed(seed, "bobyqa", restart) % 2**31):
            x_start = np.clip(x0, 0.0, 1.0)
            pybobyqa.solve(lambda x: evaluate(decode(x), source=source), x_start,
                           bounds=(np.zeros(n), np.ones(n)), rhobeg=rhobeg,
                           rhoend=1e-4, maxfun=evaluate.remaining, objfun_has_noise=True,
                           user_params={"restarts.use_restarts": True},
                           scaling_within_bounds=False, do_logging=False)
        restart += 1
        x0 = np.random.default_rng(derive_seed(seed, "bobyqa-x0", restart)).random(n)


def run_bobyqa(problem: DesignProblem, evaluate: Evaluator, config: OptimizerConfig) -> None:
    _bobyqa(evaluate, problem.decode, problem.encode(problem.baseline),
            config.bobyqa_rhobeg, config.seed, "bobyqa")


def refine(problem: DesignProblem, evaluate: Evaluator, config: OptimizerConfig) -> None:
    """Trust-region refinement: BOBYQA on the continuous parameters of the best design so
    far, discrete choices fixed."""
    start = evaluate.best().design if evaluate.history else dict(problem.baseline)
    names = problem.continuous_names
    if not names:  # nothing continuous to refine: keep proposing around the best
        msg = "trust-region refinement needs continuous parameters"
        raise ConfigError(msg)
    lows = np.array([problem.param(n).low for n in names])  # type: ignore[union-attr]
    highs = np.array([problem.param(n).high for n in names])  # type: ignore[union-attr]

    def decode(u: np.ndarray) -> Design:
        design = dict(start)
        design.update({n: float(v) for n, v in zip(names, lows + np.clip(u, 0, 1)
                                                    * (highs - lows), strict=True)})
        return problem.project(design)

    x0 = (np.array([float(start[n]) for n in names]) - lows) / (highs - lows)
    _bobyqa(evaluate, decode, x0, config.tr_rhobeg, derive_seed(config.seed, "tr"), "tr")


def run_optuna(problem: DesignProblem, evaluate: Evaluator, config: OptimizerConfig) -> None:
    import optuna
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space: dict[str, BaseDistribution] = {
        p.name: FloatDistribution(p.low, p.high) if isinstance(p, Continuous)
        else CategoricalDistribution(p.choices) for p in problem.parameters}
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(
        seed=derive_seed(config.seed, "optuna") % 2**31))
    study.enqueue_trial(dict(problem.baseline))
    while True:
        trial = study.ask(space)
        try:
            value = evaluate(trial.params, source="optuna-tpe")
        except BudgetExhausted:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        study.tell(trial, value)


def run_ppo(problem: DesignProblem, evaluate: Evaluator, config: OptimizerConfig) -> None:
    """PPO (stable-baselines3) on one-step episodes: the action is a design in [-1, 1]^d,
    the reward minus the objective over the first one's magnitude."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO

    class DesignEnv(gym.Env):
        observation_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, shape=(problem.dimension,),
                                      dtype=np.float32)
        scale: float | None = None

        def reset(self, *, seed: int | None = None, options: Any = None):
            super().reset(seed=seed)
            return np.zeros(1, dtype=np.float32), {}

        def step(self, action):
            value = evaluate(problem.decode((np.asarray(action) + 1) / 2), source="ppo")
            if self.scale is None:
                self.scale = max(abs(value), 1e-9)
            return np.zeros(1, dtype=np.float32), -value / self.scale, True, False, {}

    seed = derive_seed(config.seed, "ppo") % 2**31
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with isolated_global_rngs(seed):
            model = PPO("MlpPolicy", DesignEnv(), n_steps=config.ppo_n_steps,
                        batch_size=config.ppo_batch_size, seed=seed, device="cpu", verbose=0)
            while True:
                model.learn(total_timesteps=max(evaluate.remaining, config.ppo_n_steps),
                            reset_num_timesteps=False)
    finally:
        torch.set_num_threads(threads)


def run_proposer(problem: DesignProblem, evaluate: Evaluator, config: OptimizerConfig,
                 propose: Proposer, actor: str) -> None:
    """Rounds of: prompt (fixed part + memory) -> reply -> designs -> evaluations."""
    fixed = problem_prompt(problem, config.designs_per_round)
    rng = np.random.default_rng(derive_seed(config.seed, "proposer-fallback"))
    fill_rng = np.random.default_rng(derive_seed(config.seed, "proposer-fill"))
    failed = 0
    round_ = 0
    while True:
        if evaluate.remaining <= 0:  # never ask the model for designs that cannot run
            raise BudgetExhausted
        ok = sorted(((e.design, e.objective) for e in evaluate.history if e.status == "ok"),
                    key=lambda t: t[1])
        memory = ok[:config.memory_size]
        variable = memory_prompt(memory, round_)
        prompt = fixed + "\n\n" + variable
        digest = hashlib.sha256(prompt.encode()).hexdigest()
        old = evaluate.record.replayed("propose")
        if old is not None and old["arguments"].get("prompt_sha256") == digest:
            reply, seconds = old["extra"]["reply"], float(old["duration_s"])
        else:
            start = time.perf_counter()
            state = ProposalState(problem, memory, round_, config.designs_per_round,
                                  config.seed, fixed, variable)
            try:
                reply = propose(prompt, state)
            except Exception as error:  # a failing backend is a counted, recorded failure
                reply = f"<backend error: {type(error).__name__}: {error}>"
            seconds = time.perf_counter() - start
        parsed = parse_reply(problem, reply, config.designs_per_round)
        if old is None or old["arguments"].get("prompt_sha256") != digest:
            evaluate.record.append(actor, "propose", {"prompt_sha256": digest,
                                                      "round": round_},
                                   (f"ok ({parsed.problem})" if parsed.problem else "ok")
                                   if parsed.usable else f"unusable: {parsed.problem}",
                                   seconds, {"reply": reply,
                                             "designs": len(parsed.designs)})
        round_ += 1
        designs = parsed.designs
        if not parsed.usable:
            failed += 1
            if failed < config.max_failed_replies:
                continue
            designs = [problem.random_design(rng) for _ in range(config.designs_per_round)]
            source = f"{actor}-fallback"
        else:
            source = actor
        failed = 0
        if config.fill_repeats:
            designs, sources = fill_repeats(problem, evaluate, designs, source, fill_rng)
        else:
            sources = [source] * len(designs)
        for design, origin in zip(designs, sources, strict=True):
            evaluate(design, source=origin)


def fill_repeats(problem: DesignProblem, evaluate: Evaluator, designs: list[Design],
                 source: str, rng: np.random.Generator) -> tuple[list[Design], list[str]]:
    """``designs`` with every one already evaluated in this run (after projection), or
    repeated within the list, replaced by a random design; and each design's source
    (``source`` or ``source-fill``). A small model often answers with the same design round
    after round: without this it spends the budget re-measuring one design."""
    seen = [e.design for e in evaluate.history]
    out, sources = [], []
    for design in designs:
        if any(same_design(problem.project(design), old) for old in seen):
            design, origin = problem.random_design(rng), f"{source}-fill"
        else:
            origin = source
        seen.append(problem.project(design))
        out.append(design)
        sources.append(origin)
    return out, sources


def optimize(problem: DesignProblem, evaluate: Evaluator, config: OptimizerConfig,
             propose: Proposer | None = None) -> None:
    """Run ``config.name`` until the evaluator's budget is spent."""
    from aihep.design.proposer import heuristic_proposer

    base, _, tr = config.name.partition("+")
    if tr:
        evaluate.limit = round(config.budget * (1 - config.refine_fraction))
    try:
        if base == "random":
            run_random(problem, evaluate, config)
        elif base == "cma-es":
            run_cma(problem, evaluate, config)
        elif base == "bobyqa":
            run_bobyqa(problem, evaluate, config)
        elif base == "optuna-tpe":
            run_optuna(problem, evaluate, config)
        elif base == "ppo":
            run_ppo(problem, evaluate, config)
        elif base == "heuristic":
            run_proposer(problem, evaluate, config, heuristic_proposer(), "heuristic")
        elif base == "llm":
            if propose is None:
                msg = ("the llm optimizer needs a language model: --llm openai|local "
                       "(or heuristic for a deterministic stand-in)")
                raise ConfigError(msg)
            run_proposer(problem, evaluate, config, propose, "llm")
        else:  # pragma: no cover - the Literal type holds the names
            msg = f"unknown optimizer {config.name}"
            raise ConfigError(msg)
    except BudgetExhausted:
        pass
    if tr:
        evaluate.limit = config.budget
        with contextlib.suppress(BudgetExhausted):
            refine(problem, evaluate, config)
