"""The SSRF guard ladder: common guard styles, each as a synchronous, a blind and a background
fetcher, in one Flask app that fetches with ``requests`` and resolves through the system resolver.

Run it under the ``--launch`` sandbox (it knows nothing of firebrick's zone or shims)::

    firebrick scan --launch "python -m firebrick.lab.ladder" --check ssrf

===================  ==========================================================  ==================
guard                what it does                                                 what gets through
===================  ==========================================================  ==================
none                 nothing                                                      everything
substring            refuses URLs containing "localhost" or "127.0.0.1"          other spellings
literal              ipaddress check of the host when it is an IP literal        names, odd spellings
resolve              resolves, refuses non-global answers, fetches by name       rebinding
resolve-redirects    the same, following redirects                               rebinding, redirects
blocklist            resolves; refuses 127/8, 10/8, 172.16/12, 192.168/16, ::1    metadata, 0.0.0.0, [::]
ssrfguard            the printed fix (ssrfguard)                                  nothing (hardened)
allowlist            one allowed host name                                        nothing (hardened)
scheme               http/https only                                              everything internal
stdlib               the printed fix (standard library)                           nothing (hardened)
===================  ==========================================================  ==================

Modes: ``GET /sync/<guard>?url=`` reflects the body; ``POST /blind/<guard>`` answers
``{"status": "ok"}`` whatever happened; ``POST /jobs/<guard>`` answers 202 and fetches after
the response, on a worker thread. The three hardened guards are the twins of every vulnerable
one: same endpoint shapes, a safe fetcher. ``EXPECTED`` is the truth table the tests and
``benchmarks/bench_ssrf_ladder.py`` score a scan against.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import requests
from flask import Flask, Response, jsonify, request
from ssrfguard import SSRFGuardError

from firebrick.remediation.snippets import safe_fetch_ssrfguard as sg
from firebrick.remediation.snippets import safe_fetch_stdlib as sf

GUARDS = (
    "none",
    "substring",
    "literal",
    "resolve",
    "resolve-redirects",
    "blocklist",
    "ssrfguard",
    "allowlist",
    "scheme",
    "stdlib",
)
MODES = ("sync", "blind", "jobs")
HARDENED = frozenset({"ssrfguard", "allowlist", "stdlib"})
TIMEOUT = 3.0
MAX_BYTES = 1 << 20
ALLOWED_HOST = "images.example.com"
BLOCKLIST = [
    ipaddress.ip_network(n)
    for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128")
]
JOB_DELAY = 0.1  # a queue's latency: the fetch happens after the response is sent

# The finding kinds a right answer must include, per guard (sync reflects, so "read").
_REACH = {
    "sync": "ssrf.internal-read",
    "blind": "ssrf.internal-reach",
    "jobs": "ssrf.internal-reach",
}


def expected(guard: str, mode: str) -> frozenset[str]:
    """Finding kinds that prove the bypass this guard really has (empty: hardened, clean)."""
    reach = _REACH[mode]
    table: dict[str, set[str]] = {
        "none": {reach},
        "scheme": {reach},
        "substring": {"ssrf.url-validation-bypass", "ssrf.dns-resolved-internal"},
        "literal": {"ssrf.url-validation-bypass", "ssrf.dns-resolved-internal"},
        "resolve": {"ssrf.dns-rebinding"},
        "resolve-redirects": {"ssrf.dns-rebinding", "ssrf.redirect-to-internal"},
        "blocklist": {"ssrf.url-validation-bypass", reach},
    }
    return frozenset(table.get(guard, set()))


def possible(guard: str, mode: str) -> frozenset[str]:
    """Every finding kind that is true for this guard: anything beyond it is a false positive."""
    reach = _REACH[mode]
    names = {"ssrf.dns-resolved-internal", "ssrf.dns-rebinding"}
    table: dict[str, set[str]] = {
        "none": {reach},
        "scheme": {reach},
        "substring": {"ssrf.url-validation-bypass", "ssrf.redirect-to-internal", reach, *names},
        "literal": {"ssrf.url-validation-bypass", "ssrf.redirect-to-internal", *names},
        "resolve": {"ssrf.dns-rebinding"},
        "resolve-redirects": {"ssrf.dns-rebinding", "ssrf.redirect-to-internal"},
        "blocklist": {"ssrf.url-validation-bypass", reach, *names},
    }
    return frozenset(table.get(guard, set()))


class Refused(Exception):
    pass


class Failed(Exception):
    pass


def _resolve_all(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Failed(f"cannot resolve {host}: {exc}") from exc
    return [ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos]


def _requests_fetch(url: str, follow: bool = True) -> tuple[int, bytes]:
    try:
        with requests.get(url, timeout=TIMEOUT, allow_redirects=follow, stream=True) as resp:
            body = resp.raw.read(MAX_BYTES, decode_content=True)
            return resp.status_code, body
    except (requests.RequestException, OSError, ValueError) as exc:
        raise Failed(f"{type(exc).__name__}: {exc}") from exc


def guarded_fetch(guard: str, url: str) -> tuple[int, bytes]:
    """Fetch ``url`` the way guard style ``guard`` does. Raises Refused or Failed."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise Refused("bad port") from exc
    if guard == "none":
        return _requests_fetch(url)
    if guard == "scheme":
        if scheme not in ("http", "https"):
            raise Refused("scheme")
        return _requests_fetch(url)
    if guard == "substring":
        if "localhost" in url.lower() or "127.0.0.1" in url:
            raise Refused("blocked host")
        return _requests_fetch(url)
    if guard == "literal":
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None  # a name: the check only knows literals
        if scheme not in ("http", "https") or (literal is not None and not literal.is_global):
            raise Refused("internal address")
        return _requests_fetch(url)
    if guard in ("resolve", "resolve-redirects"):
        if scheme not in ("http", "https") or not host:
            raise Refused("scheme")
        if any(not a.is_global for a in _resolve_all(host, port)):
            raise Refused("internal address")
        return _requests_fetch(url, follow=guard == "resolve-redirects")  # resolves again
    if guard == "blocklist":
        if scheme not in ("http", "https") or not host:
            raise Refused("scheme")
        if any(
            a in net
            for a in _resolve_all(host, port)
            for net in BLOCKLIST
            if a.version == net.version
        ):
            raise Refused("internal address")
        return _requests_fetch(url, follow=False)
    if guard == "allowlist":
        if scheme not in ("http", "https") or host != ALLOWED_HOST or parts.username:
            raise Refused("host not allowed")
        return _requests_fetch(url, follow=False)
    if guard == "ssrfguard":
        try:
            status, body, _ = sg.guarded_fetch(url)
        except (SSRFGuardError, httpx.InvalidURL) as exc:
            raise Refused(str(exc)) from exc
        except (httpx.HTTPError, sg.TooLarge, OSError) as exc:
            raise Failed(str(exc)) from exc
        return status, body
    if guard == "stdlib":
        try:
            result = sf.safe_fetch(url, timeout=TIMEOUT, max_bytes=MAX_BYTES)
        except sf.BlockedURL as exc:
            raise Refused(str(exc)) from exc
        except OSError as exc:
            raise Failed(str(exc)) from exc
        return result.status, result.body
    raise ValueError(guard)


def openapi() -> dict[str, Any]:
    url_param = {
        "name": "url",
        "in": "query",
        "required": True,
        "schema": {"type": "string", "format": "uri"},
        "example": "https://images.example.com/cat.png",
    }
    body = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["url"],
                    "properties": {"url": {"type": "string", "format": "uri"}},
                }
            }
        },
    }
    paths: dict[str, Any] = {}
    for guard in GUARDS:
        paths[f"/sync/{guard}"] = {
            "get": {
                "operationId": f"sync_{guard}",
                "summary": f"Fetch a URL ({guard} guard) and return its body",
                "parameters": [url_param],
                "responses": {"200": {"description": "the fetched body"}},
            }
        }
        for mode, code in (("blind", "200"), ("jobs", "202")):
            paths[f"/{mode}/{guard}"] = {
                "post": {
                    "operationId": f"{mode}_{guard}",
                    "summary": f"Notify a URL ({guard} guard, {mode})",
                    "requestBody": body,
                    "responses": {code: {"description": "accepted"}},
                }
            }
    return {
        "openapi": "3.1.0",
        "info": {"title": "SSRF guard ladder", "version": "1"},
        "paths": paths,
    }


def create_app() -> Flask:
    app = Flask("firebrick.lab.ladder")

    @app.get("/")
    def index() -> Any:
        return jsonify(name="SSRF guard ladder", spec="/openapi.json")

    @app.get("/openapi.json")
    def spec() -> Any:
        return jsonify(openapi())

    def _url_from_body() -> str:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            raise Refused("url required")
        return str(data["url"])

    @app.get("/sync/<guard>")
    def sync(guard: str) -> Any:
        if guard not in GUARDS:
            return jsonify(error="unknown guard"), 404
        try:
            status, body = guarded_fetch(guard, request.args.get("url", ""))
        except Refused:
            return jsonify(error="url not allowed"), 400
        except Failed:
            return jsonify(error="fetch failed"), 502
        return Response(body, status=200 if status < 400 else 502, content_type="text/plain")

    @app.post("/blind/<guard>")
    def blind(guard: str) -> Any:
        if guard not in GUARDS:
            return jsonify(error="unknown guard"), 404
        try:
            url = _url_from_body()
        except Refused:
            return jsonify(error="url required"), 400
        with contextlib.suppress(Refused, Failed):  # blind: the caller learns nothing either way
            guarded_fetch(guard, url)
        return jsonify(status="ok")

    @app.post("/jobs/<guard>")
    def jobs(guard: str) -> Any:
        if guard not in GUARDS:
            return jsonify(error="unknown guard"), 404
        try:
            url = _url_from_body()
        except Refused:
            return jsonify(error="url required"), 400

        def later() -> None:
            time.sleep(JOB_DELAY)  # the queue's latency (a simulation, not a wait for an event)
            with contextlib.suppress(Refused, Failed):
                guarded_fetch(guard, url)

        threading.Thread(target=later, daemon=True).start()
        return jsonify(status="queued"), 202

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "0") or 0))
    args = parser.parse_args(argv)
    from werkzeug.serving import make_server

    server = make_server(args.host, args.port, create_app(), threaded=True)
    print(f"ladder listening on {args.host}:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
