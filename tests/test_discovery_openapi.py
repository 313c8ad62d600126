"""Discovery from OpenAPI 2.0 / 3.0 / 3.1 specs, against real Flask apps on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response

from firebrick.discovery import discover
from firebrick.errors import SpecError
from firebrick.model import InputKind, Location, Operation
from support import MakeClient, openapi_doc, ops_by_key, recording_clients, serve

SPECS = Path(__file__).parent / "fixtures" / "specs"


# --- the target ---------------------------------------------------------------------------------


def make_app(files: dict[str, tuple[str, str]] | None = None) -> Flask:
    """A plain target that serves the given files: {url path: (body, content type)}."""
    app = Flask("spec_target")
    files = files or {}

    @app.get("/")
    def index() -> Response:
        return Response("hello", mimetype="text/plain", headers={"X-Powered-By": "Flask"})

    @app.get("/<path:p>")
    def files_route(p: str) -> Response:
        key = "/" + p
        if key not in files:
            return Response("not found", status=404)
        body, ct = files[key]
        return Response(body, mimetype=ct)

    return app


@pytest.fixture
def target() -> Iterator[str]:
    with serve(make_app()) as base:
        yield base


@pytest.fixture
async def fetcher_for() -> AsyncIterator[MakeClient]:
    async with recording_clients() as make:
        yield make


def params_by_display(op: Operation) -> dict[str, Any]:
    return {p.display: p for p in op.params}


# --- 2.0 ------------------------------------------------------------------------------------------


async def test_swagger_2_yaml(target: str, fetcher_for: MakeClient) -> None:
    fetcher = fetcher_for(target)
    surface = await discover(fetcher, spec=str(SPECS / "petstore_v2.yaml"), crawl=False)

    assert surface.spec_version == "2.0"
    assert surface.spec_url == str(SPECS / "petstore_v2.yaml")
    # host api.example.com is ignored: the target origin with the spec's basePath
    assert surface.base_url == target + "/v2"
    ops = ops_by_key(surface)
    assert set(ops) == {
        "GET /v2/pets",
        "POST /v2/pets",
        "GET /v2/pets/{petId}",
        "POST /v2/pets/{petId}/photo",
        "GET /v2/public/ping",
    }
    assert all(op.source == "spec" for op in surface.operations)

    listing = ops["GET /v2/pets"]
    assert listing.operation_id == "listPets" and listing.tags == ["pets"]
    assert listing.summary == "List pets"
    params = params_by_display(listing)
    assert params["query:limit"].schema["type"] == "integer"
    assert params["query:callbackUrl"].example == "https://hooks.example.com/pets"
    assert params["query:callbackUrl"].kinds == {InputKind.URL}
    assert not any(p.guessed for p in listing.params)  # spec operations get no guesses

    add = ops["POST /v2/pets"]
    assert add.body_content_type == "application/json"
    body = params_by_display(add)
    assert body["json:name"].required and body["json:name"].example == "rex"
    assert body["json:category.name"].json_path == ("category", "name")
    assert body["json:hooks.[].url"].json_path == ("hooks", "[]", "url")
    assert body["json:hooks.[].url"].kinds == {InputKind.URL}
    assert body["json:photoUrls"].schema["type"] == "array"

    get_pet = ops["GET /v2/pets/{petId}"]
    assert get_pet.deprecated
    assert params_by_display(get_pet)["path:petId"].required

    upload = ops["POST /v2/pets/{petId}/photo"]
    assert upload.body_content_type == "multipart/form-data"
    form = params_by_display(upload)
    assert {"form:file", "form:sourceUrl", "path:petId"} == set(form)
    assert form["form:sourceUrl"].location is Location.FORM and form["form:sourceUrl"].required

    # global security applies, `security: []` removes it
    assert listing.security_declared and add.security_declared
    assert not ops["GET /v2/public/ping"].security_declared
    # the scanner never reached for the spec's host
    assert not fetcher.refused
    assert all(url.startswith(target) for _, url in fetcher.requested)


# --- 3.0 ------------------------------------------------------------------------------------------


async def test_openapi_30_json(target: str, fetcher_for: MakeClient) -> None:
    surface = await discover(fetcher_for(target), spec=str(SPECS / "shop_v30.json"), crawl=False)
    assert surface.spec_version == "3.0.3"
    # servers[0] has variables with defaults: /shop/{version} -> /shop/v1, on the target origin
    assert surface.base_url == target + "/shop/v1"
    ops = ops_by_key(surface)
    assert set(ops) == {
        "POST /shop/v1/orders",
        "GET /shop/v1/orders/{orderId}",
        "POST /shop/v1/login",
        "POST /shop/v1/avatar",
    }

    order = ops["POST /shop/v1/orders"]
    assert order.body_content_type == "application/json"  # preferred over application/xml
    p = params_by_display(order)
    # $ref'd request body and schemas, nested objects, arrays of objects
    assert {
        "json:items.[].sku",
        "json:items.[].qty",
        "json:shipping.address.street",
        "json:shipping.address.city",
        "json:shipping.carrier",
        "json:callback.url",
        "json:callback.events",
        "json:note",
        "header:X-Request-Id",
        "cookie:session",
    } == set(p)
    assert "header:Content-Type" not in p  # OpenAPI 3 ignores it as a parameter
    assert p["json:shipping.address.city"].json_path == ("shipping", "address", "city")
    assert p["json:shipping.address.city"].example == "Lyon"  # from the media type example
    assert p["json:callback.url"].schema["format"] == "uri"
    assert p["json:callback.url"].kinds == {InputKind.URL}
    assert p["header:X-Request-Id"].kinds == {InputKind.ID}
    assert order.security_declared and order.tags == ["orders"]
    assert order.operation_id == "createOrder" and order.summary == "Create an order"

    get_order = params_by_display(ops["GET /shop/v1/orders/{orderId}"])
    assert get_order["path:orderId"].required and get_order["path:orderId"].example == 42

    login = ops["POST /shop/v1/login"]
    assert login.body_content_type == "application/x-www-form-urlencoded"
    lp = params_by_display(login)
    assert set(lp) == {"form:username", "form:password", "form:next"}
    assert lp["form:username"].required and not lp["form:password"].required
    assert lp["form:next"].kinds == {InputKind.URL, InputKind.PATH}
    assert not login.security_declared  # security: []

    avatar = ops["POST /shop/v1/avatar"]
    assert avatar.body_content_type == "multipart/form-data"
    assert params_by_display(avatar)["form:avatarUrl"].kinds == {InputKind.URL}
    assert not avatar.security_declared  # [{}] = anonymous allowed


# --- 3.1 ------------------------------------------------------------------------------------------


async def test_openapi_31_yaml(target: str, fetcher_for: MakeClient) -> None:
    surface = await discover(fetcher_for(target), spec=str(SPECS / "fetcher_v31.yaml"), crawl=False)
    assert surface.spec_version == "3.1.0"
    assert surface.base_url == target + "/api"  # relative server URL against the target
    ops = ops_by_key(surface)
    assert set(ops) == {"POST /api/fetch", "GET /api/items/{id}"}
    fetch = params_by_display(ops["POST /api/fetch"])
    assert set(fetch) == {"json:target.url", "json:target.host", "json:target.port", "json:mode"}
    assert fetch["json:target.url"].kinds == {InputKind.URL}
    assert fetch["json:target.host"].kinds == {InputKind.HOST}
    assert fetch["json:target.port"].kinds == {InputKind.PORT}
    assert fetch["json:mode"].schema["enum"] == ["fast", "full"]

    item = params_by_display(ops["GET /api/items/{id}"])
    assert item["path:id"].kinds == {InputKind.ID}
    assert item["query:imageUrl"].example == "https://cdn.example.com/a.png"
    assert item["query:imageUrl"].schema["type"] == ["string", "null"]
    assert item["query:imageUrl"].kinds == {InputKind.URL}


async def test_external_file_ref(target: str, fetcher_for: MakeClient) -> None:
    surface = await discover(
        fetcher_for(target), spec=str(SPECS / "external_ref_v30.yaml"), crawl=False
    )
    (op,) = [op for op in surface.operations if op.source == "spec"]
    assert op.key == "PUT /profile"
    p = params_by_display(op)
    assert set(p) == {"json:homepage.href", "json:name"}
    assert p["json:homepage.href"].schema["format"] == "uri"


async def test_recursive_schema_is_depth_limited(
    tmp_path: Path, target: str, fetcher_for: MakeClient
) -> None:
    spec = openapi_doc(
        {
            "/nodes": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Node"}}
                        }
                    },
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
        title="tree",
        components={
            "schemas": {
                "Node": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "child": {"$ref": "#/components/schemas/Node"},
                    },
                }
            }
        },
    )
    path = tmp_path / "tree.json"
    path.write_text(json.dumps(spec))
    surface = await discover(fetcher_for(target), spec=str(path), crawl=False)
    (op,) = surface.operations
    depths = [len(p.json_path) for p in op.params]
    assert max(depths) == 6
    assert ("child", "child", "name") in {p.json_path for p in op.params}


# --- servers --------------------------------------------------------------------------------------


def _mini(version: str, **top: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"info": {"title": "m", "version": "1"}, **top}
    if version == "2.0":
        doc["swagger"] = "2.0"
        doc["paths"] = {"/x": {"get": {"responses": {"200": {"description": "ok"}}}}}
    else:
        doc["openapi"] = version
        doc["paths"] = {"/x": {"get": {"responses": {"200": {"description": "ok"}}}}}
    return doc


@pytest.mark.parametrize(
    ("doc", "expected_path"),
    [
        (_mini("3.0.3", servers=[{"url": "https://api.example.com/base/"}]), "/base/x"),
        (_mini("3.0.3", servers=[{"url": "/root-api"}]), "/root-api/x"),
        (_mini("3.0.3", servers=[{"url": "v2"}]), "/app/v2/x"),  # relative to the target
        (_mini("3.1.0", servers=[{"url": "/"}]), "/app/x"),  # "/" means where the target is
        (_mini("3.0.3"), "/app/x"),  # no servers: the target's own base path
        (_mini("2.0", host="api.example.com", basePath="/b2"), "/b2/x"),
        (_mini("2.0"), "/app/x"),
    ],
)
async def test_servers_resolve_against_target(
    tmp_path: Path,
    fetcher_for: MakeClient,
    doc: dict[str, Any],
    expected_path: str,
) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(doc))
    with serve(make_app()) as base:
        fetcher = fetcher_for(base + "/app")
        surface = await discover(fetcher, spec=str(path), crawl=False)
    assert [op.path for op in surface.operations] == [expected_path]
    assert surface.base_url == base + expected_path.removesuffix("/x")
    assert not fetcher.refused


# --- invalid specs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("bad_yaml.yaml", "not valid YAML"),
        ("not_openapi.json", "not an OpenAPI or Swagger document"),
        ("dangling_ref_v31.yaml", "'#/components/schemas/Hook'"),
        ("missing.yaml", "spec file not found"),
    ],
)
async def test_invalid_spec_raises_one_line(
    target: str, fetcher_for: MakeClient, name: str, fragment: str
) -> None:
    with pytest.raises(SpecError) as info:
        await discover(fetcher_for(target), spec=str(SPECS / name), crawl=False)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message and "Traceback" not in message
    assert len(message) < 300


async def test_dangling_ref_in_30_names_its_place(
    tmp_path: Path, target: str, fetcher_for: MakeClient
) -> None:
    doc = _mini("3.0.3")
    doc["paths"]["/x"]["get"]["parameters"] = [{"$ref": "#/components/parameters/Gone"}]
    path = tmp_path / "dangling.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(SpecError) as info:
        await discover(fetcher_for(target), spec=str(path), crawl=False)
    assert str(info.value) == (
        f"{path}: $ref '#/components/parameters/Gone' at paths['/x'].get.parameters[0] "
        "does not resolve"
    )


async def test_schema_violation_is_one_clear_line(
    tmp_path: Path, target: str, fetcher_for: MakeClient
) -> None:
    doc = _mini("3.0.3")
    del doc["info"]["version"]
    path = tmp_path / "noversion.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(SpecError) as info:
        await discover(fetcher_for(target), spec=str(path), crawl=False)
    message = str(info.value)
    assert message.startswith(f"{path}: invalid OpenAPI 3.0.3 document:")
    assert "'version' is a required property" in message and "(at info)" in message
    assert "\n" not in message


async def test_ref_off_origin_is_refused_without_fetching(
    tmp_path: Path, target: str, fetcher_for: MakeClient
) -> None:
    doc = _mini("3.0.3")
    doc["paths"]["/x"]["get"]["parameters"] = [
        {"$ref": "https://schemas.example.com/common.json#/parameters/Q"}
    ]
    path = tmp_path / "remote_ref.json"
    path.write_text(json.dumps(doc))
    fetcher = fetcher_for(target)
    with pytest.raises(SpecError, match="outside the target's origin"):
        await discover(fetcher, spec=str(path), crawl=False)
    assert fetcher.refused == []  # not even attempted
    assert all(url.startswith(target) for _, url in fetcher.requested)


# --- spec by URL ----------------------------------------------------------------------------------


async def test_spec_by_url_on_target(fetcher_for: MakeClient) -> None:
    files = {
        "/docs/split.yaml": ((SPECS / "external_ref_v30.yaml").read_text(), "application/yaml"),
        "/docs/common/schemas.yaml": (
            (SPECS / "common" / "schemas.yaml").read_text(),
            "application/yaml",
        ),
    }
    with serve(make_app(files)) as base:
        fetcher = fetcher_for(base)
        surface = await discover(fetcher, spec=base + "/docs/split.yaml", crawl=False)
    assert surface.spec_url == base + "/docs/split.yaml"
    assert surface.facts["spec_found_at"] == base + "/docs/split.yaml"
    spec_ops = [op for op in surface.operations if op.source == "spec"]
    assert [op.key for op in spec_ops] == ["PUT /profile"]
    assert {p.display for p in spec_ops[0].params} == {"json:homepage.href", "json:name"}
    # both documents came through the fetcher (the scoped client)
    assert ("GET", base + "/docs/split.yaml") in fetcher.requested
    assert ("GET", base + "/docs/common/schemas.yaml") in fetcher.requested


async def test_spec_url_unreachable_is_an_error(target: str, fetcher_for: MakeClient) -> None:
    # The user's spec is authoritative: a 404 ends discovery with one line, no silent fallback.
    with pytest.raises(SpecError, match="HTTP 404") as info:
        await discover(fetcher_for(target), spec=target + "/nope/openapi.json", crawl=False)
    assert "\n" not in str(info.value)


async def test_facts_without_a_spec(target: str, fetcher_for: MakeClient) -> None:
    surface = await discover(fetcher_for(target), crawl=False)
    assert surface.facts["server"].startswith("Werkzeug")
    assert surface.facts["powered_by"] == "Flask"
    assert surface.facts["tls"] is False


async def test_spec_url_on_another_origin_is_refused(target: str, fetcher_for: MakeClient) -> None:
    fetcher = fetcher_for(target)
    with pytest.raises(SpecError, match="not on the target's origin"):
        await discover(fetcher, spec="https://docs.example.com/openapi.json", crawl=False)
    assert not fetcher.refused


async def test_spec_url_serving_garbage_raises(fetcher_for: MakeClient) -> None:
    files = {"/openapi.json": ("<html>login first</html>", "text/html")}
    with serve(make_app(files)) as base, pytest.raises(SpecError) as info:
        await discover(fetcher_for(base), spec=base + "/openapi.json", crawl=False)
    assert "\n" not in str(info.value)
