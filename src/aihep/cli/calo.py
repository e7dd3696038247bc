"""``aihep calo``: simulate calorimeter showers, train and export surrogates, evaluate
generated showers."""

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
    OutDir,
    Seed,
    Workers,
    executor_config,
    print_result,
    progress_bar,
    progress_bars,
    stderr_console,
    user_errors,
)

calo_app = typer.Typer(no_args_is_help=True, help="Fast calorimeter simulation: the reference "
                       "cascade Monte Carlo and the CaloChallenge metrics.")

LayoutOpt = Annotated[str, typer.Option(
    help="ds2 | ds3 | coarse | a YAML layout file (see docs/fastsim.md)")]
Showers = Annotated[int, typer.Option("--showers", "-n", min=1)]


def _layout(name: str):
    from aihep.fastsim.geometry import load_layout, preset

    return load_layout(name) if name.endswith((".yaml", ".yml")) else preset(name)


@calo_app.command("simulate")
def calo_simulate(
    out: OutDir,
    showers: Showers = 1000,
    layout: LayoutOpt = "ds2",
    particle: Annotated[str, typer.Option(help="electron | positron | photon")] = "electron",
    energy_min_gev: Annotated[float | None, typer.Option(
        min=0.001, help="default: the layout's (1 GeV)")] = None,
    energy_max_gev: Annotated[float | None, typer.Option(
        min=0.001, help="default: the layout's (100 GeV)")] = None,
    chunk: Annotated[int, typer.Option(min=1, help="showers per chunk")] = 200,
    workers: Workers = 1,
    executor: ExecutorOpt = "local",
    cluster_config: ClusterCfg = None,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Simulate showers with the reference cascade Monte Carlo into a CaloChallenge HDF5
    file (showers.h5); resumes when re-run."""
    from aihep.fastsim.cascade import CascadeConfig
    from aihep.fastsim.dataset import ShowerDatasetConfig, simulate_dataset

    with progress_bar("showers", showers) as advance:
        geometry = _layout(layout)
        update = {k: 1e3 * v for k, v in (("energy_min_mev", energy_min_gev),
                                          ("energy_max_mev", energy_max_gev)) if v is not None}
        if update:
            geometry = type(geometry).model_validate({**geometry.model_dump(), **update})
        config = ShowerDatasetConfig(layout=geometry, cascade=CascadeConfig(particle=particle),
                                     n_showers=showers, showers_per_chunk=chunk, seed=seed)
        result = simulate_dataset(config, out, executor_config(executor, workers,
                                                               cluster_config), advance, force)
    print_result(result.to_dict(), as_json)


@calo_app.command("gflash")
def calo_gflash(
    reference: Annotated[Path, typer.Argument(help="reference showers to tune on (HDF5)")],
    out: OutDir,
    showers: Showers = 1000,
    layout: LayoutOpt = "ds2",
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Tune GFlash on reference showers and generate new ones (showers.h5, gflash.json)."""
    from aihep.fastsim.gflash import gflash_file

    with user_errors(), stderr_console().status("tuning GFlash"):
        result = gflash_file(reference, _layout(layout), out, showers, seed, force)
    summary = result.to_dict()
    summary.pop("params")
    print_result(summary, as_json)


@calo_app.command("train")
def calo_train(
    kind: Annotated[str, typer.Argument(help="vae | flow-matching | caloflow")],
    reference: Annotated[Path, typer.Argument(help="training showers (CaloChallenge HDF5)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="run directory")],
    layout: LayoutOpt = "ds2",
    epochs: Annotated[int, typer.Option(min=1)] = 60,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    learning_rate: Annotated[float, typer.Option("--lr")] = 1e-3,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Train a generative surrogate conditioned on the incident energy; an interrupted run
    resumes from its checkpoint."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

    from aihep.fastsim.surrogates import SurrogateConfig, train_file

    # the bar is transient: bad input (kind, file) leaves its one error line alone
    with user_errors(), progress_bars(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("loss {task.fields[loss]}"),
                                      transient=True) as bars:
        task = bars.add_task("train", total=None, loss="-")
        config = SurrogateConfig(kind=kind, seed=seed)
        config = config.model_copy(update={"train": config.train.model_copy(update={
            "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate})})
        result = train_file(reference, _layout(layout), out, config,
                            lambda done, total, loss: bars.update(
                                task, completed=done, total=total, loss=f"{loss:.3f}"),
                            force)
    print_result(result.to_dict(), as_json)


@calo_app.command("generate")
def calo_generate(
    run: Annotated[Path, typer.Argument(help="surrogate run directory (aihep calo train)")],
    out: OutDir,
    showers: Showers = 1000,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Generate showers with a trained surrogate (showers.h5)."""
    from aihep.fastsim.surrogates import generate_file

    with user_errors():
        print_result(generate_file(run, out, showers, seed, force).to_dict(), as_json)


@calo_app.command("export")
def calo_export(
    run: Annotated[Path, typer.Argument(help="surrogate run directory (aihep calo train)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output .onnx")],
    batch: Annotated[int, typer.Option(min=1, help="batch size fixed in the graph")] = 1000,
    config_file: ConfigFile = None,
) -> None:
    """Export a surrogate's sampler (energies and noise in, voxels out) to ONNX (needs the
    onnx extra)."""
    from aihep.fastsim.surrogates import export_onnx

    with user_errors():
        try:
            path = export_onnx(run, out, batch)
        except ImportError as error:
            from aihep.errors import ConfigError

            msg = f"ONNX export needs the onnx extra: pip install 'aihep[onnx]' ({error})"
            raise ConfigError(msg) from None
        typer.echo(f"wrote {path}")


@calo_app.command("evaluate")
def calo_evaluate(
    reference: Annotated[Path, typer.Argument(help="reference showers (CaloChallenge HDF5)")],
    generated: Annotated[Path, typer.Argument(help="generated showers (CaloChallenge HDF5)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="where evaluation.json goes")],
    layout: LayoutOpt = "ds2",
    classifier: Annotated[bool, typer.Option(
        help="run the classifier two-sample tests (minutes)")] = True,
    epochs: Annotated[int, typer.Option(min=1, help="classifier epochs at most")] = 30,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Separation powers, classifier AUC/JSD (low and high level), FPD and KPD; writes
    evaluation.json and report.html (average showers, profiles, response)."""
    from aihep.fastsim.evaluate import EvaluationConfig, evaluate_files
    from aihep.fastsim.metrics import ClassifierTestConfig
    from aihep.report.calo import write_calo_report

    with user_errors():
        cls = ClassifierTestConfig()
        cls = cls.model_copy(update={"train": cls.train.model_copy(update={"epochs": epochs})})
        config = EvaluationConfig(classifier=cls, run_classifier=classifier, seed=seed)
        with stderr_console().status("evaluating"):
            result = evaluate_files(reference, generated, _layout(layout), out, config, force,
                                    write_calo_report)
    if as_json:
        print_result(result.to_dict(), as_json)
    else:
        _print_evaluation(result.to_dict(), out)


def _print_evaluation(data: dict, out: Path) -> None:
    """The CaloChallenge metrics as a table for a person (every field: --json)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table("metric", "value", "68% interval / error", box=box.SIMPLE_HEAD,
                  title=f"generated vs reference ({data['n_generated']} vs "
                  f"{data['n_reference']} showers; 0.5 AUC and 0 FPD/KPD: indistinguishable)")
    for level in ("low", "high"):
        test = data.get(f"classifier_{level}")
        if test:
            low, high = test["auc_ci"]
            table.add_row(f"classifier AUC, {level}-level", f"{test['auc']:.3f}",
                          f"{low:.3f} - {high:.3f}")
            table.add_row(f"classifier JSD, {level}-level", f"{test['jsd']:.3f}", "")
    for name in ("fpd", "kpd"):
        table.add_row(name.upper(), f"{data[name]['value']:.3g}",
                      f"+- {data[name]['error']:.2g}")
    powers = sorted(data["separation_power"].items(), key=lambda kv: -kv[1])
    for name, value in powers[:4]:
        table.add_row(f"separation power: {name}", f"{value:.3g}", "")
    console = Console()
    console.print(table)
    for note in data.get("notes", []):
        console.print(f"note: {note}")
    console.print(f"written: {out / 'evaluation.json'}, {out / 'report.html'}")
