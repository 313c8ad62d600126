"""Fetch a user-supplied URL without SSRF, with ssrfguard (pip install ssrfguard httpx).

ssrfguard resolves once, validates every answer and connects to the address it validated, and it
re-checks every redirect hop. Its shipped table misses two things, closed here: IPv4-translated
addresses (::ffff:0:a.b.c.d, RFC 2765: ::ffff:0:7f00:1 is 127.0.0.1 behind SIIT) and the Azure
wire server 168.63.129.16, which sits in public space. Its allowed_networks override the deny
table; here a deny rule always wins: ALWAYS_DENIED is cut out of every allowed network.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any

import httpx
from flask import Blueprint, jsonify, request
from ssrfguard import DEFAULT_DENIED, AddressTable, Block, Policy, Reach, SSRFGuardError
from ssrfguard.httpx import Client

TIMEOUT = 3.0  # seconds
MAX_BYTES = 1 << 20  # 1 MiB
# Built once: loading the CA bundle costs ~30 ms, too much to pay on every request.
TLS = ssl.create_default_context()

EXTRA_BLOCKS = (
    Block(ip_network("::ffff:0:0:0/96"), "IPv4-translated", "RFC2765", Reach.DENIED),
    Block(ip_network("168.63.129.16/32"), "Azure wire server", "Azure", Reach.DENIED),
)
DENY_TABLE = AddressTable(DEFAULT_DENIED.blocks + EXTRA_BLOCKS)
# Never allowed, whatever allowed_networks says: cloud metadata and the unspecified addresses.
ALWAYS_DENIED = tuple(
    ip_network(n)
    for n in (
        "169.254.169.254/32", "169.254.170.2/32", "100.100.100.200/32", "192.0.0.192/32",
        "168.63.129.16/32", "fd00:ec2::254/128", "0.0.0.0/32", "::/128",
    )
)  # fmt: skip
Net = IPv4Network | IPv6Network


def _minus(net: Net, denied: Iterable[Net]) -> list[Net]:
    """``net`` without the denied networks (split into the pieces that remain)."""
    parts = [net]
    for cut in denied:
        kept: list[Net] = []
        for part in parts:
            if part.version != cut.version or not part.overlaps(cut):
                kept.append(part)
            elif not part.subnet_of(cut):  # type: ignore[arg-type]
                kept.extend(part.address_exclude(cut))  # type: ignore[arg-type]
        parts = kept
    return parts


def make_policy(
    *,
    allowed_networks: Iterable[IPv4Network | IPv6Network | str] = (),
    allowed_ports: Iterable[int] = (80, 443),
    max_redirects: int = 3,
) -> Policy:
    """The policy: ssrfguard's defaults plus the two deny rows above; deny wins over allow."""
    allowed = [p for n in allowed_networks for p in _minus(ip_network(n), ALWAYS_DENIED)]
    return Policy(
        denied_networks=DENY_TABLE,
        allowed_networks=tuple(allowed),
        allowed_ports=frozenset(allowed_ports),
        max_redirects=max_redirects,
    )


POLICY = make_policy()


class TooLarge(Exception):
    """The response exceeded the size cap."""


def guarded_fetch(
    url: str, *, method: str = "GET", policy: Policy = POLICY, **kwargs: Any
) -> tuple[int, bytes, str]:
    """Fetch ``url``; return (status, body, content type).

    Raises SSRFGuardError (or httpx.InvalidURL) when refused; httpx.HTTPError or TooLarge when
    the fetch fails.
    """
    with (
        Client(
            policy=policy, timeout=TIMEOUT, follow_redirects=True, trust_env=False, verify=TLS
        ) as client,
        client.stream(method, url, **kwargs) as resp,
    ):
        body = bytearray()
        for chunk in resp.iter_bytes():
            body += chunk
            if len(body) > MAX_BYTES:  # stop reading: a huge body must not exhaust memory
                raise TooLarge(f"response larger than {MAX_BYTES} bytes")
        return resp.status_code, bytes(body), resp.headers.get("content-type", "")


bp = Blueprint("safe_fetch", __name__)


@bp.get("/api/image")
def image() -> Any:
    """The Flask view: 400 when the guard refuses, 502 when the fetch fails."""
    url = request.args.get("url", "")
    try:
        status, body, ctype = guarded_fetch(url)
    except (SSRFGuardError, httpx.InvalidURL):  # InvalidURL: a host httpx cannot even parse
        return jsonify(error="url not allowed"), 400
    except (httpx.HTTPError, TooLarge, OSError):
        return jsonify(error="fetch failed"), 502
    return body, status, {"Content-Type": ctype or "application/octet-stream"}
