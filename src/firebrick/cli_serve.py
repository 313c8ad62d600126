"""`firebrick serve`: the scanning service (see firebrick.server and docs/server.md)."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from pathlib import Path

import click


def default_database() -> str:
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'firebrick' / 'server.sqlite'}"


@click.command("serve", short_help="Run the scanning service: REST API, dashboard, monitors.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=int, default=8080, show_default=True, help="Port (0: any free one).")
@click.option(
    "--database",
    default=None,
    envvar="FIREBRICK_DATABASE",
    help="sqlite:///PATH or postgresql://… [default: ~/.local/share/firebrick/server.sqlite; env FIREBRICK_DATABASE].",
)
@click.option(
    "--allow-network",
    "allow_networks",
    multiple=True,
    metavar="CIDR",
    help="Also scan (and deliver webhooks to) this internal network; non-global targets are refused otherwise.",
)
@click.option("--workers", type=int, default=2, show_default=True, help="Scans run at once.")
@click.option(
    "--monitor-tick",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds between monitor checks.",
)
@click.option(
    "--webhook-backoff",
    type=float,
    default=2.0,
    show_default=True,
    help="First webhook retry delay, seconds (doubles per attempt, with jitter).",
)
@click.option(
    "--broker",
    default=None,
    envvar="FIREBRICK_BROKER",
    help="Run scans on the fleet (firebrick worker) through this Celery broker instead of in-process.",
)
@click.option(
    "--oob-server",
    envvar="FIREBRICK_OOB_SERVER",
    default=None,
    help="A shared OOB service (firebrick oob-server) for blind SSRF of remote targets.",
)
@click.option("--oob-key", envvar="FIREBRICK_OOB_KEY", default=None, help="Its API key.")
@click.option(
    "--no-verify-control",
    is_flag=True,
    help="Let authenticated scans run without proof of control of the target (single-tenant use).",
)
def serve(
    host: str,
    port: int,
    database: str | None,
    allow_networks: tuple[str, ...],
    workers: int,
    monitor_tick: float,
    webhook_backoff: float,
    broker: str | None,
    oob_server: str | None,
    oob_key: str | None,
    no_verify_control: bool,
) -> None:
    """Run the service: paste a URL in the dashboard or POST /api/v1/scans, watch the scan, read
    the grade and the fixes, keep history, monitor targets and get signed webhooks.

    On first start an admin API key is created and printed once.
    """
    from firebrick.errors import UsageError
    from firebrick.server import Service, ServiceConfig, create_app
    from firebrick.target_policy import TargetPolicy, parse_networks

    if workers < 1 or monitor_tick <= 0 or webhook_backoff < 0:
        raise UsageError("--workers, --monitor-tick and --webhook-backoff must be positive")
    config = ServiceConfig(
        database=database or default_database(),
        policy=TargetPolicy(parse_networks(allow_networks)),
        workers=workers,
        monitor_tick=monitor_tick,
        webhook_backoff=webhook_backoff,
        verify_control=not no_verify_control,
        broker=broker,
        oob_server=oob_server,
        oob_key=oob_key,
    )

    async def main() -> None:
        import uvicorn

        service = Service(config)
        if not service.has_keys():
            _, key = service.create_key("admin", admin=True)
            print(
                f"firebrick serve: admin API key (shown once): {key}", file=sys.stderr, flush=True
            )
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        sock.listen(512)
        bound = sock.getsockname()[1]
        where = f"[{host}]" if ":" in host else host
        app = create_app(service)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        print(
            f"firebrick serve: dashboard http://{where}:{bound}/ · API http://{where}:{bound}/api/v1/"
            f" · database {config.database.split('://', 1)[0]}",
            file=sys.stderr,
            flush=True,
        )
        await server.serve(sockets=[sock])

    with contextlib.suppress(KeyboardInterrupt):
        import asyncio  # on use: `firebrick --help` does not import it

        asyncio.run(main())
