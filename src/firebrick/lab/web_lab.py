"""Lab endpoints for input validation, data exposure, encryption and unsafe consumption.

Each endpoint exists in both variants under the same path; only the implementation differs.

=============================  =========================================  ==========================
endpoint                       vulnerable                                 hardened
=============================  =========================================  ==========================
GET  /api/web/search?q         SQL built with an f-string (sqlite)        bound parameter
GET  /api/web/greet?name       name rendered as a (sandboxed) template    plain text
POST /api/web/notes            any body parsed as JSON (text/plain too);  JSON only (415), 400 on
                               malformed JSON -> 500 with a traceback     malformed JSON
GET  /api/web/links            links built from the Host header;          relative links; GET only
                               PUT/DELETE routed, TRACE echoed
GET  /api/web/session          session cookie without flags               Secure; HttpOnly; SameSite
GET  /api/profile              no auth; email, phone, card, API key,      bearer token; masked
                               internal host; no Cache-Control            fields; no-store
GET  /api/web/unfurl?url       SSRF-guarded, but verify=False, no         the ssrfguard fetcher
                               timeout, no size cap, 20 redirects, body   (3 s, 1 MiB, 3 hops,
                               served with the upstream content type      TLS verified) + CSP
GET  /console                  the Werkzeug debugger console (PIN on)     404
(all /api/web/*)               CORS reflects any Origin with credentials  no CORS headers
(every response, hardened)     -                                          nosniff, frame-ancestors,
                                                                          CSP, no Server header
=============================  =========================================  ==========================

``serve_tls`` runs an app over HTTPS for the encryption tests: the vulnerable server accepts TLS
1.0/1.1 and NULL ciphers with an expired self-signed certificate for the wrong name; the hardened
one has a CA-signed certificate for 127.0.0.1, TLS 1.2+, and redirects plain HTTP on the same port.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import sqlite3
import ssl
import tempfile
import threading
import traceback
from dataclasses import dataclass
from typing import Any

import httpx
from flask import Blueprint, Flask, Response, jsonify, request
from jinja2.sandbox import SandboxedEnvironment
from ssrfguard import SSRFGuardError
from ssrfguard.httpx import Client as GuardClient
from werkzeug.debug import DebuggedApplication
from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler

from firebrick.remediation.snippets import safe_fetch_ssrfguard as sg

# Built at run time so no scanner of this repository mistakes the lab's fakes for real keys.
FAKE_STRIPE_KEY = "sk_" + "live_" + "FIREBRICKLAB0fake0key0000"
FAKE_AWS_KEY = "AKIA" + "FIREBRICKLAB0FAK"
PROFILE = {
    "name": "Ada Lovelace",
    "email": "ada.lovelace@example.com",
    "phone": "+44 20 7946 0958",
    "card": "4111 1111 1111 1111",
}
USER_TOKEN = "firebrick-lab-user-token"  # /api/profile's bearer token (hardened; tests pass it)
HARDENED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # An API never needs to run scripts or be framed; sandbox also neuters proxied HTML.
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
    "Referrer-Policy": "no-referrer",
}
HSTS = "max-age=31536000; includeSubDomains"
CORS_ALLOWED = frozenset({"https://app.example.com"})
NOTES_MAX = 100


def _db() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT)")
    db.executemany("INSERT INTO products (name) VALUES (?)", [("lamp",), ("desk",), ("chair",)])
    return db


def blueprint(variant: str, internet_cidr: str = "127.100.0.0/16") -> Blueprint:
    """The endpoints of this module for one variant (register on the lab app)."""
    hardened = variant == "hardened"
    bp = Blueprint(f"web_lab_{variant}", __name__)
    lock = threading.Lock()
    notes: list[dict[str, Any]] = []
    templates = SandboxedEnvironment(autoescape=False)
    internet = ipaddress.ip_network(internet_cidr)
    vulnerable_policy = sg.make_policy(
        allowed_networks=[internet], allowed_ports=range(1, 65536), max_redirects=20
    )
    hardened_policy = sg.make_policy(allowed_networks=[internet], allowed_ports=range(1, 65536))
    console = DebuggedApplication(lambda env, start: [], evalex=True, console_path="/console")

    def crash_text(exc: BaseException) -> tuple[Response, int]:
        if hardened:
            return jsonify(error="internal error"), 500
        # What debug-mode-ish apps do: the traceback goes back to the caller.
        return Response("".join(traceback.format_exception(exc)), 500, mimetype="text/plain"), 500

    @bp.after_request
    def cors(resp: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin and not hardened:
            resp.headers["Access-Control-Allow-Origin"] = origin  # reflects anything, even null
            resp.headers["Access-Control-Allow-Credentials"] = "true"
        elif origin in CORS_ALLOWED:
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Vary"] = "Origin"
        return resp

    @bp.get("/api/web/search")
    def search() -> Any:
        q = request.args.get("q", "")
        db = _db()
        try:
            if hardened:
                rows = db.execute(
                    "SELECT id, name FROM products WHERE name LIKE ?", (f"%{q}%",)
                ).fetchall()
            else:
                rows = db.execute(
                    f"SELECT id, name FROM products WHERE name LIKE '%{q}%'"
                ).fetchall()
        except sqlite3.Error as exc:
            return crash_text(exc)
        finally:
            db.close()
        return jsonify(results=[{"id": r[0], "name": r[1]} for r in rows])

    @bp.get("/api/web/greet")
    def greet() -> Any:
        name = request.args.get("name", "guest")[:200]
        if hardened:
            return jsonify(message=f"Hello {name}!")
        try:
            return jsonify(message=templates.from_string(f"Hello {name}!").render())
        except Exception as exc:  # template syntax errors come back as tracebacks
            return crash_text(exc)

    @bp.post("/api/web/notes")
    def create_note() -> Any:
        if hardened:
            if not request.is_json:
                return jsonify(error="send application/json"), 415
            data = request.get_json(silent=True)
            if not isinstance(data, dict) or not isinstance(data.get("title"), str):
                return jsonify(error="title required"), 400
        else:
            import json

            try:
                data = json.loads(request.get_data() or b"null")  # whatever the Content-Type
                title = data["title"]
            except Exception as exc:
                return crash_text(exc)
            data = {"title": str(title), "body": str(data.get("body", ""))}
        with lock:
            if len(notes) >= NOTES_MAX:
                notes.pop(0)
            note = {
                "id": len(notes) + 1,
                "title": data["title"][:200],
                "body": str(data.get("body", ""))[:2000],
            }
            notes.append(note)
        return jsonify(note), 201

    link_methods = ["GET"] if hardened else ["GET", "PUT", "DELETE", "TRACE"]

    @bp.route("/api/web/links", methods=link_methods)
    def links() -> Any:
        if request.method == "TRACE":
            head = f"TRACE {request.full_path} HTTP/1.1\r\n"
            echo = head + "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
            return Response(echo, mimetype="message/http")
        if request.method != "GET":
            return jsonify(updated=False)
        if hardened:
            return jsonify({"self": "/api/web/links", "docs": "/openapi.json"})
        base = request.host_url  # from the Host header: poisonable links
        return jsonify({"self": f"{base}api/web/links", "docs": f"{base}openapi.json"})

    @bp.get("/api/web/session")
    def session() -> Any:
        resp = jsonify(status="ok")
        if hardened:
            resp.set_cookie("lab_session", "s3ss10n", secure=True, httponly=True, samesite="Lax")
            resp.headers["Cache-Control"] = "no-store"
        else:
            resp.set_cookie("lab_session", "s3ss10n")
        return resp

    @bp.get("/api/profile")
    def profile() -> Any:
        if hardened:
            if request.headers.get("Authorization", "") != f"Bearer {USER_TOKEN}":
                return jsonify(error="authentication required"), 401
            resp = jsonify(name=PROFILE["name"], email="a***@example.com", card_last4="1111")
            resp.headers["Cache-Control"] = "no-store"
            return resp
        return jsonify(
            **PROFILE,
            payment_key=FAKE_STRIPE_KEY,
            storage={"aws_access_key_id": FAKE_AWS_KEY, "bucket": "avatars"},
            served_by="api-7.prod.corp.internal",
        )

    @bp.get("/api/web/unfurl")
    def unfurl() -> Any:
        url = request.args.get("url", "")
        if not url:
            return jsonify(error="url required"), 400
        try:
            if hardened:
                status, body, ctype = sg.guarded_fetch(url, policy=hardened_policy)
            else:
                # The SSRF guard is right; everything about consuming the third party is not.
                with GuardClient(
                    policy=vulnerable_policy,
                    timeout=None,
                    verify=False,
                    follow_redirects=True,
                    max_redirects=20,
                    trust_env=False,
                ) as client:
                    resp = client.get(url)
                    status, body, ctype = (
                        resp.status_code,
                        resp.content,
                        resp.headers.get("content-type", ""),
                    )
        except (SSRFGuardError, httpx.InvalidURL):
            return jsonify(error="url not allowed"), 400
        except (httpx.HTTPError, sg.TooLarge, OSError) as exc:
            return jsonify(error="fetch failed", detail=type(exc).__name__), 502
        if status >= 400:
            return jsonify(error="upstream error", detail=f"status {status}"), 502
        return Response(body, status=200, content_type=ctype or "application/octet-stream")

    if not hardened:

        @bp.route("/console")
        def debugger_console() -> Any:
            # The real Werkzeug debugger console (its PIN stays on: the lab never runs code).
            return Response.from_app(console, request.environ)

    return bp


def install_hardening(app: Flask) -> None:
    """The hardened app's response hardening: security headers on every response, no Server."""

    @app.after_request
    def _security_headers(resp: Response) -> Response:
        for name, value in HARDENED_HEADERS.items():
            resp.headers.setdefault(name, value)
        if request.is_secure:
            resp.headers.setdefault("Strict-Transport-Security", HSTS)
        return resp

    _drop_server_header()


def _drop_server_header() -> None:
    """werkzeug writes Server itself (outside WSGI): filter it in the handler of this process."""
    from firebrick.lab.canaries import QuietHandler

    handlers: tuple[type[Any], ...] = (QuietHandler, _TLSHandler)
    for cls in handlers:
        if getattr(cls, "_firebrick_no_server", False):
            continue
        original = cls.send_header

        def send_header(self: Any, keyword: str, value: str, _orig: Any = original) -> None:
            if keyword.lower() != "server":
                _orig(self, keyword, value)

        cls.send_header = send_header  # type: ignore[method-assign]
        cls._firebrick_no_server = True  # type: ignore[attr-defined]


# ---- HTTPS for the encryption tests ----------------------------------------------------------


@dataclass
class TLSLab:
    url: str  # https://127.0.0.1:PORT
    plain_url: str  # http://127.0.0.1:PORT (same port: plain HTTP is answered too)
    ca_file: str | None  # PEM of the CA that signed the hardened certificate
    server: BaseWSGIServer
    thread: threading.Thread
    tmpdir: str
    allow_extra_before: list[Any] | None = None  # create_app widens a process-wide allowlist
    ports_before: Any = None  # ... and the stdlib fetcher's port policy

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.allow_extra_before is not None:
            from firebrick.remediation.snippets import safe_fetch_stdlib as sf

            sf.ALLOW_EXTRA[:] = self.allow_extra_before
            sf.ALLOWED_PORTS = self.ports_before
        for name in os.listdir(self.tmpdir):
            os.unlink(os.path.join(self.tmpdir, name))
        os.rmdir(self.tmpdir)


class _TLSHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        if isinstance(self.connection, ssl.SSLSocket):
            environ["wsgi.url_scheme"] = "https"
        return environ


class _DualServer(ThreadedWSGIServer):
    """Speaks TLS or plain HTTP on one port, by the first byte (0x16 = a TLS handshake)."""

    tls_context: ssl.SSLContext

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = self.socket.accept()
        conn.settimeout(5)
        try:
            first = conn.recv(1, socket.MSG_PEEK)
        except OSError:
            first = b""
        if first == b"\x16":
            try:
                return self.tls_context.wrap_socket(conn, server_side=True), addr
            except (ssl.SSLError, OSError):
                conn.close()
                raise OSError("TLS handshake failed") from None
        return conn, addr


def _cert(tmp: str, hardened: bool) -> tuple[str, str, str | None]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def pem_key(k: Any) -> bytes:
        return bytes(
            k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    key = ec.generate_private_key(ec.SECP256R1())
    ca_path = None
    if hardened:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (
            x509.CertificateBuilder()
            .subject_name(name("firebrick lab CA"))
            .issuer_name(name("firebrick lab CA"))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name("127.0.0.1"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        ca_path = os.path.join(tmp, "ca.pem")
        with open(ca_path, "wb") as fh:
            fh.write(ca.public_bytes(serialization.Encoding.PEM))
    else:
        # Self-signed, for another name, expired yesterday.
        cert = (
            x509.CertificateBuilder()
            .subject_name(name("wrong.lab.example"))
            .issuer_name(name("wrong.lab.example"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=400))
            .not_valid_after(now - datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName("wrong.lab.example")]), critical=False
            )
            .sign(key, hashes.SHA256())
        )
    cert_path, key_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    with open(cert_path, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem_key(key))
    return cert_path, key_path, ca_path


def tls_context(variant: str, cert_path: str, key_path: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    if variant == "hardened":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    else:
        # Legacy settings, where this OpenSSL still allows them (security level 0).
        ctx.set_ciphers("ALL:eNULL:@SECLEVEL=0")
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
    return ctx


def serve_tls(variant: str, host: str = "127.0.0.1") -> TLSLab:
    """The lab app (with this module's endpoints) over HTTPS and plain HTTP on one port."""
    from firebrick.lab.app import create_app
    from firebrick.remediation.snippets import safe_fetch_stdlib as sf

    before, ports_before = list(sf.ALLOW_EXTRA), sf.ALLOWED_PORTS
    tmp = tempfile.mkdtemp(prefix="firebrick-lab-tls-")
    cert_path, key_path, ca_path = _cert(tmp, variant == "hardened")
    app = create_app(variant)

    if variant == "hardened":

        @app.before_request
        def _https_only() -> Any:
            if not request.is_secure:  # plain HTTP on the TLS port: send it to HTTPS
                from flask import redirect

                return redirect(request.url.replace("http://", "https://", 1), code=301)
            return None

    server = _DualServer(host, 0, app, handler=_TLSHandler)
    server.tls_context = tls_context(variant, cert_path, key_path)
    server.daemon_threads = True  # type: ignore[attr-defined]
    port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, name=f"lab-tls-{port}", daemon=True)
    thread.start()
    return TLSLab(
        f"https://{host}:{port}",
        f"http://{host}:{port}",
        ca_path,
        server,
        thread,
        tmp,
        before,
        ports_before,
    )


async def scan_lab(hardened: bool, **options: Any) -> Any:
    """A demo-style scan of the lab with extra ScanOptions (mode, checks, headers) for tests."""
    from firebrick.cli import LAB_INTERNET
    from firebrick.engine import run_scan
    from firebrick.lab.runner import LabConfig, start_lab
    from firebrick.oob.server import OOBConfig, OOBServer
    from firebrick.options import ScanOptions

    opts = ScanOptions(
        rate=200.0, max_time=60.0, oob_listen=LAB_INTERNET, oob_inside="127.0.0.1", **options
    )
    config = OOBConfig(listen_host=LAB_INTERNET, inside_host="127.0.0.1", zone=opts.oob_zone)
    import asyncio

    async with OOBServer(config) as oob:
        lab = await asyncio.to_thread(
            start_lab,
            LabConfig(
                variant="hardened" if hardened else "vulnerable",
                oob_dns=(LAB_INTERNET, oob.dns_port or 0),
                zone=opts.oob_zone,
            ),
        )
        try:
            opts.target = lab.base_url
            return await run_scan(opts, oob=oob)
        finally:
            await asyncio.to_thread(lab.stop)
