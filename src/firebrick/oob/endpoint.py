"""The one interface checks use for out-of-band work, whether the listeners are ours or remote.

``OOBServer`` (listeners in this process) and ``RemoteOOB`` (a shared ``firebrick oob-server``
reached over its HTTPS client API) both satisfy ``OOBEndpoint``; checks, the engine and the
context are typed against it and never ask which one they hold. What one side cannot do is
named in ``capabilities`` (see ``CAPABILITIES``) and, for a remote server, in
``RemoteOOB.unavailable()`` with the consequence for the verdicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from firebrick.model import Exchange, Interaction
    from firebrick.oob.dns_listener import QueryInfo
    from firebrick.oob.server import OOBConfig

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
