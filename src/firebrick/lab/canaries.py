"""Internal canary services the lab app can reach and the scanner cannot.

Each is a tiny WSGI app on 127.0.0.1 (ephemeral port) in a thread of the lab process. Their
content is distinctive so that a scanner (and the tests) can tell an internal read from anything
else: the admin API's secret, the metadata imitation's fake AWS key. The helpers that serve a
WSGI app (in a thread, for a ``with`` block, or until interrupted) live here too.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

ADMIN_SECRET = "firebrick-lab-admin-secret"
METADATA_KEY = "FIREBRICKLABFAKEKEY"
METADATA_ROLE = "firebrick-lab-role"
INVENTORY_MARKER = "firebrick-lab-inventory"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class QuietHandler(WSGIRequestHandler):
    """No per-request log lines on stderr (the runner reads stderr only on failure)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error":  # keep real errors visible
            super().log(type, message, *args)


def _respond(start: StartResponse, status: str, body: str, ctype: str) -> list[bytes]:
    data = body.encode()
    start(status, [("Content-Type", ctype), ("Content-Length", str(len(data)))])
    return [data]


def admin_app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
    """An internal admin API: every path answers with its secret (any GET or POST is a read)."""
    body = {
        "service": "internal-admin",
        "path": environ.get("PATH_INFO", "/"),
        "secret": ADMIN_SECRET,
        "users": [{"name": "root", "role": "admin"}],
    }
    return _respond(start, "200 OK", json.dumps(body), "application/json")


_META_ROOT = "ami-id\nhostname\ninstance-id\nlocal-ipv4\niam/\n"
_CREDS = {
    "Code": "Success",
    "Type": "AWS-HMAC",
    "AccessKeyId": f"ASIA{METADATA_KEY}",
    "SecretAccessKey": f"firebrick/lab/{METADATA_KEY}/not-a-real-secret",
    "Token": f"{METADATA_KEY}-session-token",
    "Expiration": "2099-01-01T00:00:00Z",
}


def metadata_app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
    """An AWS IMDSv1 imitation (what 169.254.169.254 answers), reached only via the sandbox."""
    path = environ.get("PATH_INFO", "/")
    text = "text/plain"
    if path in ("/", "/latest", "/latest/"):
        return _respond(start, "200 OK", "meta-data\nuser-data\n", text)
    if path in ("/latest/meta-data", "/latest/meta-data/"):
        return _respond(start, "200 OK", _META_ROOT, text)
    if path == "/latest/meta-data/instance-id":
        return _respond(start, "200 OK", "i-0f1rebr1ck1ab0000", text)
    if path in ("/latest/meta-data/iam", "/latest/meta-data/iam/"):
        return _respond(start, "200 OK", "security-credentials/\n", text)
    creds = "/latest/meta-data/iam/security-credentials"
    if path in (creds, creds + "/"):
        # Real IMDS lists role names here; the key is added so one request proves the read.
        return _respond(start, "200 OK", f"{METADATA_ROLE}\n# key {METADATA_KEY}\n", text)
    if path.startswith(creds + "/"):
        return _respond(start, "200 OK", json.dumps(_CREDS, indent=2), "application/json")
    return _respond(start, "404 Not Found", "Not Found\n", "text/html")


WAREHOUSES = {"north": 12, "south": 7, "east": 0}


def inventory_app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
    """The internal inventory service /api/stock calls by name."""
    path = environ.get("PATH_INFO", "/")
    name = path.rsplit("/", 1)[-1]
    if not path.startswith("/stock/") or name not in WAREHOUSES:
        return _respond(start, "404 Not Found", '{"error": "unknown"}', "application/json")
    body = {"warehouse": name, "units": WAREHOUSES[name], "service": INVENTORY_MARKER}
    return _respond(start, "200 OK", json.dumps(body), "application/json")


@dataclass
class Served:
    """A WSGI app being served in a daemon thread."""

    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        host = str(self.server.server_address[0])
        return f"http://{host}:{self.port}"

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def quiet_server(host: str, port: int, app: WSGIApp) -> BaseWSGIServer:
    """A threaded werkzeug server that logs no requests and stops without waiting for
    keep-alive connections to go idle."""
    server = make_server(host, port, app, threaded=True, request_handler=QuietHandler)
    server.block_on_close = False  # type: ignore[attr-defined]
    return server


def serve(app: WSGIApp, host: str = "127.0.0.1", port: int = 0) -> Served:
    """Bind now (so the port is known and listening on return), serve in a thread."""
    server = quiet_server(host, port, app)
    thread = threading.Thread(target=server.serve_forever, name=f"lab-{port}", daemon=True)
    thread.start()
    return Served(server, thread)


@contextmanager
def serving(app: WSGIApp, request_handler: type[WSGIRequestHandler] | None = None) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port, threaded) for a ``with`` block; its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=request_handler)
    # a short poll interval so that shutdown() returns quickly
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def serve_until_interrupted(server: BaseWSGIServer) -> None:
    """Serve in this thread until Ctrl-C (or a signal turned into KeyboardInterrupt)."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
