"""Lab shapes for truthful verdicts (issue 9): what real apps look like when a scanner's grade
goes wrong. Each shape is a small Flask app with a VULNERABLE variant and its HARDENED twin.

====================  ============================================  ===========================
shape                 vulnerable                                    hardened
====================  ============================================  ===========================
token-wall            every route needs a bearer token (401         same wall; /api/settings
                      without); /api/settings leaks an AWS key      has no secret
                      behind the wall
spa                   one HTML page; the API is named only in its   same page and bundle;
                      JS bundle; GET /api/config leaks an AWS key   /api/config has no secret
swagger-redirect      the spec only behind Swagger UI at /api-docs  same docs (url: config);
                      (301 -> /api-docs/, swagger-ui-init.js with   /api/config has no secret
                      the document embedded); /api/config leaks
                      an AWS key
string-ids            notes and profiles addressed by title and     owner only, else 404
                      username; any identity reads any note
likely-sql            GET /api/products/search?q= splices q into    parameterized query
                      SQL: a quote gives a sqlite error (the only
                      finding: high / likely)
jwt-example           the spec's example JWT is signed with         a random signing key: the
                      "secret", and so are the server's tokens      example is only text (the
                                                                    published token itself is
                                                                    still data_exposure's
                                                                    secret-in-spec, in both)
books-by-title        a spec with no security declared; a public    one login message; a lab
                      user list; the login tells "no such user"     key no list holds; a book
                      from "wrong password"; GET /api/books/        reads only for its owner
                      {book_title} needs a JWT (401 without) signed (404 otherwise)
                      with the example's common secret and reads
                      any user's book; the spec's examples name a
                      user and a book that do not exist
paste-import          POST /api/pastes/import and the GraphQL       the same URL fetched as
                      mutation importPaste build a URL from         given, no shell (still a
                      scheme, host, port and path, strip ; | " and  fetcher: the SSRF findings
                      hand it to a shell command line before        are shared by both twins)
                      fetching it (command injection); a
                      deletePaste mutation safe mode never sends
====================  ============================================  ===========================

Every variant sends security headers and a Server header without a version, so the twins differ
only by the shape's flaw. Tokens are lab-only constants (TOKENS).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response, jsonify, redirect, request
from graphql import build_schema, graphql_sync
from werkzeug.serving import WSGIRequestHandler, make_server

from firebrick.lab.canaries import serve_until_interrupted, serving

SHAPES = (
    "token-wall",
    "spa",
    "swagger-redirect",
    "string-ids",
    "likely-sql",
    "jwt-example",
    "books-by-title",
    "paste-import",
)
TOKENS = {"alice": "lab-truth-alice-7c1e", "bob": "lab-truth-bob-52d9"}
LEAKED_AWS_KEY = "AKIAIOSFODNN7TRUTHLB"  # lab-only, the AWS documentation's example shape
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    # an advertised limit: the twins differ by their flaw, not by rate limiting
    "RateLimit-Limit": "1000",
    "RateLimit-Remaining": "999",
    "RateLimit-Reset": "60",
}


class _Handler(WSGIRequestHandler):
    """A quiet request handler whose Server header carries no version (werkzeug writes it)."""

    def version_string(self) -> str:
        return "lab"

    def log(self, type: str, message: str, *args: Any) -> None:
        pass


def _headers(app: Flask) -> None:
    @app.after_request
    def add(resp: Response) -> Response:
        for k, v in HEADERS.items():
            resp.headers.setdefault(k, v)
        return resp


def _caller() -> str | None:
    auth = request.headers.get("Authorization", "")
    token = auth.removeprefix("Bearer ").strip()
    return next((u for u, t in TOKENS.items() if t == token), None)


def _spec(title: str, paths: dict[str, Any], secured: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1.0"},
        "paths": paths,
    }
    if secured:
        doc["components"] = {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}}
        doc["security"] = [{"bearer": []}]
    return doc


def _get(
    summary: str, params: list[dict[str, Any]] | None = None, public: bool = False
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": {"description": "ok"}}}
    if params:
        op["parameters"] = params
    if public:
        op["security"] = []  # overrides the document's global security
    return {"get": op}


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


# -- token-wall ------------------------------------------------------------------------------
def token_wall(hardened: bool) -> Flask:
    app = Flask(f"truth-token-wall-{'hardened' if hardened else 'vulnerable'}")
    _headers(app)
    paths = {
        "/api/account": _get("the caller's account"),
        "/api/orders": _get("the caller's orders"),
        "/api/invoices": _get("the caller's invoices"),
        "/api/settings": _get("settings"),
        "/api/messages": _get("messages"),
        "/api/catalog": _get("catalog"),
    }

    @app.get("/openapi.json")
    def spec() -> Any:
        return jsonify(_spec("Token wall", paths, secured=True))

    @app.before_request
    def wall() -> Any:
        # routes that do not exist answer 404 (Flask runs before_request for them too)
        if request.url_rule is None or request.path == "/openapi.json":
            return None
        if _caller() is None:
            resp = jsonify(error="authentication required")
            resp.status_code = 401
            resp.headers["WWW-Authenticate"] = 'Bearer realm="lab"'
            return resp
        return None

    @app.get("/")
    def root() -> Any:
        return jsonify(api="token wall", docs="/openapi.json")

    @app.get("/api/account")
    def account() -> Any:
        return jsonify(username=_caller(), plan="basic")

    @app.get("/api/settings")
    def settings() -> Any:
        out: dict[str, Any] = {"currency": "EUR", "region": "eu-west-1"}
        if not hardened:  # the flaw, visible only to a scan that gets past the wall
            out["aws_access_key_id"] = LEAKED_AWS_KEY
        return jsonify(out)

    for path in [p for p in paths if p not in ("/api/account", "/api/settings")]:
        name = path.rsplit("/", 1)[-1]
        app.add_url_rule(path, name, lambda name=name: jsonify(items=[], kind=name))
    return app


# -- spa ------------------------------------------------------------------------------------------
SPA_BUNDLE = """
(function(){"use strict";const api=axios.create({baseURL:"/api"});
function loadNotes(){return fetch("/api/notes").then(r=>r.json())}
function saveNote(n){return fetch("/api/notes",{method:"POST",body:JSON.stringify(n)})}
function note(id){return fetch(`/api/notes/${id}`)}
function profile(){return api.get("/profile")}
function config(){return fetch("/api/config")}
function search(q){return fetch("/api/search?q="+encodeURIComponent(q))}
const ASSET="/static/css/app.css";window.App={loadNotes,saveNote,note,profile,config,search}})();
"""
SPA_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Notes</title>
<link rel="stylesheet" href="/static/css/app.css"></head>
<body><div id="root"></div><script src="/static/js/main.4f2a9c.js"></script></body></html>"""


def spa(hardened: bool) -> Flask:
    app = Flask(f"truth-spa-{'hardened' if hardened else 'vulnerable'}")
    _headers(app)
    notes: list[dict[str, Any]] = [{"id": 1, "title": "welcome", "body": "hello"}]

    @app.get("/")
    def page() -> Any:
        return Response(SPA_PAGE, mimetype="text/html")

    @app.get("/static/js/main.4f2a9c.js")
    def bundle() -> Any:
        return Response(SPA_BUNDLE, mimetype="application/javascript")

    @app.get("/static/css/app.css")
    def css() -> Any:
        return Response("body{margin:0}", mimetype="text/css")

    @app.get("/api/notes")
    def list_notes() -> Any:
        return jsonify(notes=notes)

    @app.get("/api/notes/<int:note_id>")
    def one_note(note_id: int) -> Any:
        found = [n for n in notes if n["id"] == note_id]
        return (jsonify(found[0]), 200) if found else (jsonify(error="not found"), 404)

    @app.get("/api/profile")
    def profile() -> Any:
        if _caller() is None:  # a private page: both twins ask for a session
            return jsonify(error="authentication required"), 401
        return jsonify(name=_caller(), theme="dark")

    @app.get("/api/config")
    def config() -> Any:
        out: dict[str, Any] = {"region": "eu-west-1", "features": ["notes"]}
        if not hardened:
            out["aws_access_key_id"] = LEAKED_AWS_KEY
        return jsonify(out)

    @app.get("/api/search")
    def search() -> Any:
        q = request.args.get("q", "")
        return jsonify(results=[n for n in notes if q and q in n["title"]])

    return app


# -- swagger-redirect --------------------------------------------------------------------------
SWAGGER_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8">
<title>Swagger UI</title><link rel="stylesheet" type="text/css" href="./swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="./swagger-ui-bundle.js"></script><script src="./swagger-ui-standalone-preset.js">
</script><script src="./swagger-ui-init.js"></script></body></html>"""


def _docs_paths() -> dict[str, Any]:
    return {
        "/api/items": _get("items"),
        "/api/items/{item_id}": _get("one item", [_path_param("item_id")]),
        "/api/config": _get("configuration"),
        "/api/status": _get("status"),
        "/api/tags": _get("tags"),
    }


def swagger_redirect(hardened: bool) -> Flask:
    app = Flask(f"truth-swagger-{'hardened' if hardened else 'vulnerable'}")
    app.url_map.strict_slashes = True  # /api-docs -> 308/301 /api-docs/ as Express does
    _headers(app)
    doc = _spec("Docs behind Swagger UI", _docs_paths())

    @app.get("/")
    def root() -> Any:
        return Response("<html><body><h1>Items service</h1></body></html>", mimetype="text/html")

    @app.get("/api-docs")
    def docs_redirect() -> Any:
        return redirect("/api-docs/", code=301)

    @app.get("/api-docs/")
    def docs() -> Any:
        return Response(SWAGGER_PAGE, mimetype="text/html")

    @app.get("/api-docs/swagger-ui-init.js")
    def init() -> Any:
        if hardened:  # the other common shape: the page names the document's URL
            body = (
                'window.onload=function(){const ui=SwaggerUIBundle({url: "/api-docs/swagger.json",'
                'dom_id:"#swagger-ui",presets:[SwaggerUIBundle.presets.apis]});window.ui=ui}'
            )
        else:  # swagger-ui-express: the document embedded in the init script
            options = {"swaggerDoc": doc, "customOptions": {}}
            body = (
                "window.onload = function() {\n  var url = window.location.search.match(/url=([^&]+)/);\n"
                f"  var options = {json.dumps(options)};\n"
                "  var ui = SwaggerUIBundle(Object.assign({dom_id: '#swagger-ui'}, options));\n}"
            )
        return Response(body, mimetype="application/javascript")

    @app.get("/api-docs/swagger.json")
    def spec_json() -> Any:
        return jsonify(doc)

    @app.get("/api/items")
    def items() -> Any:
        return jsonify(items=[{"item_id": "a1", "name": "lamp"}])

    @app.get("/api/items/<item_id>")
    def item(item_id: str) -> Any:
        if item_id != "a1":
            return jsonify(error="not found"), 404
        return jsonify(item_id="a1", name="lamp")

    @app.get("/api/config")
    def config() -> Any:
        out: dict[str, Any] = {"currency": "EUR"}
        if not hardened:
            out["aws_access_key_id"] = LEAKED_AWS_KEY
        return jsonify(out)

    @app.get("/api/status")
    def status() -> Any:
        return jsonify(ok=True, items=1)

    @app.get("/api/tags")
    def tags() -> Any:
        return jsonify(tags=["home", "office"])

    return app


# -- string-ids -----------------------------------------------------------------------------------
NOTES = {
    "alice-groceries": ("alice", "eggs, milk, the spare key code 4821"),
    "alice-diary": ("alice", "dear diary"),
    "bob-travel-plans": ("bob", "flight on friday, passport in the drawer"),
}
PROFILES = {
    "alice": {"username": "alice", "display_name": "Alice", "plan": "basic"},
    "bob": {"username": "bob", "display_name": "Bob", "plan": "pro"},
}


def string_ids(hardened: bool) -> Flask:
    app = Flask(f"truth-string-ids-{'hardened' if hardened else 'vulnerable'}")
    _headers(app)
    paths = {
        "/api/notes": _get("the caller's notes"),
        "/api/notes/{title}": _get("a note by title", [_path_param("title")]),
        "/api/users/{username}": _get("a profile", [_path_param("username")]),
        "/api/me": _get("the caller"),
        "/api/status": _get("status", public=True),
    }

    @app.get("/openapi.json")
    def spec() -> Any:
        return jsonify(_spec("Notes by title", paths, secured=True))

    @app.get("/api/status")
    def status() -> Any:
        return jsonify(ok=True)

    def need() -> str | None:
        return _caller()

    @app.get("/api/me")
    def me() -> Any:
        user = need()
        if user is None:
            return jsonify(error="authentication required"), 401
        return jsonify(PROFILES[user])

    @app.get("/api/notes")
    def notes() -> Any:
        user = need()
        if user is None:
            return jsonify(error="authentication required"), 401
        mine = [{"title": t, "body": b} for t, (o, b) in NOTES.items() if o == user]
        return jsonify(notes=mine)

    @app.get("/api/notes/<title>")
    def note(title: str) -> Any:
        user = need()
        if user is None:
            return jsonify(error="authentication required"), 401
        found = NOTES.get(title)
        if found is None or (hardened and found[0] != user):
            return jsonify(error="not found"), 404
        return jsonify(title=title, body=found[1], owner=found[0])

    @app.get("/api/users/<username>")
    def profile(username: str) -> Any:
        user = need()
        if user is None:
            return jsonify(error="authentication required"), 401
        if username not in PROFILES or (hardened and username != user):
            return jsonify(error="not found"), 404
        return jsonify(PROFILES[username])

    return app


# -- likely-sql -----------------------------------------------------------------------------------
def likely_sql(hardened: bool) -> Flask:
    app = Flask(f"truth-likely-sql-{'hardened' if hardened else 'vulnerable'}")
    _headers(app)
    lock = threading.Lock()
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.executescript(
        "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price REAL);"
        "INSERT INTO products (name, price) VALUES ('lamp', 20.0), ('desk', 150.0);"
    )
    paths = {
        "/api/products": _get("products"),
        "/api/products/search": _get(
            "search",
            [{"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}],
        ),
        "/api/categories": _get("categories"),
        "/api/status": _get("status"),
        "/api/about": _get("about"),
    }

    @app.get("/openapi.json")
    def spec() -> Any:
        return jsonify(_spec("Shop", paths))

    @app.get("/api/products")
    def products() -> Any:
        with lock:
            rows = db.execute("SELECT id, name, price FROM products").fetchall()
        return jsonify(products=[{"id": r[0], "name": r[1], "price": r[2]} for r in rows])

    @app.get("/api/products/search")
    def search() -> Any:
        q = request.args.get("q", "")
        try:
            with lock:
                if hardened:
                    rows = db.execute(
                        "SELECT id, name FROM products WHERE name LIKE ?", (f"%{q}%",)
                    ).fetchall()
                else:  # the flaw: q spliced into SQL text
                    rows = db.execute(
                        f"SELECT id, name FROM products WHERE name LIKE '%{q}%'"
                    ).fetchall()
        except sqlite3.Error as exc:
            return jsonify(error=f"sqlite3.OperationalError: {exc}"), 500
        return jsonify(results=[{"id": r[0], "name": r[1]} for r in rows])

    @app.get("/api/categories")
    def categories() -> Any:
        return jsonify(categories=["furniture", "lighting"])

    @app.get("/api/status")
    def status() -> Any:
        return jsonify(ok=True)

    @app.get("/api/about")
    def about() -> Any:
        return jsonify(name="shop", version="1")

    return app


# -- jwt-example -----------------------------------------------------------------------------------
JWT_EXAMPLE_SECRET = "secret"  # in firebrick's bundled list: the spec example is signed with it


def jwt_example(hardened: bool) -> Flask:
    """The spec's own example token is signed with a common secret. Vulnerable: the server
    signs and verifies with that same secret. Hardened: a random key (the example is just text)."""
    from firebrick.checks import jwt as jwtlib

    app = Flask(f"truth-jwt-example-{'hardened' if hardened else 'vulnerable'}")
    _headers(app)
    key = secrets.token_hex(32) if hardened else JWT_EXAMPLE_SECRET
    example = jwtlib.sign(
        {"alg": "HS256", "typ": "JWT"},
        {"sub": "alice", "iat": 1700000000, "exp": 1700003600},
        JWT_EXAMPLE_SECRET,
    )
    bearer = {
        "name": "Authorization",
        "in": "header",
        "required": True,
        "schema": {"type": "string"},
        "example": f"Bearer {example}",
    }
    paths = {
        "/api/me": _get("the caller", [bearer]),
        "/api/orders": _get("orders", [bearer]),
        "/api/status": _get("status", public=True),
        "/api/products": _get("products", public=True),
        "/api/about": _get("about", public=True),
    }

    @app.get("/openapi.json")
    def spec() -> Any:
        return jsonify(_spec("Token example", paths, secured=True))

    def verified() -> dict[str, Any] | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        parsed = jwtlib.parse(token)
        if parsed is None or parsed.alg != "HS256" or not jwtlib.verify_hmac(parsed, key):
            return None
        exp = parsed.claims.get("exp")
        if not isinstance(exp, (int, float)) or exp < time.time():
            return None
        return parsed.claims

    @app.get("/api/me")
    def me() -> Any:
        claims = verified()
        if claims is None:
            return jsonify(error="authentication required"), 401
        return jsonify(user=claims.get("sub"), plan="basic")

    @app.get("/api/orders")
    def orders() -> Any:
        if verified() is None:
            return jsonify(error="authentication required"), 401
        return jsonify(orders=[{"order_no": "A-1", "total": 12.5}])

    @app.get("/api/status")
    def status() -> Any:
        return jsonify(ok=True)

    @app.get("/api/products")
    def products() -> Any:
        return jsonify(products=["lamp", "desk"])

    @app.get("/api/about")
    def about() -> Any:
        return jsonify(name="shop")

    return app


# -- books-by-title --------------------------------------------------------------------------------
# Measured on a third-party API (docs/real-apps.md): the token check is not declared in the spec,
# the spec's example token and ids name things that do not exist, and the only user names are in
# a public list. Lab-only keys: the vulnerable one is in firebrick's common list, the other is not.
BOOKS_KEYS = {False: JWT_EXAMPLE_SECRET, True: "lab-books-key-3c9e71d05a4f"}
BOOKS_USERS = {"alice": "alice-pass-1", "bob": "bob-pass-2"}
BOOKS = {"alice-garden-notes": "alice", "bob-travel-log": "bob"}


def books_token(user: str, hardened: bool, lifetime: int = 3600) -> str:
    """A token the books-by-title twin accepts for user (tests use it as an identity)."""
    from firebrick.checks import jwt as jwtlib

    now = int(time.time())
    claims = {"sub": user, "iat": now, "exp": now + lifetime}
    return jwtlib.sign({"alg": "HS256", "typ": "JWT"}, claims, BOOKS_KEYS[hardened])


def books_by_title(hardened: bool) -> Flask:
    from firebrick.checks import jwt as jwtlib

    app = Flask(f"truth-books-{'hardened' if hardened else 'vulnerable'}")
    _headers(app)
    key = BOOKS_KEYS[hardened]
    example = jwtlib.sign(
        {"alg": "HS256", "typ": "JWT"},
        {"sub": "John.Doe", "iat": 1670160557, "exp": 1670160617},
        JWT_EXAMPLE_SECRET,
    )
    body = {
        "type": "object",
        "properties": {
            "username": {"type": "string", "example": "John.Doe"},
            "password": {"type": "string", "example": "password123"},
        },
    }
    login_answer = {
        "type": "object",
        "properties": {"auth_token": {"type": "string", "example": example}},
    }
    paths = {
        "/api/users": _get("the user directory"),
        "/api/users/{username}": _get(
            "a public profile", [_path_param("username") | {"example": "John.Doe"}]
        ),
        "/api/login": {
            "post": {
                "summary": "log in",
                "requestBody": {"content": {"application/json": {"schema": body}}},
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {"application/json": {"schema": login_answer}},
                    }
                },
            }
        },
        "/api/books": _get("every book title"),
        "/api/books/{book_title}": _get(
            "a book and its text, for its owner",
            [_path_param("book_title") | {"example": "bookTitle77"}],
        ),
    }

    @app.get("/openapi.json")
    def spec() -> Any:
        return jsonify(_spec("Books", paths))  # no security scheme declared, as in the field

    def caller() -> str | None:
        auth = request.headers.get("Authorization", "")
        parsed = jwtlib.parse(auth.removeprefix("Bearer ").strip())
        if parsed is None or parsed.alg != "HS256" or not jwtlib.verify_hmac(parsed, key):
            return None
        exp = parsed.claims.get("exp")
        if not isinstance(exp, (int, float)) or exp < time.time():
            return None
        return str(parsed.claims.get("sub", ""))

    @app.get("/api/users")
    def users() -> Any:
        return jsonify(users=[{"username": u, "display_name": u.title()} for u in BOOKS_USERS])

    @app.get("/api/users/<username>")
    def user(username: str) -> Any:
        if username not in BOOKS_USERS:
            return jsonify(status="fail", message="User not found"), 404
        return jsonify(username=username, display_name=username.title())

    @app.post("/api/login")
    def login() -> Any:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("username"), str):
            return jsonify(status="fail", message="username and password required"), 400
        name, password = data["username"], data.get("password")
        if BOOKS_USERS.get(name) == password:
            return jsonify(status="success", auth_token=books_token(name, hardened))
        if hardened:
            message = "Username or password incorrect"
        elif name in BOOKS_USERS:  # the flaw: the two failures read differently
            message = "Password is not correct for the given username."
        else:
            message = "Username does not exist"
        return jsonify(status="fail", message=message)

    @app.get("/api/books")
    def books() -> Any:
        return jsonify(books=[{"book_title": t, "user": o} for t, o in BOOKS.items()])

    @app.get("/api/books/<book_title>")
    def book(book_title: str) -> Any:
        who = caller()
        if who is None:
            return jsonify(status="fail", message="Invalid token"), 401
        owner = BOOKS.get(book_title)
        if owner is None or (hardened and owner != who):
            return jsonify(status="fail", message="Book not found!"), 404
        return jsonify(book_title=book_title, text=f"notes of {owner}", owner=owner)

    return app


# -- paste-import ----------------------------------------------------------------------------------
def paste_import(hardened: bool) -> Flask:
    """Measured on a third-party GraphQL API: a paste import assembles a URL from parts, strips a
    few shell characters and runs the fetcher through a shell. The vulnerable twin lets ``sh``
    expand the URL (``printf``) before fetching it; the hardened one fetches it as given."""
    import subprocess
    import urllib.request

    app = Flask(f"truth-paste-import-{'hardened' if hardened else 'vulnerable'}")
    _headers(app)
    pastes: list[dict[str, Any]] = []
    lock = threading.Lock()
    part = {"type": "string"}
    body = {
        "type": "object",
        "required": ["scheme", "host", "path"],
        "properties": {
            "scheme": part | {"example": "https"},
            "host": part | {"example": "pastebin.example.com"},
            "port": {"type": "integer", "example": 443},
            "path": part | {"example": "/raw/abc123"},
        },
    }
    paths = {
        "/api/pastes": _get("pastes"),
        "/api/pastes/import": {
            "post": {
                "summary": "import a paste from a URL",
                "requestBody": {"content": {"application/json": {"schema": body}}},
                "responses": {"200": {"description": "ok"}},
            }
        },
    }

    @app.get("/openapi.json")
    def spec() -> Any:
        return jsonify(_spec("Pastes", paths))

    @app.get("/api/pastes")
    def listing() -> Any:
        with lock:
            return jsonify(pastes=[{"id": p["id"], "title": p["title"]} for p in pastes[-20:]])

    def fetch(scheme: str, host: str, port: Any, path: str) -> str:
        url = f"{scheme}://{host}:{port}{path}"
        if not hardened:  # the flaw: a denylist of three characters, then a shell
            url = url.replace('"', "").replace(";", "").replace("|", "")
            url = subprocess.run(
                f"printf %s {url}", shell=True, capture_output=True, text=True, timeout=5
            ).stdout
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                content = resp.read(65536).decode("utf-8", "replace")
        except Exception as exc:  # a paste import that failed says why, as fetchers do
            content = f"import failed: {type(exc).__name__}"
        with lock:
            pastes.append({"id": len(pastes) + 1, "title": f"import {len(pastes) + 1}"})
        return content[:2000]

    @app.post("/api/pastes/import")
    def import_paste() -> Any:
        data = request.get_json(silent=True) or {}
        args = (data.get("scheme", "http"), data.get("host", ""), data.get("port", 80))
        return jsonify(
            result=fetch(str(args[0]), str(args[1]), args[2], str(data.get("path", "/")))
        )

    schema = build_schema(PASTE_SCHEMA)

    def delete_paste(_info: Any, title: str) -> bool:
        with lock:  # state a safe scan must never change
            pastes[:] = [p for p in pastes if p["title"] != title]
            app.config["DELETES"] = app.config.get("DELETES", 0) + 1
        return True

    root = {
        "pastes": lambda _info: [{"id": p["id"], "title": p["title"]} for p in pastes[-20:]],
        "importPaste": lambda _info, scheme, host, path, port=80: {
            "result": fetch(scheme, host, port, path)
        },
        "deletePaste": delete_paste,
    }

    @app.post("/graphql")
    def graphql_endpoint() -> Any:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("query"), str):
            return jsonify(errors=[{"message": "body must be JSON with a query string"}]), 400
        variables = data.get("variables")
        result = graphql_sync(
            schema,
            data["query"],
            root_value=root,
            variable_values=variables if isinstance(variables, dict) else None,
            operation_name=data.get("operationName"),
        )
        return jsonify(result.formatted)

    return app


PASTE_SCHEMA = """
type Paste { id: Int, title: String }
type ImportResult { result: String }
type Query { pastes: [Paste] }
type Mutation {
  "Import a paste from {scheme}://{host}:{port}{path}."
  importPaste(scheme: String!, host: String!, port: Int, path: String!): ImportResult
  deletePaste(title: String!): Boolean
}
"""


FACTORIES = {
    "token-wall": token_wall,
    "spa": spa,
    "swagger-redirect": swagger_redirect,
    "string-ids": string_ids,
    "likely-sql": likely_sql,
    "jwt-example": jwt_example,
    "books-by-title": books_by_title,
    "paste-import": paste_import,
}


def create_app(shape: str, hardened: bool = False) -> Flask:
    if shape not in FACTORIES:
        raise ValueError(f"unknown shape {shape!r}: one of {', '.join(SHAPES)}")
    return FACTORIES[shape](hardened)


@contextmanager
def serve(shape: str, hardened: bool = False) -> Iterator[str]:
    """Serve a shape on 127.0.0.1 (a free port, threaded) for a ``with`` block; its base URL."""
    with serving(create_app(shape, hardened), _Handler) as url:
        yield url


def main(argv: list[str] | None = None) -> int:
    """``python -m firebrick.lab.truth_lab SHAPE [--hardened] [--port N]``: serve one shape on
    127.0.0.1 until interrupted (prints its URL first)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m firebrick.lab.truth_lab")
    parser.add_argument("shape", choices=SHAPES)
    parser.add_argument("--hardened", action="store_true")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = make_server(
        "127.0.0.1",
        args.port,
        create_app(args.shape, args.hardened),
        threaded=True,
        request_handler=_Handler,
    )
    print(f"serving {args.shape} on http://127.0.0.1:{server.server_port}", flush=True)
    serve_until_interrupted(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
