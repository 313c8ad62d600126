"""Named network namespaces joined to the root namespace by a veth pair (iproute2, root).

Shared by the network lab (``netlab/net.py``, prefix ``fbnl``) and the launch sandbox
(``sandbox/namespace.py``, prefix ``fbsb``). Each is a ``NamespaceFamily``: every object it
creates carries its prefix and the creating process's pid (namespace ``<prefix>-<pid>-<n>``,
links ``<prefix><pid>o<n>`` root side / ``<prefix><pid>i<n>`` inside), so ``cleanup_leftovers``
can remove what a dead process left behind and never touch a live one's (a parallel run).
Subnets are picked free under the family's lock file; errors are the family's error class.
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
from pathlib import Path

from firebrick.errors import FirebrickError

NETNS_ETC = Path("/etc/netns")
METADATA_IP = "169.254.169.254"


def find_binary(name: str) -> str | None:
    """``name`` on PATH or in the sbin directories (root tools live there on Debian)."""
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def write_resolv_conf(path: Path, nameserver: str, comment: str) -> None:
    """A resolv.conf naming one nameserver (``/etc/netns/<ns>/resolv.conf`` is what
    `ip netns exec` shows as /etc/resolv.conf)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # One attempt, short timeout: a refused name must fail fast, not stall the app's handler.
    path.write_text(f"# {comment}\nnameserver {nameserver}\noptions timeout:2 attempts:1\n")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class NamespaceFamily:
    """iproute2 for the namespaces and links named with one prefix."""

    def __init__(
        self, prefix: str, lock_path: Path, error: type[FirebrickError], no_ip: str
    ) -> None:
        self.prefix = prefix
        self.lock_path = lock_path
        self.error = error  # what every failure here raises
        self.no_ip = no_ip  # the message when `ip` is not installed
        self._ns_re = re.compile(rf"^{prefix}-(\d+)-(\d+)$")
        self._link_re = re.compile(rf"^{prefix}(\d+)[oi](\d+)$")

    def ip_binary(self) -> str:
        found = find_binary("ip")
        if found is None:
            raise self.error(self.no_ip)
        return found

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one iproute2 command; a failure is the family's error with its stderr."""
        try:
            done = subprocess.run(
                [self.ip_binary(), *args], capture_output=True, text=True, timeout=20, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise self.error(f"ip {' '.join(args)}: {exc}") from exc
        if check and done.returncode != 0:
            raise self.error(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
        return done

    def exec_prefix(self, ns: str) -> list[str]:
        return [self.ip_binary(), "netns", "exec", ns]

    def namespaces(self) -> list[str]:
        """Every named namespace on the machine (not only this family's)."""
        out = self.run("netns", "list", check=False).stdout
        return [line.split()[0] for line in out.splitlines() if line.strip()]

    def links(self) -> list[str]:
        """Every link name in the root namespace."""
        out = self.run("-o", "link", "show", check=False).stdout
        return [
            p[1].strip().split("@", 1)[0]
            for p in (line.split(":", 2) for line in out.splitlines())
            if len(p) >= 2
        ]

    def kill_namespace_processes(self, ns: str) -> None:
        """SIGKILL everything still running inside ``ns``."""
        for word in self.run("netns", "pids", ns, check=False).stdout.split():
            if word.isdigit():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(word), signal.SIGKILL)

    def delete_namespace(self, ns: str) -> None:
        self.kill_namespace_processes(ns)
        if ns in self.namespaces():
            self.run("netns", "delete", ns, check=False)
        shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)

    def destroy(self, ns: str, outside_if: str) -> None:
        """Idempotent: processes in the namespace, the namespace, /etc/netns, the root-side link."""
        self.delete_namespace(ns)
        if outside_if and outside_if in self.links():
            self.run("link", "delete", outside_if, check=False)

    def cleanup_leftovers(self, only_pid: int | None = None) -> list[str]:
        """Remove this family's namespaces, links and /etc/netns files whose creating process
        is gone (or is ``only_pid``). Returns what was removed; safe to call at any time."""

        def stale(pid: int) -> bool:
            return pid == only_pid or (only_pid is None and not _alive(pid))

        removed: list[str] = []
        for ns in self.namespaces():
            m = self._ns_re.match(ns)
            if m and stale(int(m.group(1))):
                self.delete_namespace(ns)
                removed.append(ns)
        if NETNS_ETC.is_dir():  # resolv.conf files of namespaces that are already gone
            live = set(self.namespaces())
            for entry in NETNS_ETC.iterdir():
                m = self._ns_re.match(entry.name)
                if m and entry.name not in live and stale(int(m.group(1))):
                    shutil.rmtree(entry, ignore_errors=True)
        for link in self.links():
            m = self._link_re.match(link)
            if m and stale(int(m.group(1))):
                self.run("link", "delete", link, check=False)
                removed.append(link)
        return removed

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Held while picking a subnet and building on it (parallel runs pick different ones)."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def free_subnet(self, supernet: ipaddress.IPv4Network, what: str) -> ipaddress.IPv4Network:
        """A /24 of ``supernet`` no address on this machine is in (call under ``locked``); its
        third octet is never 0, so it can number the namespace and links."""
        out = self.run("-o", "-4", "addr", "show", check=False).stdout
        used = set()
        for match in re.finditer(r"inet (\d+\.\d+\.\d+\.\d+)/(\d+)", out):
            addr = ipaddress.IPv4Address(match.group(1))
            if addr in supernet:
                used.add(ipaddress.IPv4Network(f"{addr}/24", strict=False))
        for subnet in supernet.subnets(new_prefix=24):
            if subnet not in used and subnet.network_address.packed[2] > 0:
                return subnet
        raise self.error(f"no free /24 left in {supernet} for {what}")

    def names(self, n: int) -> tuple[str, str, str]:
        """This process's namespace, root-side link and inside link names for number ``n``."""
        pid = os.getpid()
        return f"{self.prefix}-{pid}-{n}", f"{self.prefix}{pid}o{n}", f"{self.prefix}{pid}i{n}"

    def build(
        self, ns: str, outside_if: str, inside_if: str, outside_ips: list[str], inside_ip: str
    ) -> None:
        """Namespace ``ns`` with the veth pair: ``outside_ips`` (each /24) on the root side,
        ``inside_ip``/24 inside, loopback up with the cloud metadata address on it.

        No default route inside: only the /24 is reachable; anything else fails at once
        (ENETUNREACH) and never leaves through the root namespace. On failure the caller
        destroys what was built.
        """
        self.run("netns", "add", ns)
        self.run("link", "add", outside_if, "type", "veth", "peer", "name", inside_if)
        self.run("link", "set", inside_if, "netns", ns)
        for address in outside_ips:
            self.run("addr", "add", f"{address}/24", "dev", outside_if)
        self.run("link", "set", outside_if, "up")
        inside = ["-n", ns]
        self.run(*inside, "link", "set", "lo", "up")
        self.run(*inside, "addr", "add", f"{inside_ip}/24", "dev", inside_if)
        self.run(*inside, "link", "set", inside_if, "up")
        # The cloud metadata address, inside this namespace only.
        self.run(*inside, "addr", "add", f"{METADATA_IP}/32", "dev", "lo")
