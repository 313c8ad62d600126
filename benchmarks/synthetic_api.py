"""A synthetic API for the scale benchmark, served with aiohttp on loopback.

    python benchmarks/synthetic_api.py --ops 1000 [--port 0] [--spec-out FILE]

It prints one ready line, ``READY http://127.0.0.1:PORT``, and serves until stdin closes (so it
stops with the benchmark that started it, even if that one is killed).

N operations, declared in an OpenAPI 3.0 document served at ``/openapi.json``:

- one in ten (i % 10 == 0) is a real SSRF fetcher, cycling through three shapes:
  ``reflected`` (GET ``/fetch{i}?url=``: fetches and returns the body),
  ``blind`` (POST ``/hook{i}`` with JSON ``{"callback_url": ...}``: fetches, answers ``{"ok": true}``
  whatever happened) and ``background`` (POST ``/job{i}`` with JSON ``{"source_url": ...}``: answers
  202 at once and fetches afterwards);
- one in ten (i % 10 == 5) is a URL-echo decoy (GET ``/echo{i}?link=``: answers the URL back in
  JSON and never fetches it): a scanner that reports it as SSRF has a false positive;
- the rest are plain read operations (GET ``/items{i}/{id}`` and GET ``/items{i}?q=&page=``).

Fetchers only ever connect to loopback IP literals (the scanner's OOB listeners on this machine):
any other host is refused, so the benchmark cannot send traffic off the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import sys
from typing import Any
from urllib.parse import urlsplit

SHAPES = ("reflected", "blind", "background")


def kind_of(i: int) -> str:
    if i % 10 == 0:
        return SHAPES[(i // 10) % 3]
    if i % 10 == 5:
        return "decoy"
    return "plain"


def fetcher_ops(n: int) -> dict[str, str]:
    """Operation key (``METHOD /path``) -> shape, for every real fetcher among n operations."""
    out = {}
    for i in range(n):
        kind = kind_of(i)
        if kind == "reflected":
            out[f"GET /fetch{i}"] = kind
        elif kind == "blind":
            out[f"POST /hook{i}"] = kind
        elif kind == "background":
            out[f"POST /job{i}"] = kind
    return out


def decoy_ops(n: int) -> set[str]:
    return {f"GET /echo{i}" for i in range(n) if kind_of(i) == "decoy"}


def _url_param(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": True,
        "schema": {"type": "string", "format": "uri"},
        "example": "https://example.com/feed.xml",
    }


def _json_body(name: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": [name],
                    "properties": {
                        name: {"type": "string", "format": "uri"},
                        "note": {"type": "string"},
                    },
                }
            }
        },
    }


_OK = {
    "200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}
}


def build_spec(n: int) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for i in range(n):
        kind = kind_of(i)
        if kind == "reflected":
            paths[f"/fetch{i}"] = {
                "get": {
                    "operationId": f"fetch{i}",
                    "summary": "Fetch a URL and return its content",
                    "parameters": [_url_param("url")],
                    "responses": _OK,
                }
            }
        elif kind == "blind":
            paths[f"/hook{i}"] = {
                "post": {
                    "operationId": f"hook{i}",
                    "summary": "Register a webhook (it is called once at once)",
                    "requestBody": _json_body("callback_url"),
                    "responses": _OK,
                }
            }
        elif kind == "background":
            paths[f"/job{i}"] = {
                "post": {
                    "operationId": f"job{i}",
                    "summary": "Import from a URL in the background",
                    "requestBody": _json_body("source_url"),
                    "responses": {"202": {"description": "accepted"}},
                }
            }
        elif kind == "decoy":
            paths[f"/echo{i}"] = {
                "get": {
                    "operationId": f"echo{i}",
                    "summary": "Echo a link back (never fetched)",
                    "parameters": [_url_param("link")],
                    "responses": _OK,
                }
            }
        elif i % 2:
            paths[f"/items{i}/{{item_id}}"] = {
                "get": {
                    "operationId": f"item{i}",
                    "parameters": [
                        {
                            "name": "item_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                            "example": 1,
                        }
                    ],
                    "responses": _OK,
                }
            }
        else:
            paths[f"/items{i}"] = {
                "get": {
                    "operationId": f"items{i}",
                    "parameters": [
                        {"name": "q", "in": "query", "schema": {"type": "string"}},
                        {"name": "page", "in": "query", "schema": {"type": "integer"}},
                    ],
                    "responses": _OK,
                }
            }
    return {
        "openapi": "3.0.3",
        "info": {"title": f"synthetic API ({n} operations)", "version": "1.0"},
        "paths": paths,
    }


def _loopback_literal(url: str) -> bool:
    try:
        host = urlsplit(url).hostname or ""
        return urlsplit(url).scheme in ("http", "https") and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def serve(n: int, port: int) -> None:
    from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

    spec_body = json.dumps(build_spec(n)).encode()
    session = ClientSession(
        timeout=ClientTimeout(total=3), connector=TCPConnector(limit=64, ssl=False)
    )
    background: set[asyncio.Task[Any]] = set()

    async def fetch(url: str) -> tuple[int, str]:
        if not _loopback_literal(url):
            return 400, "only loopback literals are fetched here"
        try:
            async with session.get(url, allow_redirects=True) as r:
                return r.status, (await r.content.read(65536)).decode("utf-8", "replace")
        except Exception as e:  # a fetcher that fails answers like real apps do
            return 502, f"fetch failed: {type(e).__name__}"

    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == "/openapi.json":
            return web.Response(body=spec_body, content_type="application/json")
        head = path.lstrip("/").split("/", 1)[0]
        stem = head.rstrip("0123456789")
        digits = head[len(stem) :]
        if not digits or int(digits) >= n:
            return web.json_response({"error": "not found"}, status=404)
        i = int(digits)
        kind = kind_of(i)
        if stem == "fetch" and kind == "reflected" and request.method == "GET":
            url = request.query.get("url", "")
            status, body = await fetch(url)
            return web.Response(status=200 if status < 400 else 502, text=body)
        if stem in ("hook", "job") and request.method == "POST":
            try:
                data = await request.json()
            except Exception:
                return web.json_response({"error": "bad json"}, status=400)
            field = "callback_url" if stem == "hook" else "source_url"
            url = data.get(field) if isinstance(data, dict) else None
            if not isinstance(url, str):
                return web.json_response({"error": f"{field} required"}, status=400)
            if stem == "hook" and kind == "blind":
                await fetch(url)
                return web.json_response({"ok": True})
            if stem == "job" and kind == "background":
                task = asyncio.create_task(fetch(url))
                background.add(task)
                task.add_done_callback(background.discard)
                return web.json_response({"queued": True}, status=202)
        if stem == "echo" and kind == "decoy" and request.method == "GET":
            return web.json_response({"link": request.query.get("link", ""), "saved": True})
        if stem == "items" and kind == "plain" and request.method == "GET":
            rest = path.lstrip("/").split("/", 1)
            if len(rest) == 2 and i % 2:
                if not rest[1].isdigit():
                    return web.json_response({"error": "id must be an integer"}, status=400)
                return web.json_response({"id": int(rest[1]), "name": f"item {rest[1]}"})
            if len(rest) == 1 and not i % 2:
                return web.json_response({"items": [{"id": 1}, {"id": 2}], "page": 1})
        return web.json_response({"error": "not found"}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"READY http://127.0.0.1:{bound}", flush=True)
    # Serve until our parent closes stdin (or dies): never outlive the benchmark.
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await session.close()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--spec-out", default=None, help="also write the OpenAPI document here")
    args = parser.parse_args()
    if args.spec_out:
        with open(args.spec_out, "w", encoding="utf-8") as f:
            json.dump(build_spec(args.ops), f)
    asyncio.run(serve(args.ops, args.port))


if __name__ == "__main__":
    main()
