"""``aihep tag``: train, evaluate, apply and export jet taggers (thin wrappers)."""

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
    progress_bars,
    user_errors,
)

tag_app = typer.Typer(no_args_is_help=True, help="Jet tagging: train, evaluate, predict, "
                      "export (ParticleNet, ParT, PFN, BDT).")

Data = Annotated[Path, typer.Argument(help="jets: .parquet (aihep), .root (JetClass) or .h5 "
                                      "(Top Tagging landscape)")]
Run = Annotated[Path, typer.Argument(help="a run directory of aihep tag train")]


@tag_app.command("dataset")
def tag_dataset(
    kind: Annotated[str, typer.Argument(help="jetclass (10 classes) | top | flavour "
                                        "(b/c/light) | ee-origin (11 labels)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output directory")],
    jets_per_class: Annotated[int, typer.Option(min=1)] = 1000,
    events_per_chunk: Annotated[int, typer.Option(min=10)] = 500,
    workers: Workers = 1,
    executor: ExecutorOpt = "local",
    cluster_config: ClusterCfg = None,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Generate a tagging dataset with Pythia 8 + FastJet (resumes when re-run)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from aihep.tagging.generate import TagDatasetConfig, build_tag_dataset

    with user_errors(), progress_bars(TextColumn("jets in the smallest class"), BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn()) as bars:
        task = bars.add_task("dataset", total=jets_per_class)

        def progress(done: int, total: int) -> None:
            bars.update(task, completed=min(done, total), total=total)

        config = TagDatasetConfig(kind=kind, jets_per_class=jets_per_class,
                                  events_per_chunk=events_per_chunk, seed=seed)
        engine = executor_config(executor, workers, cluster_config)
        jets = build_tag_dataset(config, out, workers, progress, engine, force)
    import numpy as np

    counts = np.bincount(jets.labels, minlength=len(jets.classes))
    print_result({"out": str(out / "jets.parquet"), "jets": len(jets),
                  "per_class": dict(zip(jets.classes, counts.tolist(), strict=True))}, as_json)


@tag_app.command("train")
def tag_train(
    model: Annotated[str, typer.Argument(help="pfn | pfn-lite | particlenet | "
                                         "particlenet-lite | part | part-lite | bdt")],
    data: Data,
    out: Annotated[Path, typer.Option("--out", "-o", help="run directory")],
    features: Annotated[str, typer.Option(help="kin | kinpid | full | full_hid")] = "kin",
    max_particles: Annotated[int, typer.Option(help="particles per jet", min=1)] = 128,
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    patience: Annotated[int, typer.Option(
        min=1, help="stop after this many epochs without validation improvement")] = 5,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    learning_rate: Annotated[float, typer.Option("--lr")] = 1e-3,
    max_jets: Annotated[int | None, typer.Option(help="read at most this many jets")] = None,
    seed: Seed = DEFAULT_SEED,
    force: Force = False,
    as_json: AsJson = False,
    config_file: ConfigFile = None,
) -> None:
    """Train a tagger; an interrupted run resumes from its checkpoint when re-run."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    from aihep.tagging.tagger import TaggerConfig, train_from_file

    with user_errors(), progress_bars(
            TextColumn("training"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn()) as bars:
        task = bars.add_task("train", total=None, loss="-")

        def progress(done: int, total: int, loss: float) -> None:
            bars.update(task, completed=done, total=total, loss=f"{loss:.4f}")

        config = TaggerConfig(model=model, feature_set=features, max_particles=max_particles,
                              seed=seed)
        config = config.model_copy(update={"train": config.train.model_copy(update={
            "epochs": epochs, "patience": patience, "batch_size": batch_size,
            "learning_rate": learning_rate})})
        result = train_from_file(data, out, config, max_jets, progress, force).to_dict()
    result["validation"] = {k: result["validation"][k] for k in ("accuracy", "macro_auc",
                                                                 "auc")}
    print_result(result, as_json)


@tag_app.command("evaluate")
def tag_evaluate(run: Run, data: Data,
                 out: Annotated[Path | None, typer.Option(
                     "--out", "-o", help="where evaluation.json/.html go (default: RUN)")] = None,
                 max_jets: Annotated[int | None, typer.Option()] = None,
                 as_json: AsJson = False, config_file: ConfigFile = None) -> None:
    """Accuracy, AUCs, background rejections and confusion matrix; writes an HTML report."""
    from aihep.report.tagging import write_tagger_report
    from aihep.tagging.tagger import evaluate_file

    with user_errors():
        print_result(evaluate_file(run, data, out or run, max_jets, write_tagger_report),
                     as_json)


@tag_app.command("predict")
def tag_predict(run: Run, data: Data,
                out: Annotated[Path, typer.Option("--out", "-o", help="output .parquet")],
                max_jets: Annotated[int | None, typer.Option()] = None,
                force: Annotated[bool, typer.Option("--force", help="replace an existing "
                                                    "--out file")] = False,
                config_file: ConfigFile = None) -> None:
    """Add score_<class> fields to a jet set and write it as Parquet."""
    from aihep.tagging.tagger import predict_file

    with user_errors():
        result = predict_file(run, data, out, max_jets, force)
        typer.echo(f"wrote {result['n_jets']} jets with scores to {out}")


@tag_app.command("export")
def tag_export(run: Run, out: Annotated[Path, typer.Option("--out", "-o",
                                                           help="output .onnx")],
               config_file: ConfigFile = None) -> None:
    """Export a trained network to ONNX (needs the onnx extra)."""
    from aihep.tagging.tagger import export_onnx

    with user_errors():
        try:
            path = export_onnx(run, out)
        except ImportError as error:
            from aihep.errors import ConfigError

            msg = f"ONNX export needs the onnx extra: pip install 'aihep[onnx]' ({error})"
            raise ConfigError(msg) from None
        typer.echo(f"wrote {path}")
