"""The lab's Flask apps: each SSRF pattern as a VULNERABLE view and its HARDENED twin.

Both variants serve the same paths and the same OpenAPI document; only the guard differs.

========================  =============================================  ======================
endpoint                  vulnerable                                     hardened
========================  =============================================  ======================
GET  /api/image?url       no check; follows redirects; reflects          ssrfguard
POST /api/webhooks        no check; POSTs to callback_url; blind         ssrfguard
GET  /api/redirect        302 to any target (open redirect)              relative or allowlist
GET  /api/preview?link    hostname-string blocklist; reflects            stdlib safe fetcher
GET  /api/avatar?src      resolved-address check, then httpx resolves    ssrfguard
                          again (DNS rebinding TOCTOU); reflects
GET  /api/feed?feed_url   first hop checked and pinned; redirects        ssrfguard
                          followed unchecked; reflects
POST /graphql             importDocument(host, port, path) unchecked     ssrfguard
POST /api/import          no check; blind ({"imported": n})              stdlib safe fetcher
GET  /api/stock           fixed internal service by name (not exploitable, same in both)
========================  =============================================  ======================
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from flask import Flask, Response, jsonify, redirect, request
from graphql import GraphQLError, build_schema, graphql_sync
from ssrfguard import SSRFGuardError

from firebrick.lab.canaries import WAREHOUSES
from firebrick.lab.openapi import build_spec
from firebrick.remediation.snippets import safe_fetch_ssrfguard as sg
from firebrick.remediation.snippets import safe_fetch_stdlib as sf

VARIANTS = ("vulnerable", "hardened")
TIMEOUT = 3.0
MAX_BYTES = 1 << 20
# Hosts the hardened /api/redirect may send a browser to (besides relative paths).
REDIRECT_ALLOWLIST = frozenset({"example.com", "www.example.com"})
# The tutorial blocklist that /api/preview (vulnerable) relies on.
NAIVE_BLOCKED_HOSTS = ("localhost", "127.0.0.1", "0.0.0.0")
NAIVE_BLOCKED_PREFIXES = ("10.", "192.168.", "172.16.", "169.254.")

GRAPHQL_SDL = """
type Query {
  "Liveness of the service."
  health: String!
  "Warehouses known to the inventory service."
  warehouses: [String!]!
}

type ImportResult {
  ok: Boolean!
  url: String!
  status: Int
  bytes: Int
  "The first bytes of the imported document."
  preview: String
}

type Mutation {
  "Import a document from http://{host}:{port}{path}."
  importDocument(host: String!, port: Int, path: String): ImportResult
}
"""


class Refused(Exception):
    """A guard refused the URL: answer 400."""


class FetchFailed(Exception):
    """The fetch itself failed: answer 502."""


def _error(status: int, error: str, detail: str | None = None) -> tuple[Response, int]:
    body: dict[str, str] = {"error": error}
    if detail:
        body["detail"] = detail
    return jsonify(body), status


# ---- vulnerable plumbing: a plain httpx client, as most tutorials write it ----


def _plain_fetch(
    url: str, *, method: str = "GET", follow_redirects: bool = False, **kwargs: Any
) -> tuple[int, bytes, str]:
    """httpx with timeout and size cap but no address checks (it resolves the name itself)."""
    try:
        with (
            httpx.Client(
                timeout=TIMEOUT, follow_redirects=follow_redirects, trust_env=False, verify=sg.TLS
            ) as client,
            client.stream(method, url, **kwargs) as resp,
        ):
            body = bytearray()
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise FetchFailed("response too large")
            return resp.status_code, bytes(body), resp.headers.get("content-type", "")
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        raise FetchFailed(f"{type(exc).__name__}: {exc}") from exc


def _naive_hostname_check(url: str) -> None:
    """The tutorial guard: string checks on the hostname as written."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise Refused("scheme")
    if host in NAIVE_BLOCKED_HOSTS or host.startswith(NAIVE_BLOCKED_PREFIXES):
        raise Refused("blocked host")


def _resolved_address_check(url: str) -> None:
    """Resolve the name and refuse internal answers, then forget the answers (the TOCTOU)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("scheme")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (ValueError, OSError) as exc:
        raise FetchFailed(f"cannot resolve: {exc}") from exc
    for info in infos:
        if sf.is_blocked(ipaddress.ip_address(str(info[4][0]).split("%")[0])):
            raise Refused("internal address")


# ---- hardened plumbing: the two fixes firebrick prints ----


def _make_guarded(policy: Any) -> Any:
    def fetch(url: str, *, method: str = "GET", **kwargs: Any) -> tuple[int, bytes, str]:
        try:
            return sg.guarded_fetch(url, method=method, policy=policy, **kwargs)
        except (SSRFGuardError, httpx.InvalidURL) as exc:
            raise Refused(str(exc)) from exc
        except (httpx.HTTPError, sg.TooLarge, OSError) as exc:
            raise FetchFailed(f"{type(exc).__name__}: {exc}") from exc

    return fetch


def _stdlib_fetch(url: str, *, method: str = "GET", body: bytes | None = None) -> sf.FetchResult:
    try:
        return sf.safe_fetch(url, method=method, body=body, timeout=TIMEOUT, max_bytes=MAX_BYTES)
    except sf.BlockedURL as exc:
        raise Refused(str(exc)) from exc
    except OSError as exc:
        raise FetchFailed(str(exc)) from exc


def _reflect(status: int, body: bytes, ctype: str) -> Response | tuple[Response, int]:
    if status >= 400:
        return _error(502, "upstream error", f"status {status}")
    return Response(body, status=200, content_type=ctype or "application/octet-stream")


def _index_html(serve_spec: bool) -> str:
    links = ['<li><a href="/api/health">Health</a></li>']
    if serve_spec:
        links.insert(0, '<li><a href="/openapi.json">API reference (OpenAPI 3.1)</a></li>')
    extra = ""
    if not serve_spec:  # no spec: the crawler must find the inputs in links and forms
        links += [
            '<li><a href="/api/image?url=https://images.example.com/cat.png">Image proxy</a></li>',
            '<li><a href="/api/preview?link=https://www.example.com/">Link preview</a></li>',
            '<li><a href="/api/avatar?src=https://avatars.example.com/u/1.png">Avatar</a></li>',
            '<li><a href="/api/feed?feed_url=https://blog.example.com/feed.xml">Feed</a></li>',
            '<li><a href="/api/redirect?target=/api/health">Continue</a></li>',
            '<li><a href="/api/stock?warehouse=north">Stock (north)</a></li>',
        ]
        extra = (
            '<form action="/api/import" method="post">'
            '<label>Import from URL <input type="url" name="source_url" '
            'value="https://docs.example.com/report.pdf"></label>'
            '<button type="submit">Import</button></form>'
        )
    return (
        "<!doctype html><html><head><title>Firebrick Lab Media API</title></head><body>"
        "<h1>Firebrick Lab Media API</h1><ul>"
        + "".join(links)
        + '<li><a href="/graphql">GraphQL (POST)</a></li></ul>'
        + extra
        + "</body></html>"
    )


def create_app(
    variant: str = "vulnerable",
    *,
    inventory_url: str = "http://inventory.lab.internal:8081",
    internet_cidr: str = "127.100.0.0/16",
    serve_spec: bool = True,
) -> Flask:
    """Build the lab app. ``inventory_url`` is the internal service /api/stock calls by name;
    ``internet_cidr`` is what both hardened guards treat as the public internet."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
    hardened = variant == "hardened"
    internet = ipaddress.ip_network(internet_cidr)
    if internet not in sf.ALLOW_EXTRA:  # the lab internet is "public" for both guards
        sf.ALLOW_EXTRA.append(internet)
    sf.ALLOWED_PORTS = None  # lab services sit on ephemeral ports
    # Lab only: allow the lab internet and any port (services sit on ephemeral ports).
    guarded = _make_guarded(
        sg.make_policy(allowed_networks=[internet], allowed_ports=range(1, 65536))
    )

    app = Flask("firebrick.lab")
    app.config["LAB_VARIANT"] = variant

    @app.errorhandler(Refused)
    def _refused(exc: Refused) -> Any:
        return _error(400, "url not allowed")

    @app.errorhandler(FetchFailed)
    def _failed(exc: FetchFailed) -> Any:
        return _error(502, "fetch failed", str(exc))

    def _arg(name: str) -> str:
        value = request.args.get(name, "")
        if not value:
            raise Refused(f"missing {name}")
        return value

    @app.get("/")
    def index() -> Any:
        return Response(_index_html(serve_spec), content_type="text/html; charset=utf-8")

    @app.get("/api/health")
    def health() -> Any:
        return jsonify(status="ok", variant=variant)

    @app.get("/openapi.json")
    def spec() -> Any:
        if not serve_spec:
            return _error(404, "not found")
        doc = build_spec()
        if not hardened:
            from firebrick.lab.detect_spec import leaky_examples

            leaky_examples(doc)  # issue 14: a key in an example, beside an example password
        return jsonify(doc)

    @app.get("/api/image")
    def image() -> Any:
        url = _arg("url")
        if hardened:
            return _reflect(*guarded(url))
        return _reflect(*_plain_fetch(url, follow_redirects=True))

    @app.post("/api/webhooks")
    def webhooks() -> Any:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("callback_url"), str):
            return _error(400, "callback_url required")
        url, event = data["callback_url"], str(data.get("event") or "ping")
        payload = {"event": event, "sent_at": int(time.time()), "source": "firebrick-lab"}
        # Delivered synchronously (3 s timeout) so the caller sees it before we answer.
        if hardened:
            status, _, _ = guarded(url, method="POST", json=payload)
        else:
            status, _, _ = _plain_fetch(url, method="POST", json=payload)
        # Blind: the callback's body never reaches the response.
        return jsonify(status="queued", event=event, delivered=status < 400), 202

    @app.get("/api/redirect")
    def redirect_to() -> Any:
        target = _arg("target")
        if hardened:
            parts = urlsplit(target)
            relative = (
                not parts.scheme
                and not parts.netloc
                and target.startswith("/")
                and not target.startswith(("//", "/\\"))
                and "\\" not in target
            )
            allowed = parts.scheme in ("http", "https") and (
                (parts.hostname or "") in REDIRECT_ALLOWLIST and parts.username is None
            )
            if not (relative or allowed):
                raise Refused("redirect target")
        return redirect(target, code=302)

    @app.get("/api/preview")
    def preview() -> Any:
        link = _arg("link")
        if hardened:
            result = _stdlib_fetch(link)
            status, body = result.status, result.body
        else:
            _naive_hostname_check(link)
            status, body, _ = _plain_fetch(link)
        if status >= 400:
            return _error(502, "upstream error", f"status {status}")
        text = body.decode("utf-8", "replace")
        title = ""
        lower = text.lower()
        if "<title>" in lower and "</title>" in lower:
            title = text[lower.index("<title>") + 7 : lower.index("</title>")].strip()
        return jsonify(link=link, status=status, title=title, content=text)

    @app.get("/api/avatar")
    def avatar() -> Any:
        src = _arg("src")
        if hardened:
            return _reflect(*guarded(src))
        _resolved_address_check(src)  # looks right; the fetch below resolves the name again
        return _reflect(*_plain_fetch(src))

    @app.get("/api/feed")
    def feed() -> Any:
        feed_url = _arg("feed_url")
        if hardened:
            status, body, _ = guarded(feed_url)
        else:
            # The first URL is checked and pinned properly; a redirect is then followed blindly.
            first = _stdlib_fetch_first_hop(feed_url)
            location = first.headers.get("Location") or first.headers.get("location")
            if first.status in (301, 302, 303, 307, 308) and location:
                status, body, _ = _plain_fetch(urljoin(feed_url, location), follow_redirects=True)
            else:
                status, body = first.status, first.body
        if status >= 400:
            return _error(502, "upstream error", f"status {status}")
        return jsonify(feed_url=feed_url, content=body.decode("utf-8", "replace"))

    @app.post("/api/import")
    def import_document() -> Any:
        source_url = request.form.get("source_url", "")
        if not source_url:
            return _error(400, "source_url required")
        if hardened:
            result = _stdlib_fetch(source_url)
            status, size = result.status, len(result.body)
        else:
            status, body, _ = _plain_fetch(source_url)
            size = len(body)
        if status >= 400:
            return _error(502, "upstream error", f"status {status}")
        return jsonify(imported=size)  # blind: only a byte count

    @app.get("/api/stock")
    def stock() -> Any:
        warehouse = request.args.get("warehouse", "")
        if warehouse not in WAREHOUSES:  # fixed dict: no user input reaches the URL
            return _error(400, "unknown warehouse")
        status, body, _ = _plain_fetch(f"{inventory_url}/stock/{warehouse}")
        if status >= 400:
            return _error(502, "inventory error", f"status {status}")
        data = json.loads(body)
        return jsonify(warehouse=warehouse, units=data.get("units"))

    schema = build_schema(GRAPHQL_SDL)

    def import_document_gql(
        info: Any, host: str, port: int | None = None, path: str | None = None
    ) -> dict[str, Any]:
        path = path or "/"
        if not path.startswith("/"):
            path = "/" + path
        url = f"http://{host}:{port if port is not None else 80}{path}"
        try:
            status, body, _ = guarded(url) if hardened else _plain_fetch(url)
        except Refused as exc:
            raise GraphQLError("url not allowed", extensions={"code": "URL_NOT_ALLOWED"}) from exc
        except FetchFailed as exc:
            raise GraphQLError(f"fetch failed: {exc}", extensions={"code": "FETCH_FAILED"}) from exc
        return {
            "ok": status < 400,
            "url": url,
            "status": status,
            "bytes": len(body),
            "preview": body[:2048].decode("utf-8", "replace"),
        }

    root = {
        "health": lambda info: "ok",
        "warehouses": lambda info: sorted(WAREHOUSES),
        "importDocument": import_document_gql,
    }

    @app.route("/graphql", methods=["GET", "POST"])
    def graphql_endpoint() -> Any:
        if request.method == "GET":
            return _error(405, "use POST with a JSON body {query, variables}")
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("query"), str):
            return jsonify(errors=[{"message": "body must be JSON with a query string"}]), 400
        variables = data.get("variables")
        if hardened and data["query"].count(":") > 15:  # an alias limit (and a cheap one)
            return jsonify(errors=[{"message": "too many aliases"}]), 400
        result = graphql_sync(
            schema,
            data["query"],
            root_value=root,
            variable_values=variables if isinstance(variables, dict) else None,
            operation_name=data.get("operationName"),
        )
        formatted = result.formatted
        if hardened:  # no "Did you mean ...": field suggestions rebuild the schema
            for err in formatted.get("errors") or []:
                err["message"] = str(err.get("message", "")).split(" Did you mean")[0]
        return jsonify(formatted)

    # Issue 5: input validation, data exposure, encryption, unsafe consumption, LLM endpoints.
    from firebrick.lab import llm_lab, web_lab

    app.register_blueprint(web_lab.blueprint(variant, internet_cidr))
    app.register_blueprint(llm_lab.blueprint(variant, internet_cidr))
    if hardened:
        web_lab.install_hardening(app)
    from firebrick.lab import api_lab  # issue 4: authn/authz, rate limiting, inventory

    app.register_blueprint(api_lab.blueprint(variant))
    from firebrick.lab import detect_lab  # issue 14: injection, debug pages, CORS regexes

    app.register_blueprint(detect_lab.blueprint(variant))
    return app


def _stdlib_fetch_first_hop(url: str) -> sf.FetchResult:
    """One validated, pinned request; a redirect comes back unfollowed."""
    try:
        return sf.safe_fetch(url, timeout=TIMEOUT, max_bytes=MAX_BYTES, follow_redirects=False)
    except sf.BlockedURL as exc:
        raise Refused(str(exc)) from exc
    except OSError as exc:
        raise FetchFailed(str(exc)) from exc
