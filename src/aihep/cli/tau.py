"""``aihep tau``: DeepTau-style tau identification, adapted from simulation to data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aihep import DEFAULT_SEED
from aihep.cli.common import (
    AsJson,
    ConfigFile,
    Force,
    OutDir,
    Seed,
    Workers,
    print_result,
    progress_bars,
    user_errors,
)

tau_app = typer.Typer(no_args_is_help=True, help="Tau identification (tau vs jet, e, mu) "
                      "with a DeepTau-style CNN or ParT, and adaptation to data (DANN).")
SAMPLE_NAMES = ("ztautau", "zprime-tautau", "qcd", "zee", "zmumu")
MODEL_NAMES = ("deeptau-cnn", "part-lite")


@tau_app.command("dataset")
def tau_dataset(
    sample: Annotated[str, typer.Argument(help=" | ".join(SAMPLE_NAMES))],
    out: OutDir,
    domain: Annotated[str, typer.Option(help="simulation | data (calorimeter scale and "
                                        "resolution, pile-up, tracking efficiency shifted)")]
    = "simulation",
    shift: Annotated[float, typer.Option(min=0.0, max=5.0, help="data: x the default shift")]
    = 1.0,
    events: Annotated[int, typer.Option("--events", "-n", min=1, help="generated events")]
    = 10_000,
    chunk: Annotated[int, typer.Option(min=10, help="events per chunk")] = 500,
    workers: Workers = 1,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Generate a sample with Pythia 8 and the detector; tau candidates (jets with a decay
    mode) with particle lists, high-level inputs and truth labels (resumes when re-run)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

    from aihep.errors import ConfigError
    from aihep.tau.data import TauDataConfig, TauDomainConfig, build_tau_dataset, data_domain

    with user_errors(), progress_bars(TextColumn(f"{sample} events"), BarColumn(),
                                      MofNCompleteColumn(), transient=True) as bars:
        if domain not in ("simulation", "data"):
            msg = f"--domain {domain}: expected simulation or data"
            raise ConfigError(msg)
        task = bars.add_task("events", total=events)
        config = TauDataConfig(sample=sample, n_events=events,
                               domain=TauDomainConfig() if domain == "simulation"
                               else data_domain(shift), events_per_chunk=chunk, seed=seed)
        result = build_tau_dataset(config, out, workers, lambda done, total: bars.update(
            task, completed=done), force)
    print_result(result.to_dict(), as_json)


@tau_app.command("train")
def tau_train(
    simulation: Annotated[list[Path], typer.Option(
        "--sim", help="labelled simulation candidate files or dataset directories, repeatable")],
    out: OutDir,
    data: Annotated[list[Path] | None, typer.Option(
        "--data", help="unlabelled data candidates for DANN, repeatable")] = None,
    model: Annotated[str, typer.Option(help=" | ".join(MODEL_NAMES))] = "deeptau-cnn",
    dann_lambda: Annotated[float, typer.Option(min=0.0, help="DANN's maximum lambda (0: "
                                               "no adaptation)")] = 0.0,
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    learning_rate: Annotated[float, typer.Option("--lr", min=0.0)] = 1e-3,
    channels: Annotated[int, typer.Option(min=4, max=64, help="CNN filters")] = 32,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Train a tau-ID model on simulation (and adversarially against data with
    --dann-lambda > 0); resumes from its checkpoint."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

    from aihep.errors import ConfigError
    from aihep.nn.train import TrainConfig
    from aihep.tau.model import TauModelConfig
    from aihep.tau.run import TauTrainConfig, train_files

    with user_errors(), progress_bars(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("loss {task.fields[loss]}"),
                                      transient=True) as bars:
        if model not in MODEL_NAMES:
            msg = f"--model {model}: expected one of {', '.join(MODEL_NAMES)}"
            raise ConfigError(msg)
        task = bars.add_task("train", total=None, loss="-")
        config = TauTrainConfig(
            model=TauModelConfig(kind=model, channels=channels, seed=seed),
            train=TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                              patience=3, seed=seed), dann_lambda_max=dann_lambda)
        result = train_files(simulation, out, config, data or [], force,
                             lambda done, total, loss: bars.update(
                                 task, completed=done, total=total, loss=f"{loss:.3f}"))
    print_result(result.to_dict(), as_json)


@tau_app.command("evaluate")
def tau_evaluate(
    run: Annotated[Path, typer.Argument(help="a trained tau-ID run")],
    data: Annotated[list[Path], typer.Option(
        "--data", help="labelled data-domain test candidates, repeatable")],
    simulation: Annotated[list[Path], typer.Option(
        "--sim", help="simulation test candidates (for the simulation-fixed cuts)")],
    out: OutDir,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Working points, jet/e/mu misidentification curves, efficiency vs pT and decay mode,
    data/simulation efficiency ratio; writes evaluation.json and report.html."""
    from aihep.report.tau import write_tau_report
    from aihep.tau.run import evaluate_files

    with user_errors():
        result = evaluate_files(run, data, simulation, out, force, write_tau_report)
    print_result({"working_points": result.working_points,
                  "data_candidates": result.n_data}, as_json)
