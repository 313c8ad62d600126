"""Run CPU-heavy synchronous work (parsing and walking a large spec) off the event loop.

The work runs in a daemon thread so the loop stays responsive: the engine's --max-time wall and
SIGINT can end the scan while a 20,000-operation document is still being read, and the process
can exit without joining that thread (``asyncio.to_thread`` uses the default executor, whose
threads the interpreter waits for at exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def offload(fn: Callable[..., T], *args: Any) -> T:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():  # abandoned (cancelled by the wall)
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def work() -> None:
        value: Any = None
        error: BaseException | None = None
        try:
            value = fn(*args)
        except BaseException as exc:  # handed to the awaiting coroutine, never lost
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=work, name="firebrick-offload", daemon=True).start()
    return await future
