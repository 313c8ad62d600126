"""The scoped client against a real Flask server on loopback: scope, redirects, budgets,
deadline, size cap, 429/Retry-After, rate limit, and what it records for replay."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask, Response, redirect, request

from firebrick.errors import BudgetExhausted, OutOfScope
from firebrick.http import ScopedClient
from support import serve


def make_app() -> Flask:
    app = Flask("scoped")
    state = {"429": 0}

    @app.get("/ok")
    def ok() -> dict[str, object]:
        return {"ok": True, "auth": request.headers.get("Authorization")}

    @app.get("/big")
    def big() -> Response:
        return Response(b"x" * (2 * 1024 * 1024), mimetype="text/plain")

    @app.get("/in")
    def redirect_in() -> Response:
        return redirect("/ok", 302)

    @app.get("/out")
    def redirect_out() -> Response:
        return redirect("http://127.0.0.2:9/elsewhere", 302)

    @app.get("/limited")
    def limited() -> tuple[str, int, dict[str, str]]:
        state["429"] += 1
        if state["429"] == 1:
            return "slow down", 429, {"Retry-After": "0"}
        return "fine", 200, {}

    @app.get("/always429")
    def always() -> tuple[str, int, dict[str, str]]:
        return "no", 429, {"Retry-After": "3600"}

    return app


@pytest.fixture()
def base() -> Iterator[str]:
    with serve(make_app()) as url:
        yield url


async def test_scope_is_the_target_origin(base: str) -> None:
    async with ScopedClient(base, rate=1000) as client:
        with pytest.raises(OutOfScope):
            await client.request("GET", "http://127.0.0.2:9/x")
        with pytest.raises(OutOfScope):  # same host, other port
            await client.request("GET", base.rsplit(":", 1)[0] + ":1/x")
        assert client.sent == 0


async def test_redirects_followed_only_in_scope(base: str) -> None:
    async with ScopedClient(base, rate=1000) as client:
        ex = await client.request("GET", "/in")
        assert ex.status == 200 and ex.url.endswith("/ok")
        ex = await client.request("GET", "/out")
        assert ex.status == 302  # the 3xx is the answer; nothing was sent off scope
        assert client.sent == 3


async def test_scan_and_operation_budgets(base: str) -> None:
    async with ScopedClient(base, rate=1000, budget=3, per_operation_budget=2) as client:
        await client.request("GET", "/ok", op_key="GET /ok")
        await client.request("GET", "/ok", op_key="GET /ok")
        with pytest.raises(BudgetExhausted, match="GET /ok"):
            await client.request("GET", "/ok", op_key="GET /ok")
        await client.request("GET", "/ok", op_key="other")
        with pytest.raises(BudgetExhausted, match="budget"):
            await client.request("GET", "/ok", op_key="third")


async def test_deadline_stops_sending(base: str) -> None:
    async with ScopedClient(base, rate=1000, deadline=time.monotonic() - 1) as client:
        with pytest.raises(BudgetExhausted, match="time limit"):
            await client.request("GET", "/ok")


async def test_response_size_cap(base: str) -> None:
    async with ScopedClient(base, rate=1000, max_response_bytes=64 * 1024) as client:
        ex = await client.request("GET", "/big")
        assert ex.status == 200
        assert len(ex.body_text) == 64 * 1024
        assert len(ex.response_excerpt) <= 4096


async def test_429_retry_after_honoured_once(base: str) -> None:
    async with ScopedClient(base, rate=1000) as client:
        ex = await client.request("GET", "/limited")
        assert ex.status == 200 and client.sent == 2
        interval = client._limiter.interval
        # A Retry-After longer than we are willing to wait: the 429 is the answer, no retry.
        ex = await client.request("GET", "/always429")
        assert ex.status == 429 and client.sent == 3
        assert client._limiter.interval == interval * 2  # and the scan slows down


async def test_rate_limit_spaces_requests(base: str) -> None:
    async with ScopedClient(base, rate=20, concurrency=8) as client:
        started = time.monotonic()
        await __import__("asyncio").gather(*(client.request("GET", "/ok") for _ in range(5)))
        # 5 requests at 20/s: the last may leave no earlier than 4 intervals after the first.
        assert time.monotonic() - started >= 4 / 20


async def test_recording_redacts_credentials_and_replays(base: str) -> None:
    async with ScopedClient(base, rate=1000, headers={"Authorization": "Bearer s3cret"}) as client:
        ex = await client.request("GET", "/ok", params={"q": "a b"})
        assert ex.response_headers["content-type"].startswith("application/json")
        assert "Bearer s3cret" in ex.body_text  # it was sent...
        assert ex.request_headers["authorization"] == "<redacted>"  # ...but not recorded
        assert "s3cret" not in ex.curl
        assert ex.curl.startswith("curl ") and "q=a+b" in ex.curl
        assert client.exchanges == [ex]


async def test_network_errors_are_exchanges_not_exceptions() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with ScopedClient(f"http://127.0.0.1:{port}", rate=1000) as client:
        ex = await client.request("GET", "/")
        assert ex.status is None and ex.error


async def test_compressed_bomb_is_capped() -> None:
    import gzip

    from flask import Flask, Response

    from support import serve

    app = Flask("bomb")
    bomb = gzip.compress(b"0" * (50 * 1024 * 1024))  # 50 MiB of zeros, ~50 KiB on the wire

    @app.get("/bomb")
    def send_bomb() -> Response:
        return Response(bomb, headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})

    with serve(app) as base:
        async with ScopedClient(base, rate=1000, max_response_bytes=256 * 1024) as client:
            ex = await client.request("GET", "/bomb")
    assert ex.status == 200
    assert len(ex.body_text) == 256 * 1024  # decoded, and capped
