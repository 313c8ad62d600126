"""Input classification (which inputs carry URLs, hosts, ports, paths, ids) and URL assemblies."""

from __future__ import annotations

from typing import Any

import pytest

from firebrick.discovery.params import (
    build_json_body,
    classify,
    classify_all,
    name_segments,
    url_assemblies,
)
from firebrick.model import InputKind, Location, Operation, Param, Surface

URL, HOST, PORT, PATH, ID, OTHER = (
    InputKind.URL,
    InputKind.HOST,
    InputKind.PORT,
    InputKind.PATH,
    InputKind.ID,
    InputKind.OTHER,
)


def q(name: str, schema: dict[str, Any] | None = None, example: Any = None) -> Param:
    return Param(name=name, location=Location.QUERY, schema=schema or {}, example=example)


@pytest.mark.parametrize(
    ("name", "segments"),
    [
        ("avatarUrl", ["avatar", "url"]),
        ("imageURL", ["image", "url"]),
        ("callback_url", ["callback", "url"]),
        ("X-Forwarded-Host", ["x", "forwarded", "host"]),
        ("XMLHttpUrl", ["xml", "http", "url"]),
        ("url2", ["url", "2"]),
        ("user.id", ["user", "id"]),
    ],
)
def test_name_segments(name: str, segments: list[str]) -> None:
    assert name_segments(name) == segments


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        # URL names, snake_case, camelCase, kebab-case, upper case
        ("url", {URL}),
        ("URL", {URL}),
        ("avatarUrl", {URL}),
        ("avatar_url", {URL}),
        ("imageURL", {URL}),
        ("callback-url", {URL}),
        ("redirect_uri", {URL}),
        ("returnTo", {URL}),
        ("webhook", {URL}),
        ("jwks_uri", {URL}),
        ("X-Original-URL", {URL}),
        ("referer", {URL}),
        ("href", {URL}),
        ("next", {URL}),
        ("to", {URL}),
        ("feed", {URL}),
        ("hostUrl", {URL}),  # the last segment decides: a URL
        ("site", {URL, HOST}),  # a URL or a bare host
        # weak words only count as the whole name
        ("toDate", {OTHER}),
        ("nextToken", {OTHER}),
        ("dataset", {OTHER}),
        # hosts and ports
        ("host", {HOST}),
        ("hostname", {HOST}),
        ("hostName", {HOST}),
        ("targetHost", {HOST}),
        ("proxyHost", {HOST}),
        ("X-Forwarded-Host", {HOST}),
        ("domain", {HOST}),
        ("server", {HOST}),
        ("ip_address", {HOST}),
        ("port", {PORT}),
        ("serverPort", {PORT}),
        ("smtp_port", {PORT}),
        # paths
        ("path", {PATH}),
        ("filePath", {PATH}),
        ("file", {PATH}),
        ("dir", {PATH}),
        ("page", {PATH}),
        ("urlPath", {PATH}),
        ("pageSize", {OTHER}),
        # ids
        ("id", {ID}),
        ("user_id", {ID}),
        ("userId", {ID}),
        ("orderID", {ID}),
        ("uuid", {ID}),
        ("fileId", {ID}),  # an id, not a file
        ("urlId", {ID}),
        # qualifiers and flags are not the thing itself
        ("urlType", {OTHER}),
        ("hostCount", {OTHER}),
        ("isUrlValid", {OTHER}),
        ("useProxy", {OTHER}),
        # unrelated
        ("name", {OTHER}),
        ("email", {OTHER}),
        ("description", {OTHER}),
        ("zip", {OTHER}),
    ],
)
def test_classify_by_name(name: str, kinds: set[InputKind]) -> None:
    assert classify(q(name)) == kinds


@pytest.mark.parametrize(
    ("schema", "kinds"),
    [
        ({"type": "string", "format": "uri"}, {URL}),
        ({"type": "string", "format": "url"}, {URL}),
        ({"type": "string", "format": "uri-reference"}, {URL}),
        ({"type": "string", "format": "hostname"}, {HOST}),
        ({"type": "string", "format": "idn-hostname"}, {HOST}),
        ({"type": "string", "format": "ipv4"}, {HOST}),
        ({"type": "string", "format": "ipv6"}, {HOST}),
        ({"type": "string", "format": "uuid"}, {ID}),
        ({"type": "array", "items": {"type": "string", "format": "uri"}}, {URL}),
        ({"type": "string", "format": "date-time"}, {OTHER}),
        ({"type": "string"}, {OTHER}),
    ],
)
def test_classify_by_format(schema: dict[str, Any], kinds: set[InputKind]) -> None:
    assert classify(q("value", schema)) == kinds


@pytest.mark.parametrize(
    ("example", "kinds"),
    [
        ("https://example.com/a.png", {URL}),
        ("http://127.0.0.1:8080/x", {URL}),
        ("gopher://example.com/", {URL}),
        ("//cdn.example.com/lib.js", {URL}),
        ("internal.example.com:8443", {HOST}),
        ("localhost:6379", {HOST}),
        ("[::1]:80", {HOST}),
        ("api.example.com", {HOST}),
        ("localhost", {HOST}),
        ("10.0.0.5", {HOST}),
        ("fd00:ec2::254", {HOST}),
        ("/var/data/report.csv", {PATH}),
        ("../etc/passwd", {PATH}),
        ("8d8ac610-566d-4ef0-9c22-186b2a5ed793", {ID}),
        ("1234", {ID}),
        (42, {ID}),
        # look-alikes that are not hosts
        ("report.pdf", {OTHER}),
        ("order.created", {OTHER}),  # an event name, not a host
        ("config.yaml", {OTHER}),
        ("1.2.3", {OTHER}),
        ("12:30", {OTHER}),
        ("john@example.com", {OTHER}),
        ("hello world", {OTHER}),
        (True, {OTHER}),
    ],
)
def test_classify_by_example_value(example: Any, kinds: set[InputKind]) -> None:
    assert classify(q("value", example=example)) == kinds


def test_values_count_as_well_as_names() -> None:
    # a neutral name whose default is a URL; a URL-ish name whose schema is a number
    assert classify(q("q", {"type": "string", "default": "https://example.com/"})) == {URL}
    assert classify(q("x", {"type": "string", "examples": ["db.example.com"]})) == {HOST}
    assert classify(q("mode", {"type": "string", "enum": ["/a", "/b"]})) == {PATH}
    assert classify(q("page", {"type": "integer"}, example=2)) == {OTHER}
    assert classify(q("port", {"type": "integer"}, example=5432)) == {PORT}
    assert classify(q("limit", {"type": "integer"}, example=10)) == {OTHER}
    assert classify(q("target", {"type": "string"}, example="db.internal.example.com")) == {
        URL,
        HOST,
    }
    assert classify(q("user_id", {"type": "integer"}, example=7)) == {ID}
    assert classify(q("verify_url", {"type": "boolean"})) == {OTHER}


def test_classify_all_fills_every_param() -> None:
    op = Operation(
        method="POST",
        path="/hooks",
        params=[
            Param("url", Location.JSON, json_path=("hook", "url")),
            Param("name", Location.JSON, json_path=("hook", "name")),
        ],
    )
    surface = Surface(base_url="http://127.0.0.1:5000", operations=[op])
    classify_all(surface)
    assert [p.kinds for p in op.params] == [{URL}, {OTHER}]


# --- URL assemblies ---------------------------------------------------------------------------------


def _op(*params: Param) -> Operation:
    return Operation(method="POST", path="/probe", params=list(params))


def _names(assembly: dict[str, Param]) -> dict[str, str]:
    return {role: p.display for role, p in assembly.items()}


def test_assembly_from_top_level_inputs() -> None:
    op = _op(
        q("protocol", {"type": "string", "enum": ["http", "https"]}),
        q("hostname"),
        q("port", {"type": "integer"}),
        q("path"),
        q("verbose", {"type": "boolean"}),
    )
    classify_all(Surface(base_url="http://127.0.0.1", operations=[op]))
    assert [_names(a) for a in url_assemblies(op)] == [
        {
            "scheme": "query:protocol",
            "host": "query:hostname",
            "port": "query:port",
            "path": "query:path",
        }
    ]


def test_assemblies_group_by_json_object() -> None:
    op = _op(
        Param("host", Location.JSON, json_path=("primary", "host")),
        Param("port", Location.JSON, {"type": "integer"}, json_path=("primary", "port")),
        Param("host", Location.JSON, json_path=("backup", "host")),
        Param("dir", Location.JSON, json_path=("backup", "dir")),
        Param("path", Location.QUERY),  # top level: shared by both
    )
    got = [_names(a) for a in url_assemblies(op)]
    assert got == [
        {"host": "json:primary.host", "port": "json:primary.port", "path": "query:path"},
        {"host": "json:backup.host", "path": "json:backup.dir"},
    ]


def test_assembly_needs_a_host() -> None:
    assert url_assemblies(_op(q("port", {"type": "integer"}), q("path"))) == []
    assert url_assemblies(_op(q("url"), q("callback"))) == []  # whole URLs, not an assembly
    (only_host,) = url_assemblies(_op(q("domain"), q("name")))
    assert _names(only_host) == {"host": "query:domain"}


def test_guessed_params_do_not_make_assemblies() -> None:
    op = _op(
        Param("host", Location.QUERY, guessed=True), Param("path", Location.QUERY, guessed=True)
    )
    assert url_assemblies(op) == []


def test_graphql_arguments_assemble() -> None:
    op = _op(
        Param("host", Location.GRAPHQL, {"type": "string", "x-graphql-type": "String!"}),
        Param("port", Location.GRAPHQL, {"type": "integer", "x-graphql-type": "Int"}),
    )
    (a,) = url_assemblies(op)
    assert _names(a) == {"host": "graphql:host", "port": "graphql:port"}


# --- JSON bodies -------------------------------------------------------------------------------------


def test_build_json_body_from_leaf_params() -> None:
    params = [
        Param("url", Location.JSON, {"type": "string"}, json_path=("hooks", "[]", "url")),
        Param(
            "event",
            Location.JSON,
            {"type": "string"},
            example="push",
            json_path=("hooks", "[]", "event"),
        ),
        Param("city", Location.JSON, {"type": "string"}, json_path=("ship", "address", "city")),
        Param("qty", Location.JSON, {"type": "integer"}, json_path=("qty",)),
        Param("X-Id", Location.HEADER),
    ]
    body = build_json_body(params, {("hooks", "[]", "url"): "http://probe.example.com/t1"})
    assert body == {
        "hooks": [{"url": "http://probe.example.com/t1", "event": "push"}],
        "ship": {"address": {"city": "test"}},
        "qty": 1,
    }
