"""Schemes besides http(s): a fetcher built on urllib honours file:, and reading a local file
through it is critical evidence, reported on its own."""

from __future__ import annotations

import ipaddress
import urllib.request
from urllib.parse import urlsplit

from flask import Flask, request

from firebrick.engine import run_scan
from firebrick.model import Severity
from firebrick.options import ScanOptions
from support import serve

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "reader", "version": "1"},
    "paths": {
        "/read": {
            "get": {
                "parameters": [
                    {
                        "name": "source",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "format": "uri"},
                    }
                ],
                "responses": {"200": {"description": "the document"}},
            }
        }
    },
}


def make_app() -> Flask:
    app = Flask("reader")

    @app.get("/openapi.json")
    def spec() -> dict[str, object]:
        return SPEC

    @app.get("/read")
    def read() -> tuple[str, int]:
        url = request.args.get("source", "")
        parts = urlsplit(url)
        if parts.scheme == "http":
            # This test app only connects to loopback literals (the test machine's rule).
            try:
                if not ipaddress.ip_address(parts.hostname or "").is_loopback:
                    return "skipped", 400
            except ValueError:
                return "skipped", 400
        elif parts.scheme != "file":
            return "unsupported", 400
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # urllib honours file:
                return resp.read(4096).decode("utf-8", "replace"), 200
        except OSError as exc:
            return f"fetch failed: {exc}", 502

    return app


async def test_file_scheme_read_is_critical() -> None:
    with serve(make_app()) as base:
        result = await run_scan(ScanOptions(target=base, rate=200, max_time=30, checks=["ssrf"]))
    schemes = [f for f in result.findings if f.kind == "ssrf.scheme"]
    assert len(schemes) == 1, [(f.kind, f.input) for f in result.findings]
    f = schemes[0]
    assert f.severity is Severity.CRITICAL and f.input == "query:source"
    assert any("file:///etc/passwd" in p for p in f.evidence.payloads_worked)
    # The loopback literal got in too: that is its own finding, with its own evidence.
    assert any(x.kind == "ssrf.internal-read" for x in result.findings)
