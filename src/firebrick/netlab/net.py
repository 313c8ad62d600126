"""Network namespaces, veth pairs and addresses for the network lab (iproute2, root; the
namespace machinery is firebrick/netns.py, shared with the launch sandbox).

Every object this module creates carries the prefix ``fbnl`` and the creating process's pid:
namespace ``fbnl-<pid>-<n>``, links ``fbnl<pid>o<n>`` (root side) and ``fbnl<pid>i<n>`` (inside).
``cleanup_leftovers`` removes whatever a dead process left behind (namespaces, links, the
processes still running in those namespaces, /etc/netns files), so a crash never leaks into the
next run, and a lab of a live process (a parallel test run) is never touched.

Addressing: one /24 per lab from 10.203.0.0/16, picked free under a lock file. Nothing is routed
anywhere else: the inside namespace has no default route, and the root side only gains the
connected route of its own /24.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from firebrick.errors import FirebrickError
from firebrick.netns import NETNS_ETC, NamespaceFamily, find_binary, write_resolv_conf

PREFIX = "fbnl"
SUPERNET = ipaddress.IPv4Network("10.203.0.0/16")
LOCK_PATH = Path("/run/lock/firebrick-netlab.lock")


class NetLabError(FirebrickError):
    """The network lab cannot be built here (not root, no iproute2, a command failed)."""


FAMILY = NamespaceFamily(PREFIX, LOCK_PATH, NetLabError, "ip is not installed")
run = FAMILY.run
namespaces = FAMILY.namespaces
links = FAMILY.links
delete_namespace = FAMILY.delete_namespace
cleanup_leftovers = FAMILY.cleanup_leftovers


def missing_requirements(resolvers: tuple[str, ...] = ("unbound", "dnsmasq")) -> list[str]:
    """Why the network lab cannot run on this machine (empty when it can)."""
    why: list[str] = []
    if os.geteuid() != 0:
        why.append("needs root (network namespaces)")
    if shutil.which("ip") is None:
        why.append("needs iproute2 (`ip`)")
    for name in resolvers:
        if find_binary(name) is None:
            package = "dnsmasq-base" if name == "dnsmasq" else name
            why.append(f"needs {name} (Debian package {package})")
    return why


def binary(name: str) -> str:
    found = find_binary(name)
    if found is None:
        raise NetLabError(f"{name} is not installed")
    return found


@dataclass
class Network:
    """One lab network: the inside namespace and the veth pair to the root namespace."""

    ns: str
    outside_if: str
    inside_if: str
    subnet: ipaddress.IPv4Network

    @property
    def outside_ip(self) -> str:  # the scanner and its OOB server
        return str(self.subnet.network_address + 1)

    @property
    def inside_ip(self) -> str:  # the app and its resolver
        return str(self.subnet.network_address + 2)

    @property
    def canary_ip(self) -> str:
        """A second scanner address on the lab network: internal from the app's point of view
        (the guards' "internet" is outside_ip alone), where the OOB inside listener binds."""
        return str(self.subnet.network_address + 3)

    def exec_prefix(self) -> list[str]:
        return FAMILY.exec_prefix(self.ns)

    def write_resolv_conf(self, nameserver: str) -> None:
        """/etc/netns/<ns>/resolv.conf: what `ip netns exec` shows the app as /etc/resolv.conf."""
        write_resolv_conf(
            NETNS_ETC / self.ns / "resolv.conf", nameserver, f"firebrick network lab {self.ns}"
        )

    def destroy(self) -> None:
        """Idempotent: processes in the namespace, the namespace, the links, /etc/netns."""
        FAMILY.destroy(self.ns, self.outside_if)


def create_network() -> Network:
    """Build a fresh namespace with a veth pair; leftovers of dead runs are removed first."""
    with FAMILY.locked():
        cleanup_leftovers()
        subnet = FAMILY.free_subnet(SUPERNET, "the network lab")
        net = Network(*FAMILY.names(subnet.network_address.packed[2]), subnet)
        try:
            FAMILY.build(
                net.ns,
                net.outside_if,
                net.inside_if,
                [net.outside_ip, net.canary_ip],
                net.inside_ip,
            )
        except BaseException:
            net.destroy()
            raise
    return net


def link_namespaces(a: Network, b: Network) -> tuple[str, str]:
    """A direct veth between two lab namespaces, so ``a.inside_ip`` and ``b.inside_ip`` reach
    each other (two host routes) without the root namespace forwarding anything.

    Used where one namespace plays a public host the other calls (the remote OOB test). The
    link's ends carry no address of their own (each side answers ARP for its inside address)
    and die with either namespace; names follow the ``fbnl<pid>o/i<n>`` scheme (n >= 256, never
    a subnet's), so ``cleanup_leftovers`` removes one left in the root namespace by a crash.
    """
    _, end_a, end_b = FAMILY.names(256 + b.subnet.network_address.packed[2])
    with FAMILY.locked():
        run("link", "add", end_a, "type", "veth", "peer", "name", end_b)
        try:
            run("link", "set", end_a, "netns", a.ns)
            run("link", "set", end_b, "netns", b.ns)
            for net, end, peer in ((a, end_a, b), (b, end_b, a)):
                run("-n", net.ns, "link", "set", end, "up")
                run(
                    "-n", net.ns, "route", "add", f"{peer.inside_ip}/32",
                    "dev", end, "src", net.inside_ip,
                )  # fmt: skip
        except BaseException:
            run("link", "delete", end_a, check=False)
            for net, end in ((a, end_a), (b, end_b)):
                run("-n", net.ns, "link", "delete", end, check=False)
            raise
    return end_a, end_b
