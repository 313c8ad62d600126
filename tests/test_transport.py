"""--proxy through a small intercepting proxy on loopback (plain HTTP and CONNECT for HTTPS),
--ca-cert for a staging host with its own CA, --insecure, and bad values as one-line errors."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, jsonify
from werkzeug.serving import make_server

from firebrick.engine import run_scan
from firebrick.errors import TargetUnreachable
from firebrick.oob.tls import generate_self_signed, server_context
from firebrick.options import ScanOptions
from support import run_firebrick

ROOT = Path(__file__).resolve().parents[1]


class LoopbackProxy:
    """An HTTP proxy: absolute-form requests are forwarded (one per connection), CONNECT is
    tunnelled. It records what it saw, like Burp's history."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.server = server
        self.ready.set()
        self.loop.run_forever()

    def start(self) -> LoopbackProxy:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        self.seen.append((method, target))
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            up_r, up_w = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(self._pipe(reader, up_w), self._pipe(up_r, writer))
            return
        # absolute-form: http://host:port/path -> origin-form to the target, one request
        rest = target.split("://", 1)[1]
        hostport, _, path = rest.partition("/")
        host, port = hostport.rsplit(":", 1)
        headers = [
            h for h in lines[1:] if h and not h.lower().startswith(("connection:", "proxy-"))
        ]
        length = next(
            (int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:")), 0
        )
        body = await reader.readexactly(length) if length else b""
        up_r, up_w = await asyncio.open_connection(host, int(port))
        up_w.write(
            f"{method} /{path} HTTP/1.1\r\n".encode()
            + "\r\n".join([*headers, "Connection: close"]).encode()
            + b"\r\n\r\n"
            + body
        )
        await up_w.drain()
        answer = await up_r.read()
        up_w.close()
        # tell the client this connection ends here
        answer = answer.replace(b"\r\n\r\n", b"\r\nProxy-Connection: close\r\n\r\n", 1)
        writer.write(answer)
        await writer.drain()
        writer.close()

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while chunk := await src.read(65536):
                dst.write(chunk)
                await dst.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            dst.close()


def _app() -> Flask:
    app = Flask("staging")

    @app.get("/")
    def root() -> object:
        return jsonify(service="staging", links=["/api/items"])

    @app.get("/api/items")
    def items() -> object:
        return jsonify(items=[1, 2])

    return app


@pytest.fixture(scope="module")
def proxy() -> Iterator[LoopbackProxy]:
    p = LoopbackProxy().start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def http_target() -> Iterator[str]:
    server = make_server("127.0.0.1", 0, _app(), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def tls_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    material = generate_self_signed("staging.test", hosts=["127.0.0.1"])
    other = generate_self_signed("someone-else.test", hosts=["127.0.0.1"])
    tmp = tmp_path_factory.mktemp("tls")
    (tmp / "ca.pem").write_bytes(material.cert_pem)
    (tmp / "other.pem").write_bytes(other.cert_pem)
    server = make_server(
        "127.0.0.1", 0, _app(), threaded=True, ssl_context=server_context(material)
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_port}", tmp / "ca.pem", tmp / "other.pem"
    server.shutdown()


def scan(url: str, **kw: object) -> object:
    opts = ScanOptions(target=url, rate=300, max_time=60, checks=["inventory"], **kw)  # type: ignore[arg-type]
    return asyncio.run(run_scan(opts))


def test_http_target_through_the_proxy(proxy: LoopbackProxy, http_target: str) -> None:
    before = len(proxy.seen)
    result = scan(http_target, proxy=proxy.url)
    seen = proxy.seen[before:]
    assert result.stats.requests_sent == len(seen)  # type: ignore[attr-defined]
    assert all(m != "CONNECT" and t.startswith(http_target) for m, t in seen)
    assert "GET /api/items" in result.surface["operations"]  # type: ignore[attr-defined]


def test_https_target_through_connect_with_its_ca(
    proxy: LoopbackProxy, tls_target: tuple[str, Path, Path]
) -> None:
    url, ca, _ = tls_target
    before = len(proxy.seen)
    result = scan(url, proxy=proxy.url, ca_cert=str(ca))
    seen = proxy.seen[before:]
    assert seen and all(m == "CONNECT" for m, _ in seen)
    assert "GET /api/items" in result.surface["operations"]  # type: ignore[attr-defined]


def test_ca_cert_is_enforced(tls_target: tuple[str, Path, Path]) -> None:
    url, _, other = tls_target
    with pytest.raises(TargetUnreachable):
        scan(url, ca_cert=str(other))  # a CA that did not sign the target's certificate
    # --insecure reaches the same host without any CA
    assert "GET /api/items" in scan(url, insecure=True).surface["operations"]  # type: ignore[attr-defined]


def firebrick(*args: str) -> subprocess.CompletedProcess[str]:
    return run_firebrick(*args, timeout=60)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--proxy", "ftp://x"), "invalid --proxy"),
        (("--ca-cert", "/nonexistent/ca.pem"), "--ca-cert /nonexistent/ca.pem: no such file"),
    ],
)
def test_bad_transport_options_are_one_line(args: tuple[str, ...], message: str) -> None:
    proc = firebrick("scan", "http://127.0.0.1:9", "--no-store", *args)
    assert proc.returncode == 3
    assert message in proc.stderr and "Traceback" not in proc.stderr
