"""``aihep reco``: simulate a neutrino telescope, train the GNN, evaluate reconstructions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aihep import DEFAULT_SEED
from aihep.cli.common import (
    AsJson,
    ClusterCfg,
    ConfigFile,
    ExecutorOpt,
    Force,
    Seed,
    Workers,
    executor_config,
    print_result,
    progress_bar,
)

reco_app = typer.Typer(no_args_is_help=True, help="Neutrino-telescope track reconstruction: "
                       "simulate, train the GNN, evaluate line fit / likelihood / GNN.")

Data = Annotated[Path, typer.Argument(help="events.parquet of aihep reco simulate")]


@reco_app.command("simulate")
def reco_simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="output directory")],
    events: Annotated[int, typer.Option("--events", "-n", min=1)] = 1000,
    geometry: Annotated[Path | None, typer.Option(
        help="CSV of DOM positions x,y,z[,string] in m (default: TRIDENT-like 200 strings)")
                        ] = None,
    energy_min_tev: Annotated[float, typer.Option(min=0.001)] = 1.0,
    energy_max_tev: Annotated[float, typer.Option(min=0.001)] = 100.0,
    events_per_chunk: Annotated[int, typer.Option(min=1)] = 1000,
    workers: Workers = 1,
    executor: ExecutorOpt = "local",
    cluster_config: ClusterCfg = None,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Simulate through-going muons (resumes when re-run)."""
    from aihep.reco.run import simulate_file
    from aihep.reco.simulate import SimConfig

    with progress_bar("chunks") as update:
        engine = executor_config(executor, workers, cluster_config)
        config = SimConfig(energy_min_tev=energy_min_tev, energy_max_tev=energy_max_tev)
        result = simulate_file(out, config, events, geometry, seed, workers, events_per_chunk,
                               update, engine, force)
    print_result(result.to_dict(), as_json)


@reco_app.command("train")
def reco_train(
    model: Annotated[str, typer.Argument(help="gnn-lite | gnn-large")],
    data: Data,
    out: Annotated[Path, typer.Option("--out", "-o", help="run directory")],
    target: Annotated[str, typer.Option(help="points (per-DOM emission points + line fit) | "
                                        "direction (direct regression)")] = "points",
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    batch_size: Annotated[int, typer.Option(min=1)] = 128,
    learning_rate: Annotated[float, typer.Option("--lr")] = 2e-3,
    refine_from: Annotated[Path | None, typer.Option(
        help="train a refiner of this GNN run (iterative passes with time residuals)")] = None,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Train the hybrid GNN (or, with --refine-from, a refiner for a trained one); an
    interrupted run resumes from its checkpoint."""
    from aihep.reco.run import GNN_TRAIN, train_gnn_file

    with progress_bar("training") as update:
        train = GNN_TRAIN.model_copy(update={"epochs": epochs, "batch_size": batch_size,
                                             "learning_rate": learning_rate})
        result = train_gnn_file(data, out, model, target, train, seed=seed,
                                refine_from=refine_from, progress=update, force=force)
    print_result({k: v for k, v in result.to_dict().items()
                  if k not in ("train_loss", "val_loss")}, as_json)


@reco_app.command("evaluate")
def reco_evaluate(
    method: Annotated[str, typer.Argument(
        help="linefit | likelihood | likelihood-spe | likelihood-batched | gnn | gnn+likelihood")],
    data: Data,
    run: Annotated[Path | None, typer.Option(
        help="GNN run directory (methods gnn, gnn+likelihood)")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="write resolution JSON, HTML report, manifest")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="first N events only")] = None,
    workers: Workers = 1,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Median angular error per energy bin, failed fits and time per event."""
    from aihep.reco.run import evaluate_file
    from aihep.report.reco import write_reco_report

    with progress_bar("events") as update:
        result = evaluate_file(method, data, run, out, workers, limit, update, force,
                               write_reco_report)
    print_result(result.to_dict(), as_json)
