"""``aihep tag``: train, evaluate, apply and export jet taggers (thin wrappers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from aihep.cli.common import AsJson, Seed, print_result, user_errors

tag_app = typer.Typer(no_args_is_help=True, help="Jet tagging: train, evaluate, predict, "
                      "export (ParticleNet, ParT, PFN, BDT).")

Data = Annotated[Path, typer.Argument(help="jets: .parquet (aihep), .root (JetClass) or .h5 "
                                      "(Top Tagging landscape)")]
Run = Annotated[Path, typer.Argument(help="a run directory of aihep tag train")]


def _load(path: Path, max_jets: int | None = None) -> Any:
    from aihep.tagging.data import read_jets

    return read_jets(path, max_jets)


@tag_app.command("train")
def tag_train(
    model: Annotated[str, typer.Argument(help="pfn | pfn-lite | particlenet | "
                                         "particlenet-lite | part | part-lite | bdt")],
    data: Data,
    out: Annotated[Path, typer.Option("--out", "-o", help="run directory")],
    features: Annotated[str, typer.Option(help="kin | kinpid | full | full_hid")] = "kin",
    max_particles: Annotated[int, typer.Option(help="particles per jet", min=1)] = 128,
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    learning_rate: Annotated[float, typer.Option("--lr")] = 1e-3,
    max_jets: Annotated[int | None, typer.Option(help="read at most this many jets")] = None,
    seed: Seed = 0,
    as_json: AsJson = False,
) -> None:
    """Train a tagger; an interrupted run resumes from its checkpoint when re-run."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from aihep.nn.train import TrainConfig
    from aihep.tagging.tagger import TaggerConfig, train_tagger

    with user_errors():
        jets = _load(data, max_jets)
        config = TaggerConfig(model=model, feature_set=features, max_particles=max_particles,
                              seed=seed, train=TrainConfig(
                                  epochs=epochs, batch_size=batch_size,
                                  learning_rate=learning_rate, weight_decay=0.01, patience=5))
        with Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn()) as bars:
            task = bars.add_task("train", total=None, loss="-")

            def progress(done: int, total: int, loss: float) -> None:
                bars.update(task, completed=done, total=total, loss=f"{loss:.4f}")

            run = train_tagger(jets, out, config, progress=progress, inputs=[data])
        result = run.to_dict()
        result["validation"] = {k: result["validation"][k] for k in ("accuracy", "macro_auc",
                                                                     "auc")}
        print_result(result, as_json)


@tag_app.command("evaluate")
def tag_evaluate(run: Run, data: Data,
                 out: Annotated[Path | None, typer.Option(
                     "--out", "-o", help="where evaluation.json/.html go (default: RUN)")] = None,
                 max_jets: Annotated[int | None, typer.Option()] = None,
                 as_json: AsJson = False) -> None:
    """Accuracy, AUCs, background rejections and confusion matrix; writes an HTML report."""
    from aihep.tagging.tagger import evaluate_tagger

    with user_errors():
        metrics = evaluate_tagger(run, _load(data, max_jets), out or run)
        summary = metrics.to_dict()
        summary.pop("confusion")
        print_result(summary, as_json)


@tag_app.command("predict")
def tag_predict(run: Run, data: Data,
                out: Annotated[Path, typer.Option("--out", "-o", help="output .parquet")],
                max_jets: Annotated[int | None, typer.Option()] = None) -> None:
    """Add score_<class> fields to a jet set and write it as Parquet."""
    from aihep.tagging.data import save_jets
    from aihep.tagging.tagger import predict_jets

    with user_errors():
        jets = predict_jets(run, _load(data, max_jets))
        save_jets(jets, out)
        typer.echo(f"wrote {len(jets)} jets with scores to {out}")


@tag_app.command("export")
def tag_export(run: Run, out: Annotated[Path, typer.Option("--out", "-o",
                                                           help="output .onnx")]) -> None:
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
