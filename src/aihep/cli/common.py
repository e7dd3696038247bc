"""Helpers shared by the command modules: common options, one-line errors, printing."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

Seed = Annotated[int, typer.Option("--seed", help="master random seed", min=0)]
Workers = Annotated[int, typer.Option("--workers", "-j", help="parallel workers", min=1)]
ExecutorOpt = Annotated[str, typer.Option(
    "--executor", help="local (processes) | dask-local | slurm | htcondor | serial")]
ClusterCfg = Annotated[Path | None, typer.Option(
    "--cluster-config", help="YAML of dask-jobqueue cluster options (queue, cores, memory...)")]
OutDir = Annotated[Path, typer.Option("--out", "-o", help="output directory")]
AsJson = Annotated[bool, typer.Option("--json", help="print the result as JSON")]
Force = Annotated[bool, typer.Option(
    "--force", help="write into --out even if it holds another command's results")]


def _config_file(ctx: typer.Context, param: Any, value: Path | None) -> Path | None:
    """Eager ``--config`` callback: the YAML's values become the command's defaults, so a
    flag given on the command line overrides them (click's ``default_map``)."""
    if value is None or ctx.resilient_parsing:
        return value
    import yaml

    try:
        data = yaml.safe_load(Path(value).read_text())
    except OSError as exc:
        fail(f"{value}: cannot read the config file ({exc.strerror or exc})")
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        fail(f"{value}:{line} not valid YAML; expected a mapping of option names to values")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        fail(f"{value}: expected a mapping of option names to values (e.g. 'seed: 3')")
    names = {p.name for p in ctx.command.params if p.name and p.name != param.name}
    values = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(values) - names)
    if unknown:
        fail(f"{value}: field '{unknown[0]}' is not an option of this command; expected one "
             f"of {', '.join(sorted(n.replace('_', '-') for n in names))}")
    ctx.default_map = {**(ctx.default_map or {}), **values}
    return value


ConfigFile = Annotated[Path | None, typer.Option(
    "--config", help="YAML file of option values (option names as keys); flags given on the "
    "command line override it", callback=_config_file, is_eager=True)]


def fail(message: str, status: int = 2) -> None:
    """Print one ``error:`` line on stderr and exit (2: bad input; 1: the job failed)."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False,
                               soft_wrap=True)
    raise typer.Exit(status)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn aihep and validation errors into one line on stderr and exit status 2."""
    from pydantic import ValidationError

    from aihep.errors import AihepError

    try:
        yield
    except AihepError as exc:
        fail(str(exc))
    except ValidationError as exc:
        parts = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
        fail("; ".join(parts))
    except KeyboardInterrupt:
        fail("interrupted: completed chunks are kept; re-run the same command to resume")


def print_result(result: dict[str, Any], as_json: bool) -> None:
    from rich.console import Console
    from rich.pretty import Pretty

    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    else:
        Console().print(Pretty(result))


def stderr_console() -> Any:
    """A rich console on stderr: progress bars never mix with --json output on stdout."""
    from rich.console import Console

    return Console(stderr=True)


def progress_bars(*columns: Any, **options: Any) -> Any:
    """A rich ``Progress`` on stderr that erases itself when the command fails, so a user
    mistake leaves the one ``error:`` line and no half-drawn bar."""
    from rich.progress import Progress

    class _Bars(Progress):
        def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
            if exc_type is None:
                super().__exit__(exc_type, exc, traceback)
                return
            # erase the bar; skip Progress.stop's blank line on non-terminals
            self.live.transient = True
            self.live.stop()

    options.setdefault("console", stderr_console())
    return _Bars(*columns, **options)


def executor_config(kind: str, workers: int, cluster_config: Path | None) -> Any:
    """The ExecutorConfig of --executor, --workers and --cluster-config (a YAML mapping)."""
    import yaml

    from aihep.errors import InputError
    from aihep.workflow.executor import ExecutorConfig

    options: dict[str, Any] = {}
    if cluster_config is not None:
        try:
            options = yaml.safe_load(cluster_config.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(cluster_config, "file", f"a readable YAML mapping ({exc})") from None
        if not isinstance(options, dict):
            raise InputError(cluster_config, "top level", "a mapping of cluster options")
    return ExecutorConfig(kind=kind, workers=workers, cluster=options)


@contextmanager
def progress_bar(label: str, total: int | None = None) -> Iterator[Callable[..., None]]:
    """A rich progress bar on stderr inside :func:`user_errors`; yields
    ``update(done, total, *ignored)``."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    with user_errors(), progress_bars(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                                      TimeRemainingColumn()) as progress:
        task = progress.add_task(label, total=total)
        yield lambda done, total, *_: progress.update(task, completed=done, total=total)


@contextmanager
def agent_progress() -> Iterator[Any]:
    """A live line on stderr for agent runs: step, tool, methods, the running hunt's last
    finished trial (read from its ``.progress.json``: hunts run in child processes) and the
    elapsed time. Yields the orchestrator's ``progress`` callback."""
    import json
    import threading

    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    state: dict[str, Any] = {"info": None}
    stop = threading.Event()
    with progress_bars(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                       transient=False) as bars:
        task = bars.add_task("agent: planning", total=None)

        def describe() -> str:
            info = state["info"]
            if info is None:
                return "agent: planning"
            text = f"step {info['step']}: {info['tool']}"
            if info.get("methods"):
                text += f" ({', '.join(info['methods'])})"
            if info.get("status"):
                return text + f" -> {info['status']}"
            if info.get("out"):
                try:
                    trial = json.loads((Path(info["out"]) / ".progress.json").read_text())
                    text += f", {trial['what']} [{trial['done']}/{trial['total']}]"
                except (OSError, ValueError, KeyError, TypeError):
                    pass
            return text

        def poll() -> None:
            while not stop.wait(0.5):
                bars.update(task, description=describe())

        def update(info: dict[str, Any]) -> None:
            state["info"] = info
            bars.update(task, description=describe())
            if info.get("status"):
                bars.console.print(f"  {describe()}", highlight=False)

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        try:
            yield update
        finally:
            stop.set()
            thread.join(timeout=2)
            bars.update(task, description="agent: done")


def quiet_warnings(verbose: bool) -> None:
    """Keep library warnings (scikit-learn, torch, ...) off the terminal unless ``verbose``;
    child processes (jobs, workers) inherit the choice through PYTHONWARNINGS."""
    import os
    import warnings

    if verbose:
        return
    warnings.filterwarnings("ignore")
    os.environ["PYTHONWARNINGS"] = "ignore"
