"""`firebrick mcp`: serve the scanner to coding assistants over MCP (see firebrick.mcp_server)."""

from __future__ import annotations

import os
import sys
from typing import Any

import click


@click.command("mcp", short_help="Serve firebrick to coding assistants (Model Context Protocol).")
@click.option(
    "--http",
    "use_http",
    is_flag=True,
    help="Streamable HTTP on loopback instead of stdio (needs a bearer token).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to bind.")
@click.option("--port", type=int, default=8765, show_default=True, help="HTTP port (0: any).")
@click.option(
    "--token",
    default=None,
    envvar="FIREBRICK_MCP_TOKEN",
    help="Bearer token HTTP clients must send [env FIREBRICK_MCP_TOKEN; default: a new random one, printed once].",
)
@click.option(
    "--store",
    "store_path",
    default=None,
    envvar="FIREBRICK_STORE",
    type=click.Path(dir_okay=False),
    help="History store [default: the CLI's; env FIREBRICK_STORE].",
)
@click.option(
    "--allow-network",
    "allow_networks",
    multiple=True,
    metavar="CIDR",
    help="HTTP only: also scan targets in this network (internal targets are refused by default).",
)
@click.option(
    "--source-root",
    default=None,
    type=click.Path(file_okay=False),
    help="HTTP only: scan_source may read under this folder (nothing otherwise).",
)
@click.option(
    "--server",
    default=None,
    envvar="FIREBRICK_SERVER",
    metavar="URL",
    help="Run scans on this `firebrick serve` and read scans from it, instead of the local engine and store [env FIREBRICK_SERVER].",
)
@click.option(
    "--api-key",
    default=None,
    envvar="FIREBRICK_API_KEY",
    metavar="KEY",
    help="API key for --server (prefer env FIREBRICK_API_KEY). Never printed.",
)
def mcp(
    use_http: bool,
    host: str,
    port: int,
    token: str | None,
    store_path: str | None,
    allow_networks: tuple[str, ...],
    source_root: str | None,
    server: str | None = None,
    api_key: str | None = None,
) -> None:
    """Serve the scanner over the Model Context Protocol.

    \b
    stdio (default): for an assistant that starts firebrick itself, e.g.
      {"command": "firebrick", "args": ["mcp"]}
    --http: streamable HTTP at http://127.0.0.1:PORT/mcp, loopback only, Host and Origin
    checked (DNS-rebinding protection), bearer token required, internal targets refused unless
    --allow-network says otherwise.
    """
    from firebrick.mcp_server import build_server, check_loopback, new_token, serve_http
    from firebrick.target_policy import TargetPolicy, parse_networks

    backend = None
    if server:  # scans run on a `firebrick serve`; its key is checked before we serve
        import asyncio  # on use: `firebrick --help` does not import it

        from firebrick.mcp_server import RemoteBackend

        backend = RemoteBackend(server, api_key or "")
        asyncio.run(_check_server(backend))
        os.environ.pop("FIREBRICK_API_KEY", None)  # never handed to anything we start
    if not use_http:
        mcp_server = build_server(store_path=store_path, backend=backend)
        import asyncio  # on use: `firebrick --help` does not import it

        asyncio.run(mcp_server.run_stdio_async())
        return
    check_loopback(host)
    policy = TargetPolicy(parse_networks(allow_networks))
    if not token:
        token = new_token()
        print(f"firebrick mcp: bearer token {token}", file=sys.stderr, flush=True)
    elif len(token) < 16:
        from firebrick.errors import UsageError

        raise UsageError("--token must be at least 16 characters")
    os.environ.pop("FIREBRICK_MCP_TOKEN", None)  # never handed to anything we start
    mcp_server = build_server(
        store_path=store_path,
        policy=policy,
        source_root=source_root,
        remote=True,
        port=port,
        backend=backend,
    )
    try:
        import asyncio  # on use: `firebrick --help` does not import it

        asyncio.run(serve_http(mcp_server, host, port, token))
    except OSError as exc:
        from firebrick.errors import UsageError

        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        pass


async def _check_server(backend: Any) -> None:
    """GET /api/v1/me: a wrong URL or key is one line and exit 3 now, not at the first tool call."""
    try:
        await backend.client.me()
    finally:
        await backend.client.aclose()  # the tools open their own connections in the server's loop
