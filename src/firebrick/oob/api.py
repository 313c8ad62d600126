"""The client API of a shared OOB server (``firebrick oob-server --api-key ...``), over HTTPS.

One public OOB host (a delegated zone, ports 53/80/443) serves many scans at once: CI runners,
a fleet of workers. Each scan registers with an API key and gets a **namespace**, a label of its
own under the zone and a first segment of its own in callback paths::

    <token>.<ns>.oob.example.com          DNS names (and Host headers)
    http://203.0.113.10/<ns>/<token>      HTTP(S) callback URLs

Every interaction is routed to the scan whose namespace it carries (the label just below the
zone in a query name or Host header, else the first path segment, else a token that scan claimed
by giving it a redirect or behaviour) and is only ever shown to that scan. Unroutable
interactions are counted and dropped. A scan is readable only with the key that registered it.

Endpoints (JSON; ``Authorization: Bearer <key>`` except /v1/health)::

    GET    /v1/health
    POST   /v1/scans                                   -> {"scan", "namespace", "zone", ...}
    DELETE /v1/scans/{scan}                            deregister: events, claims, answers gone
    GET    /v1/scans/{scan}/events?after=N&wait=S      long-poll: events with seq > N
    GET    /v1/scans/{scan}/stream   (Last-Event-ID)   server-sent events, the same events
    PUT    /v1/scans/{scan}/tokens/{token}/redirect    {"location", "status"}
    PUT    /v1/scans/{scan}/tokens/{token}/behavior    {"behavior", "stall", "size"}

Events are ``{"seq", "kind": "interaction"|"behavior", "data"}``; a DNS interaction carries the
resolver's ``query`` (source port, txid, EDNS, DO) for resolver hygiene.

Keys are held as SHA-256 digests only, compared with ``hmac.compare_digest`` against every
configured digest (no early exit). Retention is bounded per scan (event cap, oldest dropped and
counted), by age (events older than ``event_ttl``), by idleness (a scan nobody polled for
``scan_ttl`` is deregistered) and by count (``max_scans``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import itertools
import json
import logging
import os
import secrets
import ssl
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from firebrick.model import Interaction
from firebrick.oob import names, tls
from firebrick.oob.server import OOBServer
from firebrick.oob.tokens import candidates, is_token

log = logging.getLogger("firebrick.oob.api")

API_VERSION = 1
MIN_KEY_LENGTH = 16
MAX_WAIT = 30.0  # longest long-poll a client may ask for
HEARTBEAT = 15.0  # SSE comment line interval, keeps proxies from closing an idle stream
MAX_CLAIMS = 20000  # tokens one scan may give a redirect or behaviour
MAX_EVENTS_PER_RESPONSE = 1000
KEY_ID = web.RequestKey("key_id", str)  # the authenticated key's id, set by _auth
# Namespace labels: no "f" in the alphabet, so a namespace never contains a token ("fb...");
# the leading "s" is no instruction prefix of names.py (a-, a6-, rb-, c<N>-, ds-).
_NS_ALPHABET = "abcdeghijklmnopqrstuvwxyz0123456789"
_NS_RANDOM = 11


class APIKeyError(ValueError):
    """A configured key is unusable (too short, malformed digest)."""


class KeyRing:
    """API keys as SHA-256 digests. ``verify`` is constant-time in the presented key's content."""

    def __init__(self, entries: Iterable[str]) -> None:
        self._digests: list[bytes] = []
        for raw in entries:
            entry = raw.strip()
            if not entry or entry.startswith("#"):
                continue
            if entry.startswith("sha256:"):
                try:
                    digest = bytes.fromhex(entry[7:])
                except ValueError:
                    raise APIKeyError("a sha256: key entry must be 64 hex digits") from None
                if len(digest) != 32:
                    raise APIKeyError("a sha256: key entry must be 64 hex digits")
            else:
                if len(entry) < MIN_KEY_LENGTH:
                    raise APIKeyError(f"API keys must be at least {MIN_KEY_LENGTH} characters")
                digest = hashlib.sha256(entry.encode()).digest()
            if digest not in self._digests:
                self._digests.append(digest)

    def __len__(self) -> int:
        return len(self._digests)

    def __repr__(self) -> str:
        return f"KeyRing({len(self._digests)} keys)"

    @staticmethod
    def digest_line(key: str) -> str:
        """The ``sha256:<hex>`` line to store instead of ``key`` in a keys file."""
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()

    def verify(self, presented: str) -> str | None:
        """The key's id (a digest prefix, not secret) when ``presented`` is a configured key."""
        digest = hashlib.sha256(presented.encode("utf-8", "replace")).digest()
        found: bytes | None = None
        for candidate in self._digests:  # every one, match or not: no timing by position
            if hmac.compare_digest(candidate, digest):
                found = candidate
        return found.hex()[:12] if found is not None else None


def load_keys(keys: Iterable[str] = (), key_file: str | None = None) -> KeyRing:
    """Keys from flags, ``FIREBRICK_OOB_API_KEYS`` (comma-separated) and a file (one a line;
    ``sha256:<hex>`` lines store a key hashed)."""
    entries = list(keys)
    env = os.environ.get("FIREBRICK_OOB_API_KEYS")
    if env:
        entries += env.split(",")
    if key_file:
        try:
            entries += Path(key_file).read_text().splitlines()
        except OSError as exc:
            raise APIKeyError(f"cannot read the API keys file {key_file}: {exc.strerror}") from None
    return KeyRing(entries)


@dataclass
class APIConfig:
    host: str = "0.0.0.0"
    port: int = 8443
    cert_file: str | None = None  # PEM certificate (chain) for the API; None: self-signed
    key_file: str | None = None  # its private key
    cert_out: str | None = None  # write the self-signed certificate here (clients' --oob-ca)
    max_events: int = 5000  # per scan; the oldest dropped (and counted) beyond it
    event_ttl: float = 3600.0  # seconds an event is kept
    scan_ttl: float = 3600.0  # a scan nobody polled for this long is deregistered
    max_scans: int = 1000
    # All scans together: beyond it the busiest scan loses its oldest event (memory stays
    # bounded even when many scans are each under their own cap).
    max_total_events: int = 200000
    sweep_interval: float = 5.0  # how often expiry runs (at most; small TTLs sweep sooner)


@dataclass
class Event:
    seq: int
    kind: str
    data: dict[str, Any]
    time: float

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "time": self.time, "data": self.data}


@dataclass
class ScanSpace:
    id: str
    namespace: str
    key_id: str
    label: str
    created: float
    last_seen: float
    max_events: int
    events: deque[Event] = field(default_factory=deque)
    seq: int = 0
    dropped: int = 0  # events dropped by the cap or by age
    claims: set[str] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False

    def append(self, kind: str, data: dict[str, Any]) -> None:
        self.seq += 1
        self.events.append(Event(self.seq, kind, data, time.time()))
        while len(self.events) > self.max_events:
            self.events.popleft()
            self.dropped += 1
        self._notify()

    def after(self, seq: int, limit: int = MAX_EVENTS_PER_RESPONSE) -> list[Event]:
        """Events with a sequence number above ``seq`` (at most ``limit``). Sequence numbers
        in the deque are consecutive, so this is a slice, not a scan of everything kept."""
        if not self.events:
            return []
        start = max(0, seq - self.events[0].seq + 1)
        return list(itertools.islice(self.events, start, start + limit))

    def _notify(self) -> None:
        self.wake.set()
        self.wake = asyncio.Event()  # the next waiters wait for the next event

    def close(self) -> None:
        self.closed = True
        self._notify()


def _new_namespace() -> str:
    return "s" + "".join(secrets.choice(_NS_ALPHABET) for _ in range(_NS_RANDOM))


class OOBAPI:
    """The client API beside one started ``OOBServer`` (same event loop)."""

    def __init__(self, server: OOBServer, keys: KeyRing, config: APIConfig | None = None) -> None:
        if not len(keys):
            raise APIKeyError("the OOB client API needs at least one key")
        self.server = server
        self.keys = keys
        self.config = config or APIConfig()
        self.scans: dict[str, ScanSpace] = {}
        self.by_namespace: dict[str, ScanSpace] = {}
        self.claims: dict[str, ScanSpace] = {}  # token -> the scan that configured it
        self.unattributed = 0  # interactions that named no registered scan (dropped)
        self.port = 0
        self.tls_fingerprint: str | None = None  # of the API certificate
        self.cert_pem: bytes | None = None
        self._runner: web.AppRunner | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._zone = names.zone_labels(server.zone)
        server.subscribe(self._on_interaction)
        server.subscribe_behavior(self._on_behavior)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        ctx = self._ssl_context()
        app = web.Application(middlewares=[self._auth], client_max_size=64 * 1024)
        app.add_routes(
            [
                web.get("/v1/health", self._health),
                web.post("/v1/scans", self._register),
                web.delete("/v1/scans/{scan}", self._deregister),
                web.get("/v1/scans/{scan}", self._describe),
                web.get("/v1/scans/{scan}/events", self._poll),
                web.get("/v1/scans/{scan}/stream", self._stream),
                web.put("/v1/scans/{scan}/tokens/{token}/redirect", self._redirect),
                web.put("/v1/scans/{scan}/tokens/{token}/behavior", self._behavior),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, ssl_context=ctx)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else self.config.port
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for scan in list(self.scans.values()):
            self._drop(scan)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _ssl_context(self) -> ssl.SSLContext:
        cfg = self.config
        if cfg.cert_file:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
            self.cert_pem = Path(cfg.cert_file).read_bytes()
        else:
            hosts = [self.server.advertise_host, self.server.zone, f"*.{self.server.zone}"]
            if cfg.host not in ("0.0.0.0", "::", ""):
                hosts.append(cfg.host)
            material = tls.generate_self_signed(
                common_name=f"api.{self.server.zone}", hosts=hosts, days=365
            )
            self.cert_pem = material.cert_pem
            self.tls_fingerprint = material.sha256
            ctx = tls.server_context(material)
            if cfg.cert_out:
                Path(cfg.cert_out).write_bytes(material.cert_pem)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    # -- routing interactions -------------------------------------------------------------

    def _namespace_of_name(self, name: str | None) -> ScanSpace | None:
        if not name:
            return None
        host = name.strip().rstrip(".")
        if host.startswith("["):
            return None
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        relative = names.relative_labels(host, ".".join(self._zone))
        if not relative:
            return None
        return self.by_namespace.get(relative[-1].lower())

    def _namespace_of_path(self, path: str | None) -> ScanSpace | None:
        if not path:
            return None
        segment = path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
        return self.by_namespace.get(segment.lower())

    def route(self, interaction: Interaction) -> ScanSpace | None:
        """The scan an interaction belongs to, or None (it is then dropped)."""
        if interaction.protocol == "dns":
            found = self._namespace_of_name(interaction.dns_qname)
        else:
            found = self._namespace_of_name(interaction.http_host) or self._namespace_of_path(
                interaction.http_path
            )
        if found is None and interaction.token is not None:
            found = self.claims.get(interaction.token)
        if found is None and interaction.http_path:  # a claimed token anywhere in the path
            found = next(
                (self.claims[c] for c in candidates(interaction.http_path) if c in self.claims),
                None,
            )
        return found

    def _on_interaction(self, interaction: Interaction) -> None:
        scan = self.route(interaction)
        if scan is None:
            self.unattributed += 1
            return
        data = interaction.to_dict()
        if interaction.protocol == "dns":
            query = self.server.latest_dns_query()
            if (
                query is not None
                and query.txid == interaction.dns_txid
                and query.source_port == interaction.source_port
                and query.qname == interaction.dns_qname
            ):
                data["query"] = dataclasses.asdict(query)
        self._append(scan, "interaction", data)

    def _on_behavior(self, token: str, report: dict[str, object]) -> None:
        scan = self.claims.get(token)
        if scan is not None:
            self._append(scan, "behavior", {"token": token, "report": report})

    def _append(self, scan: ScanSpace, kind: str, data: dict[str, Any]) -> None:
        scan.append(kind, data)
        total = sum(len(s.events) for s in self.scans.values())
        while total > self.config.max_total_events:
            busiest = max(self.scans.values(), key=lambda s: len(s.events))
            busiest.events.popleft()
            busiest.dropped += 1
            total -= 1

    # -- retention -------------------------------------------------------------------------

    def _drop(self, scan: ScanSpace) -> None:
        self.scans.pop(scan.id, None)
        self.by_namespace.pop(scan.namespace, None)
        for token in scan.claims:
            if self.claims.get(token) is scan:
                del self.claims[token]
                self.server.forget_token(token)
        scan.claims.clear()
        scan.events.clear()
        scan.close()

    def sweep(self, now: float | None = None) -> None:
        """Drop events older than event_ttl and scans idle for longer than scan_ttl."""
        now = time.time() if now is None else now
        for scan in list(self.scans.values()):
            if now - scan.last_seen > self.config.scan_ttl:
                log.info("scan %s expired (idle)", scan.id)
                self._drop(scan)
                continue
            while scan.events and now - scan.events[0].time > self.config.event_ttl:
                scan.events.popleft()
                scan.dropped += 1

    async def _sweep_forever(self) -> None:
        interval = max(
            0.05,
            min(self.config.sweep_interval, self.config.event_ttl / 4, self.config.scan_ttl / 4),
        )
        while True:
            await asyncio.sleep(interval)  # a periodic timer, not a wait for an event
            self.sweep()

    # -- HTTP handlers ---------------------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/v1/health":
            return await handler(request)  # type: ignore[no-any-return]
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        key_id = self.keys.verify(presented.strip()) if scheme.lower() == "bearer" else None
        if key_id is None:
            return _error(401, "missing or wrong API key", {"WWW-Authenticate": "Bearer"})
        request[KEY_ID] = key_id
        return await handler(request)  # type: ignore[no-any-return]

    def _scan(self, request: web.Request) -> ScanSpace:
        scan = self.scans.get(request.match_info["scan"])
        # Another key's scan is indistinguishable from no scan at all.
        if scan is None or not hmac.compare_digest(scan.key_id, request[KEY_ID]):
            raise _http_error(404, "no such scan (deregistered, expired, or another key's)")
        scan.last_seen = time.time()
        return scan

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "api": API_VERSION})

    def describe(self, scan: ScanSpace) -> dict[str, Any]:
        srv = self.server
        return {
            "scan": scan.id,
            "namespace": scan.namespace,
            "label": scan.label,
            "zone": srv.zone,
            "scan_zone": f"{scan.namespace}.{srv.zone}",
            "advertise": srv.advertise_host,
            "http_port": srv.http_port,
            "https_port": srv.https_port,
            "dns_port": srv.dns_port,
            "callback_tls_sha256": srv.tls_fingerprint,
            "dnssec_anchored": srv.config.dnssec_anchored,
            "capabilities": sorted(srv.capabilities - {"inside"}),
            "retention": {
                "max_events": scan.max_events,
                "event_ttl": self.config.event_ttl,
                "scan_ttl": self.config.scan_ttl,
            },
            "seq": scan.seq,
            "dropped": scan.dropped,
        }

    async def _register(self, request: web.Request) -> web.Response:
        body = await _json_body(request, required=False)
        if len(self.scans) >= self.config.max_scans:
            self.sweep()
            if len(self.scans) >= self.config.max_scans:
                return _error(503, "too many registered scans; try again later")
        label = str(body.get("label") or "")[:100]
        now = time.time()
        namespace = _new_namespace()
        while namespace in self.by_namespace:
            namespace = _new_namespace()
        scan = ScanSpace(
            id=secrets.token_urlsafe(24),
            namespace=namespace,
            key_id=request[KEY_ID],
            label=label,
            created=now,
            last_seen=now,
            max_events=self.config.max_events,
        )
        self.scans[scan.id] = scan
        self.by_namespace[namespace] = scan
        log.info("scan %s registered (namespace %s, key %s)", scan.id, namespace, scan.key_id)
        return web.json_response(self.describe(scan), status=201)

    async def _describe(self, request: web.Request) -> web.Response:
        return web.json_response(self.describe(self._scan(request)))

    async def _deregister(self, request: web.Request) -> web.Response:
        self._drop(self._scan(request))
        return web.Response(status=204)

    async def _poll(self, request: web.Request) -> web.Response:
        scan = self._scan(request)
        after = _int_arg(request, "after", 0)
        wait = min(MAX_WAIT, max(0.0, _float_arg(request, "wait", 0.0)))
        events = scan.after(after)
        if not events and wait > 0 and not scan.closed:
            wake = scan.wake
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await wake.wait()
            scan.last_seen = time.time()
            events = scan.after(after)
        return web.json_response(
            {
                "events": [e.to_dict() for e in events],
                "next": events[-1].seq if events else max(after, 0),
                "seq": scan.seq,
                "dropped": scan.dropped,
                "oldest": scan.events[0].seq if scan.events else scan.seq + 1,
            }
        )

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        scan = self._scan(request)
        after = _int_arg(request, "after", 0)
        last = request.headers.get("Last-Event-ID", "")
        if last.isdigit():
            after = max(after, int(last))
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        await response.write(b"retry: 1000\n\n")
        try:
            while not scan.closed:
                wake = scan.wake
                events = scan.after(after)
                for event in events:
                    payload = json.dumps(event.to_dict(), separators=(",", ":"))
                    await response.write(
                        f"id: {event.seq}\nevent: {event.kind}\ndata: {payload}\n\n".encode()
                    )
                    after = event.seq
                scan.last_seen = time.time()  # an open stream keeps its scan alive
                if events:
                    continue
                try:
                    async with asyncio.timeout(HEARTBEAT):
                        await wake.wait()
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
            await response.write(b"event: end\ndata: {}\n\n")
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response

    def _claim(self, scan: ScanSpace, token: str) -> str:
        token = token.lower()
        if not is_token(token):
            raise _http_error(400, "not a token (fb + 10 letters or digits)")
        owner = self.claims.get(token)
        if owner is not None and owner is not scan:
            raise _http_error(409, "this token belongs to another scan")
        if owner is None:
            if len(scan.claims) >= MAX_CLAIMS:
                raise _http_error(429, f"at most {MAX_CLAIMS} configured tokens per scan")
            self.claims[token] = scan
            scan.claims.add(token)
        return token

    async def _redirect(self, request: web.Request) -> web.Response:
        scan = self._scan(request)
        body = await _json_body(request)
        token = self._claim(scan, request.match_info["token"])
        try:
            self.server.set_redirect(
                token, str(body.get("location", "")), int(body.get("status", 302))
            )
        except (TypeError, ValueError) as exc:
            return _error(400, str(exc))
        return web.Response(status=204)

    async def _behavior(self, request: web.Request) -> web.Response:
        scan = self._scan(request)
        body = await _json_body(request)
        token = self._claim(scan, request.match_info["token"])
        try:
            self.server.set_behavior(
                token,
                str(body.get("behavior", "")),
                stall=min(60.0, float(body.get("stall", 8.0))),
                size=min(64 * 1024 * 1024, int(body.get("size", 20 * 1024 * 1024))),
            )
        except (TypeError, ValueError) as exc:
            return _error(400, str(exc))
        return web.Response(status=204)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _http_error(status: int, message: str) -> web.HTTPException:
    exc = web.HTTPException(text=json.dumps({"error": message}), content_type="application/json")
    exc.set_status(status)
    return exc


async def _json_body(request: web.Request, required: bool = True) -> dict[str, Any]:
    if not request.can_read_body:
        if required:
            raise _http_error(400, "a JSON object body is required")
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise _http_error(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise _http_error(400, "the body must be a JSON object")
    return body


def _int_arg(request: web.Request, name: str, default: int) -> int:
    try:
        return int(request.query.get(name, default))
    except ValueError:
        raise _http_error(400, f"{name} must be a whole number") from None


def _float_arg(request: web.Request, name: str, default: float) -> float:
    try:
        value = float(request.query.get(name, default))
    except ValueError:
        raise _http_error(400, f"{name} must be a number") from None
    if value != value:  # NaN
        raise _http_error(400, f"{name} must be a number")
    return value
