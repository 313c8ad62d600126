"""Configurations of the lab's real recursive resolvers (Debian's unbound and dnsmasq).

Two profiles prove the hygiene verdicts both ways:

* ``unbound``: what a modern resolver does by default (random source port and transaction id
  per query), plus 0x20 case randomisation and DNSSEC validation with the OOB zone's key as trust
  anchor; it answers only the namespace itself.
* ``dnsmasq``: a forwarder pinned to one query port (``--query-port``), no DNSSEC validation,
  and listening for anyone who can reach it (an open resolver).

Both forward the OOB zone to the OOB DNS listener (unbound ``stub-zone``, dnsmasq
``--server=/zone/addr#port``): that stands in for the zone's delegation. Both answer the lab's
internal service names (``*.lab.internal``) themselves, as a company's internal zone would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from firebrick.netlab.net import binary

RESOLVERS = ("unbound", "dnsmasq")
FIXED_QUERY_PORT = 5353  # dnsmasq's pinned source port in the "poor" profile
INTERNAL_NAMES = {
    "inventory.lab.internal": "127.0.0.1",
    "admin.lab.internal": "127.0.0.1",
    "metadata.lab.internal": "169.254.169.254",
}


@dataclass
class ResolverSpec:
    kind: str  # unbound | dnsmasq
    listen: str  # the inside address it serves on (port 53)
    zone: str
    upstream: tuple[str, int]  # the OOB DNS listener
    validate: bool  # DNSSEC validation with trust anchor
    trust_anchor_ds: str | None = None  # "zone. DS tag alg type digest" (unbound)
    dnsmasq_anchor: str | None = None  # "zone,tag,alg,type,digest" (dnsmasq)
    fixed_port: int | None = None
    open_to_all: bool = False
    names: dict[str, str] = field(default_factory=lambda: dict(INTERNAL_NAMES))


def unbound_conf(spec: ResolverSpec, workdir: Path) -> str:
    host, port = spec.upstream
    lines = [
        "server:",
        '  username: ""',
        '  chroot: ""',
        f'  directory: "{workdir}"',
        f'  pidfile: "{workdir}/unbound.pid"',
        "  use-syslog: no",
        '  logfile: ""',
        "  verbosity: 1",
        "  num-threads: 1",
        f"  interface: {spec.listen}",
        "  interface: 127.0.0.1",
        "  port: 53",
        "  do-ip6: no",
        "  so-reuseport: no",
        "  access-control: 127.0.0.0/8 allow",
        f"  access-control: {spec.listen}/32 allow",
        f"  access-control: {'0.0.0.0/0 allow' if spec.open_to_all else '0.0.0.0/0 refuse'}",
        "  use-caps-for-id: yes",
        # Nothing outside the lab is reachable: do not spend time priming the root.
        "  do-not-query-localhost: yes",
        "  harden-referral-path: no",
        '  local-zone: "lab.internal." static',
        # unbound answers RFC 6761 names (test., invalid., ...) itself by default: the lab's
        # OOB zone lives under test., so let the stub zone below take it.
        f'  local-zone: "{spec.zone.rsplit(".", 1)[-1]}." nodefault',
    ]
    for name, address in spec.names.items():
        lines.append(f'  local-data: "{name}. 0 IN A {address}"')
    if spec.validate and spec.trust_anchor_ds:
        lines += [
            '  module-config: "validator iterator"',
            f'  trust-anchor: "{spec.trust_anchor_ds}"',
        ]
    else:
        lines += ['  module-config: "iterator"']
    lines += [
        "remote-control:",
        "  control-enable: no",
        "stub-zone:",
        f'  name: "{spec.zone}."',
        f"  stub-addr: {host}@{port}",
    ]
    return "\n".join(lines) + "\n"


def unbound_command(spec: ResolverSpec, workdir: Path) -> list[str]:
    conf = workdir / "unbound.conf"
    conf.write_text(unbound_conf(spec, workdir))
    return [binary("unbound"), "-d", "-c", str(conf)]


def dnsmasq_command(spec: ResolverSpec, workdir: Path) -> list[str]:
    host, port = spec.upstream
    cmd = [
        binary("dnsmasq"),
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        f"--listen-address={spec.listen}",
        "--listen-address=127.0.0.1",
        "--port=53",
        f"--pid-file={workdir}/dnsmasq.pid",
        "--user=root",  # inside a throwaway namespace; dropping privileges buys nothing here
        "--log-facility=-",
        f"--server=/{spec.zone}/{host}#{port}",
        "--cache-size=150",
    ]
    if spec.fixed_port is not None:
        cmd.append(f"--query-port={spec.fixed_port}")
    if not spec.open_to_all:
        cmd.append("--local-service")
    for name, address in spec.names.items():
        cmd.append(f"--address=/{name}/{address}")
    if spec.validate and spec.dnsmasq_anchor:
        cmd += ["--dnssec", f"--trust-anchor={spec.dnsmasq_anchor}"]
    return cmd


def profile(
    kind: str,
    listen: str,
    zone: str,
    upstream: tuple[str, int],
    ds: str | None,
    dnsmasq_anchor: str | None,
) -> ResolverSpec:
    """The lab's two resolver profiles (see the module docstring)."""
    if kind == "unbound":
        return ResolverSpec(
            "unbound", listen, zone, upstream, validate=ds is not None, trust_anchor_ds=ds
        )
    if kind == "dnsmasq":
        return ResolverSpec(
            "dnsmasq",
            listen,
            zone,
            upstream,
            validate=False,
            dnsmasq_anchor=dnsmasq_anchor,
            fixed_port=FIXED_QUERY_PORT,
            open_to_all=True,
        )
    raise ValueError(f"resolver must be one of {RESOLVERS}, not {kind!r}")


def command(spec: ResolverSpec, workdir: Path) -> list[str]:
    return (
        unbound_command(spec, workdir) if spec.kind == "unbound" else dnsmasq_command(spec, workdir)
    )
