"""Hostile HTTP servers on loopback for tests/test_hostile.py.

Raw asyncio servers (no framework, so they can misbehave at the protocol level: drip a status
line, send a NUL in a link, nest JSON 5,000 levels deep, answer 429 with Retry-After: 999999).
All run on one event loop in a daemon thread; each behaviour gets its own port. Every server
counts the requests it received, and ``wait_requests`` lets a test wait for that event.
Imported as ``hostile`` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)


Writer = asyncio.StreamWriter
Handler = Callable[[Request, Writer], Awaitable[None]]


def response(
    status: int = 200,
    body: bytes | str = b"",
    headers: dict[str, str] | None = None,
    reason: str = "X",
) -> bytes:
    data = body.encode() if isinstance(body, str) else body
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(data)}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data


@dataclass
class Server:
    handler: Handler
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    seen: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_requests(self, n: int, timeout: float = 60.0) -> bool:
        """Block until the server has received ``n`` requests (or the timeout passes)."""
        with self.seen:
            return self.seen.wait_for(lambda: len(self.requests) >= n, timeout)

    async def _serve(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = [*lines[0].split(" "), "", ""][:3]
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if ":" in line:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length") or 0)
            body = await reader.readexactly(length) if length else b""
            request = Request(method, target, headers, body)
            with self.seen:
                self.requests.append(request)
                self.seen.notify_all()
            await self.handler(request, writer)
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()


class Servers:
    """One loop thread hosting many hostile servers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._servers: list[asyncio.AbstractServer] = []

    def add(self, handler: Handler) -> Server:
        server = Server(handler)

        async def start() -> None:
            srv = await asyncio.start_server(server._serve, "127.0.0.1", 0, limit=1 << 20)
            server.port = srv.sockets[0].getsockname()[1]
            self._servers.append(srv)

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(timeout=30)
        return server

    def close(self) -> None:
        async def stop() -> None:
            for srv in self._servers:
                srv.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


# -- behaviours -----------------------------------------------------------------------------------
def static(
    status: int = 200, body: bytes | str = b"", headers: dict[str, str] | None = None
) -> Handler:
    async def handle(req: Request, w: Writer) -> None:
        w.write(response(status, body, headers))

    return handle


async def drip_body(req: Request, w: Writer) -> None:
    """Headers at once, then a body one byte per second that never ends."""
    w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n")
    await w.drain()
    while True:
        w.write(b"<")
        await w.drain()
        await asyncio.sleep(1.0)  # the hostile pace itself


async def drip_status(req: Request, w: Writer) -> None:
    """The status line, one byte per second."""
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
        w.write(bytes([byte]))
        await w.drain()
        await asyncio.sleep(1.0)


async def too_many(req: Request, w: Writer) -> None:
    w.write(response(429, "slow down", {"Retry-After": "999999"}))


FAKE_KEYS = (
    'Traceback (most recent call last):\n  File "/srv/app.py", line 42, in view\n'
    "    db.execute(q)\nsqlite3.OperationalError: no such table: users\n"
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
)


async def error_500(req: Request, w: Writer) -> None:
    w.write(response(500, FAKE_KEYS, {"Content-Type": "text/plain"}))


def crawl_trap() -> Handler:
    """Every page links 1,000 new pages and carries 1,000 forms with 100 inputs each."""

    async def handle(req: Request, w: Writer) -> None:
        n = abs(hash(req.target)) % 10**9
        links = "".join(f'<a href="/p{n}-{i}/x{i}">l</a>' for i in range(1000))
        inputs = "".join(f'<input name="f{i}">' for i in range(100))
        forms = "".join(
            f'<form method="post" action="/f{n}-{i}">{inputs}</form>' for i in range(1000)
        )
        w.write(
            response(
                200, f"<html><body>{links}{forms}</body></html>", {"Content-Type": "text/html"}
            )
        )

    return handle


async def nul_link(req: Request, w: Writer) -> None:
    body = b'<html><a href="/a\x00b">x</a><a href="/ok?u=1">y</a><a href="http://127.0.0.1:99999/">z</a></html>'
    w.write(response(200, body, {"Content-Type": "text/html"}))


def _deep(n: int) -> str:
    return "[" * n + "]" * n


async def deep_json(req: Request, w: Writer) -> None:
    """Every answer is JSON nested 5,000 deep; /graphql introspection has a 3,000-deep ofType."""
    if req.path == "/graphql":
        if b"__schema" in req.body or "__schema" in req.target:
            text = '{"data":{"__schema":' + _schema_text(3000) + "}}"
            w.write(response(200, text, {"Content-Type": "application/json"}))
            return
        w.write(
            response(200, '{"data":{"__typename":"Query"}}', {"Content-Type": "application/json"})
        )
        return
    w.write(response(200, _deep(5000), {"Content-Type": "application/json"}))


def _schema_text(n: int) -> str:
    chain = (
        '{"kind":"LIST","name":null,"ofType":' * n
        + '{"kind":"SCALAR","name":"String","ofType":null}'
        + "}" * n
    )
    field_ = '{"name":"f","args":[{"name":"url","type":' + chain + '}],"type":' + chain + "}"
    return (
        '{"queryType":{"name":"Query"},"mutationType":null,"types":[{"kind":"OBJECT",'
        '"name":"Query","fields":[' + field_ + "]}]}"
    )


async def bad_encodings(req: Request, w: Writer) -> None:
    """Invalid UTF-8, an unknown charset, garbage 'br' and 'gzip' bodies, a 60 KiB header."""
    if req.path == "/":
        body = (
            b'<html><a href="/a">a</a><a href="/b">b</a><a href="/c">c</a><a href="/d">d</a></html>'
        )
        w.write(response(200, body, {"Content-Type": "text/html; charset=utf-8"}))
    elif req.path == "/a":
        w.write(
            response(
                200,
                b"\xff\xfe\xc3\x28 bad utf-8 \xed\xa0\x80",
                {"Content-Type": "text/plain; charset=utf-8"},
            )
        )
    elif req.path == "/b":
        w.write(response(200, b"x", {"Content-Type": "text/plain; charset=no-such-charset"}))
    elif req.path == "/c":
        w.write(response(200, b"\x00garbage", {"Content-Encoding": "br"}))
    elif req.path == "/d":
        w.write(response(200, b"x", {"X-Huge": "h" * 60_000, "Content-Encoding": "gzip"}))
    else:
        w.write(response(404, "no"))


def reflector() -> Handler:
    """Reflects every request header back: in the body (JSON and HTML), and in a header."""

    async def handle(req: Request, w: Writer) -> None:
        if req.path == "/openapi.json":
            doc = {
                "openapi": "3.0.3",
                "info": {"title": "echo", "version": "1"},
                "paths": {
                    "/echo": {
                        "get": {
                            "parameters": [
                                {"name": "url", "in": "query", "schema": {"type": "string"}}
                            ],
                            "responses": {"200": {"description": "ok"}},
                        }
                    },
                    "/me": {"get": {"responses": {"200": {"description": "ok"}}}},
                },
            }
            w.write(response(200, json.dumps(doc), {"Content-Type": "application/json"}))
            return
        echo = {"headers": req.headers, "target": req.target}
        text = json.dumps(echo)
        w.write(
            response(
                200,
                text,
                {
                    "Content-Type": "application/json",
                    "X-Echo-Auth": req.headers.get("authorization", ""),
                },
            )
        )

    return handle


def slow(delay: float = 0.3) -> Handler:
    """Answers every request after ``delay`` seconds (a scan that takes long enough to interrupt)."""

    async def handle(req: Request, w: Writer) -> None:
        await asyncio.sleep(delay)  # the target's own slowness
        links = "".join(f'<a href="/s{i}?q={i}">s</a>' for i in range(30))
        w.write(response(200, f"<html>{links}</html>", {"Content-Type": "text/html"}))

    return handle


def redirects(fixed_host: str) -> Handler:
    """/fixed?url=X redirects to a fixed host carrying X in its query; /open?url=X redirects to X."""

    async def handle(req: Request, w: Writer) -> None:
        if req.path == "/openapi.json":
            param = [{"name": "url", "in": "query", "schema": {"type": "string", "format": "uri"}}]
            ok = {"302": {"description": "redirect"}}
            doc = {
                "openapi": "3.0.3",
                "info": {"title": "r", "version": "1"},
                "paths": {
                    "/fixed": {"get": {"parameters": param, "responses": ok}},
                    "/open": {"get": {"parameters": param, "responses": ok}},
                },
            }
            w.write(response(200, json.dumps(doc), {"Content-Type": "application/json"}))
            return
        url = (req.query.get("url") or [""])[0]
        if req.path == "/fixed":
            from urllib.parse import quote

            w.write(
                response(
                    302, "", {"Location": f"https://{fixed_host}/login?next={quote(url, safe='')}"}
                )
            )
        elif req.path == "/open" and url:
            w.write(response(302, "", {"Location": url}))
        else:
            w.write(response(200, "hello", {"Content-Type": "text/plain"}))

    return handle


ALIAS_BOMB = """openapi: 3.0.3
info: {title: bomb, version: "1"}
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
paths: {"/x": {"get": {"responses": {"200": {"description": *i}}}}}
"""


async def serves_alias_bomb(req: Request, w: Writer) -> None:
    if req.path == "/openapi.yaml":
        w.write(response(200, ALIAS_BOMB, {"Content-Type": "application/yaml"}))
    else:
        w.write(response(404, "not here"))


def many_operations(n: int) -> bytes:
    paths = {
        f"/r{i // 10}/item{i}": {
            "get": {"operationId": f"op{i}", "responses": {"200": {"description": "ok"}}}
        }
        for i in range(n)
    }
    return json.dumps(
        {"openapi": "3.0.3", "info": {"title": "big", "version": "1"}, "paths": paths}
    ).encode()
