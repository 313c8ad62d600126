"""The OOB server: lifecycle, tokens, interactions, and what the listeners answer.

One OOBServer per scan, inside the scanner's event loop (asyncio servers, no threads). Every
payload gets its own token from ``new_token``; whatever reaches a listener is recorded as an
``Interaction`` and attributed to the token it carries, and ``wait_for`` wakes on that event.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from firebrick.model import Interaction
from firebrick.oob import names, tls
from firebrick.oob import tokens as _tokens
from firebrick.oob.dns_listener import DNSListener, DNSStats, QueryInfo
from firebrick.oob.dnssec import ZoneSigner
from firebrick.oob.endpoint import EndpointBase, url_host
from firebrick.oob.http_listener import HTTPListener, Reply

log = logging.getLogger("firebrick.oob")


@dataclass
class OOBConfig:
    listen_host: str = "127.0.0.1"  # where the public listeners bind
    http_port: int = 0  # 0 = ephemeral
    https_port: int | None = 0  # None = no HTTPS listener
    dns_port: int | None = 0  # None = no DNS listener; UDP, plus TCP on the same port if free
    zone: str = "oob.firebrick.test"  # the zone the DNS listener is authoritative for
    advertise_host: str | None = None  # address the target should call back (default listen_host)
    # If set, ALSO bind an "inside" HTTP listener here (ephemeral port); its interactions get
    # listener="inside".
    inside_host: str | None = None
    max_interactions: int = 10000  # memory bound; oldest dropped beyond it
    ignore_sources: frozenset[str] = field(default_factory=frozenset)  # source IPs dropped
    http_read_timeout: float = 10.0  # per request: headers + body must arrive within it
    dns_ttl: int = 0  # TTL of the dynamic answers (0: resolvers ask again, every query is seen)
    # Sign the zone on the fly (DNSKEY, RRSIG, NSEC; one broken name) for DNSSEC tests.
    dnssec: bool = True
    # True when resolvers under test hold the zone's trust anchor (or the parent has its DS):
    # only then does a resolver that sets DO and returns the broken name prove non-validation.
    dnssec_anchored: bool = False


class OOBServer(EndpointBase):
    _what = "OOB server"
    _no_https = "the HTTPS listener is disabled (https_port=None)"

    def __init__(self, config: OOBConfig) -> None:
        if config.max_interactions < 1:
            raise ValueError("max_interactions must be at least 1")
        super().__init__(config.max_interactions)
        self.config = config
        self.zone: str = ".".join(names.zone_labels(config.zone))
        if not self.zone:
            raise ValueError("zone must not be empty")
        self.advertise_host: str = config.advertise_host or config.listen_host
        if _is_unspecified(self.advertise_host):
            # 0.0.0.0 in an answer would send the target to its own loopback: refuse instead.
            raise ValueError(
                f"advertise_host is required when listening on {config.listen_host!r}: "
                "give the address targets should call back"
            )
        self.http_port: int = 0
        self.https_port: int | None = None
        self.dns_port: int | None = None
        self.inside_port: int | None = None
        # Extra listeners attached after start (the --launch sandbox): name -> port.
        self.attached: dict[str, int] = {}
        # Base URLs of further public callbacks (same machine: another 127/8 address).
        self.alt_callbacks: list[str] = []
        self._replies: dict[str, Callable[[str | None], Reply]] = {}
        self.tls_fingerprint: str | None = None  # sha256 of the HTTPS certificate, hex
        self.recorded_total = 0  # interactions recorded since start, including dropped ones
        self._redirects: dict[str, tuple[int, str]] = {}
        self._behaviors: dict[
            str, tuple[str, float, int]
        ] = {}  # token -> (behavior, stall s, bytes)
        self._subscribers: list[Callable[[Interaction], None]] = []
        self._behavior_subscribers: list[Callable[[str, dict[str, object]], None]] = []
        self._ignore = {_normalize_ip(ip) for ip in config.ignore_sources}
        self._http: list[HTTPListener] = []
        self._dns: DNSListener | None = None
        # One key per server; resolvers that should validate get its trust anchor.
        self.dnssec_signer: ZoneSigner | None = ZoneSigner(self.zone) if config.dnssec else None

    @property
    def capabilities(self) -> frozenset[str]:
        """What this endpoint offers (names from ``endpoint.CAPABILITIES``), as configured."""
        caps = {"http", "redirect", "behavior"}
        if self.config.https_port is not None:
            caps.add("https")
        if self.config.dns_port is not None:
            caps |= {"dns", "rebinding", "dns-queries"}
            if self.dnssec_signer is not None:
                caps.add("dnssec")
        if self.config.inside_host is not None:
            caps.add("inside")
        return frozenset(caps)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("OOB server already started")
        cfg = self.config
        try:
            public = self._http_listener(cfg.listen_host, cfg.http_port, "http", "public")
            await public.start()
            self.http_port = public.port
            if cfg.https_port is not None:
                hosts = [self.advertise_host, self.zone, f"*.{self.zone}"]
                material = tls.generate_self_signed(hosts=hosts)
                self.tls_fingerprint = material.sha256
                secure = self._http_listener(
                    cfg.listen_host, cfg.https_port, "https", "public", tls.server_context(material)
                )
                await secure.start()
                self.https_port = secure.port
            if cfg.inside_host is not None:
                inside = self._http_listener(cfg.inside_host, 0, "http", "inside")
                await inside.start()
                self.inside_port = inside.port
            if cfg.dns_port is not None:
                self._dns = DNSListener(
                    host=cfg.listen_host,
                    port=cfg.dns_port,
                    zone=self.zone,
                    advertise_host=self.advertise_host,
                    record=self._record,
                    ttl=cfg.dns_ttl,
                    rebind_capacity=max(cfg.max_interactions, 1000),
                    signer=self.dnssec_signer,
                )
                await self._dns.start()
                self.dns_port = self._dns.port
        except BaseException:
            await self.stop()
            raise
        self._started = True

    async def stop(self) -> None:
        for listener in self._http:
            await listener.stop()
        self._http.clear()
        if self._dns is not None:
            await self._dns.stop()
            self._dns = None
        self._release_waiters()
        self._started = False

    async def __aenter__(self) -> OOBServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def attach_listener(
        self,
        sock: socket.socket,
        listener: str,
        reply: Callable[[str | None], Reply] | None = None,
    ) -> int:
        """Serve HTTP on an already listening socket (one made inside another network namespace).

        Its interactions carry ``listener``; ``reply(token)`` replaces the usual canary answer
        (the metadata imitation). Returns the socket's port; ``attached[listener]`` keeps it.
        """
        created = self._http_listener("", 0, "http", listener)
        created.sock = sock
        if reply is not None:
            self._replies[listener] = reply
        await created.start()
        port = int(sock.getsockname()[1])
        self.attached[listener] = port
        return port

    def _http_listener(
        self,
        host: str,
        port: int,
        protocol: str,
        listener: str,
        ssl_context: ssl.SSLContext | None = None,
    ) -> HTTPListener:
        created = HTTPListener(
            host=host,
            port=port,
            protocol=protocol,
            listener=listener,
            attribute=self._attribute_http,
            respond=self._http_reply,
            record=self._record,
            ssl_context=ssl_context,
            read_timeout=self.config.http_read_timeout,
        )
        self._http.append(created)
        return created

    # -- payload forms and per-token answers (the rest: EndpointBase) ----------------------

    def inside_url(self, token: str, host: str | None = None, suffix: str = "") -> str:
        """``http://<host or inside_host>:<inside_port>/<token><suffix>``.

        ``host`` is written as given (bracketed if it is a bare IPv6 literal), so the caller can
        use odd spellings of the inside address: ``2130706433``, ``127.1``, ``[::ffff:127.0.0.1]``.
        """
        self._require_started()
        if self.inside_port is None or self.config.inside_host is None:
            raise RuntimeError("no inside listener (set OOBConfig.inside_host)")
        spelled = host if host is not None else self.config.inside_host
        return f"http://{url_host(spelled)}:{self.inside_port}/{token}{suffix}"

    def set_redirect(self, token: str, location: str, status: int = 302) -> None:
        """HTTP(S) requests carrying ``token`` answer ``status`` with ``Location: location``."""
        self._check_redirect(location, status)
        self._redirects[token.lower()] = (status, location)

    def set_behavior(
        self, token: str, behavior: str, *, stall: float = 8.0, size: int = 20 * 1024 * 1024
    ) -> None:
        """HTTP(S) requests carrying ``token`` get an unsafe-consumption answer.

        ``stall``: hold the response up to ``stall`` seconds (ended early when the client
        leaves or the server stops). ``huge``: a 200 whose body is ``size`` bytes, streamed.
        ``html-script``: a text/html page with a ``<script>`` carrying the token's canary.
        What happened is kept per token: ``behavior_reports(token)``.
        """
        self._check_behavior(behavior)
        self._behaviors[token.lower()] = (behavior, max(0.0, stall), max(0, size))

    # -- interactions (the book: EndpointBase) ----------------------------------------------

    @property
    def dns_tcp(self) -> bool:
        """True when the DNS listener also answers over TCP (same port as UDP)."""
        return self._dns is not None and self._dns.tcp_enabled

    @property
    def dns_stats(self) -> DNSStats | None:
        """Counters of the DNS listener (received, answered, malformed...), if it runs."""
        return self._dns.stats if self._dns is not None else None

    def dns_queries(self, token: str | None = None) -> list[QueryInfo]:
        """Zone queries as resolvers sent them (bounded log, oldest first), or ``token``'s."""
        if self._dns is None:
            return []
        queries = list(self._dns.queries)
        if self._ignore:
            queries = [q for q in queries if _normalize_ip(q.source_ip) not in self._ignore]
        return self._of_token(queries, token)

    def subscribe(self, callback: Callable[[Interaction], None]) -> None:
        """Call ``callback`` for every interaction recorded from now on."""
        self._subscribers.append(callback)

    async def settle(self, exchange: object) -> None:
        """Nothing to catch up: the listeners record an interaction before answering it, so it
        is here before the target's own answer reaches the scanner (``OOBEndpoint.settle``)."""

    def subscribe_behavior(self, callback: Callable[[str, dict[str, object]], None]) -> None:
        """Call ``callback(token, report)`` for every behaviour report from now on."""
        self._behavior_subscribers.append(callback)

    def latest_dns_query(self) -> QueryInfo | None:
        """The query the DNS listener logged last: inside a ``subscribe`` callback for a DNS
        interaction, the ``QueryInfo`` of that very query (it is logged just before)."""
        if self._dns is None or not self._dns.queries:
            return None
        return self._dns.queries[-1]

    def forget_token(self, token: str) -> None:
        """Drop what ``token`` answers (redirect, behaviour) and its behaviour reports."""
        key = token.lower()
        self._redirects.pop(key, None)
        self._behaviors.pop(key, None)
        self._behavior_reports.pop(key, None)
        self._behavior_events.pop(key, None)

    # -- internals -------------------------------------------------------------------------

    def _attribute(self, text: str | None) -> tuple[str | None, bool]:
        """(token, known): an issued token if ``text`` has one, else the first token-shaped one."""
        if not text:
            return None, False
        known = self.resolve_token(text)
        if known is not None:
            return known, True
        return next(iter(_tokens.candidates(text)), None), False

    def _attribute_http(self, path: str | None, host: str | None) -> str | None:
        # Issued tokens win over token-shaped noise; the path wins over the Host header.
        path_token, path_known = self._attribute(path)
        if path_known:
            return path_token
        host_token, host_known = self._attribute(host)
        if host_known:
            return host_token
        return path_token or host_token

    def _http_reply(self, token: str | None, listener: str) -> Reply:
        special = self._replies.get(listener)
        if special is not None:
            return special(token)
        if token is None:
            return Reply(404, b"not found\n")
        redirect = self._redirects.get(token)
        if redirect is not None:
            status, location = redirect
            return Reply(status, b"", location=location)
        text = f"{self.canary(token)}\nfirebrick out-of-band listener ({listener}): request seen.\n"
        behavior = self._behaviors.get(token)
        if behavior is not None:
            kind, stall, size = behavior

            def report(what: dict[str, object], token: str = token) -> None:
                self._book_behavior(token, what)
                for callback in self._behavior_subscribers:
                    try:
                        callback(token, what)
                    except Exception:
                        log.exception("OOB behaviour subscriber failed")

            if kind == "stall":
                return Reply(200, text.encode(), stall=stall, report=report)
            if kind == "huge":
                return Reply(200, text.encode(), stream_bytes=size, report=report)
            page = f"<!doctype html><title>firebrick</title><p>{self.canary(token)}</p>{self.script_canary(token)}\n"
            return Reply(200, page.encode(), content_type="text/html; charset=utf-8")
        return Reply(200, text.encode())

    def _record(self, interaction: Interaction) -> None:
        if self._ignore and _normalize_ip(interaction.source_ip) in self._ignore:
            return
        self._book(interaction)
        self.recorded_total += 1
        if interaction.token is None:
            return  # subscribers see attributed interactions only
        for callback in self._subscribers:
            try:
                callback(interaction)
            except Exception:
                log.exception("OOB interaction subscriber failed")


async def serve_forever(
    config: OOBConfig,
    on_interaction: Callable[[Interaction], None],
    *,
    on_ready: Callable[[OOBServer], None] | None = None,
) -> None:
    """Run a standalone OOB server until cancelled (``firebrick oob-server``).

    ``on_interaction`` sees every interaction; ``on_ready`` gets the started server (ports,
    zone) so the caller can print where it listens.
    """
    async with OOBServer(config) as server:
        server.subscribe(on_interaction)
        if on_ready is not None:
            on_ready(server)
        await asyncio.Event().wait()  # until the caller cancels us


def _normalize_ip(text: str) -> str:
    """Canonical text of an IP (IPv4-mapped IPv6 -> IPv4); other text lower-cased as is."""
    try:
        ip = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return text.strip().lower()
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _is_unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return host == ""
