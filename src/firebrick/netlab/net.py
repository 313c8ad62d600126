"""Network namespaces, veth pairs and addresses for the network lab (iproute2, root).

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

import contextlib
import fcntl
import ipaddress
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from firebrick.errors import FirebrickError

PREFIX = "fbnl"
SUPERNET = ipaddress.IPv4Network("10.203.0.0/16")
METADATA_IP = "169.254.169.254"
LOCK_PATH = Path("/run/lock/firebrick-netlab.lock")
NETNS_ETC = Path("/etc/netns")
_NS_RE = re.compile(rf"^{PREFIX}-(\d+)-(\d+)$")
_LINK_RE = re.compile(rf"^{PREFIX}(\d+)[oi](\d+)$")


class NetLabError(FirebrickError):
    """The network lab cannot be built here (not root, no iproute2, a command failed)."""


def missing_requirements(resolvers: tuple[str, ...] = ("unbound", "dnsmasq")) -> list[str]:
    """Why the network lab cannot run on this machine (empty when it can)."""
    why: list[str] = []
    if os.geteuid() != 0:
        why.append("needs root (network namespaces)")
    if shutil.which("ip") is None:
        why.append("needs iproute2 (`ip`)")
    for name in resolvers:
        if shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
            package = "dnsmasq-base" if name == "dnsmasq" else name
            why.append(f"needs {name} (Debian package {package})")
    return why


def binary(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if found is None:
        raise NetLabError(f"{name} is not installed")
    return found


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one iproute2 command; a failure is a NetLabError with its stderr."""
    try:
        done = subprocess.run(
            [binary("ip"), *args], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetLabError(f"ip {' '.join(args)}: {exc}") from exc
    if check and done.returncode != 0:
        raise NetLabError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def namespaces() -> list[str]:
    out = run("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def links() -> list[str]:
    out = run("-o", "link", "show", check=False).stdout
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@", 1)[0])
    return names


def kill_namespace_processes(ns: str) -> None:
    """SIGKILL everything still running inside ``ns`` (resolvers, the app, services)."""
    out = run("netns", "pids", ns, check=False).stdout
    for word in out.split():
        if word.isdigit():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(word), signal.SIGKILL)


def delete_namespace(ns: str) -> None:
    kill_namespace_processes(ns)
    if ns in namespaces():
        run("netns", "delete", ns, check=False)
    shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)


def cleanup_leftovers(only_pid: int | None = None) -> list[str]:
    """Remove fbnl namespaces and links whose creating process is gone (or is ``only_pid``).

    Returns what was removed. Safe to call at any time, as often as wanted.
    """
    removed: list[str] = []
    for ns in namespaces():
        m = _NS_RE.match(ns)
        if m and (
            int(m.group(1)) == only_pid or (only_pid is None and not _alive(int(m.group(1))))
        ):
            delete_namespace(ns)
            removed.append(ns)
    if NETNS_ETC.is_dir():  # resolv.conf files of namespaces that are already gone
        for entry in NETNS_ETC.iterdir():
            m = _NS_RE.match(entry.name)
            if m and entry.name not in namespaces() and not _alive(int(m.group(1))):
                shutil.rmtree(entry, ignore_errors=True)
    for link in links():
        m = _LINK_RE.match(link)
        if m and (
            int(m.group(1)) == only_pid or (only_pid is None and not _alive(int(m.group(1))))
        ):
            run("link", "delete", link, check=False)
            removed.append(link)
    return removed


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK_PATH, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _used_subnets() -> set[ipaddress.IPv4Network]:
    out = run("-o", "-4", "addr", "show", check=False).stdout
    used = set()
    for match in re.finditer(r"inet (\d+\.\d+\.\d+\.\d+)/(\d+)", out):
        ip = ipaddress.IPv4Address(match.group(1))
        if ip in SUPERNET:
            used.add(ipaddress.IPv4Network(f"{ip}/24", strict=False))
    return used


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
        return [binary("ip"), "netns", "exec", self.ns]

    def write_resolv_conf(self, nameserver: str) -> None:
        """/etc/netns/<ns>/resolv.conf: what `ip netns exec` shows the app as /etc/resolv.conf."""
        directory = NETNS_ETC / self.ns
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "resolv.conf").write_text(
            f"# firebrick network lab {self.ns}\nnameserver {nameserver}\noptions timeout:2 attempts:1\n"
        )

    def destroy(self) -> None:
        """Idempotent: processes in the namespace, the namespace, the links, /etc/netns."""
        delete_namespace(self.ns)
        if self.outside_if in links():
            run("link", "delete", self.outside_if, check=False)


def create_network() -> Network:
    """Build a fresh namespace with a veth pair; leftovers of dead runs are removed first."""
    pid = os.getpid()
    with _locked():
        cleanup_leftovers()
        used = _used_subnets()
        subnet = next(
            (
                s
                for s in SUPERNET.subnets(new_prefix=24)
                if s not in used and int(s.network_address.packed[2]) > 0
            ),
            None,
        )
        if subnet is None:
            raise NetLabError("no free /24 left in 10.203.0.0/16 for the network lab")
        n = int(subnet.network_address.packed[2])
        net = Network(f"{PREFIX}-{pid}-{n}", f"{PREFIX}{pid}o{n}", f"{PREFIX}{pid}i{n}", subnet)
        try:
            run("netns", "add", net.ns)
            run("link", "add", net.outside_if, "type", "veth", "peer", "name", net.inside_if)
            run("link", "set", net.inside_if, "netns", net.ns)
            run("addr", "add", f"{net.outside_ip}/24", "dev", net.outside_if)
            run("addr", "add", f"{net.canary_ip}/24", "dev", net.outside_if)
            run("link", "set", net.outside_if, "up")
            inside = ["-n", net.ns]
            run(*inside, "link", "set", "lo", "up")
            run(*inside, "addr", "add", f"{net.inside_ip}/24", "dev", net.inside_if)
            run(*inside, "link", "set", net.inside_if, "up")
            # The cloud metadata address, inside this namespace only.
            run(*inside, "addr", "add", f"{METADATA_IP}/32", "dev", "lo")
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
    pid = os.getpid()
    n = 256 + int(b.subnet.network_address.packed[2])
    end_a, end_b = f"{PREFIX}{pid}o{n}", f"{PREFIX}{pid}i{n}"
    with _locked():
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
