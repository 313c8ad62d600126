"""What a running scan has done so far, and the three ways of showing it (issue 19).

The engine updates a ``ScanProgress`` (phase, checks, operations, findings; requests come from
the ScopedClient's own ``sent`` counter) and a display reads it:

- ``tty``: a rich live line on stderr (phase, operations done/total, requests, findings,
  elapsed, estimated time left);
- ``plain``: one line per phase on stderr, for logs that are not a terminal;
- ``json``: one JSON object per line on stderr (phase changes plus a tick every
  ``JSON_TICK_S``), for machines.

Work is counted in (check, operation) units: ``total`` = checks x operations once discovery is
done; a finished check counts all its operations, a running one the operations it has recorded
coverage for. The estimate extrapolates the checks phase's rate and is capped by ``--max-time``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

JSON_TICK_S = 2.0  # a json progress object at least this often while a scan runs
MODES = ("auto", "tty", "plain", "json")


@dataclass
class ScanProgress:
    """The scan's progress, updated by the engine (single writer), read by a display."""

    phase: str = "starting"
    detail: str = ""
    started: float = field(default_factory=time.monotonic)
    deadline: float | None = None
    checks_total: int = 0
    operations: int = 0
    checks_started_at: float | None = None
    _client: Any = None
    _ctx: Any = None
    _findings: list[Any] | None = None
    _finished: set[str] = field(default_factory=set)
    _covered: dict[str, set[str]] = field(default_factory=dict)
    _seen: int = 0  # coverage items already folded into _covered
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    # -- engine side ---------------------------------------------------------------------------
    def attach(self, client: Any, ctx: Any, findings: list[Any], deadline: float) -> None:
        self._client, self._ctx, self._findings, self.deadline = client, ctx, findings, deadline

    def start_checks(self, checks: int, operations: int) -> None:
        self.checks_total, self.operations = checks, operations
        self.checks_started_at = time.monotonic()
        self.phase = "checks"

    def check_finished(self, name: str) -> None:
        self._finished.add(name)

    def judged(self, findings: list[Any]) -> None:
        """After judging: duplicates merged, so the count is the report's."""
        self._findings = findings

    # -- display side --------------------------------------------------------------------------
    @property
    def requests(self) -> int:
        return int(getattr(self._client, "sent", 0) or 0)

    @property
    def findings(self) -> int:
        return len(self._findings) if self._findings is not None else 0

    @property
    def total(self) -> int:
        return self.checks_total * max(self.operations, 1)

    @property
    def done(self) -> int:
        with self._lock:  # the json ticker thread and the engine's messages both read it
            return self._done()

    def _done(self) -> int:
        coverage = getattr(self._ctx, "coverage", None) or []
        for item in coverage[self._seen :]:  # a slice: the engine may append meanwhile
            if item.operation:
                self._covered.setdefault(item.check, set()).add(item.operation)
        self._seen = len(coverage)
        per_check = max(self.operations, 1)
        done = per_check * len(self._finished)
        done += sum(
            min(len(ops), per_check) for c, ops in self._covered.items() if c not in self._finished
        )
        return min(done, self.total)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def eta(self) -> float | None:
        """Seconds left, or None before the checks phase gives a rate."""
        now = time.monotonic()
        left_wall = None if self.deadline is None else max(0.0, self.deadline - now)
        if self.phase == "done":
            return 0.0
        if self.checks_started_at is None:
            return None
        done, total = self.done, self.total
        if done <= 0:
            return left_wall
        spent = now - self.checks_started_at
        if spent < 1.0 and done < total / 20:  # too early for a rate worth extrapolating
            return None
        guess = spent * (total - done) / done
        return guess if left_wall is None else min(guess, left_wall)

    def snapshot(self) -> dict[str, Any]:
        eta = self.eta()
        return {
            "phase": self.phase,
            "detail": self.detail,
            "done": self.done,
            "total": self.total,
            "checks_done": len(self._finished),
            "checks_total": self.checks_total,
            "operations": self.operations,
            "requests": self.requests,
            "findings": self.findings,
            "elapsed_s": round(self.elapsed, 1),
            "eta_s": None if eta is None else round(eta, 1),
        }


def _phase_of(message: str) -> str:
    """The phase an engine message belongs to ("check bola" is the checks phase)."""
    m = message.lower()
    if m.startswith("check ") or m.startswith("found "):
        return "checks"
    if m.startswith("discovering"):
        return "discovery"
    if "out-of-band" in m or "oob server" in m:
        return "oob"
    if m.startswith("cleaning up"):
        return "cleanup"
    if m.startswith("starting the lab"):
        return "lab"
    if m.startswith("waiting"):
        return "settling"
    return "setup"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(seconds)
    return f"{s // 60:d}:{s % 60:02d}"


class ProgressDisplay:
    """The engine's ``progress`` callable; ``state`` is what the engine updates (see engine)."""

    def __init__(self, mode: str, stream: TextIO | None = None) -> None:
        self.mode = mode
        self.state = ScanProgress()
        self.stream = stream or sys.stderr
        self._live: Any = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._last_phase = ""

    # the engine calls this with a human message at every step
    def __call__(self, message: str) -> None:
        if self.state.phase in ("done", "stopped"):
            return
        phase = _phase_of(message)
        if phase == "setup" and self.state.checks_started_at is not None:
            phase = self.state.phase  # e.g. a note during the checks: still that phase
        self.state.phase = phase
        self.state.detail = message
        if self.mode == "json":
            self._emit_json("phase" if self.state.phase != self._last_phase else "step")
        elif self.mode == "plain" and self.state.phase != self._last_phase:
            self._emit_plain()
        elif self.mode == "plain" and not message.startswith("check "):
            self.stream.write(f"  {message}\n")  # a note within a phase (refused credentials...)
            self.stream.flush()
        self._last_phase = self.state.phase

    def _emit_json(self, event: str) -> None:
        line = json.dumps({"event": event, **self.state.snapshot()}, separators=(",", ":"))
        self.stream.write(line + "\n")
        self.stream.flush()

    def _line(self) -> str:
        s = self.state.snapshot()
        work = f"{s['done']}/{s['total']} operations" if s["total"] else "operations: -"
        return (
            f"{s['phase']}: {work}, {s['requests']} requests, {s['findings']} findings, "
            f"elapsed {_clock(s['elapsed_s'])}, left ~{_clock(s['eta_s'])}"
        )

    def _emit_plain(self) -> None:
        self.stream.write(f"· {self._line()}  ({self.state.detail})\n")
        self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(JSON_TICK_S):
            self._emit_json("tick")

    def __rich__(self) -> Any:
        from rich.text import Text

        s = self.state.snapshot()
        bar_w = 24
        filled = int(bar_w * s["done"] / s["total"]) if s["total"] else 0
        text = Text(no_wrap=True, overflow="ellipsis")  # one line, whatever the width
        text.append(f"{s['phase']:<9} ", style="bold")
        text.append("█" * filled + "░" * (bar_w - filled) + " ", style="cyan")
        text.append(self._line().split(": ", 1)[1], style="dim")
        if s["detail"]:
            text.append(f"  {s['detail'][:40]}", style="dim italic")
        return text

    def __enter__(self) -> ProgressDisplay:
        if self.mode == "tty":
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream, stderr=self.stream is sys.stderr)
            self._live = Live(self, console=console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        elif self.mode == "json":
            self._emit_json("start")
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        failed = exc and exc[0] is not None  # an error ends the scan: its own line follows
        self.state.phase, self.state.detail = (
            ("stopped", "error") if failed else ("done", "finished")
        )
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        if self._live is not None:
            self._live.__exit__(*exc)
        if self.mode == "json":
            self._emit_json("done")
        elif self.mode == "plain":
            self._emit_plain()


def choose_mode(requested: str, quiet: bool, is_terminal: bool) -> str | None:
    """None: show nothing (-q). ``auto`` is the rich display on a terminal, else plain lines."""
    if quiet:
        return None
    if requested == "auto":
        return "tty" if is_terminal else "plain"
    return requested
