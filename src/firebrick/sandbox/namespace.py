"""The sandbox's network namespace: where the app under test runs when `scan --launch` starts it.

Two ways to build it, chosen by privilege:

- **root** (``netns``): a named namespace ``fbsb-<pid>-<n>`` and a veth pair
  ``fbsb<pid>o<n>`` (root side) / ``fbsb<pid>i<n>`` (inside). The root side carries
  ``INTERNET.N.1``, the address the OOB listeners bind: an address ``ipaddress`` calls global,
  so guards treat it as the public internet, yet it exists only on this veth pair. The app gets
  ``.2`` (no default route: nothing but the /24 is reachable), loopback, and
  ``169.254.169.254`` on its loopback for the metadata canary.
  ``/etc/netns/<ns>/resolv.conf`` points at the OOB DNS on ``.1:53``.
- **user** (``userns``): not root but the kernel allows unprivileged user namespaces. The whole
  scan re-executes itself under ``unshare --user --map-root-user --net --mount`` (see
  ``launch.reexec_unprivileged``) and builds a *flat* sandbox in that fresh namespace: the app and
  the scanner share its loopback, the internet address and 169.254.169.254 sit on ``lo``, and
  /etc/resolv.conf is bind-mounted in the private mount namespace. Nothing leaves it: it has no
  other interface.

Crash safety (root): everything carries the prefix and the creating pid; ``cleanup_leftovers``
removes namespaces, links, processes and /etc/netns files of dead pids before each build (the
root machinery is firebrick/netns.py, shared with the network lab).
Sockets "inside" the namespace are made by a thread that entered it (``setns``): a socket keeps
the namespace it was created in, so the scanner process can listen and connect there.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from firebrick.errors import FirebrickError
from firebrick.netns import METADATA_IP, NETNS_ETC, NamespaceFamily, write_resolv_conf

PREFIX = "fbsb"
# Global by `ipaddress` (what guards consult), used only on the sandbox's own links: the
# sandbox's "public internet". One /24 per sandbox.
INTERNET = ipaddress.IPv4Network("11.203.0.0/16")
LOCK_PATH = Path("/run/lock/firebrick-sandbox.lock")
NETNS_RUN = Path("/run/netns")
CLONE_NEWNET = 0x40000000
T = TypeVar("T")


class SandboxError(FirebrickError):
    """The sandbox cannot be built or the launched app did not come up (exit 3)."""


FAMILY = NamespaceFamily(
    PREFIX, LOCK_PATH, SandboxError, "--launch needs iproute2 (the `ip` command)"
)
ip = FAMILY.run
cleanup_leftovers = FAMILY.cleanup_leftovers


def _setns(path: str) -> None:
    """Move the calling thread into the network namespace at ``path``."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


def unprivileged_possible() -> str | None:
    """None when `unshare --user --net` works here, else why not (one line)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "the `unshare` command (util-linux) is missing"
    try:
        done = subprocess.run(
            [unshare, "--user", "--map-root-user", "--net", "--mount", "true"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0:
        return done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "unshare failed"
    return None


@dataclass
class Namespace:
    """Where the app runs, and how the scanner gets sockets there."""

    mode: str  # "netns" (root, veth) | "flat" (inside an unprivileged user+net namespace)
    name: str  # the netns name, or "" for flat
    internet_ip: str  # the OOB listeners' address: the app's "public internet"
    app_ip: str  # the app's own non-loopback address (netns) or 127.0.0.1 (flat)
    resolv_conf: Path | None = None
    outside_if: str = ""
    _executor: ThreadPoolExecutor | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- running things inside -----------------------------------------------------------------
    def exec_prefix(self) -> list[str]:
        return FAMILY.exec_prefix(self.name) if self.mode == "netns" else []

    def inside(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on a thread that lives in the namespace (sockets it makes stay there)."""
        if self.mode != "netns":
            return fn()
        with self._lock:
            if self._executor is None:
                path = str(NETNS_RUN / self.name)
                self._executor = ThreadPoolExecutor(
                    max_workers=4, thread_name_prefix="fbsb", initializer=_setns, initargs=(path,)
                )
        return self._executor.submit(fn).result(timeout=30)

    def listen(self, host: str, port: int = 0) -> socket.socket:
        """A listening TCP socket in the namespace (the inside and metadata listeners)."""

        def make() -> socket.socket:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((host, port))
                sock.listen(128)
                sock.setblocking(False)
            except OSError:
                sock.close()
                raise
            return sock

        return self.inside(make)

    def connect(self, host: str, port: int, timeout: float = 5.0) -> socket.socket:
        """A TCP connection made from inside the namespace (the scanner's way to the app)."""

        def make() -> socket.socket:
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.setblocking(False)
            return sock

        return self.inside(make)

    def destroy(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        if self.mode == "netns":
            FAMILY.destroy(self.name, self.outside_if)


def create_netns() -> Namespace:
    """Root: a fresh named namespace joined by a veth pair on a free /24 of INTERNET."""
    with FAMILY.locked():
        cleanup_leftovers()
        subnet = FAMILY.free_subnet(INTERNET, "the launch sandbox")
        name, outside, inside_if = FAMILY.names(subnet.network_address.packed[2])
        internet_ip = str(subnet.network_address + 1)
        app_ip = str(subnet.network_address + 2)
        ns = Namespace("netns", name, internet_ip, app_ip, outside_if=outside)
        try:
            FAMILY.build(name, outside, inside_if, [internet_ip], app_ip)
            ns.resolv_conf = NETNS_ETC / name / "resolv.conf"
            write_resolv_conf(ns.resolv_conf, internet_ip, f"firebrick launch sandbox {name}")
        except BaseException:
            ns.destroy()
            raise
    return ns


def create_flat(resolv_dir: Path) -> Namespace:
    """Inside a fresh unprivileged user+net+mount namespace (we are its root): set it up flat."""
    internet_ip = str(INTERNET.network_address + 256 + 1)  # x.x.1.1: one sandbox per namespace
    ip("link", "set", "lo", "up")
    ip("addr", "add", f"{internet_ip}/32", "dev", "lo")
    ip("addr", "add", f"{METADATA_IP}/32", "dev", "lo")
    ns = Namespace("flat", "", internet_ip, "127.0.0.1")
    ns.resolv_conf = resolv_dir / "resolv.conf"
    write_resolv_conf(ns.resolv_conf, internet_ip, "firebrick launch sandbox (unprivileged)")
    # Our mount namespace is private: this hides the host's resolv.conf from us and the app only.
    done = subprocess.run(
        ["mount", "--bind", str(ns.resolv_conf), "/etc/resolv.conf"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SandboxError(f"cannot bind-mount the sandbox's resolv.conf: {done.stderr.strip()}")
    return ns
