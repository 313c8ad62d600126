"""A lab target full of routes that change state (issue 10): what a safe scan must never call.

- HTML pages link to state-changing GET routes: ``/start_over``, ``/difficulty/hard``,
  ``/reset-db``, ``/game?action=reset``, ``/logout``;
- the OpenAPI document has a parameterless ``GET /api/admin/reset`` (operationId
  ``resetDatabase``: the burst's favourite kind of target) and a registration
  ``POST /api/auth/register`` beside the login;
- ``POST /api/items`` creates an object (201, ``Location``, an id) with three URL-carrying fields
  (safe mode bundles their SSRF stage-1 payloads: two requests, not six) and
  ``DELETE /api/items/{id}`` deletes it (for the write cap and ``--cleanup``);
- ``GET``/``PUT /api/account`` for the full-mode mass-assignment probe; ``PUT`` needs the whole
  object (a probe that restores one property alone is refused);
- ``POST /api/link-preview`` fetches the ``url`` of its JSON body and returns the start of what
  it got (an SSRF through a write operation: safe mode's per-operation write cap);
- ``POST /api/notes`` creates a note and answers ``200`` with its id (no 201, no Location);
  ``GET /api/notes/{id}`` reads it back and ``DELETE /api/notes/{id}`` deletes it;
  ``POST /api/completions`` answers ``200`` with a fresh id too, but nothing reads it back
  (a chat completion: not a creation);
- ``GET /api/reports/run`` (operationId ``runReport``) only reads, but its name looks
  state-changing: skipped unless the user vouches for it with ``--assume-safe``.

Variants differ in ``PUT /api/account``: ``vulnerable`` copies ``role`` from the request,
``hardened`` ignores it (the twin), ``choking`` stores it and then answers 500 on ``GET`` for a
role it does not know, ``stuck`` stores it and never lowers it again (a restore must fail); and in
``POST /api/link-preview``: ``hardened`` fetches through the standard-library safe fetcher
(firebrick's printed fix: public addresses only, every hop re-checked), the others fetch anything.

Every request is appended to ``app.config["LOG"]`` as (method, path, status) and counted per path
in ``app.config["CALLS"]``: tests read them in-process.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import requests
from flask import Flask, Response, jsonify, request

from firebrick.remediation.snippets import safe_fetch_stdlib

VARIANTS = ("vulnerable", "hardened", "choking", "stuck")
TOKEN = "lab-user-token"
# Routes that change the lab's state when called: a safe scan must call none of them.
STATE_CHANGING = (
    "/start_over",
    "/difficulty/hard",
    "/reset-db",
    "/game",
    "/logout",
    "/api/admin/reset",
    "/api/auth/register",
)
_ROLES_RANK = {"user": 0, "editor": 1, "admin": 2}


def _page(body: str) -> Response:
    return Response(f"<!doctype html><html><body>{body}</body></html>", mimetype="text/html")


def create_app(variant: str = "vulnerable") -> Flask:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the request log is app.config["LOG"]
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}")
    app = Flask("firebrick-sideeffect-lab")
    lock = threading.Lock()
    log: list[tuple[str, str, int]] = []
    calls: Counter[str] = Counter()
    state: dict[str, Any] = {
        "difficulty": "easy",
        "resets": 0,
        "accounts": {"alice": "correct horse"},
        "items": {1: {"id": 1, "name": "first", "image_url": None}},
        "next_id": 2,
        "account": {"id": 1, "name": "Alice", "email": "alice@example.com", "role": "user"},
        "notes": {1: {"id": 1, "text": "first"}},
        "completions": 0,
    }
    app.config.update(LOG=log, CALLS=calls, STATE=state, VARIANT=variant)

    @app.after_request
    def _record(resp: Response) -> Response:
        with lock:
            log.append((request.method, request.path, resp.status_code))
            calls[request.path] += 1
        return resp

    def authed() -> bool:
        return request.headers.get("Authorization", "") == f"Bearer {TOKEN}"

    # -- pages and their state-changing links ----------------------------------------------------
    @app.get("/")
    def index() -> Response:
        return _page(
            "<h1>Quiz</h1><a href='/about'>About</a> <a href='/api/items'>Items</a> "
            "<a href='/start_over'>Start over</a> <a href='/difficulty/hard'>Hard mode</a> "
            "<a href='/reset-db'>Reset database</a> <a href='/game?action=reset'>New game</a> "
            "<a href='/logout'>Log out</a>"
        )

    @app.get("/about")
    def about() -> Response:
        return _page("<p>A lab.</p><a href='/'>Home</a> <a href='/difficulty/easy'>Easy mode</a>")

    @app.get("/start_over")
    def start_over() -> Response:
        state["items"] = {}
        return _page("<p>Started over.</p>")

    @app.get("/difficulty/<level>")
    def difficulty(level: str) -> Response:
        state["difficulty"] = level
        return _page(f"<p>Difficulty: {level}</p>")

    @app.get("/reset-db")
    def reset_db() -> Response:
        state["resets"] += 1
        return _page("<p>Database reset.</p>")

    @app.get("/game")
    def game() -> Response:
        if request.args.get("action") == "reset":
            state["resets"] += 1
        return _page("<p>Game.</p>")

    @app.get("/logout")
    def logout() -> Response:
        return _page("<p>Bye.</p>")

    # -- the API ---------------------------------------------------------------------------------
    @app.get("/openapi.json")
    def spec() -> Response:
        return jsonify(openapi())

    @app.get("/api/admin/reset")
    def api_reset() -> Response:
        state["resets"] += 1
        return jsonify(reset=True)

    @app.post("/api/auth/register")
    def register() -> Any:
        data = request.get_json(silent=True) or {}
        name, password = data.get("username"), data.get("password")
        if not name or not password:
            return jsonify(error="username and password required"), 400
        state["accounts"][str(name)] = str(password)
        return jsonify(id=len(state["accounts"]), username=name), 201

    @app.post("/api/auth/login")
    def login() -> Any:
        data = request.get_json(silent=True) or {}
        name, password = data.get("username"), data.get("password")
        if isinstance(name, str) and state["accounts"].get(name) == password:
            return jsonify(token=TOKEN)
        return jsonify(error="invalid credentials"), 401

    @app.get("/api/items")
    def items() -> Response:
        return jsonify(items=list(state["items"].values()))

    @app.post("/api/items")
    def create_item() -> Any:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not data.get("name"):
            return jsonify(error="name required"), 400
        with lock:
            item_id = state["next_id"]
            state["next_id"] += 1
            state["items"][item_id] = {
                "id": item_id,
                "name": str(data["name"]),
                "image_url": data.get("image_url"),
                "webhook_url": data.get("webhook_url"),
                "homepage": data.get("homepage"),
            }
        resp = jsonify(state["items"][item_id])
        resp.status_code = 201
        resp.headers["Location"] = f"/api/items/{item_id}"
        return resp

    @app.get("/api/items/<int:item_id>")
    def item(item_id: int) -> Any:
        found = state["items"].get(item_id)
        return jsonify(found) if found else (jsonify(error="not found"), 404)

    @app.delete("/api/items/<int:item_id>")
    def delete_item(item_id: int) -> Any:
        if state["items"].pop(item_id, None) is None:
            return jsonify(error="not found"), 404
        return Response(status=204)

    @app.post("/api/link-preview")
    def link_preview() -> Any:
        data = request.get_json(silent=True)
        url = data.get("url") if isinstance(data, dict) else None
        if not isinstance(url, str) or not url:
            return jsonify(error="url required"), 400
        try:
            if variant == "hardened":
                body = safe_fetch_stdlib.safe_fetch(url, timeout=3.0, max_bytes=65536).body
            else:
                with requests.Session() as session:
                    session.trust_env = False  # no environment proxies: the lab fetches directly
                    body = session.get(url, timeout=3.0).content[:65536]
        except safe_fetch_stdlib.BlockedURL:
            return jsonify(error="url not allowed"), 400
        except (OSError, requests.RequestException, ValueError):
            return jsonify(error="fetch failed"), 502
        return jsonify(url=url, preview=body[:2000].decode("utf-8", "replace"))

    @app.get("/api/reports/run")
    def run_report() -> Response:
        return jsonify(items=len(state["items"]), notes=len(state["notes"]))  # reads only

    @app.get("/api/notes")
    def notes() -> Response:
        return jsonify(notes=list(state["notes"].values()))

    @app.post("/api/notes")
    def create_note() -> Any:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            return jsonify(error="text required"), 400
        with lock:
            note_id = max(state["notes"], default=0) + 1
            state["notes"][note_id] = {"id": note_id, "text": data["text"]}
        return jsonify(state["notes"][note_id])  # 200, no Location: created all the same

    @app.get("/api/notes/<int:note_id>")
    def note(note_id: int) -> Any:
        found = state["notes"].get(note_id)
        return jsonify(found) if found else (jsonify(error="not found"), 404)

    @app.delete("/api/notes/<int:note_id>")
    def delete_note(note_id: int) -> Any:
        if state["notes"].pop(note_id, None) is None:
            return jsonify(error="not found"), 404
        return Response(status=204)

    @app.post("/api/completions")
    def completion() -> Any:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("prompt"), str):
            return jsonify(error="prompt required"), 400
        with lock:
            state["completions"] += 1
            n = state["completions"]
        return jsonify(id=f"cmpl-{n}", text="A short answer.")  # an id, but nothing was stored

    @app.get("/api/account")
    def account() -> Any:
        if not authed():
            return jsonify(error="authentication required"), 401
        acct = state["account"]
        if variant == "choking" and acct["role"] not in ("user", "editor"):
            return jsonify(error="internal error"), 500  # the app chokes on the role it took
        return jsonify(acct)

    @app.put("/api/account")
    def update_account() -> Any:
        if not authed():
            return jsonify(error="authentication required"), 401
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not data.get("name") or not data.get("email"):
            return jsonify(error="name and email required (PUT replaces the account)"), 400
        acct = state["account"]
        acct["name"], acct["email"] = str(data["name"]), str(data["email"])
        role = data.get("role")
        if variant != "hardened" and isinstance(role, str):
            if variant == "stuck" and _ROLES_RANK.get(role, 3) < _ROLES_RANK.get(acct["role"], 3):
                pass  # "roles only go up": the restore cannot lower it again
            else:
                acct["role"] = role
        return jsonify(acct)

    return app


def _body(properties: dict[str, Any], required: str) -> dict[str, Any]:
    schema = {"type": "object", "required": [required], "properties": properties}
    return {"content": {"application/json": {"schema": schema}}}


def openapi() -> dict[str, Any]:
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": {}}}}}
    creds = {
        "type": "object",
        "required": ["username", "password"],
        "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
        "example": {"username": "alice", "password": "wrong"},
    }
    account = {
        "type": "object",
        "required": ["name", "email"],
        "properties": {
            "name": {"type": "string"},
            "email": {"type": "string"},
            "role": {"type": "string"},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "firebrick side-effect lab", "version": "1"},
        "paths": {
            "/api/admin/reset": {
                "get": {
                    "operationId": "resetDatabase",
                    "summary": "Reset the database to its seed data",
                    "tags": ["admin"],
                    "responses": ok,
                }
            },
            "/api/auth/register": {
                "post": {
                    "operationId": "registerUser",
                    "summary": "Create an account",
                    "tags": ["auth"],
                    "requestBody": {"content": {"application/json": {"schema": creds}}},
                    "responses": {"201": {"description": "Created"}},
                }
            },
            "/api/auth/login": {
                "post": {
                    "operationId": "login",
                    "summary": "Log in",
                    "tags": ["auth"],
                    "requestBody": {"content": {"application/json": {"schema": creds}}},
                    "responses": ok,
                }
            },
            "/api/items": {
                "get": {"operationId": "listItems", "summary": "List items", "responses": ok},
                "post": {
                    "operationId": "createItem",
                    "summary": "Add an item",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["name"],
                                    "properties": {
                                        "name": {"type": "string", "example": "pen"},
                                        "image_url": {"type": "string", "format": "uri"},
                                        "webhook_url": {"type": "string", "format": "uri"},
                                        "homepage": {"type": "string", "format": "uri"},
                                    },
                                }
                            }
                        }
                    },
                    "responses": {"201": {"description": "Created"}},
                },
            },
            "/api/items/{id}": {
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                        "example": 1,
                    }
                ],
                "get": {"operationId": "getItem", "summary": "One item", "responses": ok},
                "delete": {
                    "operationId": "deleteItem",
                    "summary": "Delete an item",
                    "responses": {"204": {"description": "Deleted"}},
                },
            },
            "/api/reports/run": {
                "get": {
                    "operationId": "runReport",
                    "summary": "Run the item report (read-only)",
                    "responses": ok,
                }
            },
            "/api/link-preview": {
                "post": {
                    "operationId": "linkPreview",
                    "summary": "Preview a link",
                    "requestBody": _body({"url": {"type": "string", "format": "uri"}}, "url"),
                    "responses": ok,
                }
            },
            "/api/notes": {
                "get": {"operationId": "listNotes", "summary": "List notes", "responses": ok},
                "post": {
                    "operationId": "addNote",
                    "summary": "Add a note",
                    "requestBody": _body({"text": {"type": "string", "example": "hello"}}, "text"),
                    "responses": ok,
                },
            },
            "/api/notes/{id}": {
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                        "example": 1,
                    }
                ],
                "get": {"operationId": "getNote", "summary": "One note", "responses": ok},
                "delete": {
                    "operationId": "deleteNote",
                    "summary": "Delete a note",
                    "responses": {"204": {"description": "Deleted"}},
                },
            },
            "/api/completions": {
                "post": {
                    "operationId": "complete",
                    "summary": "Complete a prompt",
                    "requestBody": _body({"prompt": {"type": "string", "example": "hi"}}, "prompt"),
                    "responses": ok,
                }
            },
            "/api/account": {
                "get": {"operationId": "getAccount", "summary": "My account", "responses": ok},
                "put": {
                    "operationId": "updateAccount",
                    "summary": "Replace my account",
                    "requestBody": {"content": {"application/json": {"schema": account}}},
                    "responses": ok,
                },
            },
        },
    }
