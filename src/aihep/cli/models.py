"""``aihep models``: the local registry of trained expert models and their cards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aihep.cli.common import AsJson, print_result, user_errors

models_app = typer.Typer(no_args_is_help=True, help="Registered expert models (taggers, "
                         "reco GNNs, fast-simulation surrogates, event models, PID and tau "
                         "models) with model cards.")
Root = Annotated[Path | None, typer.Option("--registry", help="registry directory (default "
                                           "$AIHEP_MODELS or ~/.cache/aihep/models/registry)")]


@models_app.command("list")
def models_list(
    task: Annotated[str | None, typer.Option(help="only models whose task contains this")]
    = None,
    input_schema: Annotated[str | None, typer.Option(help="only this input schema")] = None,
    area: Annotated[str | None, typer.Option(help="only this area")] = None,
    registry: Root = None,
    as_json: AsJson = False,
) -> None:
    """List registered models (latest versions)."""
    from aihep.workflow.models import ModelRegistry

    with user_errors():
        cards = ModelRegistry(registry).find(task, input_schema, area)
    rows = [{"name": c.name, "version": c.version, "area": c.area, "task": c.task,
             "input_schema": c.input_schema} for c in cards]
    if as_json:
        print_result({"models": rows}, True)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "version", "area", "task", "input schema")
    for r in rows:
        table.add_row(*(str(r[k]) for k in ("name", "version", "area", "task", "input_schema")))
    Console().print(table)


@models_app.command("show")
def models_show(
    name: Annotated[str, typer.Argument(help="registered model name")],
    version: Annotated[int | None, typer.Option(min=1)] = None,
    registry: Root = None,
    as_json: AsJson = False,
) -> None:
    """Show a model card."""
    from aihep.workflow.models import ModelRegistry

    with user_errors():
        card = ModelRegistry(registry).show(name, version)
    print_result(card.model_dump(mode="json"), as_json)


@models_app.command("register")
def models_register(
    run: Annotated[Path, typer.Argument(help="a trained run directory (with manifest.json)")],
    name: Annotated[str, typer.Option(help="registry name (a-z, 0-9, -, _, .)")],
    task: Annotated[str | None, typer.Option(help="task (default: the area's)")] = None,
    metrics: Annotated[Path | None, typer.Option(
        help="JSON file of metrics to put on the card (e.g. from a benchmark)")] = None,
    benchmark_commit: Annotated[str | None, typer.Option(
        help="commit of the benchmark that measured the metrics")] = None,
    intended_use: Annotated[str | None, typer.Option()] = None,
    limits: Annotated[str | None, typer.Option()] = None,
    licence: Annotated[str | None, typer.Option()] = None,
    registry: Root = None,
    as_json: AsJson = False,
) -> None:
    """Register a trained run: its card is made from the run's manifest (training data
    with hashes, configuration, validation metrics) and the area's template."""
    import json

    from aihep.agent.experts import card_from_run
    from aihep.errors import InputError
    from aihep.workflow.models import ModelRegistry

    with user_errors():
        extra = {}
        if metrics is not None:
            try:
                extra = json.loads(metrics.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise InputError(metrics, "file", f"a JSON object of metrics ({exc})") from None
            if not isinstance(extra, dict):
                raise InputError(metrics, "file", "a JSON object of metrics")
        card = card_from_run(run, name, task, extra, benchmark_commit)
        updates = {k: v for k, v in (("intended_use", intended_use), ("limits", limits),
                                     ("licence", licence)) if v is not None}
        stored = ModelRegistry(registry).register(run, card.model_copy(update=updates))
    print_result(stored.model_dump(mode="json", exclude={"run_config"}), as_json)


@models_app.command("remove")
def models_remove(
    name: Annotated[str, typer.Argument()],
    version: Annotated[int | None, typer.Option(min=1, help="default: every version")] = None,
    registry: Root = None,
    as_json: AsJson = False,
) -> None:
    """Remove a registered model (one version or all)."""
    from aihep.workflow.models import ModelRegistry

    with user_errors():
        removed = ModelRegistry(registry).remove(name, version)
    print_result({"removed": name, "versions": removed}, as_json)
