"""Lab endpoints for issue 14's detections: injection in every input kind, framework debug pages,
CORS origin-regex bypasses. Same paths in both variants; only the implementation differs.

===================================  ===========================================  =====================
endpoint                             vulnerable                                   hardened
===================================  ===========================================  =====================
GET  /api/shop/products?category     f-string SQL; 500 JSON ``SQLITE_ERROR: ...``  bound parameter
POST /api/shop/orders/search         nested JSON ``filter.customer`` in f-string   bound parameter
                                     SQL (sqlite3.OperationalError in JSON)
POST /api/shop/login                 f-string SQL login, errors swallowed (401):  bound parameters,
                                     ``' OR '1'='1' --`` logs in                   rate-limit headers
GET  /api/shop/report?title          ``echo`` through a shell                     argument vector
GET  /api/shop/label (X-Label hdr)   header rendered as a Jinja2 template         plain text
GET  /shop/search?q                  HTML page reflecting q raw (text + value)    html.escape
GET  /api/fw/<framework>/items?page  a non-integer page: that framework's debug     {"error": ...} 500
                                     page (Django settings carry a fake key)
GET  /api/partner/catalog            CORS by unanchored regex, unescaped dots,    exact match
                                     credentials
===================================  ===========================================  =====================
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import sqlite3
import subprocess
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request
from jinja2.sandbox import SandboxedEnvironment

# Built at run time so no scanner of this repository mistakes the lab's fake for a real key.
FAKE_DJANGO_SECRET = "django-insecure-" + "firebricklab0fake0secret0key"
SHOP_USERS = {"ada": "correct horse battery staple", "alan": "enigma-1912"}
SHOP_ROLES = {"ada": "staff", "alan": "customer"}

# What each framework prints with debug on (trimmed to the parts detection reads).
DEBUG_PAGES: dict[str, tuple[str, str]] = {
    "django": (
        "text/html",
        "<!DOCTYPE html><html><head><title>ValueError at /api/fw/django/items</title></head><body>"
        '<div id="summary"><h1>ValueError at /api/fw/django/items</h1>'
        '<table class="meta"><tr><th>Request Method:</th><td>GET</td></tr>'
        "<tr><th>Django Version:</th><td>5.0.4</td></tr>"
        "<tr><th>Exception Type:</th><td>ValueError</td></tr></table></div>"
        '<div id="settings"><table><tr><td>SECRET_KEY</td><td class="code"><pre>'
        f"&#x27;{FAKE_DJANGO_SECRET}&#x27;</pre></td></tr></table></div>"
        '<div id="explanation"><p>You&#x27;re seeing this error because you have '
        "<code>DEBUG = True</code> in your Django settings file.</p></div></body></html>",
    ),
    "starlette": (
        "text/html",
        "<html><head><title>Starlette Debugger</title></head><body><h1>500 Server Error</h1>"
        "<h2>ValueError: invalid literal for int()</h2>"
        '<div class="traceback-container"><p class="traceback-title">Traceback</p>'
        '<p>File <span class="filename">/app/.venv/lib/python3.11/site-packages/starlette/'
        "middleware/errors.py</span>, line <i>164</i>, in <b>__call__</b></p></div></body></html>",
    ),
    "express": (
        "text/html",
        "<!DOCTYPE html><html><head><title>Error</title></head><body><pre>TypeError: "
        "Cannot read properties of undefined (reading &#39;id&#39;)<br> &nbsp; &nbsp;at "
        "/srv/shop/routes/items.js:14:22<br> &nbsp; &nbsp;at Layer.handle [as handle_request] "
        "(/srv/shop/node_modules/express/lib/router/layer.js:95:5)</pre></body></html>",
    ),
    "rails": (
        "text/html",
        "<!DOCTYPE html><html><head><title>Action Controller: Exception caught</title></head>"
        "<body><h1>ArgumentError in ItemsController#show</h1><p>invalid value for Integer()</p>"
        "<pre>app/controllers/items_controller.rb:7:in `show'</pre>"
        "<p>Rails.root: /srv/shop</p></body></html>",
    ),
    "spring": (
        "text/html",
        "<html><body><h1>Whitelabel Error Page</h1><p>This application has no explicit mapping "
        "for /error</p><div>java.lang.NumberFormatException: For input string<br>"
        "\tat java.base/java.lang.Integer.parseInt(Integer.java:652)<br>"
        "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:883)"
        "</div></body></html>",
    ),
    "aspnet": (
        "text/html",
        "<html><head><title>Internal Server Error</title></head><body>"
        "<h1>An unhandled exception occurred while processing the request.</h1>"
        "<p>FormatException: The input string was not in a correct format.</p>"
        "<pre>   at Shop.Controllers.ItemsController.Get(String id) in "
        "C:\\src\\Shop\\Controllers\\ItemsController.cs:line 21</pre></body></html>",
    ),
}


def _db() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.executescript(
        "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, category TEXT);"
        "INSERT INTO products (name, category) VALUES ('lamp', 'home'), ('desk', 'office');"
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total REAL);"
        "INSERT INTO orders (customer, total) VALUES ('ada', 12.5), ('alan', 99.0);"
        "CREATE TABLE users (name TEXT, password TEXT);"
    )
    db.executemany("INSERT INTO users VALUES (?, ?)", list(SHOP_USERS.items()))
    return db


def blueprint(variant: str) -> Blueprint:
    hardened = variant == "hardened"
    bp = Blueprint(f"detect_lab_{variant}", __name__)
    templates = SandboxedEnvironment(autoescape=False)
    sessions: dict[str, str] = {}  # bearer token -> user name (shop login)
    roles = dict(SHOP_ROLES)  # the mass-assignment probe changes (and restores) these
    names: dict[str, str] = {}

    def caller() -> str | None:
        auth = request.headers.get("Authorization", "")
        return sessions.get(auth.removeprefix("Bearer ").strip()) if auth else None

    @bp.get("/api/shop/products")
    def products() -> Any:
        category = request.args.get("category", "")
        db = _db()
        try:
            if hardened:
                rows = db.execute(
                    "SELECT id, name FROM products WHERE category = ?", (category,)
                ).fetchall()
            else:
                rows = db.execute(
                    f"SELECT id, name FROM products WHERE category = '{category}'"
                ).fetchall()
        except sqlite3.Error as exc:
            # A Node/Sequelize-style error body: the driver's code and message, no traceback.
            return jsonify(error=f"SQLITE_ERROR: {exc}"), 500
        finally:
            db.close()
        return jsonify(items=[{"id": r[0], "name": r[1]} for r in rows])

    @bp.post("/api/shop/orders/search")
    def order_search() -> Any:
        if hardened and not request.is_json:
            return jsonify(error="send application/json"), 415
        data = request.get_json(silent=True) or {}
        flt = data.get("filter")
        flt = flt if isinstance(flt, dict) else {}
        customer = str(flt.get("customer", ""))
        db = _db()
        try:
            if hardened:
                rows = db.execute(
                    "SELECT id, total FROM orders WHERE customer = ?", (customer,)
                ).fetchall()
            else:
                rows = db.execute(
                    f"SELECT id, total FROM orders WHERE customer = '{customer}'"
                ).fetchall()
        except sqlite3.Error as exc:
            if hardened:
                return jsonify(error="bad request"), 400
            return jsonify(error=f"sqlite3.OperationalError: {exc}"), 500
        finally:
            db.close()
        return jsonify(orders=[{"id": r[0], "total": r[1]} for r in rows])

    @bp.post("/api/shop/login")
    def shop_login() -> Any:
        if hardened and not request.is_json:
            return jsonify(error="send application/json"), 415
        data = request.get_json(silent=True) or {}
        user, password = str(data.get("username", "")), str(data.get("password", ""))
        db = _db()
        try:
            if hardened:
                row = db.execute(
                    "SELECT name FROM users WHERE name = ? AND password = ?", (user, password)
                ).fetchone()
            else:
                row = db.execute(
                    f"SELECT name FROM users WHERE name = '{user}' AND password = '{password}'"
                ).fetchone()
        except sqlite3.Error:
            row = None  # errors swallowed: only a boolean probe can tell
        finally:
            db.close()
        if row:
            token = secrets.token_urlsafe(24)
            sessions[token] = str(row[0]) if str(row[0]) in SHOP_USERS else "alan"
            resp = (jsonify(token=token), 200)
        elif hardened:
            # The same answer for every failure; the name is only echoed back (in capitals).
            resp = (jsonify(error=f"login failed for {user.upper()}"), 401)
        else:
            known = user in SHOP_USERS
            resp = (
                jsonify(error=f"wrong password for {user}" if known else f"no user {user}"),
                401,
            )
        out = Response(resp[0].get_data(), resp[1], mimetype="application/json")
        if hardened:
            out.headers["RateLimit-Limit"] = "5"
            out.headers["RateLimit-Remaining"] = "4"
            out.headers["RateLimit-Reset"] = "60"
        return out

    @bp.get("/api/shop/report")
    def report() -> Any:
        title = request.args.get("title", "sales")[:200]
        if hardened:
            argv = ["echo", "Report:", title]
            out = subprocess.run(argv, capture_output=True, text=True, timeout=5).stdout
        else:
            out = subprocess.run(
                f"echo Report: {title}", shell=True, capture_output=True, text=True, timeout=5
            ).stdout
        return jsonify(report=out.strip())

    @bp.get("/api/shop/label")
    def label() -> Any:
        text = request.headers.get("X-Label", "new")[:200]
        if hardened:
            return jsonify(label=f"[{text}]")
        try:
            return jsonify(label=templates.from_string(f"[{text}]").render())
        except Exception:
            return jsonify(error="bad label"), 400

    @bp.get("/api/shop/categories/<slug>")
    def category(slug: str) -> Any:
        db = _db()
        try:
            if hardened:
                rows = db.execute(
                    "SELECT name FROM products WHERE category = ?", (slug,)
                ).fetchall()
            else:
                rows = db.execute(f"SELECT name FROM products WHERE category = '{slug}'").fetchall()
        except sqlite3.Error as exc:
            return jsonify(error=f"SQLITE_ERROR: {exc}"), 500
        finally:
            db.close()
        return jsonify(category=slug, names=[r[0] for r in rows])

    @bp.get("/api/shop/banner")
    def banner() -> Any:
        theme = request.cookies.get("theme", "light")[:100]
        if hardened:
            return jsonify(banner=f"Welcome ({theme} theme)")
        try:
            return jsonify(banner=templates.from_string(f"Welcome ({theme} theme)").render())
        except Exception:
            return jsonify(error="bad theme"), 400

    @bp.route("/shop/search", methods=["GET", "POST"])
    def html_search() -> Any:
        q = (request.form.get("q", "") if request.method == "POST" else request.args.get("q", ""))[
            :300
        ]
        shown = html.escape(q) if hardened else q
        page = (
            "<!doctype html><html><head><title>Shop search</title></head><body>"
            f'<form action="/shop/search"><input name="q" value="{shown}"><button>Go</button>'
            f"</form><p>No results for {shown}</p></body></html>"
        )
        resp = Response(page, mimetype="text/html")
        if hardened:
            resp.headers["Content-Security-Policy"] = "default-src 'self'"
        return resp

    @bp.get("/api/fw/<framework>/items")
    def fw_items(framework: str) -> Any:
        if framework not in DEBUG_PAGES:
            return jsonify(error="not found"), 404
        raw = request.args.get("page", "1")
        try:
            page = int(raw)
        except ValueError:
            if hardened:
                return jsonify(error="internal error"), 500
            ctype, text = DEBUG_PAGES[framework]
            return Response(text, 500, mimetype=ctype)
        return jsonify(page=page, items=["lamp", "desk"] if page == 1 else [])

    @bp.route("/api/shop/me", methods=["GET", "PATCH"])
    def shop_me() -> Any:
        name = caller()
        if name is None:
            return jsonify(error="authentication required"), 401
        if request.method == "PATCH":
            data = request.get_json(silent=True) or {}
            if not hardened and isinstance(data.get("role"), str):
                roles[name] = data["role"][:20]  # the profile update grants any role
            if isinstance(data.get("display_name"), str):
                names[name] = data["display_name"][:60]
        # The caller's own profile: their own e-mail is the point; 0.0.0.0 means "never".
        return jsonify(
            name=name,
            display_name=names.get(name, name),
            email=f"{name}@example.com",
            role=roles[name],
            lastLoginIp="0.0.0.0",
        )

    @bp.get("/api/staff/reports")
    def staff_reports() -> Any:
        name = caller()
        if name is None:
            return jsonify(error="authentication required"), 401
        if hardened and roles[name] != "staff":
            return jsonify(error="staff only"), 403
        return jsonify(reports=[{"month": "2026-11", "revenue": 1234.5}])

    # /users/me beside /users/{name}: the Allow header of /users/me lists DELETE (from the
    # parameterised route), which the spec documents there.
    @bp.get("/api/shop/users/me")
    def users_me() -> Any:
        name = caller()
        if name is None:
            return jsonify(error="authentication required"), 401
        return jsonify(name=name)

    @bp.route("/api/shop/users/<name>", methods=["GET", "DELETE"])
    def user_by_name(name: str) -> Any:
        if caller() is None:
            return jsonify(error="authentication required"), 401
        if request.method == "DELETE":
            return jsonify(error="staff only"), 403
        return jsonify(name=name) if name in SHOP_USERS else (jsonify(error="not found"), 404)

    # A registration takes a password too; it is no login to throttle or enumerate.
    registered: dict[str, dict[str, Any]] = {}

    @bp.post("/api/shop/auth/register")
    def register() -> Any:
        data = request.get_json(silent=True) or {}
        name = str(data.get("username", ""))[:40]
        if not name or not data.get("password"):
            return jsonify(error="username and password required"), 400
        if len(registered) >= 100:
            registered.pop(next(iter(registered)))
        record: dict[str, Any] = {"username": name, "role": "customer", "admin": False}
        if not hardened:  # every field of the request lands on the account ("admin": true)
            record |= {k: v for k, v in data.items() if k != "password"}
        registered[name] = record
        resp = jsonify(record)
        resp.headers["Location"] = f"/api/shop/accounts/{name}"
        return resp, 201

    @bp.get("/api/shop/accounts/<name>")
    def account(name: str) -> Any:
        record = registered.get(name)
        return jsonify(record) if record else (jsonify(error="not found"), 404)

    # Payments: the client names the amount; the state is the server's (vulnerable: the client's).
    payments: dict[int, dict[str, Any]] = {}

    @bp.post("/api/shop/payments")
    def create_payment() -> Any:
        if caller() is None:
            return jsonify(error="authentication required"), 401
        data = request.get_json(silent=True) or {}
        amount = data.get("amount")
        if not isinstance(amount, (int, float)) or isinstance(amount, bool) or amount <= 0:
            return jsonify(error="amount required"), 400
        pay_id = max(payments, default=0) + 1
        status = "pending" if hardened else str(data.get("status", "pending"))
        payments[pay_id] = {"id": pay_id, "amount": amount, "status": status, "owner": caller()}
        if len(payments) > 100:
            payments.pop(min(payments))
        resp = jsonify(payments[pay_id])
        resp.headers["Location"] = f"/api/shop/payments/{pay_id}"
        return resp, 201

    @bp.route("/api/shop/payments/<int:pay_id>", methods=["GET", "DELETE"])
    def payment(pay_id: int) -> Any:
        name = caller()
        found = payments.get(pay_id)
        if name is None:
            return jsonify(error="authentication required"), 401
        if found is None or found["owner"] != name:
            return jsonify(error="not found"), 404
        if request.method == "DELETE":
            payments.pop(pay_id)
            return "", 204
        return jsonify(found)

    # Another user's profile: vulnerable lets any logged-in user write it.
    bios = {name: f"{name}'s bio" for name in SHOP_USERS}

    @bp.route("/api/shop/users/<name>/profile", methods=["GET", "PUT"])
    def user_profile(name: str) -> Any:
        who = caller()
        if who is None:
            return jsonify(error="authentication required"), 401
        if name not in bios:
            return jsonify(error="not found"), 404
        if request.method == "PUT":
            if hardened and who != name:
                return jsonify(error="not your profile"), 403
            data = request.get_json(silent=True) or {}
            if isinstance(data.get("bio"), str):
                bios[name] = data["bio"][:200]
        return jsonify(name=name, bio=bios[name])

    # A static help page with a demo login form that posts back to the same page.
    help_page = (
        "<!doctype html><html><head><title>Help: signing in</title></head><body>"
        "<h1>How to sign in</h1><p>Type your user name and password below.</p>"
        '<form method="post" action="/shop/help/login"><input name="username">'
        '<input name="password" type="password"><button>Try it</button></form></body></html>'
    )

    @bp.route("/shop/help/login", methods=["GET", "POST"])
    def help_login() -> Any:
        return Response(help_page, mimetype="text/html")

    # Settings of an anonymous visitor: an empty object, no data of anyone.
    @bp.get("/api/shop/settings")
    def settings() -> Any:
        name = caller()
        return jsonify(settings={"theme": "dark"} if name else {})

    # A POST-only root (GET answers 405 with "Allow: POST"): an Allow header proves no operation.
    @bp.route("/api", methods=["POST"])
    def api_root() -> Any:
        return jsonify(error="nothing to post here; see /openapi.json"), 404

    vulnerable_origin = re.compile(r"https?://(localhost|127.0.0.1)(:\d+)?")  # unanchored, dots
    exact_origin = re.compile(r"https?://(localhost|127\.0\.0\.1)(:\d+)?")

    @bp.get("/api/partner/catalog")
    def partner_catalog() -> Any:
        resp = jsonify(items=[{"sku": "L-1", "name": "lamp"}])
        origin = request.headers.get("Origin", "")
        ok = exact_origin.fullmatch(origin) if hardened else vulnerable_origin.search(origin)
        if origin and ok:
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Access-Control-Allow-Credentials"] = "true"
            resp.headers["Vary"] = "Origin"
        return resp

    _vault(bp, hardened)
    return bp


# ---- JWT: claims, a six-digit secret, RS256 -> HS256 confusion ----------------------------------
VAULT_WEAK_SECRET = "031337"  # six digits: found by brute force, not by any word list
GUEST_PASSWORD_HASH = "$2b$12$" + "firebricklabfakehashfirebricklabfakehash0123456"
GUEST_TOTP_SECRET = "JBSWY3DP" + "EHPK3PXP"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _vault(bp: Blueprint, hardened: bool) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    hs_secret = secrets.token_bytes(32) if hardened else VAULT_WEAK_SECRET.encode()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    numbers = rsa_key.public_key().public_numbers()

    def encode(header: dict[str, Any], claims: dict[str, Any], key: str) -> str:
        head = _b64(json.dumps(header, separators=(",", ":")).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing = f"{head}.{body}".encode()
        if key == "rsa":
            sig = rsa_key.sign(signing, padding.PKCS1v15(), hashes.SHA256())
        else:
            sig = hmac.new(hs_secret, signing, hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(sig)}"

    def claims_of(token: str, *, rsa_only: bool) -> dict[str, Any] | None:
        try:
            head_b, body_b, sig_b = token.split(".")
            header = json.loads(_unb64(head_b))
            claims = json.loads(_unb64(body_b))
            sig = _unb64(sig_b)
        except ValueError:
            return None
        signing = f"{head_b}.{body_b}".encode()
        alg = header.get("alg")
        if alg == "RS256":
            try:
                rsa_key.public_key().verify(sig, signing, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                return None
        elif alg == "HS256" and not rsa_only:
            if not hmac.compare_digest(hmac.new(hs_secret, signing, hashlib.sha256).digest(), sig):
                return None
        elif alg == "HS256" and not hardened:
            # The classic mistake: the algorithm comes from the token, the key is the key file.
            expected = hmac.new(public_pem, signing, hashlib.sha256).digest()
            if not hmac.compare_digest(expected, sig):
                return None
        else:
            return None
        exp = claims.get("exp") if isinstance(claims, dict) else None
        if not isinstance(exp, (int, float)) or exp < time.time():
            return None
        return claims

    def bearer() -> str:
        return request.headers.get("Authorization", "").removeprefix("Bearer ").strip()

    def now_claims(sub: str) -> dict[str, Any]:
        now = int(time.time())
        return {
            "sub": sub,
            "role": "guest",
            "iat": now,
            "exp": now + 900,
            "iss": "firebrick-lab-vault",
            "aud": "vault",
        }

    @bp.get("/api/vault/guest")
    def vault_guest() -> Any:
        claims = now_claims("guest")
        if not hardened:  # what the account record held went into the token
            claims |= {"password_hash": GUEST_PASSWORD_HASH, "totp_secret": GUEST_TOTP_SECRET}
        token = encode({"alg": "HS256", "typ": "JWT"}, claims, "hs")
        resp = jsonify(token=token, token_type="Bearer")
        resp.set_cookie("vault_session", token, httponly=True, secure=True, samesite="Lax")
        if hardened:
            resp.headers["Cache-Control"] = "no-store"
        return resp

    @bp.get("/api/vault/items")
    def vault_items() -> Any:
        claims = claims_of(bearer(), rsa_only=False)
        if claims is None:
            return jsonify(error="authentication required"), 401
        return jsonify(owner=claims.get("sub"), items=[{"id": 1, "label": "recovery codes"}])

    @bp.get("/api/vault/v2/guest")
    def vault_v2_guest() -> Any:
        header = {"alg": "RS256", "typ": "JWT", "kid": "vault-1"}
        resp = jsonify(token=encode(header, now_claims("guest"), "rsa"), token_type="Bearer")
        if hardened:
            resp.headers["Cache-Control"] = "no-store"
        return resp

    @bp.get("/api/vault/v2/items")
    def vault_v2_items() -> Any:
        claims = claims_of(bearer(), rsa_only=True)
        if claims is None:
            return jsonify(error="authentication required"), 401
        return jsonify(owner=claims.get("sub"), items=[{"id": 2, "label": "seed phrase"}])

    @bp.get("/jwt.pub")
    def jwt_pub() -> Any:
        return Response(public_pem, mimetype="application/x-pem-file")

    @bp.get("/.well-known/jwks.json")
    def jwks() -> Any:
        def num(n: int) -> str:
            return _b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))

        key = {"kty": "RSA", "kid": "vault-1", "alg": "RS256", "use": "sig"}
        return jsonify(keys=[key | {"n": num(numbers.n), "e": num(numbers.e)}])
