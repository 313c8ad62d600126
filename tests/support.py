"""Scaffolding shared by the tests that talk to a live target on loopback.

``serve`` runs a real Flask app on 127.0.0.1 for the length of a ``with`` block.
``run_firebrick`` runs the CLI as a user does (``python -m firebrick``, output captured).
``mcp_result`` reads what an MCP tool call returned.
``RecordingClient`` is the real ``firebrick.http.ScopedClient`` (scope, budgets, redirects,
recording) that also notes what discovery asked of it, so tests exercise the client a scan uses.
Imported as ``support`` (pytest puts tests/ on sys.path, as for ``reportdata``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from flask import Flask

from firebrick.errors import OutOfScope
from firebrick.http import ScopedClient
from firebrick.lab.canaries import serving
from firebrick.model import Exchange, Operation, Surface

TEST_RATE = 1000.0  # requests per second: the rate limit stays on, the tests stay fast
ROOT = Path(__file__).resolve().parents[1]


def serve(app: Flask) -> AbstractContextManager[str]:
    """Serve ``app`` on 127.0.0.1 (a free port, threaded); yields its base URL."""
    return serving(app)


def run_firebrick(
    *args: str, timeout: float = 120, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m firebrick ARGS`` in ``cwd``; ``env`` is added to this environment."""
    return subprocess.run(
        [sys.executable, "-m", "firebrick", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def mcp_result(result: Any) -> Any:
    """The data of a successful MCP tool call (structured content, else the JSON text)."""
    assert not result.isError, result.content
    if result.structuredContent is not None:
        data = result.structuredContent
        return data.get("result", data) if set(data) == {"result"} else data
    return json.loads(result.content[0].text)


class RecordingClient(ScopedClient):
    """A ScopedClient that also lists each request it accepted and each URL it refused.

    ``requested`` holds (method, absolute URL as asked, before params and redirects) for every
    request that passed the scope and budget checks; ``refused`` holds every URL outside the
    scope. ``sent`` (the ScopedClient's own counter) counts what went on the wire, redirects
    included, and ``exchanges`` holds each of those exchanges.
    """

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        kwargs.setdefault("rate", TEST_RATE)
        super().__init__(base_url, **kwargs)
        self.requested: list[tuple[str, str]] = []
        self.refused: list[str] = []

    async def request(self, method: str, url: str, **kwargs: Any) -> Exchange:
        absolute = self.url_for(url)
        try:
            exchange = await super().request(method, url, **kwargs)
        except OutOfScope:
            self.refused.append(absolute)
            raise
        self.requested.append((method, absolute))
        return exchange


def ops_by_key(surface: Surface) -> dict[str, Operation]:
    return {op.key: op for op in surface.operations}


def openapi_doc(paths: dict[str, Any], *, title: str = "t", **top: Any) -> dict[str, Any]:
    """An OpenAPI 3.0.3 document with these paths (and any other top-level members)."""
    return {"openapi": "3.0.3", "info": {"title": title, "version": "1"}, "paths": paths, **top}


MakeClient = Callable[..., RecordingClient]


@asynccontextmanager
async def recording_clients() -> AsyncIterator[MakeClient]:
    """Yields a factory of RecordingClients (same arguments); closes them all on exit."""
    made: list[RecordingClient] = []

    def make(base_url: str, **kwargs: Any) -> RecordingClient:
        client = RecordingClient(base_url, **kwargs)
        made.append(client)
        return client

    try:
        yield make
    finally:
        for client in made:
            await client.aclose()
