"""Start the lab as a subprocess and wait until it is listening.

The lab runs in its own process so that its network sandbox (lab/netsandbox.py) never touches
the scanner. The child prints one JSON line once every socket is listening; we wait on that line
(no sleeps) and give up with the child's stderr if it exits or the deadline passes.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Any

from firebrick.errors import FirebrickError


class LabError(FirebrickError):
    """The lab could not be started."""


@dataclass
class LabConfig:
    variant: str = "vulnerable"  # or "hardened"
    oob_dns: tuple[str, int] | None = None  # OOB DNS listener; None -> zone names do not resolve
    zone: str = "oob.firebrick.test"
    internet_cidr: str = "127.100.0.0/16"
    serve_spec: bool = True
    host: str = "127.0.0.1"
    port: int = 0


@dataclass
class RunningLab:
    base_url: str  # http://127.0.0.1:PORT
    variant: str
    internal: dict[str, str]  # {"admin": url, "metadata": url, "inventory": url}
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _stderr: IO[bytes] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Terminate the lab process (SIGTERM, then SIGKILL after 5 s). Idempotent."""
        proc, self.process = self.process, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            if proc.stdin is not None:
                proc.stdin.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> RunningLab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def lab_command(config: LabConfig) -> list[str]:
    """The command line of the lab child for ``config`` (also handy to print for users)."""
    cmd = [sys.executable, "-m", "firebrick.lab", "serve", "--variant", config.variant]
    cmd += ["--zone", config.zone, "--internet-cidr", config.internet_cidr]
    cmd += ["--host", config.host, "--port", str(config.port)]
    if config.oob_dns is not None:
        cmd += ["--oob-dns", f"{config.oob_dns[0]}:{config.oob_dns[1]}"]
    if not config.serve_spec:
        cmd.append("--no-spec")
    return cmd


def _read_line(stream: IO[bytes], proc: subprocess.Popen[bytes], deadline: float) -> bytes | None:
    """One line from the child's stdout, or None on EOF/deadline; waits on the fd, not a timer."""
    buf = b""
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(timeout=remaining):
                return None
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:  # EOF: the child exited
                return None
            buf += chunk
    return buf.split(b"\n", 1)[0]


READY_ENV = "FIREBRICK_READY_TIMEOUT"
DEFAULT_READY_TIMEOUT = 120.0


def ready_timeout() -> float:
    """How long lab (and test) start-up may take before it counts as failed: generous, because a
    machine under load (CI with both cores busy) starts a Flask subprocess in seconds, not
    milliseconds. Set FIREBRICK_READY_TIMEOUT (seconds) to change it."""
    raw = os.environ.get(READY_ENV, "")
    try:
        value = float(raw) if raw else DEFAULT_READY_TIMEOUT
    except ValueError:
        return DEFAULT_READY_TIMEOUT
    return value if value > 0 and value == value else DEFAULT_READY_TIMEOUT


def start_lab(config: LabConfig, timeout: float | None = None) -> RunningLab:
    """Start the lab subprocess and return once it listens (waiting up to ``timeout`` seconds,
    default ready_timeout()); raises LabError otherwise."""
    timeout = ready_timeout() if timeout is None else timeout
    if config.variant not in ("vulnerable", "hardened"):
        raise LabError(f"unknown lab variant {config.variant!r} (vulnerable or hardened)")
    cmd = lab_command(config)
    # The child exits when our end of its stdin closes (whatever way this process dies).
    cmd.append("--watch-stdin")
    if threading.current_thread() is threading.main_thread():
        # PDEATHSIG fires when the *thread* that forked exits, so only from the main thread.
        cmd.append("--die-with-parent")
    # A file, not a pipe: a chatty child can never block. It lives as long as the lab does.
    stderr = tempfile.TemporaryFile()  # noqa: SIM115
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env
        )
    except OSError as exc:
        stderr.close()
        raise LabError(f"cannot start the lab: {exc}") from exc
    assert proc.stdout is not None
    line = _read_line(proc.stdout, proc, time.monotonic() + timeout)
    proc.stdout.close()  # the child writes nothing after its ready line
    info: dict[str, Any] | None = None
    if line:
        try:
            info = json.loads(line)
        except ValueError:
            info = None
    if info is None or "base_url" not in info:
        # EOF on stdout means the child is exiting: let it finish so its stderr is whole.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)
        why = "exited" if proc.poll() is not None else f"was not ready within {timeout:g}s"
        stderr_text = _tail(stderr)
        RunningLab("", config.variant, {}, proc, stderr).stop()
        raise LabError(f"the lab {why}: {stderr_text or (line or b'').decode(errors='replace')}")
    return RunningLab(info["base_url"], info["variant"], dict(info["internal"]), proc, stderr)


def _tail(f: IO[bytes], limit: int = 4000) -> str:
    try:
        f.seek(0)
        return f.read().decode(errors="replace")[-limit:].strip()
    except (OSError, ValueError):
        return ""
