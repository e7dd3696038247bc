"""``aihep mcp serve``: aihep's agent tools over the Model Context Protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aihep.cli.common import stderr_console, user_errors

mcp_app = typer.Typer(no_args_is_help=True, help="Serve aihep's tools to MCP clients "
                      "(stdio or streamable HTTP on localhost), under a policy, with "
                      "provenance.")


@mcp_app.command("serve")
def mcp_serve(
    run_dir: Annotated[Path, typer.Option(help="the one writable directory; the provenance "
                                          "record is kept there")] = Path("runs/mcp"),
    policy: Annotated[Path | None, typer.Option(
        help="policy YAML (allowed tools, read paths, limits); its run_dir is used")] = None,
    transport: Annotated[str, typer.Option(help="stdio | http")] = "stdio",
    host: Annotated[str, typer.Option(help="http: address to bind (localhost)")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8765,
    inline: Annotated[bool, typer.Option(
        help="run tools in this process instead of monitored child jobs")] = False,
) -> None:
    """Serve every agent tool with its JSON schema; calls are validated, checked against
    the policy (refusals are returned as tool errors and recorded) and recorded in
    RUN_DIR/provenance.jsonl (check it with `aihep agent verify RUN_DIR`)."""
    import anyio

    from aihep.agent.jobs import JobConfig
    from aihep.agent.mcp import build_server, serve_http, serve_stdio
    from aihep.agent.policy import Policy
    from aihep.agent.registry import default_registry
    from aihep.agent.runner import ToolRunner
    from aihep.errors import ConfigError

    with user_errors():
        if transport not in ("stdio", "http"):
            msg = f"--transport {transport}: expected stdio or http"
            raise ConfigError(msg)
        rules = Policy.from_file(policy) if policy is not None else Policy(run_dir=run_dir)
        runner = ToolRunner(default_registry(), rules,
                            JobConfig(kind="inline") if inline else None)
        server = build_server(runner)
    stderr_console().print(f"aihep MCP server ({transport}); provenance in "
                           f"{rules.run_dir / 'provenance.jsonl'}")
    if transport == "stdio":
        anyio.run(serve_stdio, server)
    else:
        serve_http(server, host, port)
