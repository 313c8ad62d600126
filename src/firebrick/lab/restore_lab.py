"""A lab target whose objects full mode's probes change, for the restore layer (restore.py).

Three objects, each changed by a different full-mode probe in the ``changing`` variant:

- ``/api/notes/{id}``: the documented GET and PUT need the user's token, but a legacy
  ``POST /api/notes/<id>`` ("mark reviewed", no auth decorator) answers anyone: the
  authentication check's method-bypass POST moves the note to ``status: reviewed``.
- ``/api/tags/{id}``: the spec documents only GET; the app also routes an undocumented PATCH with
  PUT semantics (a missing field falls back to its default), advertised by ``OPTIONS``: the
  input-validation check's undocumented-method probe (``PATCH {}``) resets label and colour.
- ``/api/profile``: a documented GET/PUT whose string fields the injection check probes in full
  mode; the app stores whatever it gets.

``/api/labels/{id}``: documented GET only; the app also routes an undocumented DELETE (not in
the hardened twin). Full mode sends it only where ``--include`` names it, and a deleted object
cannot be put back (no PUT re-creates it): a failed restore carrying its original state.

And ``PUT /api/preferences``, write-only (nothing reads it back): its writes can be listed, never
verified (kept apart in ``STATE["write_only"]``).

Variants:

- ``changing``: all three change; everything can be put back (PUT for notes and the profile, the
  undocumented PATCH the target accepted for tags);
- ``forward-only``: the same, but a note's status only moves forward (``draft`` -> ``reviewed``):
  the PUT that would put ``draft`` back answers 409, so the restore fails;
- ``hardened``: no legacy POST, no undocumented PATCH, and the PUTs refuse values outside a plain
  character set (400): nothing changes.

The spec's examples are the seed values (a baseline request writes what is already there).
Every request is appended to ``app.config["LOG"]`` as (method, path, status); the objects are in
``app.config["STATE"]`` (tests compare them before and after a scan).
"""

from __future__ import annotations

import copy
import re
import threading
from typing import Any

from flask import Flask, Response, jsonify, request

VARIANTS = ("changing", "forward-only", "hardened")
TOKEN = "restore-lab-token"
SEED: dict[str, Any] = {
    "notes": {1: {"id": 1, "title": "Quarterly plan", "body": "Ship it.", "status": "draft"}},
    "tags": {1: {"id": 1, "label": "urgent", "color": "red"}},
    "profile": {"id": 7, "display_name": "Alice", "bio": "Likes tea"},
    "labels": {1: {"id": 1, "name": "keep me"}},
    "write_only": {"theme": "light"},
}
_STATUS_ORDER = ("draft", "reviewed", "published")
_PLAIN = re.compile(r"^[A-Za-z0-9 .,!]{0,80}$")


def create_app(variant: str = "changing") -> Flask:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the request log is app.config["LOG"]
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}")
    app = Flask("firebrick-restore-lab")
    lock = threading.Lock()
    log: list[tuple[str, str, int]] = []
    state: dict[str, Any] = copy.deepcopy(SEED)
    app.config.update(LOG=log, STATE=state, VARIANT=variant)
    hardened = variant == "hardened"

    @app.after_request
    def _record(resp: Response) -> Response:
        with lock:
            log.append((request.method, request.path, resp.status_code))
        return resp

    def authed() -> bool:
        return request.headers.get("Authorization", "") == f"Bearer {TOKEN}"

    def denied() -> Any:
        return jsonify(error="authentication required"), 401

    def plain(data: dict[str, Any], *names: str) -> bool:
        """The hardened twin accepts only plain text in these fields."""
        return not hardened or all(_PLAIN.match(str(data.get(n, ""))) for n in names)

    @app.get("/openapi.json")
    def spec() -> Response:
        return jsonify(openapi())

    # -- notes: the auth check is on the documented methods only -------------------------------
    @app.get("/api/notes/<int:note_id>")
    def note(note_id: int) -> Any:
        if not authed():
            return denied()
        found = state["notes"].get(note_id)
        return jsonify(found) if found else (jsonify(error="not found"), 404)

    @app.put("/api/notes/<int:note_id>")
    def put_note(note_id: int) -> Any:
        if not authed():
            return denied()
        found = state["notes"].get(note_id)
        data = request.get_json(silent=True)
        if found is None:
            return jsonify(error="not found"), 404
        if not isinstance(data, dict) or not isinstance(data.get("title"), str):
            return jsonify(error="title required (PUT replaces the note)"), 400
        if not plain(data, "title", "body", "status"):
            return jsonify(error="invalid characters"), 400
        status = data.get("status", found["status"])
        if status not in _STATUS_ORDER:
            return jsonify(error="unknown status"), 400
        if variant == "forward-only" and _STATUS_ORDER.index(status) < _STATUS_ORDER.index(
            found["status"]
        ):
            return jsonify(error="a note's status only moves forward"), 409
        with lock:
            found.update(title=data["title"], body=str(data.get("body", "")), status=status)
        return jsonify(found)

    if not hardened:

        @app.post("/api/notes/<int:note_id>")
        def review_note(note_id: int) -> Any:  # the legacy form handler nobody protected
            found = state["notes"].get(note_id)
            if found is None:
                return jsonify(error="not found"), 404
            with lock:
                found["status"] = "reviewed"
            return jsonify(found)

    # -- tags: an undocumented PATCH --------------------------------------------------------------
    @app.get("/api/tags/<int:tag_id>")
    def tag(tag_id: int) -> Any:
        found = state["tags"].get(tag_id)
        return jsonify(found) if found else (jsonify(error="not found"), 404)

    if not hardened:

        @app.patch("/api/tags/<int:tag_id>")
        def patch_tag(tag_id: int) -> Any:  # PUT semantics: a missing field is reset
            found = state["tags"].get(tag_id)
            data = request.get_json(silent=True)
            if found is None:
                return jsonify(error="not found"), 404
            if not isinstance(data, dict):
                return jsonify(error="JSON object required"), 400
            with lock:
                found.update(
                    label=str(data.get("label", "untitled")), color=str(data.get("color", "grey"))
                )
            return jsonify(found)

    # -- the profile: every string is stored ------------------------------------------------------
    @app.get("/api/profile")
    def profile() -> Any:
        return jsonify(state["profile"]) if authed() else denied()

    @app.put("/api/profile")
    def put_profile() -> Any:
        if not authed():
            return denied()
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("display_name"), str):
            return jsonify(error="display_name required"), 400
        if not plain(data, "display_name", "bio"):
            return jsonify(error="invalid characters"), 400
        with lock:
            state["profile"].update(display_name=data["display_name"], bio=str(data.get("bio", "")))
        return jsonify(state["profile"])

    @app.get("/api/labels/<int:label_id>")
    def label(label_id: int) -> Any:
        found = state["labels"].get(label_id)
        return jsonify(found) if found else (jsonify(error="not found"), 404)

    if not hardened:

        @app.delete("/api/labels/<int:label_id>")
        def delete_label(label_id: int) -> Any:  # undocumented
            with lock:
                found = state["labels"].pop(label_id, None)
            return Response(status=204) if found else (jsonify(error="not found"), 404)

    @app.put("/api/preferences")
    def put_preferences() -> Any:
        if not authed():
            return denied()
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("theme"), str):
            return jsonify(error="theme required"), 400
        if not plain(data, "theme"):
            return jsonify(error="invalid characters"), 400
        with lock:
            state["write_only"]["theme"] = data["theme"]
        return jsonify(saved=True)

    return app


def openapi() -> dict[str, Any]:
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": {}}}}}
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    note, me = SEED["notes"][1], SEED["profile"]

    def body(fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
        props = {k: {"type": "string", "example": v} for k, v in fields.items()}
        schema = {"type": "object", "required": required, "properties": props}
        return {"content": {"application/json": {"schema": schema}}}

    def id_param() -> dict[str, Any]:
        return {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"type": "integer"},
            "example": 1,
        }

    return {
        "openapi": "3.0.3",
        "info": {"title": "firebrick restore lab", "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            "/api/notes/{id}": {
                "parameters": [id_param()],
                "get": {"operationId": "getNote", "security": bearer, "responses": ok},
                "put": {
                    "operationId": "replaceNote",
                    "security": bearer,
                    "requestBody": body(
                        {k: note[k] for k in ("title", "body", "status")}, ["title"]
                    ),
                    "responses": ok,
                },
            },
            "/api/tags/{id}": {
                "parameters": [id_param()],
                "get": {"operationId": "getTag", "responses": ok},
            },
            "/api/labels/{id}": {
                "parameters": [id_param()],
                "get": {"operationId": "getLabel", "responses": ok},
            },
            "/api/preferences": {
                "put": {
                    "operationId": "savePreferences",
                    "security": bearer,
                    "requestBody": body({"theme": SEED["write_only"]["theme"]}, ["theme"]),
                    "responses": ok,
                }
            },
            "/api/profile": {
                "get": {"operationId": "getProfile", "security": bearer, "responses": ok},
                "put": {
                    "operationId": "replaceProfile",
                    "security": bearer,
                    "requestBody": body(
                        {k: me[k] for k in ("display_name", "bio")}, ["display_name"]
                    ),
                    "responses": ok,
                },
            },
        },
    }
