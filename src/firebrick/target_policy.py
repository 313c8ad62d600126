"""Which targets firebrick scans on behalf of someone else (MCP over HTTP; the service later).

A scanner that takes URLs from remote callers must not become an SSRF proxy into its own
network: a target whose name resolves to any non-global address (loopback, private, link-local,
metadata, CGNAT, IPv4-mapped, NAT64, 6to4 and Teredo forms...) is refused unless the operator
allowed that network (``--allow-network CIDR``, for self-hosted internal use). The classifier is
the one the standard-library safe fetcher uses, so the two cannot disagree.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import ThreadedResolver
from aiohttp.abc import AbstractResolver, ResolveResult

from firebrick.errors import UsageError
from firebrick.remediation.snippets.safe_fetch_stdlib import is_blocked

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetRefused(UsageError):
    """The target is not one this server scans for a remote caller."""


def parse_networks(values: list[str] | tuple[str, ...]) -> tuple[Network, ...]:
    out: list[Network] = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise UsageError(f"invalid --allow-network {value!r}: expected a CIDR") from None
    return tuple(out)


@dataclass(frozen=True)
class TargetPolicy:
    allow: tuple[Network, ...] = ()

    def allowed(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if any(ip in net for net in self.allow):
            return True
        return not is_blocked(ip)

    def check(self, url: str) -> list[str]:
        """The target's addresses; raises TargetRefused when any of them is not allowed.

        Every address counts: a name with one public and one internal answer is refused, since
        the scan's own connections could go to either.
        """
        parts = urlsplit(url)
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host:
            raise TargetRefused(f"not an http(s) URL: {url!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, ValueError) as exc:
            raise TargetRefused(f"cannot resolve {host}: {exc}") from None
        addresses = sorted({str(info[4][0]) for info in infos})
        for address in addresses:
            if not self.allowed(address):
                raise TargetRefused(
                    f"{host} resolves to {address}, a non-global address: this server does not "
                    "scan internal targets for remote callers (the operator can allow a network "
                    "with --allow-network CIDR)"
                )
        return addresses


class PolicyResolver(AbstractResolver):
    """An aiohttp resolver that refuses addresses the policy does not allow, at connect time.

    aiohttp connects to exactly the addresses its resolver returns, so the check and the
    connection use the same answer: a name that rebinds between two lookups cannot slip through,
    and redirects are new connections that go through here again. (Literal IP hosts never reach
    a resolver: ``TargetPolicy.check`` covers them before the scan starts.)
    """

    def __init__(self, policy: TargetPolicy) -> None:
        self.policy = policy
        self._inner: AbstractResolver = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        infos = await self._inner.resolve(host, port, family)
        for info in infos:
            address = str(info["host"])
            if not self.policy.allowed(address):
                raise OSError(f"{host} resolves to {address}: refused by the target policy")
        return list(infos)

    async def close(self) -> None:
        await self._inner.close()
