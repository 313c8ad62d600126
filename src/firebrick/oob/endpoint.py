"""The one interface checks use for out-of-band work, whether the listeners are ours or remote.

``OOBServer`` (listeners in this process) and ``RemoteOOB`` (a shared ``firebrick oob-server``
reached over its HTTPS client API) both satisfy ``OOBEndpoint``; checks, the engine and the
context are typed against it and never ask which one they hold. What one side cannot do is
named in ``capabilities`` (see ``CAPABILITIES``) and, for a remote server, in
``RemoteOOB.unavailable()`` with the consequence for the verdicts. What the two share (tokens,
the book of interactions, waiters, payload forms) is written once, in ``EndpointBase``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from firebrick.oob import names
from firebrick.oob import tokens as _tokens

if TYPE_CHECKING:
    from firebrick.model import Exchange, Interaction
    from firebrick.oob.dns_listener import QueryInfo
    from firebrick.oob.server import OOBConfig

CANARY_PREFIX = "firebrick-canary-"

# What an endpoint may offer. Checks degrade (or say "not determined") when one is missing.
CAPABILITIES: dict[str, str] = {
    "http": "HTTP callbacks to the advertised address",
    "https": "HTTPS callbacks (self-signed certificate)",
    "dns": "an authoritative DNS zone: names, poisoned names (a-...), CNAME chains",
    "rebinding": "rebinding names (rb-...: first answer public, later ones internal)",
    "redirect": "per-token redirects (the redirect bypass of SSRF guards)",
    "behavior": "per-token unsafe-consumption answers (stall, huge body, html-script)",
    "dns-queries": "resolver hygiene data per query (source port, txid, 0x20, EDNS, DO)",
    "dnssec": "the zone signed online, with one deliberately broken name",
    "inside": "an inside listener on the target's loopback (proves internal reach)",
}


@runtime_checkable
class OOBEndpoint(Protocol):
    """What checks may call on the OOB side (tokens, payload forms, interactions, behaviours)."""

    zone: str  # names are built under it (a remote scan's zone includes its namespace label)
    advertise_host: str
    http_port: int
    https_port: int | None
    dns_port: int | None
    inside_port: int | None
    tls_fingerprint: str | None
    config: OOBConfig  # inside_host, dnssec_anchored ... as the endpoint really is

    @property
    def capabilities(self) -> frozenset[str]: ...

    async def start(self) -> None: ...
    async def stop(self) -> None: ...

    # tokens and payload forms
    def new_token(self, purpose: str = "") -> str: ...
    def purpose(self, token: str) -> str | None: ...
    def http_url(self, token: str, suffix: str = "") -> str: ...
    def https_url(self, token: str, suffix: str = "") -> str: ...
    def inside_url(self, token: str, host: str | None = None, suffix: str = "") -> str: ...
    def dns_name(self, token: str) -> str: ...
    def name_answering(self, token: str, address: str) -> str: ...
    def rebinding_name(self, token: str, address: str) -> str: ...
    def canary(self, token: str) -> str: ...
    def script_canary(self, token: str) -> str: ...

    # what the listeners answer, per token
    def set_redirect(self, token: str, location: str, status: int = 302) -> None: ...
    def set_behavior(
        self, token: str, behavior: str, *, stall: float = 8.0, size: int = 20 * 1024 * 1024
    ) -> None: ...
    def behavior_reports(self, token: str) -> list[dict[str, object]]: ...
    async def wait_behavior(self, token: str, timeout: float) -> bool: ...

    # interactions
    def interactions(self, token: str | None = None) -> list[Interaction]: ...
    async def wait_for(
        self, tokens: Iterable[str], timeout: float, protocols: set[str] | None = None
    ) -> bool: ...
    @property
    def outstanding(self) -> set[str]: ...
    def dns_queries(self, token: str | None = None) -> list[QueryInfo]: ...

    async def settle(self, exchange: Exchange) -> None:
        """Make visible every interaction that reached the listeners before ``exchange`` came
        back (the engine awaits it after each request). Local listeners record before the
        target answers, so theirs is a no-op; a remote one catches up when the request carried
        one of its payloads."""
        ...


@dataclass
class _Waiter:
    tokens: frozenset[str]
    protocols: frozenset[str] | None
    future: asyncio.Future[bool]


_HasToken = TypeVar("_HasToken", "Interaction", "QueryInfo")


def url_host(host: str) -> str:
    """Bracket a bare IPv6 literal for use in a URL; leave everything else as written."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


class EndpointBase:
    """What ``OOBServer`` and ``RemoteOOB`` share: the tokens a scan issued, the book of
    interactions and behaviour reports kept for them, the waiters on them and the payload
    forms built from them. Each side fills the book its own way (``_book``)."""

    BEHAVIORS = ("stall", "huge", "html-script")
    _what = "OOB endpoint"  # how errors name this side
    _no_https = "no HTTPS listener"  # the error of ``https_url`` when https_port is None

    zone: str
    advertise_host: str
    http_port: int
    https_port: int | None

    def __init__(self, max_interactions: int) -> None:
        self._issued: dict[str, str] = {}  # token -> purpose
        self._hits: dict[str, set[str]] = {}  # issued token -> protocols seen (never evicted)
        self._interactions: deque[Interaction] = deque(maxlen=max_interactions)
        self._behavior_reports: dict[str, list[dict[str, object]]] = {}
        self._behavior_events: dict[str, asyncio.Event] = {}
        self._waiters: list[_Waiter] = []
        self._started = False

    # -- tokens and payload forms ----------------------------------------------------------

    def new_token(self, purpose: str = "") -> str:
        """A fresh token, registered as outstanding until something carrying it arrives."""
        token = _tokens.new_token()
        while token in self._issued:  # 36**10 space: practically never loops
            token = _tokens.new_token()
        self._issued[token] = purpose
        return token

    def purpose(self, token: str) -> str | None:
        return self._issued.get(token.lower())

    def resolve_token(self, text: str) -> str | None:
        """The first issued token found in ``text`` (a path, host or qname), lower-cased."""
        for candidate in _tokens.candidates(text):
            if candidate in self._issued:
                return candidate
        return None

    def _require_started(self) -> None:
        if not self._started:
            raise RuntimeError(f"{self._what} not started")

    def _path(self, token: str, suffix: str) -> str:
        """The callback path carrying ``token`` (a remote scan puts its namespace first)."""
        return f"/{token}{suffix}"

    def http_url(self, token: str, suffix: str = "") -> str:
        """``http://<advertise>:<http_port>/<token><suffix>`` (see ``_path``)."""
        self._require_started()
        return f"http://{url_host(self.advertise_host)}:{self.http_port}{self._path(token, suffix)}"

    def https_url(self, token: str, suffix: str = "") -> str:
        self._require_started()
        if self.https_port is None:
            raise RuntimeError(self._no_https)
        return (
            f"https://{url_host(self.advertise_host)}:{self.https_port}{self._path(token, suffix)}"
        )

    def dns_name(self, token: str) -> str:
        """``<token>.<zone>``: answers the advertised address."""
        return f"{token}.{self.zone}"

    def name_answering(self, token: str, address: str) -> str:
        """``<token>.a-127-0-0-1.<zone>``: answers ``address`` (A; IPv6 via an ``a6-`` label)."""
        return f"{token}.{names.address_label(address)}.{self.zone}"

    def rebinding_name(self, token: str, address: str) -> str:
        """``<token>.rb-127-0-0-1.<zone>``: first A query -> advertise_host, later -> ``address``.

        Both with TTL 0. The count is per name (case-insensitive) and starts at the first query
        the DNS listener sees, whoever sends it; the scanner must not resolve its own payloads.
        """
        return f"{token}.{names.rebinding_label(address)}.{self.zone}"

    def canary(self, token: str) -> str:
        """``firebrick-canary-<token>``: the body of a normal hit contains it."""
        return f"{CANARY_PREFIX}{token.lower()}"

    def script_canary(self, token: str) -> str:
        """The script line the html-script page carries (reflected unchanged = unsanitized)."""
        return f"<script>/*{self.canary(token)}*/</script>"

    # -- per-token answers: what both sides accept -----------------------------------------

    @staticmethod
    def _check_redirect(location: str, status: int) -> None:
        if not 300 <= status <= 399:
            raise ValueError(f"redirect status must be 3xx, got {status}")
        if any(ch in location for ch in "\r\n\x00"):
            raise ValueError("redirect location must not contain CR, LF or NUL")

    def _check_behavior(self, behavior: str) -> None:
        if behavior not in self.BEHAVIORS:
            raise ValueError(f"behavior must be one of {self.BEHAVIORS}, not {behavior!r}")

    def behavior_reports(self, token: str) -> list[dict[str, object]]:
        """For a behaviour token: {"held_s", "client_left"} (stall), {"sent", "complete"} (huge)."""
        return list(self._behavior_reports.get(token.lower(), []))

    def _book_behavior(self, token: str, report: dict[str, object]) -> None:
        self._behavior_reports.setdefault(token, []).append(report)
        self._behavior_events.setdefault(token, asyncio.Event()).set()

    async def wait_behavior(self, token: str, timeout: float) -> bool:
        """True as soon as a behaviour token has a report; False after ``timeout`` seconds."""
        event = self._behavior_events.setdefault(token.lower(), asyncio.Event())
        try:
            async with asyncio.timeout(max(0.0, timeout)):
                await event.wait()
        except TimeoutError:
            return False
        return True

    # -- interactions ------------------------------------------------------------------------

    @staticmethod
    def _of_token(items: Iterable[_HasToken], token: str | None) -> list[_HasToken]:
        """``items`` (oldest first), or those attributed to ``token``."""
        if token is None:
            return list(items)
        wanted = token.lower()
        return [item for item in items if item.token == wanted]

    def interactions(self, token: str | None = None) -> list[Interaction]:
        """All recorded interactions (oldest first), or those of ``token``."""
        return self._of_token(self._interactions, token)

    @property
    def outstanding(self) -> set[str]:
        """Tokens issued by ``new_token`` that no interaction has carried yet."""
        return {t for t in self._issued if t not in self._hits}

    def _book(self, interaction: Interaction) -> None:
        """Keep ``interaction`` (the oldest falls out) and wake the waiters on its token."""
        self._interactions.append(interaction)
        token = interaction.token
        if token is None:
            return
        if token in self._issued:
            self._hits.setdefault(token, set()).add(interaction.protocol)
        for waiter in self._waiters:
            if (
                not waiter.future.done()
                and token in waiter.tokens
                and (waiter.protocols is None or interaction.protocol in waiter.protocols)
            ):
                waiter.future.set_result(True)

    async def wait_for(
        self, tokens: Iterable[str], timeout: float, protocols: set[str] | None = None
    ) -> bool:
        """True as soon as any of ``tokens`` has an interaction (of ``protocols``, if given).

        Returns immediately when one already arrived; False after ``timeout`` seconds.
        """
        wanted = frozenset(t.lower() for t in tokens)
        wanted_protocols = frozenset(protocols) if protocols is not None else None
        if not wanted:
            return False
        if self._already_seen(wanted, wanted_protocols):
            return True
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(wanted, wanted_protocols, future)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(max(0.0, timeout)):
                return await future
        except TimeoutError:
            return False
        finally:
            self._waiters.remove(waiter)

    def _release_waiters(self) -> None:
        """Nothing more will arrive (stopped, feed lost): every pending ``wait_for`` is False."""
        for waiter in self._waiters:
            if not waiter.future.done():
                waiter.future.set_result(False)

    def _already_seen(self, wanted: frozenset[str], protocols: frozenset[str] | None) -> bool:
        unissued = False
        for token in wanted:
            if token in self._issued:
                seen = self._hits.get(token)
                if seen and (protocols is None or seen & protocols):
                    return True
            else:
                unissued = True
        if unissued:  # tokens we did not issue (standalone use): look through what is kept
            return any(
                i.token in wanted and (protocols is None or i.protocol in protocols)
                for i in self._interactions
            )
        return False
