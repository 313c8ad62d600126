"""Fetch a user-supplied URL without SSRF, standard library only.

Resolve the host once, refuse it if ANY answer is not a public address, then connect to the
address that was checked (never to the name again: DNS rebinding), with redirects re-validated
hop by hop, a timeout and a size cap. Ports 80/443 only by default; optional host allow- and
deny-lists. A deny rule always wins over an allow rule. Copy this file into a Flask app and call
``safe_fetch``.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Net = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = frozenset({"http", "https"})
MAX_REDIRECTS = 3
TIMEOUT = 3.0  # seconds, per connect and per read
MAX_BYTES = 1 << 20  # 1 MiB
ALLOWED_PORTS: frozenset[int] | None = frozenset({80, 443})  # None: any port
# Host names: "api.example.com" exactly, ".example.com" for it and every name below it.
ALLOW_HOSTS: set[str] = set()  # non-empty: only these hosts (and still only public addresses)
DENY_HOSTS: set[str] = set()  # never these hosts, even when ALLOW_HOSTS lists them
# Networks to allow although the classifier refuses them (e.g. one internal service you trust).
# Empty in production; a test lab may append to it.
ALLOW_EXTRA: list[Net] = []

_N = ipaddress.ip_network
# Non-global IPv4: RFC 6890 special-purpose blocks plus what the registry does not carry.
_DENY_V4 = [
    _N(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "168.63.129.16/32",  # Azure wire server: a public-looking address that is internal
    )
]  # fmt: skip
_DENY_V6 = [
    _N(n)
    for n in (
        "::/128", "::1/128", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20",
        "5f00::/16", "64:ff9b:1::/48", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
]  # fmt: skip
_TEREDO = _N("2001::/32")
# Refused even when ALLOW_EXTRA covers them (deny wins): cloud metadata and the unspecified
# addresses, never a legitimate destination. Append your own.
DENY_EXTRA: list[Net] = [
    _N(n)
    for n in (
        "169.254.169.254/32", "169.254.170.2/32", "100.100.100.200/32", "192.0.0.192/32",
        "168.63.129.16/32", "fd00:ec2::254/128", "0.0.0.0/32", "::/128",
    )
]  # fmt: skip


class BlockedURL(ValueError):
    """The URL or an address it resolves to is not allowed."""


@dataclass
class FetchResult:
    status: int
    url: str  # the final URL, after redirects
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """IPv4 destinations carried inside an IPv6 address, or None when it carries none."""
    n = int(ip)
    low = ipaddress.IPv4Address(n & 0xFFFFFFFF)
    if n >> 32 in (0, 0xFFFF, 0xFFFF0000):  # IPv4-compatible, -mapped, -translated (SIIT)
        return [low]
    if ip in _N("64:ff9b::/96"):  # NAT64 well-known prefix
        return [low]
    if ip in _N("2002::/16"):  # 6to4: IPv4 in bits 16..48
        return [ipaddress.IPv4Address((n >> 80) & 0xFFFFFFFF)]
    if ip in _TEREDO:  # server, and the client stored bit-inverted
        return [
            ipaddress.IPv4Address((n >> 64) & 0xFFFFFFFF),
            ipaddress.IPv4Address(~n & 0xFFFFFFFF),
        ]
    return None


def _denied(ip: IP) -> bool:
    """In DENY_EXTRA, directly or wrapped in an IPv6 form that carries an IPv4 address."""
    if any(ip.version == net.version and ip in net for net in DENY_EXTRA):
        return True
    inner = _embedded_v4(ip) if isinstance(ip, ipaddress.IPv6Address) and int(ip) > 1 else None
    return inner is not None and any(_denied(v4) for v4 in inner)


def is_blocked(ip: IP | str) -> bool:
    """True when a fetcher must not connect to ``ip``: a complete non-global classifier."""
    ip = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if _denied(ip):  # before any allow rule: deny always wins
        return True
    if any(ip.version == net.version and ip in net for net in ALLOW_EXTRA):
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if int(ip) <= 1:  # :: and ::1, before ::/96 would read them as 0.0.0.0 / 0.0.0.1
            return True
        inner = _embedded_v4(ip)
        if inner is not None:  # a wrapper: the answer is about where the packet really goes
            return any(is_blocked(v4) for v4 in inner)
        deny: list[Net] = list(_DENY_V6)
    else:
        deny = list(_DENY_V4)
    if any(ip in net for net in deny):
        return True
    # ipaddress alone is incomplete (see above), but it is a useful last net for anything missed.
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified


def _resolve(host: str, port: int) -> str:
    """Resolve once; refuse if any answer is blocked; return the address to connect to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OSError(f"cannot resolve {host!r}: {exc}") from exc
    addresses = [str(info[4][0]).split("%")[0] for info in infos]
    if not addresses or any(is_blocked(a) for a in addresses):
        raise BlockedURL(f"{host} resolves to a non-public address")
    return addresses[0]


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a fixed IP, with SNI and certificate check against the original name."""

    def __init__(self, ip: str, port: int, server_name: str, timeout: float) -> None:
        super().__init__(ip, port, timeout=timeout)
        self._server_name = server_name
        self._ctx = ssl.create_default_context()  # verifies the chain and the hostname

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._ctx.wrap_socket(sock, server_hostname=self._server_name)


def _host_in(name: str, rules: set[str]) -> bool:
    rules = {r.lower() for r in rules}
    return any(name == r.lstrip(".") or (r.startswith(".") and name.endswith(r)) for r in rules)


def _check_url(url: str) -> tuple[str, str, int, str]:
    """Validate scheme and authority; return (scheme, ascii host, port, path?query)."""
    if any(c in url for c in "\\\t\r\n ") or not url.isprintable():
        raise BlockedURL("control characters or backslash in URL")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES or not parts.hostname:
        raise BlockedURL("scheme or host not allowed")
    if parts.username is not None or parts.password is not None:
        raise BlockedURL("credentials in URL")  # http://trusted@127.0.0.1/ tricks
    try:
        port = parts.port or (443 if scheme == "https" else 80)
        host = parts.hostname
        if ":" not in host:  # a name (IPv6 literals stay as they are)
            host = host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError) as exc:
        raise BlockedURL(f"bad host or port: {exc}") from exc
    if ALLOWED_PORTS is not None and port not in ALLOWED_PORTS:
        raise BlockedURL(f"port {port} not allowed")
    name = host.lower().rstrip(".")
    if _host_in(name, DENY_HOSTS) or (ALLOW_HOSTS and not _host_in(name, ALLOW_HOSTS)):
        raise BlockedURL(f"host {name} not allowed")
    target = parts.path or "/"
    return scheme, host, port, target + (f"?{parts.query}" if parts.query else "")


def safe_fetch(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
    max_bytes: int = MAX_BYTES,
    follow_redirects: bool = True,
) -> FetchResult:
    """Fetch ``url`` the safe way. Raises BlockedURL (answer 400) or OSError (answer 502).

    With ``follow_redirects=False`` a 3xx comes back as it is (its Location unchecked: whoever
    follows it must call safe_fetch again).
    """
    for _hop in range(MAX_REDIRECTS + 1):
        scheme, host, port, target = _check_url(url)
        ip = _resolve(host, port)  # connect to THIS address; never resolve the name again
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = _PinnedHTTPS(ip, port, host, timeout)
        else:
            conn = http.client.HTTPConnection(ip, port, timeout=timeout)
        default_port = 443 if scheme == "https" else 80
        host_header = f"[{host}]" if ":" in host else host
        sent = {"Host": host_header if port == default_port else f"{host_header}:{port}"}
        try:
            conn.request(method, target, body=body, headers={**(headers or {}), **sent})
            resp = conn.getresponse()
            location = resp.getheader("Location")
            if follow_redirects and resp.status in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)  # re-validated at the top of the loop
                if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
                    method, body = "GET", None
                continue
            data = resp.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise OSError(f"response larger than {max_bytes} bytes")
            return FetchResult(resp.status, url, data, dict(resp.getheaders()))
        except (http.client.HTTPException, ssl.SSLError) as exc:
            raise OSError(f"fetch failed: {exc}") from exc
        finally:
            conn.close()
    raise BlockedURL(f"more than {MAX_REDIRECTS} redirects")
