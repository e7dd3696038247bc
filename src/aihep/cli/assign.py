"""``aihep assign``: jet-parton assignment in all-hadronic ttbar (SPANet-style network and the
chi2 permutation baseline)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

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

assign_app = typer.Typer(no_args_is_help=True, help="Jet-parton assignment: which jets come "
                         "from which top quark.")
DataArg = Annotated[Path, typer.Argument(help="events (aihep or SPANet HDF5 layout)")]
MethodOpt = Annotated[str, typer.Option(help="aihep-spanet | chi2")]
RunOpt = Annotated[Path | None, typer.Option(help="trained run (aihep-spanet)")]
TrainDataOpt = Annotated[Path | None, typer.Option(
    help="training events to fit the chi2 masses on")]


@assign_app.command("dataset")
def assign_dataset(
    out: OutDir,
    events: Annotated[int, typer.Option("--events", "-n", min=1,
                                        help="selected events (>= 6 jets, >= 2 b-tags)")]
    = 10_000,
    chunk: Annotated[int, typer.Option(min=10, help="generated events per chunk")] = 500,
    workers: Workers = 1,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Generate all-hadronic ttbar events with Pythia 8, the detector and R = 0.4 jets, with
    truth parton-jet matching; writes events.h5 and spanet.h5 (resumes when re-run)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

    from aihep.assign.data import AssignmentDataConfig, build_assignment_dataset

    with user_errors(), progress_bars(TextColumn("selected events"), BarColumn(),
                                      MofNCompleteColumn(), transient=True) as bars:
        task = bars.add_task("events", total=events)
        config = AssignmentDataConfig(n_events=events, events_per_chunk=chunk, seed=seed)
        result = build_assignment_dataset(
            config, out, workers, lambda done, total: bars.update(task, completed=done), force)
    print_result(result.to_dict(), as_json)


@assign_app.command("train")
def assign_train(
    data: DataArg,
    out: OutDir,
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    learning_rate: Annotated[float, typer.Option("--lr", min=0.0)] = 1e-3,
    hidden: Annotated[int, typer.Option(min=8)] = 64,
    layers: Annotated[int, typer.Option(min=1, max=12)] = 4,
    attention: Annotated[Literal["split", "full"], typer.Option(
        help="split: a linear map per daughter (SPANet 2); full: a hidden^3 tensor")] = "split",
    embed_layers: Annotated[int, typer.Option(min=1, max=16,
                                              help="jet embedding: 1 + residual blocks")] = 2,
    kinematic: Annotated[bool, typer.Option(
        "--kinematic/--plain", help="pair-feature attention bias and a learned W/top-mass "
        "term per triplet (default), or plain SPANet")] = True,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Train the SPANet-style network; an interrupted run resumes from its checkpoint."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

    from aihep.assign.model import AssignmentModelConfig
    from aihep.assign.run import AssignTrainConfig, train_file
    from aihep.nn.train import TrainConfig

    with user_errors(), progress_bars(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("loss {task.fields[loss]}"),
                                      transient=True) as bars:
        task = bars.add_task("train", total=None, loss="-")
        config = AssignTrainConfig(
            model=AssignmentModelConfig(hidden=hidden, layers=layers, attention=attention,
                                        embed_layers=embed_layers,
                                        kinematic_features=kinematic, seed=seed),
            train=TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                              patience=5, seed=seed))
        result = train_file(data, out, config, lambda done, total, loss: bars.update(
            task, completed=done, total=total, loss=f"{loss:.3f}"), force)
    print_result(result.to_dict(), as_json)


def _method_command(what: Literal["evaluate", "predict"], doc: str) -> None:
    """Register ``aihep assign evaluate`` or ``predict``: the same options, one body."""

    def command(
        data: DataArg,
        out: OutDir,
        method: MethodOpt = "aihep-spanet",
        run: RunOpt = None,
        train_data: TrainDataOpt = None,
        force: Force = False,
        as_json: AsJson = False,
        config_file: ConfigFile = None,
    ) -> None:
        _apply(what, data, out, method, run, train_data, force, as_json)

    command.__doc__ = doc
    command.__name__ = f"assign_{what}"
    assign_app.command(what)(command)


_method_command("evaluate", "Event and top efficiencies (by 6 / 7 / >= 8 jets, matched and all "
                "events) and the inference speed of a method on events with truth targets; "
                "writes evaluation.json and report.html (efficiencies against the number of "
                "jets, masses of right and wrong tops).")
_method_command("predict", "Assign the jets of every event (no truth needed): writes "
                "assignments.h5 (SPANet's layout: predicted jet per parton, detection "
                "probabilities, reconstructed top and W masses), prediction.json and "
                "report.html.")


def _apply(what: Literal["evaluate", "predict"], data: Path, out: Path, method: str,
           run: Path | None, train_data: Path | None, force: bool, as_json: bool) -> None:
    """Evaluate or predict with a method, with its report."""
    from aihep.assign.run import METHODS, evaluate_file, predict_file
    from aihep.errors import ConfigError
    from aihep.report.assign import write_assign_report

    with user_errors():
        if method not in METHODS:
            msg = f"--method {method}: expected one of {', '.join(METHODS)}"
            raise ConfigError(msg)
        function = evaluate_file if what == "evaluate" else predict_file
        result = function(data, out, method, run, train_data,  # type: ignore[arg-type]
                          force, write_assign_report)
    print_result(result.to_dict(), as_json)
