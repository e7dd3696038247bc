"""``aihep event``: the event-level multi-task transformer (classification, assignment,
regression, segmentation heads on one body), pretrained and fine-tuned."""

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

event_app = typer.Typer(no_args_is_help=True, help="Event-level multi-task model: one "
                        "transformer body, several heads, pretrained once and fine-tuned.")
PROCESSES = ("ttbar", "ttbar-semileptonic", "tth-bb", "qcd-multijet")


def _parts(data: list[str]) -> list[tuple[Path, str | None]]:
    """``PROCESS=FILE`` or ``unlabelled=FILE`` pairs."""
    from aihep.errors import ConfigError

    parts: list[tuple[Path, str | None]] = []
    for item in data:
        process, sep, path = item.partition("=")
        if not sep or not path:
            msg = f"--data {item}: expected PROCESS=FILE (PROCESS: {', '.join(PROCESSES)} " \
                  "or unlabelled)"
            raise ConfigError(msg)
        parts.append((Path(path), None if process == "unlabelled" else process))
    return parts


@event_app.command("dataset")
def event_dataset(
    process: Annotated[str, typer.Argument(help=" | ".join(PROCESSES))],
    out: OutDir,
    events: Annotated[int, typer.Option("--events", "-n", min=1,
                                        help="selected events")] = 10_000,
    chunk: Annotated[int, typer.Option(min=10, help="generated events per chunk")] = 500,
    workers: Workers = 1,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Generate events of one process with Pythia 8, the detector and R = 0.4 jets (the
    assignment benchmark's objects and b-tag; lepton and missing pT; truth targets)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

    from aihep.assign.data import AssignmentDataConfig, build_assignment_dataset
    from aihep.errors import ConfigError

    with user_errors(), progress_bars(TextColumn(f"{process} events"), BarColumn(),
                                      MofNCompleteColumn(), transient=True) as bars:
        if process not in PROCESSES:
            msg = f"process {process}: expected one of {', '.join(PROCESSES)}"
            raise ConfigError(msg)
        task = bars.add_task("events", total=events)
        config = AssignmentDataConfig(process=process, n_events=events,
                                      events_per_chunk=chunk, seed=seed)
        result = build_assignment_dataset(
            config, out, workers, lambda done, total: bars.update(task, completed=done), force)
    print_result(result.to_dict(), as_json)


@event_app.command("train")
def event_train(
    data: Annotated[list[str], typer.Option(
        "--data", help="PROCESS=FILE, repeatable (PROCESS 'unlabelled': neither label nor "
        "truth used, masked-object reconstruction only)")],
    out: OutDir,
    tasks: Annotated[str, typer.Option(
        help="comma-separated: classification, assignment, regression, segmentation, "
        "reconstruction")] = "classification,assignment,regression,segmentation,reconstruction",
    init: Annotated[Path | None, typer.Option(
        help="a saved event model to fine-tune (its sizes are used)")] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    learning_rate: Annotated[float, typer.Option("--lr", min=0.0)] = 1e-3,
    hidden: Annotated[int, typer.Option(min=8)] = 64,
    layers: Annotated[int, typer.Option(min=1, max=12)] = 4,
    attention: Annotated[Literal["split", "full"], typer.Option(
        help="assignment head: split (SPANet 2) or full (a hidden^3 tensor)")] = "split",
    summary: Annotated[bool, typer.Option(
        help="also read event-level summaries of the objects (counts, HT, masses) as one "
        "more token")] = False,
    hide_fraction: Annotated[float, typer.Option(
        min=0.0, max=0.9, help="share of objects hidden for masked-object reconstruction")]
    = 0.15,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Pretrain (several processes, any tasks) or fine-tune (--init) the event transformer;
    saves model.pt and a model card; an interrupted run resumes from its checkpoint."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

    from aihep.eventmodel.files import train_files
    from aihep.eventmodel.model import EventModelConfig
    from aihep.eventmodel.run import EventTrainConfig
    from aihep.nn.train import TrainConfig

    with user_errors(), progress_bars(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn("loss {task.fields[loss]}"),
                                      transient=True) as bars:
        task = bars.add_task("train", total=None, loss="-")
        config = EventTrainConfig(
            model=EventModelConfig(hidden=hidden, layers=layers, attention=attention,
                                   summary=summary, seed=seed),
            train=TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                              patience=5, seed=seed), hide_fraction=hide_fraction)
        result = train_files(_parts(data), out, config, init,
                             [t.strip() for t in tasks.split(",") if t.strip()],
                             lambda done, total, loss: bars.update(
                                 task, completed=done, total=total, loss=f"{loss:.3f}"), force)
    print_result(result.to_dict(), as_json)


@event_app.command("evaluate")
def event_evaluate(
    run: Annotated[Path, typer.Argument(help="a saved event model (aihep event train)")],
    data: Annotated[Path, typer.Argument(help="events of one process (aihep or SPANet HDF5)")],
    out: OutDir,
    process: Annotated[str, typer.Option(help="the process of the events: "
                                         + " | ".join(PROCESSES))] = "ttbar",
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Classification, assignment efficiencies, regression resolutions [GeV] and the
    segmentation accuracy on one file; writes evaluation.json and probabilities.npz."""
    from aihep.eventmodel.files import evaluate_file

    with user_errors():
        result = evaluate_file(run, data, process, out, force)
    print_result(result.to_dict(), as_json)
