"""``aihep design``: optimize a detector design with any optimizer on a budget of simulator
calls, compare optimizers, show a problem."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer

from aihep import DEFAULT_SEED
from aihep.cli.common import (
    AsJson,
    ConfigFile,
    Force,
    OutDir,
    Seed,
    print_result,
    progress_bars,
    user_errors,
)

design_app = typer.Typer(no_args_is_help=True, help="Detector design optimization: typed "
                         "problems, simulators as objectives, optimizers on equal budgets.")

RUNS_KIND = "aihep.design.runs"  # OUT of ``design run``: seed (or optimizer) folders, report
REPLIES = "llm_replies"  # OUT/llm_replies: the language model's replies by prompt
ProblemArg = Annotated[str, typer.Argument(
    help="a built-in problem (spectrometer, calorimeter) or a problem YAML file")]


def _problem_args(problem: str) -> dict:
    return ({"problem": "", "problem_file": Path(problem)}
            if problem.endswith((".yaml", ".yml")) or "/" in problem
            else {"problem": problem})


def _proposer(llm: str, model: Path | None, cache_dir: Path | None = None):
    if llm == "heuristic":
        from aihep.design.proposer import heuristic_proposer

        return heuristic_proposer()
    from aihep.agent.design import chat_proposer

    return chat_proposer(llm, model, cache_dir=cache_dir)


def _print_summary(summaries: list[dict], report: Path | None, as_json: bool,
                   extra: dict | None = None) -> None:
    """The optimizers over seeds: a table for a person, every field with --json."""
    if as_json:
        print_result({**(extra or {}), "summary": summaries,
                      **({"report": str(report)} if report else {})}, True)
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for problem in dict.fromkeys(s["problem"] for s in summaries):
        mine = [s for s in summaries if s["problem"] == problem]
        gaps = any(s["gap_to_cma10x_pct"] is not None for s in mine)
        invalid = any(s["invalid_fraction"] > 0 for s in mine)
        calls = sorted({s["calls"] for s in mine})
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
                      padding=(0, 1), title=f"{problem}: baseline "
                      f"{mine[0]['baseline_median']:.4g}, {'/'.join(map(str, calls))} calls; "
                      "best = median over seeds, re-evaluated on fresh events (lower is "
                      "better); p: one-sided paired test against random search; vs 10x: "
                      "against CMA-ES at 10x budget; proj.: share of proposals projected")
        for name in ("optimizer", "seeds", "best", "std", "gain", "p (wins)",
                     *(["vs 10x"] if gaps else []), *(["proj."] if invalid else []),
                     "s/run"):
            table.add_column(name, no_wrap=True)
        for s in mine:
            p = "" if s["vs_random_p"] is None else f"{s['vs_random_p']:.3f} "
            wins = f"({s['vs_random_wins']})" if s["vs_random_wins"] else ""
            gap = "-" if s["gap_to_cma10x_pct"] is None else f"{s['gap_to_cma10x_pct']:+.1f}%"
            std = "-" if s["best_std"] != s["best_std"] else f"{s['best_std']:.2g}"
            table.add_row(s["optimizer"], str(s["seeds"]), f"{s['best_median']:.4g}", std,
                          f"{s['improvement_pct']:.1f}%", (p + wins).strip() or "-",
                          *([gap] if gaps else []),
                          *([f"{s['invalid_fraction']:.2f}"] if invalid else []),
                          f"{s['seconds_median']:.0f}")
        console.print(table)
        filled = [f"{s['optimizer']} {100 * s['filled_fraction']:.0f}%" for s in mine
                  if s.get("filled_fraction", 0) > 0]
        if filled:  # an LLM proposer that repeats itself is mostly random search
            console.print("calls spent on random designs replacing proposals that repeated "
                          f"an evaluated design: {', '.join(filled)}")
    if report:
        console.print(f"report: {report}")


@design_app.command("show")
def design_show(problem: ProblemArg, config_file: ConfigFile = None) -> None:
    """Print a problem as YAML (a starting point for your own)."""
    import yaml

    from aihep.design.problems import load_problem

    with user_errors():
        spec = load_problem(**{"source": Path(problem)} if problem.endswith(
            (".yaml", ".yml")) else {"source": problem})
        typer.echo(yaml.safe_dump(spec.model_dump(mode="json", by_alias=True),
                                  sort_keys=False))


@design_app.command("run")
def design_run(
    problem: ProblemArg,
    out: OutDir,
    optimizer: Annotated[str, typer.Option(
        help="random | cma-es | bobyqa | optuna-tpe | ppo | llm | llm+tr | random+tr | "
        "heuristic | heuristic+tr (several, comma-separated, run on the same seeds and "
        "budget into OUT/OPTIMIZER/seedN and are compared in one report)")] = "cma-es",
    budget: Annotated[int, typer.Option(min=1, help="simulator calls per run")] = 350,
    seeds: Annotated[int, typer.Option(min=1, help="runs with seeds SEED, SEED+1, ...")] = 1,
    llm: Annotated[str, typer.Option(
        help="backend of llm optimizers: heuristic | openai | local")] = "heuristic",
    model: Annotated[Path | None, typer.Option(help="GGUF file for --llm local")] = None,
    reevaluate_events: Annotated[int, typer.Option(
        min=1, help="fresh events to re-evaluate the best design and the baseline")] = 20_000,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Optimize a design; one sub-directory per seed (record.jsonl, result.json), a
    report.html over the seeds (and optimizers, with paired tests against random search).
    A killed run resumes by replaying its record."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        SpinnerColumn,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    from aihep.design.compare import summarize
    from aihep.design.optimizers import OPTIMIZERS, OptimizerName
    from aihep.design.problems import load_problem
    from aihep.design.run import run_design_dir
    from aihep.errors import ConfigError
    from aihep.report.design import write_design_report
    from aihep.workflow.manifest import (
        build_manifest,
        claim_output_dir,
        file_entry,
        write_manifest,
    )

    with user_errors():
        names = list(dict.fromkeys(o.strip() for o in optimizer.split(",") if o.strip()))
        if not names or any(o not in OPTIMIZERS for o in names):
            msg = (f"--optimizer {optimizer}: expected one of {', '.join(OPTIMIZERS)} "
                   "(or several, comma-separated)")
            raise ConfigError(msg)
        if llm not in ("heuristic", "openai", "local"):
            msg = f"--llm {llm}: expected heuristic, openai or local"
            raise ConfigError(msg)
        args = _problem_args(problem)
        spec = load_problem(args.get("problem_file") or args["problem"])
        seed_dirs = tuple(f"seed{seed + k}" for k in range(seeds))
        claim_output_dir(out, RUNS_KIND, force, strict=False, allowed=(
            *(seed_dirs if len(names) == 1 else names), "report.html", REPLIES))
        # replies kept by prompt: llm+tr asks llm's first questions again (same seed)
        propose = (_proposer(llm, model, out / REPLIES)
                   if any(o.startswith("llm") for o in names) else None)
        rows = []
        with progress_bars(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                           MofNCompleteColumn(), TextColumn("best {task.fields[best]}"),
                           TimeElapsedColumn()) as bars:  # a model's reply takes minutes
            for name in names:
                for k in range(seeds):
                    task = bars.add_task(f"{name} seed {seed + k}", total=budget, best="-")

                    def show(calls: int, total: int, best: float, t: TaskID = task) -> None:
                        bars.update(t, completed=calls, best=f"{best:.4g}")

                    where = out / (seed_dirs[k] if len(names) == 1 else f"{name}/{seed_dirs[k]}")
                    result = run_design_dir(
                        spec.name, where, cast(OptimizerName, name), budget, seed + k,
                        args.get("problem_file"), reevaluate_events, force, propose, show)
                    rows.append(result.to_dict())
        summaries = [s.to_dict() for s in summarize(rows)]
        report = write_design_report(out, rows, spec, summaries)
        write_manifest(out, build_manifest(
            RUNS_KIND, config={"problem": spec.model_dump(mode="json", by_alias=True),
                               "optimizers": names, "budget": budget, "seeds": seeds,
                               "llm": llm, "reevaluate_events": reevaluate_events},
            seed=seed, inputs=[file_entry(args["problem_file"])] if "problem_file" in args
            else [], outputs=[file_entry(p, out) for p in report],
            counts={"runs": len(rows)}))
    brief = {k: rows[-1][k] for k in ("problem", "optimizer", "calls", "baseline_objective",
                                      "best_objective", "best_design", "invalid_fraction")}
    _print_summary(summaries, out / "report.html", as_json, {"runs": len(rows), "last": brief})


@design_app.command("library")
def design_library(
    energies: Annotated[str, typer.Option(help="GeV, comma-separated")] = "50,100",
    library: Annotated[str, typer.Option(help="train | test | both")] = "both",
    events: Annotated[int, typer.Option(min=10, help="showers per energy and library")]
    = 10_000,
    workers: Annotated[int, typer.Option("--workers", "-j", min=1)] = 1,
    config_file: ConfigFile = None,
) -> None:
    """Build (or complete) the electron shower libraries of the calorimeter problem with
    the cascade Monte Carlo (cached under $AIHEP_CACHE or ~/.cache/aihep; resumable)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn

    from aihep.design.calorimeter import CalorimeterSettings, build_electron_library
    from aihep.errors import ConfigError

    with user_errors():
        try:
            values = [float(e) for e in energies.split(",")]
        except ValueError:
            msg = f"--energies {energies}: expected GeV values separated by commas"
            raise ConfigError(msg) from None
        if library not in ("train", "test", "both"):
            msg = f"--library {library}: expected train, test or both"
            raise ConfigError(msg)
        settings = CalorimeterSettings(library_events=events)
        with progress_bars(TextColumn("{task.description}"), BarColumn(),
                           MofNCompleteColumn()) as bars:
            for which in (("train", "test") if library == "both" else (library,)):
                for energy in values:
                    task = bars.add_task(f"{which} {energy:g} GeV", total=events)

                    def show(done: int, total: int, t: TaskID = task) -> None:
                        bars.update(t, completed=done)

                    path = build_electron_library(
                        settings, energy, which, workers, show)
                    typer.echo(f"{which} {energy:g} GeV: {path}")


@design_app.command("compare")
def design_compare(
    runs: Annotated[list[Path], typer.Argument(
        help="run directories (searched for result.json) or a benchmark JSON")],
    out: Annotated[Path | None, typer.Option("--out", "-o",
                                             help="write report.html here")] = None,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Compare optimizers: medians over seeds, paired tests against random search, the gap
    to CMA-ES at 10x budget; a report with convergence plots."""
    from aihep.design.compare import compare_runs
    from aihep.report.design import write_design_report

    with user_errors():
        result = compare_runs(runs, out, write_design_report, force)
    _print_summary(result["summary"], None if out is None else out / "report.html", as_json)
