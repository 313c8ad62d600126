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
removes namespaces, links, processes and /etc/netns files of dead pids before each build.
Sockets "inside" the namespace are made by a thread that entered it (``setns``): a socket keeps
the namespace it was created in, so the scanner process can listen and connect there.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from firebrick.errors import FirebrickError

PREFIX = "fbsb"
# Global by `ipaddress` (what guards consult), used only on the sandbox's own links: the
# sandbox's "public internet". One /24 per sandbox.
INTERNET = ipaddress.IPv4Network("11.203.0.0/16")
METADATA_IP = "169.254.169.254"
LOCK_PATH = Path("/run/lock/firebrick-sandbox.lock")
NETNS_ETC = Path("/etc/netns")
NETNS_RUN = Path("/run/netns")
_NS_RE = re.compile(rf"^{PREFIX}-(\d+)-(\d+)$")
_LINK_RE = re.compile(rf"^{PREFIX}(\d+)[oi](\d+)$")
CLONE_NEWNET = 0x40000000
T = TypeVar("T")


class SandboxError(FirebrickError):
    """The sandbox cannot be built or the launched app did not come up (exit 3)."""


def _ip_binary() -> str:
    found = shutil.which("ip", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if found is None:
        raise SandboxError("--launch needs iproute2 (the `ip` command)")
    return found


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            [_ip_binary(), *args], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"ip {' '.join(args)}: {exc}") from exc
    if check and done.returncode != 0:
        raise SandboxError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespaces() -> list[str]:
    out = ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _links() -> list[str]:
    out = ip("-o", "link", "show", check=False).stdout
    return [
        p[1].strip().split("@", 1)[0]
        for p in (ln.split(":", 2) for ln in out.splitlines())
        if len(p) >= 2
    ]


def _kill_inside(ns: str) -> None:
    for word in ip("netns", "pids", ns, check=False).stdout.split():
        if word.isdigit():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(word), signal.SIGKILL)


def _delete_namespace(ns: str) -> None:
    _kill_inside(ns)
    if ns in _namespaces():
        ip("netns", "delete", ns, check=False)
    shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)


def cleanup_leftovers(only_pid: int | None = None) -> list[str]:
    """Remove fbsb namespaces, links and files whose creating process is gone (or ``only_pid``)."""

    def stale(pid: int) -> bool:
        return pid == only_pid or (only_pid is None and not _alive(pid))

    removed: list[str] = []
    for ns in _namespaces():
        m = _NS_RE.match(ns)
        if m and stale(int(m.group(1))):
            _delete_namespace(ns)
            removed.append(ns)
    if NETNS_ETC.is_dir():
        live = set(_namespaces())
        for entry in NETNS_ETC.iterdir():
            m = _NS_RE.match(entry.name)
            if m and entry.name not in live and stale(int(m.group(1))):
                shutil.rmtree(entry, ignore_errors=True)
    for link in _links():
        m = _LINK_RE.match(link)
        if m and stale(int(m.group(1))):
            ip("link", "delete", link, check=False)
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
    out = ip("-o", "-4", "addr", "show", check=False).stdout
    used = set()
    for match in re.finditer(r"inet (\d+\.\d+\.\d+\.\d+)/(\d+)", out):
        addr = ipaddress.IPv4Address(match.group(1))
        if addr in INTERNET:
            used.add(ipaddress.IPv4Network(f"{addr}/24", strict=False))
    return used


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
        return [_ip_binary(), "netns", "exec", self.name] if self.mode == "netns" else []

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
            _delete_namespace(self.name)
            if self.outside_if and self.outside_if in _links():
                ip("link", "delete", self.outside_if, check=False)


def write_resolv_conf(path: Path, nameserver: str, label: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # One attempt, short timeout: a refused name must fail fast, not stall the app's handler.
    path.write_text(
        f"# firebrick launch sandbox {label}\nnameserver {nameserver}\n"
        "options timeout:2 attempts:1\n"
    )


def create_netns() -> Namespace:
    """Root: a fresh named namespace joined by a veth pair on a free /24 of INTERNET."""
    pid = os.getpid()
    with _locked():
        cleanup_leftovers()
        used = _used_subnets()
        subnet = next(
            (
                s
                for s in INTERNET.subnets(new_prefix=24)
                if s not in used and s.network_address.packed[2] > 0
            ),
            None,
        )
        if subnet is None:
            raise SandboxError(f"no free /24 left in {INTERNET} for the launch sandbox")
        n = subnet.network_address.packed[2]
        name = f"{PREFIX}-{pid}-{n}"
        outside, inside_if = f"{PREFIX}{pid}o{n}", f"{PREFIX}{pid}i{n}"
        internet_ip = str(subnet.network_address + 1)
        app_ip = str(subnet.network_address + 2)
        ns = Namespace("netns", name, internet_ip, app_ip, outside_if=outside)
        try:
            ip("netns", "add", name)
            ip("link", "add", outside, "type", "veth", "peer", "name", inside_if)
            ip("link", "set", inside_if, "netns", name)
            ip("addr", "add", f"{internet_ip}/24", "dev", outside)
            ip("link", "set", outside, "up")
            inside = ["-n", name]
            ip(*inside, "link", "set", "lo", "up")
            ip(*inside, "addr", "add", f"{app_ip}/24", "dev", inside_if)
            ip(*inside, "link", "set", inside_if, "up")
            # No default route: only the sandbox's /24 is reachable; anything else fails at once
            # (ENETUNREACH) and never leaves through the root namespace.
            ip(*inside, "addr", "add", f"{METADATA_IP}/32", "dev", "lo")
            ns.resolv_conf = NETNS_ETC / name / "resolv.conf"
            write_resolv_conf(ns.resolv_conf, internet_ip, name)
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
    write_resolv_conf(ns.resolv_conf, internet_ip, "(unprivileged)")
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
