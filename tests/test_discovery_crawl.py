"""Discovery without a spec: crawl, common paths, spec probing, GraphQL; real Flask on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, jsonify, request
from graphql import build_schema, graphql_sync

from firebrick.discovery import DEFAULT_MAX_REQUESTS, discover
from firebrick.discovery.params import GUESSED_PARAM_NAMES, url_assemblies
from firebrick.errors import TargetUnreachable
from firebrick.model import InputKind, Location, Operation
from support import MakeClient, openapi_doc, ops_by_key, recording_clients, serve

SPECS = Path(__file__).parent / "fixtures" / "specs"


# --- the fetcher: the real ScopedClient, recording what discovery asked of it -------------------


@pytest.fixture
async def fetcher_for() -> AsyncIterator[MakeClient]:
    async with recording_clients() as make:
        yield make


def names(op: Operation, *, guessed: bool | None = None) -> set[str]:
    return {p.name for p in op.params if guessed is None or p.guessed is guessed}


# --- the crawl target -------------------------------------------------------------------------------

GRAPHQL_SDL = """
type Query {
  status: String!
  user(id: ID!): User
  search(term: String, limit: Int = 10): [User!]!
}
type User { id: ID! name: String avatarUrl: String friends(first: Int!): [User] }
input HookInput { url: String! secret: String }
type ProbeResult { ok: Boolean! body: String }
type Mutation {
  probe(host: String!, port: Int, path: String): ProbeResult
  register(hook: HookInput!): Boolean
}
"""

INDEX = """<!doctype html>
<html><head>
<title>shop</title>
<link rel="stylesheet" href="/static/site.css">
<link rel="alternate" type="application/rss+xml" href="/feed.xml?lang=en">
</head><body>
<a href="/search?q=shoes&amp;page=1">search</a>
<a href="products/1">one</a> <a href="/products/2">two</a> <a href="/products/3">three</a>
<a href="/about#team">about</a>
<a href="/logout">log out</a>
<a href="https://example.com/elsewhere?url=x">elsewhere</a>
<a href="http://127.0.0.1:1/other-port">other origin</a>
<a href="mailto:shop@example.com">mail</a>
<form action="/preview" method="post">
  <input type="hidden" name="csrf" value="tok123">
  <input type="url" name="url" required>
  <textarea name="note">hello</textarea>
  <input type="submit" name="go" value="Go">
</form>
<form action="/lookup">
  <input name="domain" value="example.org">
  <select name="type"><option value="A">A</option><option value="MX">MX</option></select>
</form>
</body></html>"""


def make_crawl_app(hits: list[tuple[str, str]]) -> Flask:
    app = Flask("crawl_target")
    schema = build_schema(GRAPHQL_SDL)

    @app.before_request
    def record() -> None:
        hits.append((request.method, request.path))

    @app.get("/")
    def index() -> str:
        return INDEX

    @app.get("/search")
    def search() -> str:
        return '<html><body><a href="/search?q=boots&sort=asc">next</a></body></html>'

    @app.get("/products/<int:pid>")
    def product(pid: int) -> str:
        return f"<html><body>product {pid}</body></html>"

    @app.get("/about")
    def about() -> str:
        return '<html><body><a href="/api/v1/items">api</a></body></html>'

    @app.get("/feed.xml")
    def feed() -> Response:
        return Response("<rss/>", mimetype="application/rss+xml")

    @app.get("/logout")
    def logout() -> Response:
        return Response("bye", status=302, headers={"Location": "/"})

    @app.get("/api/v1")
    def api_root() -> Response:
        return jsonify(
            endpoints=["/api/v1/items", "/api/v1/users/7"],
            docs=request.host_url + "api/v1/export?format=csv",
            text="not a path: hello world",
        )

    @app.get("/api/v1/items")
    def items() -> Response:
        return jsonify(
            items=[{"id": 1, "href": "/api/v1/items/1"}], next="/api/v1/items?cursor=abc"
        )

    @app.get("/api/v1/items/<int:iid>")
    def item(iid: int) -> Response:
        return jsonify(id=iid)

    @app.get("/api/v1/users/<int:uid>")
    def user(uid: int) -> Response:
        return jsonify(id=uid, avatar="https://cdn.example.com/u.png")

    @app.get("/api/v1/export")
    def export() -> Response:
        return jsonify(ok=True)

    @app.get("/health")
    def health() -> Response:
        return jsonify(status="ok")

    @app.post("/graphql")
    def graphql_endpoint() -> Response:
        body = request.get_json(force=True)
        result = graphql_sync(
            schema,
            body.get("query", ""),
            root_value={"status": "ok"},
            variable_values=body.get("variables"),
            operation_name=body.get("operationName"),
        )
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [e.formatted for e in result.errors]
        return jsonify(out)

    return app


@pytest.fixture
def crawl_target() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    hits: list[tuple[str, str]] = []
    with serve(make_crawl_app(hits)) as base:
        yield base, hits


async def test_crawl_finds_links_forms_json_paths_and_graphql(
    crawl_target: tuple[str, list[tuple[str, str]]],
    fetcher_for: MakeClient,
) -> None:
    base, hits = crawl_target
    fetcher = fetcher_for(base)
    surface = await discover(fetcher)
    ops = ops_by_key(surface)

    plain = {k for k, op in ops.items() if op.graphql is None}
    assert plain == {
        "GET /",
        "GET /search",
        "GET /products/1",
        "GET /products/2",  # /products/3: two of one shape are enough
        "GET /about",
        "GET /feed.xml",
        "POST /preview",
        "GET /lookup",
        "GET /api/v1",
        "GET /api/v1/items",
        "GET /api/v1/items/1",
        "GET /api/v1/users/7",
        "GET /api/v1/export",
        "GET /health",
    }
    # query strings of links become QUERY params with their example value, merged per path
    search = ops["GET /search"]
    q = {p.name: p for p in search.params if not p.guessed}
    assert set(q) == {"q", "page", "sort"}
    assert q["q"].example == "shoes" and q["q"].location is Location.QUERY
    assert names(ops["GET /api/v1/items"], guessed=False) == {"cursor"}
    assert names(ops["GET /api/v1/export"], guessed=False) == {"format"}
    assert names(ops["GET /feed.xml"], guessed=False) == {"lang"}

    # forms: POST -> FORM params (submit buttons left out), GET -> QUERY params
    preview = ops["POST /preview"]
    assert preview.body_content_type == "application/x-www-form-urlencoded"
    form = {p.name: p for p in preview.params}
    assert set(form) == {"csrf", "url", "note"}
    assert all(p.location is Location.FORM for p in form.values())
    assert form["csrf"].example == "tok123" and form["note"].example == "hello"
    assert form["url"].required and form["url"].kinds == {InputKind.URL}
    assert not any(p.guessed for p in preview.params)  # guesses are for GET endpoints only
    lookup = {p.name: p for p in ops["GET /lookup"].params if not p.guessed}
    assert lookup["domain"].location is Location.QUERY
    assert lookup["domain"].example == "example.org" and lookup["domain"].kinds == {InputKind.HOST}
    assert lookup["type"].example == "A"

    # sources
    assert ops["GET /search"].source == "crawl"
    assert ops["GET /health"].source == "probe" and ops["GET /api/v1"].source == "probe"

    # guessed URL-carrying params on every GET endpoint found without a spec
    for key in plain - {"POST /preview"}:
        guessed = names(ops[key], guessed=True)
        assert {"url", "callback", "redirect_uri", "host"} <= guessed, key
        assert guessed <= set(GUESSED_PARAM_NAMES)
    guessed_url = next(p for p in ops["GET /health"].params if p.name == "url")
    assert guessed_url.kinds == {InputKind.URL} and guessed_url.location is Location.QUERY

    # GraphQL: detected, introspected, one operation per Query and Mutation field
    assert surface.graphql_endpoint == "/graphql"
    assert surface.facts["graphql_introspection"] is True
    gql = {op.graphql.name: op for op in surface.operations if op.graphql is not None}
    assert set(gql) == {"status", "user", "search", "probe", "register"}
    probe = gql["probe"]
    assert probe.key == "GRAPHQL /graphql mutation.probe"
    assert probe.method == "POST" and probe.path == "/graphql" and probe.source == "graphql"
    assert probe.graphql is not None
    assert probe.graphql.arguments == {"host": "String!", "port": "Int", "path": "String"}
    assert probe.graphql.selection == "{ ok body }"
    kinds = {p.name: p.kinds for p in probe.params}
    assert kinds == {"host": {InputKind.HOST}, "port": {InputKind.PORT}, "path": {InputKind.PATH}}
    assert all(p.location is Location.GRAPHQL for p in probe.params)
    assert next(p for p in probe.params if p.name == "host").required
    (assembly,) = url_assemblies(probe)
    assert {k: p.name for k, p in assembly.items()} == {
        "host": "host",
        "port": "port",
        "path": "path",
    }
    assert gql["status"].graphql is not None and gql["status"].graphql.selection == ""
    user = gql["user"].graphql
    assert user is not None and user.operation_type == "query"
    assert user.arguments == {"id": "ID!"}
    assert user.selection == "{ id name avatarUrl }"  # friends needs an argument: left out
    search_field = gql["search"]
    assert search_field.graphql is not None
    assert search_field.graphql.arguments == {"term": "String", "limit": "Int"}
    assert next(p for p in search_field.params if p.name == "limit").example == 10
    register = gql["register"]
    assert register.graphql is not None and register.graphql.arguments == {"hook": "HookInput!"}
    hook_schema = register.params[0].schema
    assert hook_schema["properties"]["url"]["x-graphql-type"] == "String!"
    assert not any(p.guessed for op in gql.values() for p in op.params)

    # stays on the origin, never fetches logout or static assets, under the request bound
    assert fetcher.refused == []
    fetched = {path for _, path in hits}
    assert "/logout" not in fetched and "/static/site.css" not in fetched
    assert "/products/3" not in fetched
    assert len(fetcher.requested) <= DEFAULT_MAX_REQUESTS
    assert surface.facts["discovery_requests"] == len(fetcher.requested) == len(hits)
    assert fetcher.sent == len(hits)  # on the wire: no redirect was followed behind its back
    assert "text/html" in surface.facts["content_types"]
    assert "application/json" in surface.facts["content_types"]
    assert surface.facts["spec_found_at"] is None
    # every usual spec location was tried (there is none)
    assert ("GET", "/openapi.json") in hits and ("GET", "/api/spec") in hits
    assert not surface.warnings


async def test_request_bound_holds_on_a_large_site(
    fetcher_for: MakeClient,
) -> None:
    hits: list[str] = []
    app = Flask("big_site")

    @app.before_request
    def record() -> None:
        hits.append(request.path)

    @app.get("/")
    def index() -> str:
        return "".join(f'<a href="/page-{i}">p</a>' for i in range(100))

    @app.get("/page-<int:n>")
    def page(n: int) -> str:
        return "".join(f'<a href="/page-{n}-{i}">p</a>' for i in range(20))

    with serve(app) as base:
        small = fetcher_for(base)
        await discover(small, max_pages=5)
        pages_small = [h for h in hits if h.startswith("/page-")]
        hits.clear()
        big = fetcher_for(base)
        surface = await discover(big)  # defaults: max_pages=30, 40 requests in all

    assert len(pages_small) <= 4  # the root page counts as one of the five
    assert len(small.requested) <= DEFAULT_MAX_REQUESTS
    assert len(big.requested) <= DEFAULT_MAX_REQUESTS
    assert surface.facts["discovery_requests"] == len(big.requested)
    # operations come also from links that were found but not fetched
    assert len([op for op in surface.operations if op.path.startswith("/page-")]) > 30


async def test_served_openapi_is_found_and_preferred(
    fetcher_for: MakeClient,
) -> None:
    spec = openapi_doc(
        {
            "/api/things/{id}": {
                "get": {
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer"},
                        },
                        {"name": "redirect", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
        title="found",
    )
    hits: list[str] = []
    app = Flask("with_spec")

    @app.before_request
    def record() -> None:
        hits.append(request.path)

    @app.get("/")
    def index() -> str:
        return (
            '<a href="/api/things/5">t</a> <a href="/openapi.json">spec</a> <a href="/other">o</a>'
        )

    @app.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(spec)

    @app.get("/api/things/<int:tid>")
    def thing(tid: int) -> Response:
        return jsonify(id=tid)

    @app.get("/other")
    def other() -> str:
        return "other"

    with serve(app) as base:
        surface = await discover(fetcher_for(base))

    assert surface.facts["spec_found_at"] == base + "/openapi.json"
    assert surface.spec_url == base + "/openapi.json" and surface.spec_version == "3.0.3"
    assert "/swagger.json" not in hits  # probing stops at the first spec
    ops = ops_by_key(surface)
    # the crawled /api/things/5 is the spec's /api/things/{id}; the spec itself is no operation
    assert set(ops) == {"GET /api/things/{id}", "GET /", "GET /other"}
    spec_op = ops["GET /api/things/{id}"]
    assert spec_op.source == "spec" and not any(p.guessed for p in spec_op.params)
    assert {p.name for p in spec_op.params} == {"id", "redirect"}
    assert names(ops["GET /other"], guessed=True) == set(GUESSED_PARAM_NAMES)


async def test_found_spec_with_errors_is_used_with_a_warning(
    fetcher_for: MakeClient,
) -> None:
    spec = json.loads((SPECS / "shop_v30.json").read_text())
    del spec["info"]["version"]  # invalid, but the operations are still readable
    app = Flask("sloppy_spec")
    app.add_url_rule("/swagger.json", "spec", lambda: jsonify(spec))
    with serve(app) as base:
        surface = await discover(fetcher_for(base), crawl=False)
    assert surface.facts["spec_found_at"] == base + "/swagger.json"
    assert "POST /shop/v1/orders" in ops_by_key(surface)
    assert any("'version' is a required property" in w for w in surface.warnings)


async def test_credentials_warning_when_everything_is_401(
    fetcher_for: MakeClient,
) -> None:
    app = Flask("locked")

    @app.before_request
    def deny() -> Response:
        return Response('{"error":"unauthorized"}', status=401, mimetype="application/json")

    with serve(app) as base:
        surface = await discover(fetcher_for(base))
    assert any("401/403" in w and "--header" in w for w in surface.warnings)


async def test_no_operations_warning_and_crawl_off(
    fetcher_for: MakeClient,
) -> None:
    app = Flask("bare")
    app.add_url_rule("/", "index", lambda: '<a href="/a">a</a>')
    app.add_url_rule("/a", "a", lambda: "a")
    with serve(app) as base:
        fetcher = fetcher_for(base)
        surface = await discover(fetcher, crawl=False)
    assert surface.operations == []
    assert any("no operations found" in w for w in surface.warnings)
    assert ("GET", base + "/a") not in fetcher.requested


async def test_unreachable_target_raises(fetcher_for: MakeClient) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connection refused
    with pytest.raises(TargetUnreachable) as info:
        await discover(fetcher_for(f"http://127.0.0.1:{port}"))
    assert "\n" not in str(info.value)


async def test_base_path_target_probes_under_it_and_at_root(
    crawl_target: tuple[str, list[tuple[str, str]]],
    fetcher_for: MakeClient,
) -> None:
    base, hits = crawl_target
    fetcher = fetcher_for(base + "/api/v1")
    surface = await discover(fetcher, guess_params=False)
    assert ("GET", "/api/v1/openapi.json") in hits and ("GET", "/openapi.json") in hits
    ops = ops_by_key(surface)
    assert "GET /api/v1/items" in ops and "GET /api/v1/export" in ops
    assert not any(p.guessed for op in surface.operations for p in op.params)
    assert surface.graphql_endpoint == "/graphql"  # found at the origin root
    assert len(fetcher.requested) <= DEFAULT_MAX_REQUESTS


async def test_scan_budget_running_out_gives_a_partial_surface(
    crawl_target: tuple[str, list[tuple[str, str]]],
    fetcher_for: MakeClient,
) -> None:
    base, hits = crawl_target
    fetcher = fetcher_for(base, budget=16)  # the ScopedClient's own scan budget
    surface = await discover(fetcher)
    assert len(hits) == 16 == fetcher.sent
    assert any("budget ran out" in w for w in surface.warnings)
    assert "GET /" in ops_by_key(surface)  # what was found before is kept
