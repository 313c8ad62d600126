"""The hard edge of --max-time: interrupt a check stuck in synchronous work past the deadline.

The engine's wall (engine.run_scan) cancels tasks, and cancellation only lands at an ``await``.
A hostile target can make a check spend seconds in pure Python between two awaits (every answer
a megabyte of JSON, read again for each of hundreds of probes). This watchdog thread notices an
event loop that has not turned for a while after the deadline and raises ``WallClock`` inside the
check or discovery code the main thread is executing (via a signal, whose handler runs between
bytecodes). The check's task fails with it; the engine treats that as "cut by the time limit".

The exception is raised only when the interrupted frame itself is a check's or discovery's, never
inside the event loop or a library; anywhere else the signal is ignored and the kick repeated
(or the loop, about to turn, does the rest). Only possible in the main thread (signal handlers); elsewhere the wall stays soft.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from types import FrameType

KICK_SIGNAL = signal.SIGUSR2
STALL_S = 0.3  # the loop has not turned for this long: it is stuck in synchronous code
_INTERRUPTIBLE = (
    f"{os.sep}firebrick{os.sep}checks{os.sep}",
    f"{os.sep}firebrick{os.sep}discovery{os.sep}",
    f"{os.sep}firebrick{os.sep}inject.py",
    f"{os.sep}firebrick{os.sep}safejson.py",
)


class WallClock(Exception):
    """Raised inside a check or discovery that ran past the scan's deadline."""


def interruptible(frame: FrameType | None) -> bool:
    """True when the interrupted code itself is ours (a check, discovery, the JSON guard): never
    raise inside asyncio, aiohttp or any other library that a check happened to call, whose
    state an exception there could corrupt. A kick that misses is repeated (Watchdog)."""
    return frame is not None and any(part in frame.f_code.co_filename for part in _INTERRUPTIBLE)


def _handler(signum: int, frame: FrameType | None) -> None:
    if interruptible(frame):
        raise WallClock("the scan's time limit (--max-time) is reached")


_installed = False


def _install() -> bool:
    """Our handler for KICK_SIGNAL, once per process and never removed: several scans may share
    one process (the server), and a restored default action would end the process on a kick."""
    global _installed
    if not _installed:
        try:
            signal.signal(KICK_SIGNAL, _handler)
        except (ValueError, OSError):  # not the main thread: the wall stays soft
            return False
        _installed = True
    return True


class Watchdog:
    """Armed for one scan: ``beat()`` from the loop, ``stop()`` when the scan body is over.
    Armed only when the scan runs in the main thread (where signal handlers run)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.last_beat = time.monotonic()
        self._done = threading.Event()
        self._main = threading.get_ident()
        self.armed = threading.current_thread() is threading.main_thread() and _install()
        if self.armed:
            threading.Thread(target=self._watch, name="firebrick-wall", daemon=True).start()

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def _watch(self) -> None:
        while not self._done.wait(0.1):
            now = time.monotonic()
            if now >= self.deadline and now - self.last_beat >= STALL_S:
                with contextlib.suppress(OSError, ValueError):
                    signal.pthread_kill(self._main, KICK_SIGNAL)
                self._done.wait(0.2)  # give the handler a moment before kicking again

    def stop(self) -> None:
        self._done.set()
