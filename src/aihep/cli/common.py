"""Helpers shared by the command modules: common options, one-line errors, printing."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
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
AsJson = Annotated[bool, typer.Option("--json", help="print the result as JSON")]


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
