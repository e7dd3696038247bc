"""An MCP server (Model Context Protocol, the ``mcp`` SDK) exposing aihep's agent tools.

Every tool of the registry is listed with its JSON schema; every call goes through the same
:class:`~aihep.agent.runner.ToolRunner` as ``aihep agent run``: argument validation, the
policy (refusals are returned to the client as tool errors and recorded), monitored jobs,
and the hash-chained provenance record in the policy's run directory (``aihep agent verify``
checks it); calls from several clients run one at a time, so the record stays one chain.
The expert registry's model cards are resources (``aihep://models/<name>``).

    server = build_server(ToolRunner(default_registry(), policy))
    anyio.run(serve_stdio, server)          # or serve_http(server, "127.0.0.1", 8765)
"""

from __future__ import annotations

import json
import threading
from typing import Any

from aihep.agent.runner import ToolRunner

ACTOR = "mcp-client"
CARD_PREFIX = "aihep://models/"


def build_server(runner: ToolRunner, registry_root: Any = None) -> Any:
    """A low-level MCP ``Server`` whose tools are the runner's registry."""
    import anyio
    import mcp_types as types
    from mcp.server.lowlevel import Server

    from aihep import __version__
    from aihep.workflow.models import ModelRegistry

    models = ModelRegistry(registry_root)
    lock = threading.Lock()  # one call at a time: the provenance record is a single chain

    def call(name: str, arguments: dict[str, Any]) -> Any:
        with lock:
            return runner.call(name, arguments, ACTOR)

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=[
            types.Tool(name=t.name, description=t.description,
                       input_schema=t.arguments.model_json_schema())
            for t in runner.registry.tools.values()])

    async def call_tool(ctx: Any, params: Any) -> Any:
        result = await anyio.to_thread.run_sync(call, params.name, params.arguments or {})
        payload = {"status": result.status, "output": result.output,
                   "message": result.message, "reused": result.reused}
        text = json.dumps(payload, default=str)
        return types.CallToolResult(content=[types.TextContent(text=text)],
                                    structured_content=json.loads(text),
                                    is_error=result.status != "ok")

    async def list_resources(ctx: Any, params: Any) -> Any:
        return types.ListResourcesResult(resources=[
            types.Resource(uri=f"{CARD_PREFIX}{c.name}", name=c.name,
                           description=f"model card: {c.task} ({c.area}, {c.input_schema})",
                           mime_type="application/json") for c in models.cards()])

    async def read_resource(ctx: Any, params: Any) -> Any:
        uri = str(params.uri)
        if not uri.startswith(CARD_PREFIX):
            msg = f"unknown resource {uri}; model cards are {CARD_PREFIX}<name>"
            raise ValueError(msg)
        card = models.show(uri[len(CARD_PREFIX):])
        return types.ReadResourceResult(contents=[types.TextResourceContents(
            uri=uri, mime_type="application/json",
            text=json.dumps(card.model_dump(mode="json"), indent=1))])

    return Server("aihep", version=__version__,
                  instructions="aihep: HEP AI methods as typed tools. Every call is checked "
                  "against the run's policy and recorded in a hash-chained provenance file.",
                  on_list_tools=list_tools, on_call_tool=call_tool,
                  on_list_resources=list_resources, on_read_resource=read_resource)


async def serve_stdio(server: Any) -> None:
    """Serve one client over stdin/stdout."""
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def serve_http(server: Any, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve streamable HTTP at http://host:port/mcp (localhost only by default)."""
    import uvicorn

    app = server.streamable_http_app(host=host)
    uvicorn.run(app, host=host, port=port, log_level="warning")
