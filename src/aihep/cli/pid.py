"""``aihep pid``: particle identification with missing detectors, simulation -> data."""

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
    print_result,
    stderr_console,
    user_errors,
)

pid_app = typer.Typer(no_args_is_help=True, help="Particle identification (e, pi, K, p) from "
                      "the detector signals a track has; adaptation from simulation to data.")
METHOD_NAMES = ("nsigma", "bayes", "hgb", "mlp-imputed", "transformer", "transformer+dann",
                "transformer+v0-finetune")


@pid_app.command("simulate")
def pid_simulate(
    out: OutDir,
    domain: Annotated[str, typer.Option(help="simulation | data (shifted detectors, another "
                                        "Pythia tune, fewer K and p)")] = "simulation",
    shift: Annotated[float, typer.Option(min=0.0, max=5.0, help="data: x the default shift")]
    = 1.0,
    events: Annotated[int, typer.Option("--events", "-n", min=1,
                                        help="minimum-bias pp events")] = 20_000,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Generate a track file (Pythia 8 minimum bias at 13.6 TeV, ALICE-like ITS/TPC dE/dx,
    TOF beta and TRD signals, missing detectors as configured)."""
    from aihep.pid.files import PIDSimConfig, simulate_file

    with user_errors(), stderr_console().status(f"generating {events} events"):
        config = PIDSimConfig(domain=domain, shift=shift, n_events=events, seed=seed)
        result = simulate_file(config, out, force)
    print_result(result.to_dict(), as_json)


@pid_app.command("train")
def pid_train(
    simulation: Annotated[Path, typer.Argument(help="labelled simulation track file")],
    out: OutDir,
    method: Annotated[str, typer.Option(help=" | ".join(METHOD_NAMES))] = "transformer",
    data: Annotated[Path | None, typer.Option(
        help="unlabelled data track file (DANN, V0 fine-tuning, n-sigma recalibration)")]
    = None,
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    dann_lambda: Annotated[float, typer.Option(min=1e-3, help="DANN's maximum lambda")] = 1.0,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Train a PID method on simulation (labels) and, where the method uses it, unlabelled
    data; writes pid.json and the model."""
    from aihep.nn.train import TrainConfig
    from aihep.pid.files import PIDTrainConfig, train_file
    from aihep.pid.methods import TransformerTrainConfig

    with user_errors(), stderr_console().status(f"training {method}"):
        config = PIDTrainConfig(
            transformer=TransformerTrainConfig(train=TrainConfig(
                epochs=epochs, batch_size=1024, learning_rate=2e-3, patience=5, seed=seed)),
            dann_lambda_max=dann_lambda, seed=seed)
        result = train_file(simulation, out, method, config, data, force)  # type: ignore[arg-type]
    print_result(result.to_dict(), as_json)


@pid_app.command("evaluate")
def pid_evaluate(
    run: Annotated[Path, typer.Argument(help="a trained PID run (aihep pid train)")],
    tracks: Annotated[Path, typer.Argument(help="track file (scored when it has species)")],
    out: OutDir,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Class probabilities for every track; with labels, F1, confusion matrices and
    efficiency / purity vs momentum per TOF availability, and report.html."""
    from aihep.pid.files import evaluate_file
    from aihep.report.pid import write_pid_report

    with user_errors():
        result = evaluate_file(run, tracks, out, force, write_pid_report)
    print_result(result.to_dict(), as_json)
