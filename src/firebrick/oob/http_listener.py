"""The HTTP(S) listener: records every request and answers with the token's canary or redirect.

A deliberately small HTTP/1.1 reader over asyncio streams: one request per connection, then
``Connection: close``. Every read is bounded in size and time so slow or hostile clients cannot
hold memory or handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from firebrick.model import Interaction
from firebrick.oob.connections import Connections

log = logging.getLogger("firebrick.oob.http")

HEADER_LIMIT = 16 * 1024
BODY_LIMIT = 64 * 1024
RAW_CAP = 8 * 1024
READ_TIMEOUT = 10.0
MAX_HEADERS = 100
MAX_CONNECTIONS = 512  # concurrent; more are closed at once
LINGER_TIMEOUT = 1.0
LINGER_LIMIT = 256 * 1024

_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    404: "Not Found",
    431: "Request Header Fields Too Large",
}


@dataclass
class Reply:
    status: int
    body: bytes = b""
    location: str | None = None
    content_type: str = "text/plain; charset=utf-8"
    # Unsafe-consumption behaviours (OOBServer.set_behavior): hold the answer up to ``stall``
    # seconds (or until the client leaves), then stream ``stream_bytes`` of filler after the body.
    stall: float = 0.0
    stream_bytes: int = 0
    # Called once with what happened: {"held_s", "client_left"} and/or {"sent", "complete"}.
    report: Callable[[dict[str, object]], None] | None = None


@dataclass
class Request:
    method: str
    target: str
    host: str | None
    raw: bytes
    truncated: bool = False  # the body was longer than we read


class _TooLarge(Exception):
    pass


class _BadRequest(Exception):
    pass


# attribute(path, host) -> token; respond(token, listener) -> reply; record(interaction)
Attribute = Callable[[str | None, str | None], str | None]
Respond = Callable[[str | None, str], Reply]
Record = Callable[[Interaction], object]


class HTTPListener:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        protocol: str,  # "http" | "https"
        listener: str,  # "public" | "inside"
        attribute: Attribute,
        respond: Respond,
        record: Record,
        ssl_context: ssl.SSLContext | None = None,
        read_timeout: float = READ_TIMEOUT,
        sock: socket.socket | None = None,  # an already bound socket (e.g. in another netns)
    ) -> None:
        self.sock = sock
        self.host = host
        self.port = port
        self.protocol = protocol
        self.listener = listener
        self.read_timeout = read_timeout
        self._attribute = attribute
        self._respond = respond
        self._record = record
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self._connections = Connections(MAX_CONNECTIONS)

    async def start(self) -> None:
        if self.sock is not None:
            self._server = await asyncio.start_server(
                self._handle, sock=self.sock, limit=HEADER_LIMIT, ssl=self._ssl
            )
        elif self._ssl is not None:
            self._server = await asyncio.start_server(
                self._handle,
                self.host,
                self.port,
                limit=HEADER_LIMIT,
                ssl=self._ssl,
                ssl_handshake_timeout=self.read_timeout,
            )
        else:
            self._server = await asyncio.start_server(
                self._handle, self.host, self.port, limit=HEADER_LIMIT
            )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is None:
            return
        await self._connections.close(self._server)
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with self._connections.serving(writer) as admitted:
            if admitted:
                await self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        try:
            try:
                async with asyncio.timeout(self.read_timeout):
                    request = await _read_request(reader, writer)
            except _TooLarge:
                await _send(writer, Reply(431, b"request header too large\n"), head=False)
                await _linger(reader, writer)
                return
            except _BadRequest as exc:
                raw = exc.args[0] if exc.args else b""
                token = self._attribute(raw.decode("latin-1"), None) if raw else None
                if token is not None:  # garbage, but it names a payload: keep it
                    self._record(self._interaction(peer, token, None, None, None, raw))
                await _send(writer, Reply(400, b"bad request\n"), head=False)
                await _linger(reader, writer)
                return
            if request is None:  # closed or timed out before a full request
                return
            token = self._attribute(request.target, request.host)
            self._record(
                self._interaction(
                    peer, token, request.method, request.target, request.host, request.raw
                )
            )
            reply = self._respond(token, self.listener)
            if reply.stall > 0 and await _hold(reader, reply):
                return  # the client gave up while we stalled
            await _send(writer, reply, head=request.method == "HEAD")
            if reply.stream_bytes and request.method != "HEAD":
                await _stream(reader, writer, reply)
            if request.truncated:
                await _linger(reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception:  # never let one client's input take the listener down
            log.exception("HTTP handler failed")

    def _interaction(
        self,
        peer: tuple[object, ...],
        token: str | None,
        method: str | None,
        path: str | None,
        host: str | None,
        raw: bytes,
    ) -> Interaction:
        return Interaction(
            protocol=self.protocol,
            token=token,
            source_ip=str(peer[0]),
            source_port=int(str(peer[1])),
            time=time.time(),
            listener=self.listener,
            raw=raw[:RAW_CAP].decode("utf-8", errors="replace"),
            http_method=method,
            http_path=path,
            http_host=host,
        )


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Request | None:
    """Read one request (headers capped at HEADER_LIMIT, body at BODY_LIMIT); None on EOF."""
    raw = bytearray()
    lines: list[bytes] = []
    while True:
        try:
            line = await reader.readline()
        except (ValueError, asyncio.LimitOverrunError) as exc:  # one line over the limit
            raise _TooLarge from exc
        if not line:
            if not raw.strip():
                return None
            raise _BadRequest(bytes(raw))  # EOF in the middle of the headers
        raw += line
        if len(raw) > HEADER_LIMIT:
            raise _TooLarge
        stripped = line.rstrip(b"\r\n")
        if not stripped:
            if not lines:
                continue  # tolerate blank lines before the request line (RFC 9112 2.2)
            break
        lines.append(stripped)
        if len(lines) > MAX_HEADERS + 1:
            raise _TooLarge

    parts = lines[0].decode("latin-1").split()
    if len(parts) != 3 or not parts[2].upper().startswith("HTTP/"):
        raise _BadRequest(bytes(raw))
    method, target, _version = parts
    host: str | None = None
    length = 0
    expect_continue = False
    for header in lines[1:]:
        name, sep, value = header.decode("latin-1").partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        value = value.strip()
        if key == "host" and host is None:
            host = value
        elif key == "content-length":
            with contextlib.suppress(ValueError):
                length = max(0, int(value))
        elif key == "expect" and value.lower() == "100-continue":
            expect_continue = True

    truncated = length > BODY_LIMIT
    if length:
        if expect_continue:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        try:
            raw += await reader.readexactly(min(length, BODY_LIMIT))
        except asyncio.IncompleteReadError as exc:
            raw += exc.partial
    return Request(
        method=method[:32], target=target, host=host, raw=bytes(raw), truncated=truncated
    )


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close, then discard what the client still sends (bounded) before closing.

    Closing a socket with unread input makes the kernel send RST, which can destroy the reply
    we just wrote before the client reads it; a short lingering read avoids that.
    """
    with contextlib.suppress(Exception):
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(LINGER_TIMEOUT):
            discarded = 0
            while discarded < LINGER_LIMIT:
                chunk = await reader.read(16384)
                if not chunk:
                    break
                discarded += len(chunk)


async def _hold(reader: asyncio.StreamReader, reply: Reply) -> bool:
    """Stall (bounded by reply.stall; a cancelled task on stop() ends it). True if the client left."""
    started = time.monotonic()
    left = False
    try:
        async with asyncio.timeout(reply.stall):
            left = (await reader.read(1)) == b""  # EOF: the client closed its side
    except TimeoutError:
        pass
    except (ConnectionError, OSError):
        left = True
    if reply.report is not None:
        reply.report({"held_s": round(time.monotonic() - started, 3), "client_left": left})
    return left


STREAM_CHUNK = 64 * 1024


async def _stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: Reply) -> None:
    """Write reply.stream_bytes of filler; report how much the client took before it hung up."""
    sent, complete = 0, False
    chunk = b"x" * STREAM_CHUNK
    try:
        while sent < reply.stream_bytes:
            part = chunk[: min(STREAM_CHUNK, reply.stream_bytes - sent)]
            writer.write(part)
            await writer.drain()
            sent += len(part)
        # All of it is in the kernel's buffers; a client that read it all closes cleanly (EOF),
        # one that stopped early resets the connection (unread data).
        async with asyncio.timeout(LINGER_TIMEOUT * 5):
            complete = (await reader.read(1)) == b""
    except (ConnectionError, OSError, TimeoutError):
        complete = False
    finally:
        if reply.report is not None:
            reply.report({"sent": sent, "complete": complete})


async def _send(writer: asyncio.StreamWriter, reply: Reply, *, head: bool) -> None:
    reason = _REASONS.get(reply.status, "Status")
    headers = [
        f"HTTP/1.1 {reply.status} {reason}",
        "Server: firebrick-oob",
        f"Content-Type: {reply.content_type}",
        f"Content-Length: {len(reply.body) + reply.stream_bytes}",
        "Cache-Control: no-store",
        "Connection: close",
    ]
    if reply.location is not None:
        headers.append(f"Location: {reply.location}")
    # UTF-8: a redirect may deliberately carry odd spellings (fullwidth digits) of a host.
    data = ("\r\n".join(headers) + "\r\n\r\n").encode("utf-8", errors="replace")
    if not head:
        data += reply.body
    writer.write(data)
    await writer.drain()
