"""The lab's user/object/admin API (issue 4): each authn/authz flaw as a VULNERABLE view and its
HARDENED twin, at the same paths (the OpenAPI fragment is lab/api_spec.py).

=============================  ===========================================  =====================
endpoint                       vulnerable                                   hardened
=============================  ===========================================  =====================
POST /api/auth/login           "no such user" vs "wrong password";          one generic 401;
                               evaluates credentials over plain HTTP;       HTTPS only (proxy
                               no throttling; HS256 key "secret", no exp,   header); 5 failures/
                               password hash in the claims                  min; random key, exp,
                                                                            iss, aud
GET  /api/me                   alg=none and expired tokens accepted;        strict JWT checks;
                               returns password_hash, api_key, role         public fields only
PUT  /api/me                   mass assignment (any key, e.g. role)         display_name, email
GET  /api/me/preferences       signature never verified                     strict JWT checks
GET  /api/reports              refuses GET without a token, answers HEAD    every method checked
GET  /api/orders, /{order_id}  any order by id to any user (BOLA)           owner only, else 404
GET  /api/invoices/{id}        declared secured, no check at all            token + owner
GET  /api/legacy/export        HTTP Basic over plain HTTP                   Bearer
GET  /api/admin/users          no authentication (users, roles, hashes)     admin role
GET  /api/admin/stats          any valid token (no role check)              admin role
GET  /metrics, /docs           Prometheus metrics, Swagger UI: public       404
GET  /api/products             no rate limit; ?limit uncapped               40 req/30 s; max 100
GET  /api/events               800 events, no pagination                    50 per page + cursor
GET  /api/v2/catalog           current (same in both)
GET  /api/v1, /api/v1/catalog  old version still live (not in the spec)     404
GET  /api/catalog/legacy       deprecated, still answers                    410 Gone
server banner                  Werkzeug/x.y Python/x.y                      none (web_lab hardening)
=============================  ===========================================  =====================
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from firebrick.checks import jwt as jwtlib

VULNERABLE_JWT_SECRET = "secret"  # the tutorial default; firebrick's bundled list cracks it
ISSUER = "https://auth.lab.example.com"
AUDIENCE = "firebrick-lab-api"
TOKEN_LIFETIME = 900  # seconds (hardened)
LOGIN_LIMIT = 5  # failed logins per client per LOGIN_WINDOW (hardened)
LOGIN_WINDOW = 60
PUBLIC_LIMIT = 40  # requests per client per PUBLIC_WINDOW to the public catalogue (hardened)
PUBLIC_WINDOW = 30

# Seeded users: (id, username, password, role, email). Passwords are lab-only constants.
USERS: dict[str, dict[str, Any]] = {
    "alice": {"id": 1, "password": "alice-lab-pass", "role": "user", "email": "alice@example.com"},
    "bob": {"id": 2, "password": "bob-lab-pass", "role": "user", "email": "bob@example.com"},
    "carol": {
        "id": 3,
        "password": secrets.token_urlsafe(16),
        "role": "admin",
        "email": "carol@example.com",
    },
}
ORDERS = {
    1001: ("alice", "USB-C cable", 12.5),
    1002: ("bob", "Mechanical keyboard", 89.0),
    1003: ("alice", "Desk lamp", 34.9),
    1004: ("bob", "Monitor arm", 59.0),
    1005: ("carol", "Server rack", 1200.0),
}
INVOICES = {501: ("bob", 89.0), 502: ("alice", 47.4), 503: ("bob", 59.0), 504: ("carol", 1200.0)}
PRODUCTS = [
    {"id": i, "name": f"Product {i}", "price": round(3 + (i * 7) % 90, 2)} for i in range(1, 601)
]
EVENTS = [
    {"id": i, "type": "order.shipped" if i % 2 else "order.created", "at": 1_700_000_000 + i * 60}
    for i in range(1, 801)
]

PUBLIC_PATHS = frozenset({"/api/products", "/api/events", "/api/v2/catalog", "/api/catalog/legacy"})

# An example token for the spec: alice, signed with the tutorial key (what many docs ship).
SPEC_EXAMPLE_TOKEN = jwtlib.sign(
    {"alg": "HS256", "typ": "JWT"},
    {"sub": "alice", "uid": 1, "role": "user"},
    VULNERABLE_JWT_SECRET,
)


def _hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


class _Window:
    """Fixed-window counters per key (thread-safe: the lab server is threaded)."""

    def __init__(self, limit: int, window: int) -> None:
        self.limit, self.window = limit, window
        self._hits: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> tuple[bool, int, int]:
        """Count one hit; (allowed, remaining, seconds to reset)."""
        now = time.monotonic()
        with self._lock:
            start, count = self._hits.get(key, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            count += 1
            self._hits[key] = (start, count)
        reset = max(1, int(self.window - (now - start)))
        return count <= self.limit, max(0, self.limit - count), reset

    def peek(self, key: str) -> tuple[int, int]:
        now = time.monotonic()
        with self._lock:
            start, count = self._hits.get(key, (now, 0))
        if now - start >= self.window:
            count = 0
        return max(0, self.limit - count), max(1, int(self.window - (now - start)))


def blueprint(variant: str) -> Blueprint:
    """The Blueprint for ``variant`` ("vulnerable" or "hardened")."""
    hardened = variant == "hardened"
    bp = Blueprint(f"api_lab_{variant}", __name__)
    key = secrets.token_hex(32) if hardened else VULNERABLE_JWT_SECRET
    users = {name: dict(u) for name, u in USERS.items()}  # PUT /api/me changes these
    login_window = _Window(LOGIN_LIMIT, LOGIN_WINDOW)
    public_window = _Window(PUBLIC_LIMIT, PUBLIC_WINDOW)

    def error(status: int, message: str, **headers: str) -> Response:
        resp = jsonify(error=message)
        resp.status_code = status
        resp.headers.update(headers)
        return resp

    def issue(username: str) -> str:
        user = users[username]
        if hardened:
            now = int(time.time())
            claims = {
                "sub": username,
                "role": user["role"],
                "iss": ISSUER,
                "aud": AUDIENCE,
                "iat": now,
                "exp": now + TOKEN_LIFETIME,
            }
        else:  # the whole user row goes into the token, hash included, and it never expires
            claims = {
                "sub": username,
                "uid": user["id"],
                "role": user["role"],
                "email": user["email"],
                "password_hash": _hash(user["password"]),
            }
        return jwtlib.sign({"alg": "HS256", "typ": "JWT"}, claims, key)

    def verify(raw: str, *, check_signature: bool = True) -> dict[str, Any] | None:
        token = jwtlib.parse(raw)
        if token is None:
            return None
        if hardened:
            if token.alg != "HS256" or not jwtlib.verify_hmac(token, key):
                return None
            c = token.claims
            exp = c.get("exp")
            if not isinstance(exp, (int, float)) or exp < time.time():
                return None
            if c.get("iss") != ISSUER or c.get("aud") != AUDIENCE:
                return None
        # The classic bugs: the header picks the algorithm, "none" means unsigned; exp ignored.
        elif check_signature and token.alg.lower() != "none" and not jwtlib.verify_hmac(token, key):
            return None
        sub = token.claims.get("sub")
        return {**users[sub], "username": sub} if isinstance(sub, str) and sub in users else None

    def bearer() -> str:
        auth = request.headers.get("Authorization", "")
        return auth[7:].strip() if auth.lower().startswith("bearer ") else ""

    def current_user(*, check_signature: bool = True) -> dict[str, Any] | None:
        raw = bearer()
        return verify(raw, check_signature=check_signature) if raw else None

    def need_user(**kw: bool) -> dict[str, Any] | Response:
        user = current_user(**kw)
        if user is None:
            return error(
                401, "authentication required", **{"WWW-Authenticate": 'Bearer realm="lab"'}
            )
        return user

    def public_user(user: dict[str, Any]) -> dict[str, Any]:
        if hardened:
            return {
                "id": user["id"],
                "username": user["username"],
                "email": user["email"],
                "display_name": user.get("display_name", user["username"].title()),
            }
        out = {k: v for k, v in user.items() if k != "password"}
        out["password_hash"] = _hash(user["password"])
        out["api_key"] = f"lab_{hashlib.md5(user['username'].encode()).hexdigest()}"
        return out

    @bp.after_request
    def _rate_headers(resp: Response) -> Response:
        # Hardened: every API answer tells the client its budget (IETF RateLimit fields).
        if hardened and request.path in PUBLIC_PATHS and "RateLimit-Limit" not in resp.headers:
            remaining, reset = public_window.peek(request.remote_addr or "")
            resp.headers["RateLimit-Limit"] = str(PUBLIC_LIMIT)
            resp.headers["RateLimit-Remaining"] = str(remaining)
            resp.headers["RateLimit-Reset"] = str(reset)
        return resp

    # ---- authentication -----------------------------------------------------------------
    @bp.post("/api/auth/login")
    def login() -> Any:
        client = request.remote_addr or ""
        if hardened:
            remaining, reset = login_window.peek(client)
            limit_headers = {
                "RateLimit-Limit": str(LOGIN_LIMIT),
                "RateLimit-Remaining": str(remaining),
                "RateLimit-Reset": str(reset),
            }
            if remaining <= 0:
                return error(
                    429, "too many attempts", **limit_headers, **{"Retry-After": str(reset)}
                )
            # Credentials only over TLS (terminated by the trusted proxy in front of the app).
            if not (request.is_secure or request.headers.get("X-Forwarded-Proto") == "https"):
                return error(403, "https required", **limit_headers)
        data = request.get_json(silent=True) or request.form.to_dict() or {}
        username, password = str(data.get("username", "")), str(data.get("password", ""))
        user = users.get(username)
        if user is not None and secrets.compare_digest(user["password"], password):
            body: dict[str, Any] = {"token": issue(username), "token_type": "Bearer"}
            if hardened:
                body["expires_in"] = TOKEN_LIFETIME
            return jsonify(body)
        if hardened:
            _allowed, remaining, reset = login_window.hit(client)
            return error(
                401,
                "invalid username or password",
                **{
                    "RateLimit-Limit": str(LOGIN_LIMIT),
                    "RateLimit-Remaining": str(remaining),
                    "RateLimit-Reset": str(reset),
                },
            )
        if user is None:
            return error(404, f"no such user: {username}")
        return error(401, "wrong password")

    @bp.get("/api/me")
    def me() -> Any:
        user = need_user()
        return user if isinstance(user, Response) else jsonify(public_user(user))

    @bp.put("/api/me")
    def update_me() -> Any:
        user = need_user()
        if isinstance(user, Response):
            return user
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return error(400, "JSON object required")
        stored = users[user["username"]]
        if hardened:
            for name in ("display_name", "email"):
                if isinstance(data.get(name), str):
                    stored[name] = data[name][:100]
        else:
            stored.update({k: v for k, v in data.items() if k not in ("id", "password")})
        return jsonify(public_user(stored | {"username": user["username"]}))

    @bp.get("/api/me/preferences")
    def preferences() -> Any:
        # Vulnerable: decodes the token without verifying it ("we only need the user name").
        user = need_user(check_signature=hardened)
        if isinstance(user, Response):
            return user
        return jsonify(user=user["username"], theme="dark", language="en", newsletter=False)

    @bp.route("/api/reports", methods=["GET", "HEAD"])
    def reports() -> Any:
        # Vulnerable: the guard was written for GET only; Flask answers HEAD with the same view.
        if hardened or request.method == "GET":
            user = need_user()
            if isinstance(user, Response):
                return user
        return jsonify(
            reports=[
                {"id": 1, "title": "Q3 revenue", "total": 182_300.0},
                {"id": 2, "title": "Q4 forecast", "total": 201_000.0},
            ]
        )

    @bp.get("/api/legacy/export")
    def legacy_export() -> Any:
        if hardened:
            user = need_user()
            if isinstance(user, Response):
                return user
            return jsonify(export=[], user=user["username"])
        auth = request.authorization
        if auth is None or auth.type != "basic":
            return error(
                401, "authentication required", **{"WWW-Authenticate": 'Basic realm="export"'}
            )
        u = users.get(auth.username or "")
        if u is None or not secrets.compare_digest(u["password"], auth.password or ""):
            return error(
                401, "authentication required", **{"WWW-Authenticate": 'Basic realm="export"'}
            )
        return jsonify(export=[], user=auth.username)

    # ---- objects (BOLA) -------------------------------------------------------------------
    @bp.get("/api/orders")
    def orders() -> Any:
        user = need_user()
        if isinstance(user, Response):
            return user
        mine = [_order(i) for i, (owner, _, _) in ORDERS.items() if owner == user["username"]]
        return jsonify(orders=mine)

    @bp.get("/api/orders/<int:order_id>")
    def order(order_id: int) -> Any:
        user = need_user()
        if isinstance(user, Response):
            return user
        if order_id not in ORDERS or (hardened and ORDERS[order_id][0] != user["username"]):
            return error(404, "order not found")
        return jsonify(_order(order_id))

    @bp.get("/api/invoices/<int:invoice_id>")
    def invoice(invoice_id: int) -> Any:
        if hardened:
            user = need_user()
            if isinstance(user, Response):
                return user
            if invoice_id not in INVOICES or INVOICES[invoice_id][0] != user["username"]:
                return error(404, "invoice not found")
        elif invoice_id not in INVOICES:
            return error(404, "invoice not found")
        owner, amount = INVOICES[invoice_id]
        return jsonify(
            id=invoice_id,
            customer=owner,
            email=USERS[owner]["email"],
            amount=amount,
            currency="EUR",
            status="paid",
        )

    # ---- admin (BFLA) -----------------------------------------------------------------------
    def need_admin() -> dict[str, Any] | Response:
        user = need_user()
        if isinstance(user, Response):
            return user
        if user["role"] != "admin":
            return error(403, "admin role required")
        return user

    @bp.get("/api/admin/users")
    def admin_users() -> Any:
        if hardened:
            user = need_admin()
            if isinstance(user, Response):
                return user
            return jsonify(users=[{"id": u["id"], "username": n} for n, u in users.items()])
        # Vulnerable: "nobody knows this URL"
        return jsonify(
            users=[
                {
                    "id": u["id"],
                    "username": n,
                    "email": u["email"],
                    "role": u["role"],
                    "password_hash": _hash(u["password"]),
                }
                for n, u in users.items()
            ]
        )

    @bp.get("/api/admin/stats")
    def admin_stats() -> Any:
        user = need_admin() if hardened else need_user()
        if isinstance(user, Response):
            return user
        return jsonify(
            users=len(users), orders=len(ORDERS), revenue=sum(o[2] for o in ORDERS.values())
        )

    @bp.get("/metrics")
    def metrics() -> Any:
        if hardened:
            return error(404, "not found")
        text = (
            "# HELP http_requests_total Requests served.\n# TYPE http_requests_total counter\n"
            'http_requests_total{path="/api/orders"} 1027\nprocess_resident_memory_bytes 8.1e+07\n'
        )
        return Response(text, content_type="text/plain; version=0.0.4")

    # ---- rate limiting / resource consumption ----------------------------------------------
    @bp.before_request
    def _public_limit() -> Any:
        # Hardened: the public (unauthenticated) catalogue is limited per client address.
        if hardened and request.path in PUBLIC_PATHS:
            allowed, _remaining, reset = public_window.hit(request.remote_addr or "")
            if not allowed:
                return error(
                    429,
                    "rate limit exceeded",
                    **{
                        "RateLimit-Limit": str(PUBLIC_LIMIT),
                        "RateLimit-Remaining": "0",
                        "RateLimit-Reset": str(reset),
                        "Retry-After": str(PUBLIC_WINDOW),
                    },
                )
        return None

    @bp.get("/api/products")
    def products() -> Any:
        try:
            limit = int(request.args.get("limit", "20"))
            offset = int(request.args.get("offset", "0"))
        except ValueError:
            return error(400, "limit and offset must be integers")
        if hardened:
            limit = max(1, min(limit, 100))
        items = PRODUCTS[max(offset, 0) : max(offset, 0) + max(limit, 0)]
        return jsonify(items=items, total=len(PRODUCTS), limit=limit, offset=offset)

    @bp.get("/api/events")
    def events() -> Any:
        if not hardened:
            return jsonify(events=EVENTS)
        cursor = request.args.get("cursor", "0")
        start = int(cursor) if cursor.isdigit() else 0
        page = EVENTS[start : start + 50]
        nxt = start + 50 if start + 50 < len(EVENTS) else None
        return jsonify(events=page, next_cursor=str(nxt) if nxt is not None else None)

    # ---- inventory ----------------------------------------------------------------------------
    @bp.get("/api/v2/catalog")
    def catalog_v2() -> Any:
        return jsonify(version="2", categories=["cables", "keyboards", "lighting"])

    @bp.get("/api/v1")
    def v1_index() -> Any:
        if hardened:
            return error(404, "not found")
        return jsonify(version="1", deprecated=True, endpoints=["/api/v1/catalog"])

    @bp.get("/api/v1/catalog")
    def catalog_v1() -> Any:
        if hardened:
            return error(404, "not found")
        # The old version still serves internal fields the v2 dropped.
        return jsonify(
            version="1", categories=["cables", "keyboards", "lighting"], supplier_cost=True
        )

    @bp.get("/api/catalog/legacy")
    def catalog_legacy() -> Any:
        if hardened:
            return error(410, "this operation was removed; use /api/v2/catalog")
        return jsonify(categories=["cables", "keyboards", "lighting"])

    @bp.get("/docs")
    def docs() -> Any:
        if hardened:
            return error(404, "not found")
        html = (
            "<!doctype html><html><head><title>Lab API - Swagger UI</title>"
            '<link rel="stylesheet" href="https://unpkg.example.com/swagger-ui-dist/swagger-ui.css">'
            '</head><body><div id="swagger-ui"></div>'
            '<script src="https://unpkg.example.com/swagger-ui-dist/swagger-ui-bundle.js"></script>'
            "<script>SwaggerUIBundle({url: '/openapi.json', dom_id: '#swagger-ui'})</script>"
            "</body></html>"
        )
        return Response(html, content_type="text/html; charset=utf-8")

    def _order(order_id: int) -> dict[str, Any]:
        owner, item, total = ORDERS[order_id]
        return {"id": order_id, "owner": owner, "item": item, "total": total}

    return bp
