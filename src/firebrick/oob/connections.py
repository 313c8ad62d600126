"""The handler tasks of one TCP listener (HTTP, DNS over TCP): how many may run at once, and
closing them all when the listener stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Connections:
    def __init__(self, limit: int) -> None:
        self.limit = limit  # concurrent connections; more are closed at once
        self._tasks: set[asyncio.Task[object]] = set()

    @contextlib.asynccontextmanager
    async def serving(self, writer: asyncio.StreamWriter) -> AsyncIterator[bool]:
        """Count the calling handler while it serves ``writer`` and close ``writer`` after.
        Yields False (``writer`` already closed) when ``limit`` handlers run already."""
        if len(self._tasks) >= self.limit:  # bound file descriptors and memory
            writer.close()
            yield False
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            yield True
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1):
                    await writer.wait_closed()
            if task is not None:
                self._tasks.discard(task)

    async def close(self, server: asyncio.Server) -> None:
        """Stop accepting, cancel the running handlers, wait (briefly) for the server to close."""
        server.close()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await server.wait_closed()
