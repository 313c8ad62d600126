"""The lab process's network sandbox: name resolution and connects that never leave the machine.

Installed only in the lab subprocess (``python -m firebrick.lab serve``), never in the scanner.
It stands in for two things a real deployment has and this machine does not:

* DNS delegation: names under the OOB zone are resolved by asking the OOB DNS listener directly,
  afresh on every call (no cache), so rebinding answers reach the lab exactly as a real
  resolver with TTL 0 would deliver them;
* a cloud network: 169.254.169.254:80 is redirected to the lab's metadata canary on loopback.

Everything else that is not loopback is refused before a packet is sent.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

METADATA_IP = ipaddress.IPv4Address("169.254.169.254")
_MAX_CNAME_HOPS = 40  # the OOB server's CNAME chains are ~26 links; a loop stops here
_DNS_TIMEOUT = 2.0
# Hosts that look numeric (decimal, octal, hex, dotted or not) or IPv6: parsed by the platform.
_NUMERIC = re.compile(r"^(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]*))*\.?$", re.I)


@dataclass
class SandboxConfig:
    zone: str = "oob.firebrick.test"
    oob_dns: tuple[str, int] | None = None
    metadata: tuple[str, int] | None = None  # where 169.254.169.254:80 really goes
    # Lab service names that resolve to 127.0.0.1 (besides localhost and *.localhost).
    service_names: set[str] = field(default_factory=set)


_lock = threading.Lock()
_config: SandboxConfig | None = None
_orig_getaddrinfo: Callable[..., Any] = socket.getaddrinfo
_orig_connect = socket.socket.connect
_orig_connect_ex = socket.socket.connect_ex


def _gaierror(host: str) -> socket.gaierror:
    return socket.gaierror(socket.EAI_NONAME, f"lab sandbox: {host!r} does not resolve")


def _query_zone(name: str, server: tuple[str, int]) -> list[str]:
    """A records for ``name`` from the OOB DNS listener, following CNAMEs like a resolver."""
    current = name
    for _ in range(_MAX_CNAME_HOPS):
        query = dns.message.make_query(current, dns.rdatatype.A)
        try:
            reply = dns.query.udp(query, server[0], port=server[1], timeout=_DNS_TIMEOUT)
        except (dns.exception.DNSException, OSError) as exc:
            raise socket.gaierror(socket.EAI_AGAIN, f"lab sandbox: {name}: {exc}") from exc
        if reply.rcode() != dns.rcode.NOERROR:
            raise _gaierror(name)
        addresses: list[str] = []
        target = current.rstrip(".").lower()
        for rrset in reply.answer:  # walk the chain inside this answer first
            owner = rrset.name.to_text().rstrip(".").lower()
            if owner != target:
                continue
            if rrset.rdtype == dns.rdatatype.CNAME:
                target = rrset[0].target.to_text().rstrip(".").lower()
            elif rrset.rdtype == dns.rdatatype.A:
                addresses.extend(r.address for r in rrset)
        if addresses:
            return addresses
        if target == current.rstrip(".").lower():
            raise _gaierror(name)
        current = target  # the chain continues outside this answer: ask again
    raise _gaierror(name)


def _resolve_name(host: str) -> list[str] | None:
    """Addresses for a lab-known name, None to parse it as a numeric host."""
    cfg = _config
    name = host.rstrip(".").lower()
    if not name:
        return None
    if ":" in name or _NUMERIC.match(name):
        return None
    if name == "localhost" or name.endswith(".localhost"):
        return ["127.0.0.1"]
    if cfg is not None and name in cfg.service_names:
        return ["127.0.0.1"]
    if cfg is not None and (name == cfg.zone or name.endswith("." + cfg.zone)):
        if cfg.oob_dns is None:
            raise _gaierror(host)  # no OOB listener configured: zone names do not resolve
        return _query_zone(name, cfg.oob_dns)
    raise _gaierror(host)  # anything else would leave the machine


def _getaddrinfo(
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> Any:
    if host is None or host in ("", b""):  # passive/bind lookups stay local
        return _orig_getaddrinfo(host, port, family, type, proto, flags)
    text = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)
    try:
        text = text.encode("idna").decode("ascii") if ":" not in text else text
    except UnicodeError as exc:
        raise _gaierror(text) from exc  # the platform would refuse it too
    addresses = _resolve_name(text)
    if addresses is None:  # numeric spelling: exactly as the platform parses it, no lookup
        return _orig_getaddrinfo(text, port, family, type, proto, flags | socket.AI_NUMERICHOST)
    out: list[Any] = []
    for address in addresses:
        if family not in (0, socket.AF_INET):
            continue
        out.extend(
            _orig_getaddrinfo(address, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        )
    if not out:
        raise _gaierror(text)
    return out


def route(family: int, address: Any, config: SandboxConfig | None) -> Any:
    """Where a connect to ``address`` really goes, or raise ConnectionRefusedError.

    Pure (no I/O) for numeric addresses, so the policy can be tested without any socket.
    """
    if family not in (socket.AF_INET, socket.AF_INET6):
        return address  # unix sockets and the like stay on the machine
    host, port = address[0], address[1]
    try:
        ip = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        # a name given straight to connect() would be resolved by C code behind our back
        infos = _getaddrinfo(host, port, family, socket.SOCK_STREAM)
        ip = ipaddress.ip_address(infos[0][4][0])
        address = (str(ip), port, *address[2:])
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    v4 = mapped or (ip if isinstance(ip, ipaddress.IPv4Address) else None)
    if ip.is_loopback or (v4 is not None and v4.is_loopback):
        return address
    if v4 is not None and v4 == ipaddress.IPv4Address("0.0.0.0"):
        # Linux delivers a connect to 0.0.0.0 to the local host; do that, on loopback.
        return ("::ffff:127.0.0.1" if mapped else "127.0.0.1", port, *address[2:])
    if v4 == METADATA_IP and port == 80 and config is not None and config.metadata is not None:
        mhost, mport = config.metadata
        return (f"::ffff:{mhost}" if mapped else mhost, mport, *address[2:])
    raise ConnectionRefusedError(errno.ECONNREFUSED, f"lab sandbox: {ip} is outside the lab")


def _connect(self: Any, address: Any) -> None:
    _orig_connect(self, route(self.family, address, _config))


def _connect_ex(self: Any, address: Any) -> int:
    try:
        target = route(self.family, address, _config)
    except ConnectionRefusedError:
        return errno.ECONNREFUSED
    except socket.gaierror:
        return errno.EHOSTUNREACH
    return _orig_connect_ex(self, target)


def install(config: SandboxConfig) -> None:
    """Hook resolution and connects in this process. Idempotent; the last config wins."""
    global _config
    with _lock:
        _config = config
        socket.getaddrinfo = _getaddrinfo
        socket.socket.connect = _connect  # type: ignore[method-assign]
        socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore the original functions (for tests that install the sandbox in-process)."""
    global _config
    with _lock:
        _config = None
        socket.getaddrinfo = _orig_getaddrinfo
        socket.socket.connect = _orig_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = _orig_connect_ex  # type: ignore[method-assign]
