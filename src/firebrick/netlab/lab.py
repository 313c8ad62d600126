"""The network lab: the lab app in its own network namespace, behind a real recursive resolver.

::

    root namespace (scanner, OOB server)          namespace fbnl-<pid>-<n> (the "production" side)
    10.203.N.1 ──────────── veth ──────────────── 10.203.N.2  lab app :8080 (0.0.0.0), resolver :53
                                                  127.0.0.1   admin / inventory canaries
                                                  169.254.169.254:80  metadata imitation

The app runs without the loopback sandbox (``--no-sandbox``): it resolves through the namespace's
own /etc/resolv.conf (``ip netns exec`` bind-mounts /etc/netns/<ns>/resolv.conf), which points at
unbound or dnsmasq; they forward the OOB zone to the OOB DNS listener on 10.203.N.1 (standing in
for delegation). The namespace has no default route: nothing leaves it but towards 10.203.N.1.

Set-up removes leftovers of dead runs first; tear-down is idempotent; every child gets SIGKILL
when this process dies (PR_SET_PDEATHSIG), and deleting the namespace kills what remains.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

from firebrick.lab.runner import _read_line, _tail, ready_timeout
from firebrick.netlab import resolvers
from firebrick.netlab.net import NetLabError, Network, create_network, missing_requirements
from firebrick.oob.dnssec import ZoneSigner

APP_PORT = 8080


def _pdeathsig() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


@dataclass
class NetLabConfig:
    variant: str = "vulnerable"  # or "hardened"
    resolver: str = "unbound"  # or "dnsmasq" (see netlab/resolvers.py for the two profiles)
    zone: str = "oob.firebrick.test"
    serve_spec: bool = True
    app_port: int = APP_PORT


@dataclass
class _Child:
    name: str
    proc: subprocess.Popen[bytes]
    stderr: IO[bytes]


@dataclass
class NetLab:
    config: NetLabConfig
    network: Network | None = None
    base_url: str = ""
    internal: dict[str, str] = field(default_factory=dict)
    resolver_spec: resolvers.ResolverSpec | None = None
    _children: list[_Child] = field(default_factory=list)
    _workdir: tempfile.TemporaryDirectory[str] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def create_network(self) -> Network:
        """Namespace, veth pair, addresses. Call before the OOB server binds the outside IP."""
        if self.config.variant not in ("vulnerable", "hardened"):
            raise NetLabError(f"unknown lab variant {self.config.variant!r}")
        if self.config.resolver not in resolvers.RESOLVERS:
            raise NetLabError(f"unknown resolver {self.config.resolver!r}: {resolvers.RESOLVERS}")
        why = missing_requirements((self.config.resolver,))
        if why:
            raise NetLabError("the network lab " + "; ".join(why))
        self.network = create_network()
        return self.network

    def start(self, oob_dns: tuple[str, int], signer: ZoneSigner | None) -> None:
        """Resolver, internal services and the app, each ready before this returns."""
        net = self.network
        if net is None:
            raise NetLabError("create_network() first")
        try:
            self._workdir = tempfile.TemporaryDirectory(prefix="firebrick-netlab-")
            workdir = Path(self._workdir.name)
            spec = resolvers.profile(
                self.config.resolver,
                net.inside_ip,
                self.config.zone,
                oob_dns,
                signer.ds_text() if signer else None,
                signer.dnsmasq_trust_anchor() if signer else None,
            )
            self.resolver_spec = spec
            net.write_resolv_conf(net.inside_ip)
            self._spawn(self.config.resolver, resolvers.command(spec, workdir))
            self._wait_resolver(net.inside_ip)
            services = self._spawn(
                "services", [sys.executable, "-m", "firebrick.netlab.services"], ready_line=True
            )
            self.internal["metadata"] = services["metadata"]
            app_cmd = [
                sys.executable,
                "-m",
                "firebrick.lab",
                "serve",
                "--variant",
                self.config.variant,
                "--zone",
                self.config.zone,
                "--host",
                "0.0.0.0",
                "--port",
                str(self.config.app_port),
                # The guards' "public internet": the OOB server's address only.
                "--internet-cidr",
                f"{net.outside_ip}/32",
                "--no-sandbox",
                "--watch-stdin",
                "--die-with-parent",
            ]
            if not self.config.serve_spec:
                app_cmd.append("--no-spec")
            info = self._spawn("app", app_cmd, ready_line=True)
            self.internal.update(info.get("internal", {}))
            self.base_url = f"http://{net.inside_ip}:{self.config.app_port}"
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Idempotent: children (TERM, then KILL), the namespace, links, files."""
        children, self._children = self._children, []
        for child in children:
            if child.proc.poll() is None:
                child.proc.terminate()
        for child in children:
            try:
                child.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait(timeout=3)
            if child.proc.stdin is not None:
                with contextlib.suppress(OSError):
                    child.proc.stdin.close()
            child.stderr.close()
        if self.network is not None:
            self.network.destroy()
            self.network = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> NetLab:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- children --------------------------------------------------------------------------

    def spawn(self, name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        """Run ``cmd`` inside the namespace (dies with us, stopped by ``stop``); its stderr is
        kept for ``child_log(name)``."""
        self._spawn(name, cmd)
        return self._children[-1].proc

    def child_log(self, name: str) -> str:
        for child in self._children:
            if child.name == name:
                return _tail(child.stderr)
        return ""

    def _spawn(self, name: str, cmd: list[str], ready_line: bool = False) -> dict[str, Any]:
        assert self.network is not None
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the child
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        try:
            proc = subprocess.Popen(
                [*self.network.exec_prefix(), *cmd],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE if ready_line else subprocess.DEVNULL,
                stderr=stderr,
                env=env,
                preexec_fn=_pdeathsig,  # PDEATHSIG: children die with us
            )
        except OSError as exc:
            stderr.close()
            raise NetLabError(f"cannot start {name}: {exc}") from exc
        self._children.append(_Child(name, proc, stderr))
        if not ready_line:
            return {}
        assert proc.stdout is not None
        line = _read_line(proc.stdout, proc, time.monotonic() + ready_timeout())
        proc.stdout.close()
        try:
            return dict(json.loads(line or b""))
        except ValueError:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)
            raise NetLabError(f"{name} did not start: {_tail(stderr)[-800:]}") from None

    def _wait_resolver(self, address: str) -> None:
        """Until the resolver answers anything on port 53 (REFUSED counts: it is up)."""
        child = self._children[-1]
        query = dns.message.make_query("inventory.lab.internal", dns.rdatatype.A)
        deadline = time.monotonic() + ready_timeout()
        while time.monotonic() < deadline:
            if child.proc.poll() is not None:
                raise NetLabError(f"{child.name} exited: {_tail(child.stderr)[-800:]}")
            with contextlib.suppress(dns.exception.DNSException, OSError):
                dns.query.udp(query, address, port=53, timeout=0.2)
                return
        raise NetLabError(
            f"{child.name} did not answer on {address}:53: {_tail(child.stderr)[-800:]}"
        )

    def resolver_log(self) -> str:
        """The resolver's stderr so far (for test failure messages)."""
        for child in self._children:
            if child.name in resolvers.RESOLVERS:
                return _tail(child.stderr)
        return ""


async def network_scan(
    variant: str = "vulnerable",
    resolver: str = "unbound",
    *,
    serve_spec: bool = True,
    rate: float = 100.0,
    progress: Callable[[str], None] | None = None,
    keep: Callable[[NetLab], None] | None = None,
    checks: list[str] | None = None,
) -> Any:
    """Build the network lab, scan it from the root namespace, tear it down; a ScanResult.

    ``keep`` is called with the running lab after the scan (tests read the resolver log there).
    """
    import asyncio

    from firebrick.engine import run_scan
    from firebrick.oob.server import OOBConfig, OOBServer
    from firebrick.options import ScanOptions

    say = progress or (lambda _m: None)
    lab = NetLab(NetLabConfig(variant=variant, resolver=resolver, serve_spec=serve_spec))
    try:
        say("building the network lab (namespace, veth, resolver)")
        net = await asyncio.to_thread(lab.create_network)
        options = ScanOptions(
            rate=rate,
            max_time=60.0,
            oob_listen=net.outside_ip,
            oob_advertise=net.outside_ip,
            oob_inside=net.canary_ip,
            checks=list(checks or []),
        )
        # The lab's resolvers get the zone's trust anchor: the DNSSEC verdict is decisive.
        config = OOBConfig(
            listen_host=net.outside_ip,
            advertise_host=net.outside_ip,
            inside_host=net.canary_ip,
            zone=options.oob_zone,
            dnssec_anchored=True,
        )
        async with OOBServer(config) as oob:
            assert oob.dns_port is not None
            await asyncio.to_thread(lab.start, (net.outside_ip, oob.dns_port), oob.dnssec_signer)
            options.target = lab.base_url
            say(f"scanning {lab.base_url} (resolver: {resolver})")
            result = await run_scan(options, oob=oob, progress=say)
            if keep is not None:
                keep(lab)
            return result
    finally:
        await asyncio.to_thread(lab.stop)
