"""CSRF tokens the way each framework hands them out, and one cookie jar per identity, through
the real ScopedClient against a live app."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

from firebrick.http import ScopedClient
from support import serve


def csrf_app() -> Flask:
    app = Flask("csrf")

    @app.get("/angular")
    def angular() -> Response:
        resp = jsonify(ok=True)
        resp.set_cookie("XSRF-TOKEN", "xsrf-123")
        return resp

    @app.post("/angular/save")
    def angular_save() -> object:
        good = (
            request.headers.get("X-XSRF-TOKEN") == request.cookies.get("XSRF-TOKEN") == "xsrf-123"
        )
        return (jsonify(saved=True), 200) if good else (jsonify(error="csrf"), 403)

    @app.get("/rails")
    def rails() -> Response:
        return Response(
            '<html><head><meta name="csrf-param" content="authenticity_token">'
            '<meta name="csrf-token" content="meta-456"></head></html>',
            mimetype="text/html",
        )

    @app.post("/rails/save")
    def rails_save() -> object:
        good = request.headers.get("X-CSRF-Token") == "meta-456"
        return (jsonify(saved=True), 200) if good else (jsonify(error="csrf"), 403)

    @app.get("/laravel")
    def laravel() -> Response:
        return Response(
            '<form method="post" action="/laravel/save"><input type="hidden" name="_token" '
            'value="field-789"><input name="title"></form>',
            mimetype="text/html",
        )

    @app.post("/laravel/save")
    def laravel_save() -> object:
        good = request.form.get("_token") == "field-789"
        return (jsonify(saved=True), 200) if good else (jsonify(error="csrf"), 403)

    @app.get("/whoami")
    def whoami() -> object:
        return jsonify(session=request.cookies.get("sid"))

    @app.get("/set/<name>")
    def set_session(name: str) -> Response:
        resp = jsonify(ok=True)
        resp.set_cookie("sid", name)
        return resp

    return app


async def test_csrf_from_cookie_meta_and_form() -> None:
    with serve(csrf_app()) as base:
        async with ScopedClient(base, rate=1000) as client:
            assert (await client.request("POST", "/angular/save", json={})).status == 403
            await client.request("GET", "/angular")
            assert (await client.request("POST", "/angular/save", json={})).status == 200
            await client.request("GET", "/rails")
            assert (await client.request("POST", "/rails/save", json={})).status == 200
            await client.request("GET", "/laravel")
            saved = await client.request("POST", "/laravel/save", data={"title": "x"})
            assert saved.status == 200
            # recorded requests never show the tokens
            assert saved.request_headers.get("x-csrf-token") == "<redacted>"


async def test_each_identity_has_its_own_cookie_jar() -> None:
    with serve(csrf_app()) as base:
        async with ScopedClient(base, rate=1000) as client:
            await client.request("GET", "/set/alice", identity="alice", apply_credentials=False)
            await client.request("GET", "/set/bob", identity="bob", apply_credentials=False)
            a = await client.request("GET", "/whoami", identity="alice", apply_credentials=False)
            b = await client.request("GET", "/whoami", identity="bob", apply_credentials=False)
            anon = await client.request("GET", "/whoami", use_user_headers=False)
            assert '"alice"' in a.body_text and '"bob"' in b.body_text
            assert '"session":null' in anon.body_text.replace(" ", "")
            assert a.identity == "alice" and anon.identity is None
