"""``python -m firebrick.lab serve ...``: run the lab until Ctrl-C or SIGTERM.

Prints one JSON line on stdout once every socket listens:
``{"base_url": ..., "variant": ..., "internal": {"admin": ..., "metadata": ..., "inventory": ...}}``
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
import threading
from typing import NoReturn

from firebrick.lab import netsandbox
from firebrick.lab.canaries import admin_app, inventory_app, metadata_app, serve
from firebrick.lab.netsandbox import SandboxConfig

INVENTORY_NAME = "inventory.lab.internal"
SERVICE_NAMES = {INVENTORY_NAME, "admin.lab.internal", "metadata.lab.internal"}


def _die_with_parent() -> None:
    """Linux: get SIGTERM when the parent dies (best effort, silently skipped elsewhere)."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _watch_stdin() -> None:
    """Exit when stdin reaches EOF: the parent closed it or died."""

    def watch() -> None:
        try:
            while os.read(sys.stdin.fileno(), 4096):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="lab-stdin-watch", daemon=True).start()


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _sigterm(signum: int, frame: object) -> NoReturn:
    raise SystemExit(0)


def serve_lab(args: argparse.Namespace) -> int:
    from firebrick.lab.app import create_app
    from firebrick.lab.canaries import quiet_server, serve_until_interrupted

    if args.die_with_parent:
        _die_with_parent()
    if args.watch_stdin:
        _watch_stdin()
    signal.signal(signal.SIGTERM, _sigterm)

    admin = serve(admin_app)
    metadata = serve(metadata_app)
    inventory = serve(inventory_app)
    if args.sandbox:  # off in the network lab: the namespace's real resolver answers instead
        netsandbox.install(
            SandboxConfig(
                zone=args.zone.rstrip(".").lower(),
                oob_dns=args.oob_dns,
                metadata=("127.0.0.1", metadata.port),
                service_names=SERVICE_NAMES,
            )
        )
    app = create_app(
        args.variant,
        inventory_url=f"http://{INVENTORY_NAME}:{inventory.port}",
        internet_cidr=args.internet_cidr,
        serve_spec=args.spec,
    )
    server = quiet_server(args.host, args.port, app)
    host, port = str(server.server_address[0]), int(server.server_address[1])
    shown = f"[{host}]" if ":" in host else host
    ready = {
        "base_url": f"http://{shown}:{port}",
        "variant": args.variant,
        "internal": {"admin": admin.url, "metadata": metadata.url, "inventory": inventory.url},
        "pid": os.getpid(),
    }
    print(json.dumps(ready), flush=True)
    try:
        serve_until_interrupted(server)
    finally:
        for svc in (admin, metadata, inventory):
            svc.server.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firebrick.lab")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the lab app and its internal canaries")
    s.add_argument("--variant", choices=("vulnerable", "hardened"), default="vulnerable")
    s.add_argument("--oob-dns", type=_host_port, default=None, help="OOB DNS listener HOST:PORT")
    s.add_argument("--zone", default="oob.firebrick.test")
    s.add_argument("--internet-cidr", default="127.100.0.0/16")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0)
    s.add_argument(
        "--no-spec", dest="spec", action="store_false", help="do not serve /openapi.json"
    )
    s.add_argument(
        "--no-sandbox",
        dest="sandbox",
        action="store_false",
        help="use the system resolver and network (the network lab's namespace), no hooks",
    )
    s.add_argument("--watch-stdin", action="store_true", help=argparse.SUPPRESS)
    s.add_argument("--die-with-parent", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return serve_lab(args)


if __name__ == "__main__":
    sys.exit(main())
