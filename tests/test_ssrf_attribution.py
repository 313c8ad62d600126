"""Tokens attribute interactions to the right input when many inputs are probed in one request.

A tiny Flask API (no spec) links to /fetch with no query string; only parameter guessing can find
that it fetches `img`. The scan sends ~25 guessed parameters in one request, each with its own
token; the finding must name `img` and nothing else.
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from flask import Flask, request

from firebrick.engine import run_scan
from firebrick.options import ScanOptions
from support import serve


def make_app() -> Flask:
    app = Flask("attribution")

    @app.get("/")
    def index() -> str:
        return '<html><body><a href="/fetch">fetch</a> <a href="/queue">queue</a> <a href="/about">about</a></body></html>'

    @app.get("/about")
    def about() -> str:
        return "<p>about</p>"

    @app.get("/queue")
    def queue() -> tuple[str, int]:
        # A background job: the fetch happens after the response, as a job queue would do it.
        url = request.args.get("callback", "")
        host = urlsplit(url).hostname or ""
        if host == "127.0.0.1":
            threading.Timer(0.3, _quiet_fetch, args=(url,)).start()
        return "queued", 202

    @app.get("/fetch")
    def fetch() -> tuple[str, int]:
        url = request.args.get("img", "")
        host = urlsplit(url).hostname or ""
        try:
            # This test app only ever connects to loopback literals (the test machine's rule).
            if not ipaddress.ip_address(host).is_loopback:
                return "skipped", 200
        except ValueError:
            return "skipped", 200
        _quiet_fetch(url)  # blind: nothing reflected
        return "ok", 200

    return app


def _quiet_fetch(url: str) -> None:
    with contextlib.suppress(OSError):
        urllib.request.urlopen(url, timeout=2).read(100)


@pytest.fixture()
def api() -> Iterator[str]:
    with serve(make_app()) as base:
        yield base


async def test_guessed_params_attributed_to_the_right_input(api: str) -> None:
    result = await run_scan(ScanOptions(target=api, rate=200, max_time=30))
    ssrf = [f for f in result.findings if f.category == "ssrf"]
    assert ssrf, result.coverage
    by_op = {(f.operation, f.input) for f in ssrf}
    assert {inp for op, inp in by_op if op == "GET /fetch"} == {"query:img"}
    # The background job fetched after the response: still attributed, before the scan ends.
    late = [f for f in ssrf if f.operation == "GET /queue"]
    assert [(f.kind, f.input) for f in late] == [("ssrf.external-fetch", "query:callback")]
    assert by_op <= {("GET /fetch", "query:img"), ("GET /queue", "query:callback")}
    # Blind, but proven: our inside listener on loopback received the request.
    internal = [f for f in ssrf if f.kind == "ssrf.internal-reach"]
    assert internal and internal[0].severity.value == "high"
    tokens = {i.token for i in internal[0].evidence.interactions if i.listener == "inside"}
    assert tokens, "the inside callback carries its payload's token"
