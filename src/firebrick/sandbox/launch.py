"""`firebrick scan --launch "CMD"`: run the app under test in a sandbox firebrick builds, scan it.

::

    scanner (this process)                         sandbox namespace (the app's world)
    127.0.0.1:<port>  forwarder  ──(socket made inside)──>  127.0.0.1:<port>  the app
    INTERNET.1:80/443/53  OOB HTTP/HTTPS/DNS  <──── veth ────  INTERNET.2  (its "internet")
    inside listener 127.0.0.1 / ::1 (sockets made inside)      /etc/resolv.conf -> INTERNET.1
    metadata canary 169.254.169.254:80 (made inside)

The app resolves every name through the OOB DNS (its zone answers; other names are refused), so
poisoned names, rebinding and redirects behave as they would on the internet, and a callback to
``INTERNET.1`` passes any guard that trusts public addresses. Internal reach is proven by the
inside listener on the app's own loopback and by the metadata canary. Any language works: the
app is a process in a namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from firebrick.oob.http_listener import Reply
from firebrick.oob.server import OOBConfig, OOBServer
from firebrick.sandbox import namespace as nsmod
from firebrick.sandbox.namespace import Namespace, SandboxError

# Set in the environment of the re-executed scan (unprivileged user namespace).
FLAT_ENV = "FIREBRICK_SANDBOX_FLAT"
READY_TIMEOUT = 60.0
METADATA_BODY = (
    "ami-id\nami-launch-index\nhostname\niam/\ninstance-id\nlocal-ipv4\n"
    "firebrick metadata canary: {token}\n"
)


def metadata_reply(token: str | None) -> Reply:
    """What the metadata canary answers: an EC2-like index naming the request's token."""
    return Reply(200, METADATA_BODY.format(token=token or "-").encode())


def _child_setup() -> None:  # between fork and exec: die with us, own process group
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    os.setpgid(0, 0)


def reexec_unprivileged(argv: list[str]) -> None:
    """Not root: re-run this scan inside a fresh user+net+mount namespace, or fail in one line."""
    why = nsmod.unprivileged_possible()
    if why is not None:
        raise SandboxError(
            "--launch needs root (network namespaces) or unprivileged user namespaces, "
            f"and this kernel refuses the latter ({why})"
        )
    unshare = shutil.which("unshare")
    assert unshare is not None
    os.environ[FLAT_ENV] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(
        unshare,
        [unshare, "--user", "--map-root-user", "--net", "--mount", "--propagation", "private",
         sys.executable, "-m", "firebrick", *argv],
    )  # fmt: skip


def in_flat_sandbox() -> bool:
    return os.environ.get(FLAT_ENV) == "1" and os.geteuid() == 0


@dataclass
class LaunchConfig:
    command: str
    port: int | None = None  # None: detect the port the app starts listening on
    zone: str = "oob.firebrick.test"
    ready_timeout: float = READY_TIMEOUT
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Sandbox:
    """One launched app in its namespace, the OOB server wired to it, and the forwarder."""

    config: LaunchConfig
    ns: Namespace | None = None
    oob: OOBServer | None = None
    app_port: int = 0
    target_host: str = "127.0.0.1"
    target_port: int = 0
    _proc: subprocess.Popen[bytes] | None = None
    _stderr: IO[bytes] | None = None
    _forwarder: asyncio.Server | None = None
    _pumps: set[asyncio.Task[None]] = field(default_factory=set)
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.target_host}:{self.target_port}"

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, say: Callable[[str], None] = lambda _m: None) -> None:
        try:
            await self._start(say)
        except BaseException:
            await self.stop()
            raise

    async def _start(self, say: Callable[[str], None]) -> None:
        if not self.config.command.strip():
            raise SandboxError("--launch needs a command")
        if in_flat_sandbox():
            self._tmp = tempfile.TemporaryDirectory(prefix="firebrick-sandbox-")
            self.ns = await asyncio.to_thread(nsmod.create_flat, Path(self._tmp.name))
        elif os.geteuid() == 0:
            say("building the launch sandbox (network namespace)")
            self.ns = await asyncio.to_thread(nsmod.create_netns)
        else:  # the CLI re-executes before getting here; a library caller gets the reason
            raise SandboxError("--launch needs root here (or run it through the `firebrick` CLI)")
        ns = self.ns
        self.oob = await self._start_oob(ns)
        # Inside listeners on the app's loopback (both families) and the metadata canary.
        inside4 = ns.listen("127.0.0.1", 0)
        port = await self.oob.attach_listener(inside4, "inside")
        try:
            inside6 = ns.listen("::1", port)
        except OSError:
            inside6 = ns.listen("::1", 0)
        await self.oob.attach_listener(inside6, "inside6")
        self.oob.inside_port = port
        self.oob.config.inside_host = "127.0.0.1"
        await self.oob.attach_listener(ns.listen(nsmod.METADATA_IP, 80), "metadata", metadata_reply)
        say(f"launching the app: {self.config.command}")
        self._spawn()
        self.app_port = await self._wait_ready()
        if ns.mode == "netns":
            await self._start_forwarder()
        else:
            self.target_host, self.target_port = "127.0.0.1", self.app_port
        say(f"app ready on port {self.app_port} inside the sandbox")

    async def _start_oob(self, ns: Namespace) -> OOBServer:
        """OOB listeners on the sandbox's internet address: 53 (resolv.conf has no port), and the
        usual 80/443 so port-policy guards see an ordinary URL (ephemeral when taken)."""
        last: Exception | None = None
        for http_port, https_port in ((80, 443), (0, 0)):
            config = OOBConfig(
                listen_host=ns.internet_ip,
                advertise_host=ns.internet_ip,
                http_port=http_port,
                https_port=https_port,
                dns_port=53,
                zone=self.config.zone,
            )
            oob = OOBServer(config)
            try:
                await oob.start()
                return oob
            except OSError as exc:
                last = exc
        raise SandboxError(f"cannot start the OOB listeners on {ns.internet_ip}: {last}")

    def _spawn(self) -> None:
        assert self.ns is not None
        env = {**os.environ, **self.config.env, "HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
        env.pop(FLAT_ENV, None)
        if self.config.port is not None:
            env["PORT"] = str(self.config.port)
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the app
        try:
            self._proc = subprocess.Popen(
                [*self.ns.exec_prefix(), "/bin/sh", "-c", self.config.command],
                stdin=subprocess.DEVNULL,
                stdout=self._stderr,
                stderr=self._stderr,
                env=env,
                preexec_fn=_child_setup,
            )
        except OSError as exc:
            raise SandboxError(f"cannot launch {self.config.command!r}: {exc}") from exc

    def _tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - 600))
        text = self._stderr.read().decode("utf-8", "replace").strip()
        return " ".join(text.split())[-300:]

    def _ours(self) -> set[int]:
        assert self.oob is not None
        ports = {self.oob.http_port, self.oob.https_port or 0, self.oob.dns_port or 0}
        return ports | set(self.oob.attached.values())

    async def _wait_ready(self) -> int:
        """Until the app accepts connections inside: on --port, or on the port it opens."""
        assert self._proc is not None and self.ns is not None
        deadline = time.monotonic() + self.config.ready_timeout
        delay = 0.02
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise SandboxError(
                    f"the launched app exited with status {self._proc.returncode} before it "
                    f"listened: {self._tail() or '(no output)'}"
                )
            port = self.config.port
            if port is None:
                found = listening_ports(self._proc.pid) - self._ours()
                port = min(found) if found else None
            if port is not None and await self._accepts(port):
                return port
            await asyncio.sleep(delay)  # polling the app's sockets, backing off
            delay = min(delay * 1.5, 0.5)
        where = f"port {self.config.port}" if self.config.port else "any port (pass --port)"
        raise SandboxError(
            f"the launched app did not listen on {where} within {self.config.ready_timeout:.0f}s: "
            f"{self._tail() or '(no output)'}"
        )

    async def _accepts(self, port: int) -> bool:
        assert self.ns is not None
        ns = self.ns
        try:
            sock = await asyncio.to_thread(ns.connect, "127.0.0.1", port, 1.0)
        except OSError:
            return False
        sock.close()
        return True

    async def _start_forwarder(self) -> None:
        """The scanner's door: 127.0.0.1 with the app's own port when free (so the app's idea
        of its origin and ours agree), else another loopback address, else any port."""
        for host, port in (
            ("127.0.0.1", self.app_port),
            (f"127.203.{os.getpid() % 250 + 1}.1", self.app_port),
            ("127.0.0.1", 0),
        ):
            try:
                self._forwarder = await asyncio.start_server(self._forward, host, port)
            except OSError:
                continue
            self.target_host = host
            self.target_port = int(self._forwarder.sockets[0].getsockname()[1])
            return
        raise SandboxError("cannot open a local port to reach the launched app")

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self.ns is not None
        ns = self.ns
        try:
            sock = await asyncio.to_thread(ns.connect, "127.0.0.1", self.app_port, 10.0)
            up_reader, up_writer = await asyncio.open_connection(sock=sock)
        except OSError:
            writer.close()
            return

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    if dst.can_write_eof():
                        dst.write_eof()
                    else:
                        dst.close()

        tasks = [
            asyncio.create_task(pump(reader, up_writer)),
            asyncio.create_task(pump(up_reader, writer)),
        ]
        self._pumps.update(tasks)
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._pumps.difference_update(tasks)
            up_writer.close()
            writer.close()

    async def stop(self) -> None:
        """Idempotent: forwarder, app (its whole process group), OOB server, namespace."""
        if self._forwarder is not None:
            self._forwarder.close()
            for task in list(self._pumps):
                task.cancel()
            self._forwarder = None
        proc, self._proc = self._proc, None
        if proc is not None:
            await asyncio.to_thread(_terminate, proc)
        if self.oob is not None:
            await self.oob.stop()
            self.oob = None
        if self.ns is not None:
            await asyncio.to_thread(self.ns.destroy)
            self.ns = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """TERM the app's process group, then KILL what is left (servers that ignore TERM)."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def listening_ports(pid: int) -> set[int]:
    """TCP ports in LISTEN state in the network namespace of ``pid`` (its /proc view)."""
    ports: set[int] = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "0A":  # TCP_LISTEN
                ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


async def launch_scan(
    options: Any,
    config: LaunchConfig,
    *,
    path: str = "",
    progress: Callable[[str], None] | None = None,
) -> Any:
    """Start the sandbox, scan the app through it, tear everything down; a ScanResult."""
    from firebrick.engine import run_scan

    say = progress or (lambda _m: None)
    sandbox = Sandbox(config)
    try:
        await sandbox.start(say)
        assert sandbox.oob is not None
        options.target = sandbox.base_url + path
        options.oob_zone = config.zone
        return await run_scan(options, oob=sandbox.oob, progress=say)
    finally:
        await sandbox.stop()
