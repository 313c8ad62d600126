"""SIGINT/SIGTERM: the first one stops the scan (a partial report is still written and stored,
exit 2); a second one exits at once.

The CLI installs the handlers; the engine asks for an event that the first signal sets
(``INTERRUPT.watch()``). Library users who never install them are not affected. A second signal
exits with ``os._exit`` on purpose: nothing is flushed, and the history store stays consistent
because SQLite rolls back an unfinished transaction the next time it is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from types import FrameType

EXIT_AT_ONCE = 130  # the shell's code for "ended by Ctrl-C" (docs/cli.md)


class Interrupt:
    def __init__(self) -> None:
        self.count = 0
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._installed = False

    @property
    def requested(self) -> bool:
        return self.count > 0

    def install(self) -> None:
        """Route SIGINT and SIGTERM here (main thread only; idempotent)."""
        if self._installed:
            return
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)
        self._installed = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count > 1:
            os._exit(EXIT_AT_ONCE)
        for loop, event in list(self._waiters):
            with contextlib.suppress(RuntimeError):  # that loop is closed already
                loop.call_soon_threadsafe(event.set)
        if self._waiters:
            from firebrick.wall import WallClock, interruptible

            if interruptible(frame):  # a check busy in synchronous code: stop it right here
                raise WallClock("the scan was interrupted")

    def watch(self) -> asyncio.Event:
        """An event (of the running loop) set by the first signal, or already set."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        if self.count:
            event.set()
        self._waiters = [(lp, ev) for lp, ev in self._waiters if not lp.is_closed()]
        self._waiters.append((loop, event))
        return event

    def unwatch(self, event: asyncio.Event) -> None:
        """Forget an event (the scan it served is over): a long-running process stays small."""
        self._waiters = [(lp, ev) for lp, ev in self._waiters if ev is not event]


INTERRUPT = Interrupt()
