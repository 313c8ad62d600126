"""Budgets and the time limit count requests when they are SENT: checked against a real server
on loopback that counts what it received. Also the aiohttp sender's fidelity: cookies kept like
before, repeated response headers joined, query merging and URL bytes sent as built."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from flask import Flask, Response, request

from firebrick.errors import BudgetExhausted
from firebrick.http import ScopedClient
from support import serve

received: list[str] = []


def make_app() -> Flask:
    app = Flask("counting")

    @app.get("/count")
    def count() -> dict[str, bool]:
        received.append(request.environ.get("RAW_URI") or request.full_path)
        return {"ok": True}

    @app.get("/raw")
    def raw() -> dict[str, str]:
        return {"uri": request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI", "")}

    @app.get("/login")
    def login() -> Response:
        resp = Response("in")
        resp.set_cookie("session", "abc123")
        resp.headers.add("X-Multi", "one")
        resp.headers.add("X-Multi", "two")
        return resp

    @app.get("/whoami")
    def whoami() -> dict[str, str | None]:
        return {"session": request.cookies.get("session")}

    return app


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with serve(make_app()) as url:
        yield url


async def _many(client: ScopedClient, n: int) -> tuple[int, int]:
    async def one(i: int) -> bool:
        try:
            await client.request("GET", f"/count?i={i}")
        except BudgetExhausted:
            return False
        return True

    done = await asyncio.gather(*(one(i) for i in range(n)))
    return sum(done), n - sum(done)


async def test_time_limit_counts_only_what_was_sent(base: str) -> None:
    """Queued requests the time limit cut off are not counted: sent == received by the server.

    30 requests are queued at once behind a rate of 10/s with a 1 s limit: about 10 can go out.
    Counting at queue time said 30.
    """
    received.clear()
    async with ScopedClient(
        base, rate=10, concurrency=2, budget=1000, deadline=time.monotonic() + 1.0
    ) as client:
        ok, refused = await _many(client, 30)
    assert refused > 0, "the time limit should have stopped part of the queue"
    assert client.sent == ok == len(received)
    assert client.by_check["discovery"] == len(received)


async def test_budget_is_exact_under_concurrency(base: str) -> None:
    received.clear()
    async with ScopedClient(base, rate=1000, concurrency=8, budget=7) as client:
        ok, refused = await _many(client, 40)
    assert (ok, refused) == (7, 33)
    assert client.sent == len(received) == 7


async def test_cookies_kept_and_repeated_headers_joined(base: str) -> None:
    async with ScopedClient(base, rate=1000) as client:
        ex = await client.request("GET", "/login")
        assert ex.response_headers["x-multi"] == "one, two"
        assert "session=abc123" in ex.response_headers["set-cookie"]
        again = await client.request("GET", "/whoami")
    assert again.status == 200 and "abc123" in again.body_text
    assert again.request_headers.get("cookie") == "<redacted>"  # sent, but never recorded


async def test_query_encoded_and_url_sent_as_built(base: str) -> None:
    received.clear()
    async with ScopedClient(base, rate=1000) as client:
        ex = await client.request(
            "GET", "/count", params={"i": "http://127.0.0.1:9/a b", "f": True}
        )
        raw = await client.request("GET", "/raw?u=http%3A%2F%2F127.0.0.1%2F%41")
    assert ex.status == 200
    assert ex.url.endswith("/count?i=http%3A%2F%2F127.0.0.1%3A9%2Fa+b&f=true")
    assert received == ["/count?i=http%3A%2F%2F127.0.0.1%3A9%2Fa+b&f=true"]  # on the wire
    # escapes are sent exactly as given (no re-quoting of %2F or %41)
    assert "u=http%3A%2F%2F127.0.0.1%2F%41" in raw.body_text


def _many_ops_app(n: int) -> Flask:
    app = Flask("many")
    paths = {
        f"/fetch{i}": {
            "get": {
                "parameters": [
                    {"name": "url", "in": "query", "schema": {"type": "string", "format": "uri"}}
                ],
                "responses": {"200": {"description": "ok"}},
            }
        }
        for i in range(n)
    }
    spec = {"openapi": "3.0.3", "info": {"title": "many", "version": "1"}, "paths": paths}

    @app.before_request
    def count() -> None:
        received.append(request.path)  # every request, whatever its path

    @app.get("/openapi.json")
    def openapi() -> dict[str, object]:
        return spec

    @app.get("/fetch<int:i>")
    def fetch(i: int) -> dict[str, bool]:
        return {"ok": True}

    return app


def test_budget_reached_says_how_many_operations_were_not_tested() -> None:
    from firebrick.engine import run_scan
    from firebrick.options import ScanOptions

    received.clear()
    with serve(_many_ops_app(40)) as url:
        options = ScanOptions(
            target=url, spec=url + "/openapi.json", rate=1000, budget=25, checks=["ssrf"]
        )
        result = asyncio.run(run_scan(options))
    assert not result.complete
    assert result.stats.requests_sent == len(received) == 25  # counted == received
    untested = result.coverage_summary.operations_untested
    assert 0 < untested < 40
    assert any(f"{untested} of 40 operations were not tested" in w for w in result.warnings)


def test_concurrency_sized_from_the_rate_unless_configured() -> None:
    from firebrick.http import concurrency_for

    assert concurrency_for(10) == 8  # the default rate: the old fixed cap
    assert concurrency_for(1000) == 50
    assert concurrency_for(1e9) == 64
    assert concurrency_for(1000, configured=3) == 3  # firebrick.toml / FIREBRICK_CONCURRENCY
