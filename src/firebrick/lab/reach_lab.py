"""Apps that are hard to reach: a login-only API, a Django-style form app, a GraphQL endpoint.

Each comes as a vulnerable variant and a hardened twin (same routes). They run in-process for
the tests (``serve_reach``) and fetch only what they are told to: the vulnerable fetchers are
real (urllib), so a scan proves SSRF with its OOB server on loopback.

- login API (``login_api``): JSON login for two users (bob: customer, alice: employee); opaque
  bearer tokens that stop working after ``TOKEN_USES`` requests (they expire mid-scan, so the
  scanner must log in again); ``POST /api/staff/preview`` fetches a URL for employees only.
- form app (``form_app``): a Django look-alike: ``csrftoken`` cookie, ``csrfmiddlewaretoken``
  hidden fields, every POST checked; a login form; the SSRF form is reachable only through an
  ``onclick`` handler and has no ``action``; a JSON webhook test in its OpenAPI document needs
  ``X-CSRFToken``.
- GraphQL (``graphql_app``): the endpoint is the whole app; SQL injection through a string
  argument, stack traces in errors, field suggestions, GraphiQL, unbounded batching and aliases,
  a token argument whose signature is not checked, and a URL assembled from host/port/path.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import http.client
import ipaddress
import json
import secrets
import socket
import sqlite3
import traceback
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, redirect, request

from firebrick.lab.canaries import Served, serve

TOKEN_USES = 12  # a login token works for this many requests, then answers 401
# The lab's stand-in for the public internet (as in lab/app.py): the hardened fetchers reach it
# and nothing else. Tests run the OOB server on 127.100.0.1.
LAB_INTERNET = ipaddress.ip_network("127.100.0.0/16")


def _fetch(url: str) -> str:
    """The vulnerable fetch: whatever URL, 3 s, the first 4 KiB."""
    with urllib.request.urlopen(url, timeout=3) as resp:
        return resp.read(4096).decode("utf-8", "replace")


def _guarded_fetch(url: str) -> tuple[int, str]:
    """The hardened twin: http to the lab's "public internet" only. The name is resolved once,
    every answer must be inside LAB_INTERNET, and the connection goes to the address that was
    checked (no second lookup: rebinding cannot slip through); redirects are not followed."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return 400, "only http URLs are allowed"
    try:
        port = parts.port or 80
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError):
        return 400, "cannot resolve the host"
    addresses = {str(info[4][0]) for info in infos}
    if not addresses or not all(ipaddress.ip_address(a) in LAB_INTERNET for a in addresses):
        return 400, "address not allowed"
    conn = http.client.HTTPConnection(sorted(addresses)[0], port, timeout=3)
    try:
        path = parts.path or "/"
        conn.request(
            "GET", path + (f"?{parts.query}" if parts.query else ""), headers={"Host": parts.netloc}
        )
        resp = conn.getresponse()
        if 300 <= resp.status < 400:
            return 502, "redirects are not followed"
        return 200, resp.read(4096).decode("utf-8", "replace")
    except OSError as exc:
        return 502, f"fetch failed: {type(exc).__name__}"
    finally:
        conn.close()


# -- login-only API ----------------------------------------------------------------------------
USERS = {"bob": ("bob-pass-1", "customer"), "alice": ("alice-pass-2", "employee")}
OAUTH_CLIENT = ("reports-service", "s3rvice-secret-9")


def login_api(variant: str) -> Flask:
    app = Flask("reach-login-api")
    users = dict(USERS)  # this app's accounts (registration adds to them)
    tokens: dict[str, list[Any]] = {}  # token -> [user, uses left]
    notes = {1: ("bob", "bob's note"), 2: ("alice", "alice's note")}
    app.config["logins"] = 0

    def caller() -> str | None:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        entry = tokens.get(token)
        if entry is None or entry[1] <= 0:
            return None
        entry[1] -= 1
        return str(entry[0])

    @app.post("/api/login")
    def login() -> Any:
        body = request.get_json(silent=True) or {}
        user, password = body.get("username"), body.get("password")
        if user not in users or users[user][0] != password:
            return jsonify(error="invalid credentials"), 401
        token = secrets.token_urlsafe(24)
        tokens[token] = [user, TOKEN_USES]
        app.config["logins"] += 1
        return jsonify(access_token=token, token_type="bearer")

    @app.post("/api/register")
    def register() -> Any:
        # self-registration creates customers (the --register test's accounts)
        body = request.get_json(silent=True) or {}
        user, password = str(body.get("username") or ""), str(body.get("password") or "")
        if not user or len(password) < 8 or user in users:
            return jsonify(error="invalid registration"), 400
        users[user] = (password, "customer")
        return jsonify(username=user), 201

    @app.post("/oauth/token")
    def oauth_token() -> Any:
        # RFC 6749 client credentials; the client acts as an employee (service account)
        auth = request.authorization
        ok = auth is not None and (auth.username, auth.password) == OAUTH_CLIENT
        if not ok or request.form.get("grant_type") != "client_credentials":
            return jsonify(error="invalid_client"), 401
        token = secrets.token_urlsafe(24)
        tokens[token] = ["alice", TOKEN_USES]
        return jsonify(access_token=token, token_type="Bearer", expires_in=300)

    @app.get("/api/me")
    def me() -> Any:
        who = caller()
        if who is None:
            return jsonify(error="authentication required"), 401
        return jsonify(username=who, role=users[who][1])

    @app.get("/api/notes/<int:note_id>")
    def note(note_id: int) -> Any:
        who = caller()
        if who is None:
            return jsonify(error="authentication required"), 401
        if note_id not in notes:
            return jsonify(error="not found"), 404
        owner, text = notes[note_id]
        if variant == "hardened" and owner != who:
            return jsonify(error="not found"), 404
        return jsonify(id=note_id, owner=owner, text=text)

    @app.post("/api/staff/preview")
    def preview() -> Any:
        who = caller()
        if who is None:
            return jsonify(error="authentication required"), 401
        if users[who][1] != "employee":
            return jsonify(error="employees only"), 403
        url = str((request.get_json(silent=True) or {}).get("url", ""))
        if variant == "hardened":
            status, text = _guarded_fetch(url)
            return (
                (jsonify(url=url, body=text), 200)
                if status == 200
                else (jsonify(error=text), status)
            )
        try:
            return jsonify(url=url, body=_fetch(url))
        except Exception as exc:  # the lab reports fetch errors like many apps do
            return jsonify(url=url, error=type(exc).__name__), 502

    @app.get("/openapi.json")
    def spec() -> Any:
        bearer: list[dict[str, list[str]]] = [{"bearer": []}]
        return jsonify(
            {
                "openapi": "3.0.3",
                "info": {"title": "login-only API", "version": "1"},
                "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
                "paths": {
                    "/api/login": {
                        "post": {
                            "operationId": "login",
                            "requestBody": {
                                "content": {
                                    "application/json": {
                                        "schema": {
                                            "type": "object",
                                            "properties": {
                                                "username": {"type": "string"},
                                                "password": {"type": "string"},
                                            },
                                        }
                                    }
                                }
                            },
                            "responses": {"200": {"description": "a token"}},
                        }
                    },
                    "/api/register": {
                        "post": {
                            "operationId": "register",
                            "requestBody": {
                                "content": {
                                    "application/json": {
                                        "schema": {
                                            "type": "object",
                                            "properties": {
                                                "username": {"type": "string"},
                                                "password": {"type": "string"},
                                            },
                                        }
                                    }
                                }
                            },
                            "responses": {"201": {"description": "created"}},
                        }
                    },
                    "/api/me": {
                        "get": {"security": bearer, "responses": {"200": {"description": "me"}}}
                    },
                    "/api/notes/{note_id}": {
                        "get": {
                            "security": bearer,
                            "parameters": [
                                {
                                    "name": "note_id",
                                    "in": "path",
                                    "required": True,
                                    "schema": {"type": "integer", "example": 1},
                                }
                            ],
                            "responses": {"200": {"description": "a note"}},
                        }
                    },
                    "/api/staff/preview": {
                        "post": {
                            "security": bearer,
                            "requestBody": {
                                "content": {
                                    "application/json": {
                                        "schema": {
                                            "type": "object",
                                            "properties": {
                                                "url": {"type": "string", "format": "uri"}
                                            },
                                        }
                                    }
                                }
                            },
                            "responses": {"200": {"description": "the fetched page"}},
                        }
                    },
                },
            }
        )

    return app


# -- Django-style form app -----------------------------------------------------------------------
FORM_USERS = {"alice": "alice-pass-2"}


def form_app(variant: str) -> Flask:
    app = Flask("reach-form-app")
    sessions: dict[str, str] = {}

    def page(body: str, token: str) -> Response:
        html = (
            "<!doctype html><html><head><title>Staff tools</title>"
            f'<meta name="csrf-token" content="{token}"></head><body>{body}</body></html>'
        )
        resp = Response(html, mimetype="text/html")
        if request.cookies.get("csrftoken") != token:
            resp.set_cookie("csrftoken", token, samesite="Lax")
        return resp

    def csrf_token() -> str:
        return request.cookies.get("csrftoken") or secrets.token_hex(16)

    def csrf_ok() -> bool:
        cookie = request.cookies.get("csrftoken")
        sent = request.headers.get("X-CSRFToken") or request.form.get("csrfmiddlewaretoken")
        return bool(cookie) and sent == cookie

    def user() -> str | None:
        return sessions.get(request.cookies.get("sessionid", ""))

    @app.before_request
    def csrf_guard() -> Any:
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and not csrf_ok():
            return Response("<h1>Forbidden (403)</h1><p>CSRF verification failed.</p>", 403)
        return None

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        token = csrf_token()
        if request.method == "POST":
            name, password = request.form.get("username"), request.form.get("password")
            if FORM_USERS.get(name or "") == password:
                sid = secrets.token_hex(16)
                sessions[sid] = str(name)
                resp = redirect("/")
                resp.set_cookie("sessionid", sid, httponly=True, samesite="Lax")
                return resp
        form = (
            '<form method="post" action="/login">'
            f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
            '<input type="text" name="username"><input type="password" name="password">'
            '<button type="submit">Log in</button></form>'
        )
        return page(form, token)

    @app.get("/")
    def home() -> Any:
        if user() is None:
            return redirect("/login")
        # the only way to the preview tool is a button's onclick handler
        body = (
            "<h1>Staff tools</h1>"
            "<button onclick=\"window.location.href='/tools/preview'\">Link preview</button>"
            '<div data-endpoint="/api/status"></div>'
            # a state-changing GET only a script names: the crawler must leave it alone
            "<script>document.getElementById('wipe').onclick = () => fetch('/start-over');</script>"
        )
        return page(body, csrf_token())

    @app.get("/api/status")
    def status() -> Any:
        return jsonify(ok=True, user=user())

    @app.get("/start-over")
    def start_over() -> Any:
        app.config["start_over_hits"] = app.config.get("start_over_hits", 0) + 1
        sessions.clear()  # what such routes do: every session is gone
        return redirect("/login")

    @app.route("/tools/preview", methods=["GET", "POST"])
    def tool() -> Any:
        if user() is None:
            return redirect("/login")
        token = csrf_token()
        result = ""
        if request.method == "POST":
            url = request.form.get("url", "")
            if variant == "hardened":
                result = f"<pre>{html.escape(_guarded_fetch(url)[1])}</pre>"
            else:
                try:
                    result = f"<pre>{_fetch(url)}</pre>"
                except Exception as exc:
                    result = f"<p>could not fetch: {type(exc).__name__}</p>"
        form = (
            '<form method="post">'  # no action: posts to this page
            f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
            '<input type="url" name="url"><button>Preview</button></form>'
        )
        return page(form + result, token)

    @app.post("/api/webhook-test")
    def webhook() -> Any:
        if user() is None:
            return jsonify(error="login required"), 403
        url = str((request.get_json(silent=True) or {}).get("url", ""))
        if variant == "hardened":
            status, text = _guarded_fetch(url)
            if status == 200:
                return jsonify(delivered=True, answer=text)
            return jsonify(delivered=False, error=text), status
        try:
            return jsonify(delivered=True, answer=_fetch(url))
        except Exception as exc:
            return jsonify(delivered=False, error=type(exc).__name__), 502

    @app.get("/openapi.json")
    def spec() -> Any:
        return jsonify(
            {
                "openapi": "3.0.3",
                "info": {"title": "staff tools", "version": "1"},
                "paths": {
                    "/api/webhook-test": {
                        "post": {
                            "requestBody": {
                                "content": {
                                    "application/json": {
                                        "schema": {
                                            "type": "object",
                                            "properties": {"url": {"type": "string"}},
                                        }
                                    }
                                }
                            },
                            "responses": {"200": {"description": "delivered"}},
                        }
                    }
                },
            }
        )

    return app


# -- GraphQL -------------------------------------------------------------------------------------
GRAPHQL_SDL = """
type User { name: String email: String }
type Query {
  ping: String
  user(name: String!): User
  me(token: String!): User
  preview(host: String!, port: Int, path: String): String
}
"""
JWT_SECRET = "lab-" + "k" * 40  # the hardened twin's strong HMAC secret
MAX_BATCH = 5
MAX_ALIASES = 15
_GRAPHIQL = (
    "<!doctype html><html><head><title>GraphiQL</title></head><body>"
    '<div id="graphiql">Loading GraphiQL...</div></body></html>'
)


def _b64json(segment: str) -> Any:
    import base64

    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def graphql_app(variant: str) -> Flask:
    from graphql import build_schema, graphql_sync, parse
    from graphql.error import GraphQLError

    hardened = variant == "hardened"
    schema = build_schema(GRAPHQL_SDL)
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.execute("create table users (name text, email text)")
    db.executemany(
        "insert into users values (?, ?)",
        [("admin", "admin@lab.test"), ("alice", "alice@lab.test")],
    )

    def row(name: str) -> dict[str, str] | None:
        if hardened:
            found = db.execute("select name, email from users where name = ?", (name,)).fetchone()
        else:
            found = db.execute(f"select name, email from users where name = '{name}'").fetchone()
        return {"name": found[0], "email": found[1]} if found else None

    def verify(token: str) -> str | None:
        try:
            head, body, sig = token.split(".")
            header, claims = _b64json(head), _b64json(body)
        except ValueError:
            raise GraphQLError("malformed token") from None
        if hardened:
            if header.get("alg") != "HS256":
                raise GraphQLError("invalid token")
            good = hmac.new(JWT_SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256)
            import base64

            expected = base64.urlsafe_b64encode(good.digest()).rstrip(b"=").decode()
            if not hmac.compare_digest(expected, sig):
                raise GraphQLError("invalid token")
        return str(claims.get("sub") or claims.get("username") or "")

    def resolve_preview(host: str, port: int | None = None, path: str | None = None) -> str:
        url = f"http://{host}:{port or 80}/{(path or '').lstrip('/')}"
        if hardened:
            return _guarded_fetch(url)[1]
        return _fetch(url)

    root = {
        "ping": lambda info: "pong",
        "user": lambda info, name: row(name),
        "me": lambda info, token: row(verify(token) or ""),
        "preview": lambda info, **kw: resolve_preview(**kw),
    }

    def run(item: Any) -> dict[str, Any]:
        if not isinstance(item, dict) or not isinstance(item.get("query"), str):
            return {"errors": [{"message": "a query is required"}]}
        query = item["query"]
        if hardened:
            try:
                doc = parse(query)
            except GraphQLError:
                doc = None
            if doc is not None and query.count(":") > MAX_ALIASES:
                return {"errors": [{"message": "too many aliases"}]}
        result = graphql_sync(
            schema, query, root_value=root, variable_values=item.get("variables") or None
        )
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            errors = []
            for err in result.errors:
                message = err.message
                entry: dict[str, Any] = {"message": message}
                original = err.original_error
                if hardened:
                    if original is not None and not isinstance(original, GraphQLError):
                        entry["message"] = "internal error"
                    entry["message"] = entry["message"].split(" Did you mean")[0]
                elif original is not None:
                    entry["message"] = (
                        f"{type(original).__module__}.{type(original).__name__}: {original}"
                    )
                    entry["extensions"] = {
                        "exception": {"stacktrace": traceback.format_exception(original)}
                    }
                errors.append(entry)
            out["errors"] = errors
        return out

    app = Flask("reach-graphql")

    @app.route("/graphql", methods=["GET", "POST"])
    def endpoint() -> Any:
        if request.method == "GET":
            if "text/html" in request.headers.get("Accept", "") and not hardened:
                return Response(_GRAPHIQL, mimetype="text/html")
            query = request.args.get("query")
            if query is None:
                return jsonify(errors=[{"message": "send a POST with a query"}]), 400
            return jsonify(run({"query": query}))
        body = request.get_json(silent=True)
        if isinstance(body, list):
            if hardened and len(body) > MAX_BATCH:
                return jsonify(errors=[{"message": "batch too large"}]), 400
            return jsonify([run(item) for item in body[:100]])
        return jsonify(run(body))

    if not hardened:

        @app.get("/playground")
        def playground() -> Any:
            return Response(
                "<html><head><title>GraphQL Playground</title></head><body>"
                "<div id=root>GraphQL Playground</div></body></html>",
                mimetype="text/html",
            )

    return app


# -- serving -------------------------------------------------------------------------------------
APPS = {"login": login_api, "form": form_app, "graphql": graphql_app}


@dataclass
class ReachLab:
    served: Served
    app: Flask

    @property
    def url(self) -> str:
        return self.served.url

    def stop(self) -> None:
        self.served.server.shutdown()
        self.served.server.server_close()


def serve_reach(kind: str, variant: str, port: int = 0) -> ReachLab:
    """Serve one of the apps on 127.0.0.1 (an ephemeral port by default), in a daemon thread."""
    app = APPS[kind](variant)
    return ReachLab(serve(app, port=port), app)
