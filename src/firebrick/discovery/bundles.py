"""API routes named inside the JavaScript bundles a single-page app loads.

A single-page app often has one HTML page (``GET /``) and names its whole API only in its
bundle: ``fetch("/api/notes")``, ``axios.post("/api/login", ...)``, template literals such as
``/api/users/${id}``, and base URLs (``baseURL: "/api"``). This module reads the same-origin
scripts a page loads (a few, size-capped, through the DiscoveryClient and its request cap) and
turns those literals into operations (source ``bundle``), with the method where the call shows
it and a path parameter wherever the path is built from a variable.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from firebrick.discovery.crawl import DiscoveryClient
from firebrick.model import Exchange, Location, Operation, Param

MAX_BUNDLES = 4
MAX_ROUTES = 60
MAX_SCAN_CHARS = 3_000_000  # of one bundle: minified bundles are large, regexes are linear

_SCRIPT_SRC = re.compile(r"<script[^>]+src\s*=\s*[\"']([^\"']+)[\"']", re.I)
_MODULE_PRELOAD = re.compile(
    r"<link[^>]+rel\s*=\s*[\"']modulepreload[\"'][^>]+href\s*=\s*[\"']([^\"']+)", re.I
)
# A string or template literal that is an API path: /api/..., /v1/..., /rest/..., /graphql.
_API_PREFIX = r"/(?:api|v\d+|rest|graphql|gql|auth|oauth|rpc|services?)(?:[/?`'\"]|$)"
_LITERAL = re.compile(r"""(["'`])(/(?:[A-Za-z0-9_\-.~%:@!$&*+,;=/]|\$\{[^}`]{1,60}\})*)\1""")
# A call that shows the method: axios.post("/x"), http.put('/x'), $.get("/x"), api.delete(`/x`)
_METHOD_CALL = re.compile(
    r"""\.(get|post|put|patch|delete|head)\s*\(\s*(["'`])(/[^"'`]*)\2(\s*\+)?""", re.I
)
# fetch("/x", {method: "POST"})
_FETCH = re.compile(
    r"""fetch\s*\(\s*(["'`])(/[^"'`]*)\1\s*(?:,\s*\{[^{}]{0,300}?method\s*:\s*["'](\w+)["'])?""",
    re.I,
)
_BASE_URL = re.compile(r"""baseURL\s*:\s*["'](/[^"']*)["']""")
_CONCAT_VAR = re.compile(r"""(["'])(/[^"']*/)\1\s*\+\s*[A-Za-z_$][\w$.]*""")


_BARE_PREFIX = re.compile(r"^/(api|v\d+|rest|auth|oauth|rpc|services?)/?$")


def _is_api(path: str) -> bool:
    # "/api" alone is a base URL, not an operation
    return bool(re.match(_API_PREFIX, path + "/")) and not _BARE_PREFIX.match(path)


def _template(path: str) -> tuple[str, list[str]]:
    """``/api/users/${user.id}/notes`` -> ``/api/users/{id}/notes`` and its parameter names."""
    names: list[str] = []

    def name_for(expr: str) -> str:
        base = re.split(r"[.\[]", expr.strip())[-1] or "id"
        base = re.sub(r"\W", "", base) or "id"
        name = base
        n = 2
        while name in names:
            name, n = f"{base}{n}", n + 1
        names.append(name)
        return "{" + name + "}"

    out = re.sub(r"\$\{([^}]*)\}", lambda m: name_for(m.group(1)), path)
    out = out.split("?")[0].split("#")[0]
    out = re.sub(r"/{2,}", "/", out)
    return (out.rstrip("/") or "/"), names


def routes_in(text: str) -> dict[str, set[str]]:
    """Path template -> methods seen (empty: only the path is known; GET is assumed)."""
    text = text[:MAX_SCAN_CHARS]
    routes: dict[str, set[str]] = {}

    def add(raw: str, method: str | None) -> None:
        if not _is_api(raw) or len(routes) >= MAX_ROUTES:
            return
        path, _ = _template(raw)
        if re.search(r"\.(js|css|png|svg|ico|map|html?|json)$", path):
            return
        routes.setdefault(path, set())
        if method:
            routes[path].add(method.upper())

    for m in _METHOD_CALL.finditer(text):
        raw = m.group(3)
        if m.group(4):  # "/api/users/" + name: the variable is a path parameter
            raw = raw.rstrip("/") + "/${id}"
        add(raw, m.group(1))
    for m in _FETCH.finditer(text):
        add(m.group(2), m.group(3) or "GET")
    for m in _CONCAT_VAR.finditer(text):
        add(m.group(2).rstrip("/") + "/${id}", None)
    for m in _LITERAL.finditer(text):
        add(m.group(2), None)
    for m in _BASE_URL.finditer(text):
        base = m.group(1).rstrip("/")
        # relative calls on an axios instance with this base: "/notes" -> "/api/notes"
        for call in _METHOD_CALL.finditer(text):
            rel = call.group(3)
            if not _is_api(rel):
                add(base + rel, call.group(1))
    return routes


def _operations(routes: dict[str, set[str]]) -> list[Operation]:
    ops: list[Operation] = []
    for path, methods in sorted(routes.items()):
        template, _names = _template(path)
        params = [
            Param(name=n, location=Location.PATH, schema={"type": "string"}, required=True)
            for n in re.findall(r"\{([^}]+)\}", template)
        ]
        for method in sorted(methods or {"GET"}):
            body = "application/json" if method in ("POST", "PUT", "PATCH") else None
            ops.append(
                Operation(
                    method=method,
                    path=template,
                    params=[Param(p.name, p.location, dict(p.schema), True) for p in params],
                    source="bundle",
                    body_content_type=body,
                )
            )
    return ops


def script_urls(page: Exchange) -> list[str]:
    found = _SCRIPT_SRC.findall(page.body_text) + _MODULE_PRELOAD.findall(page.body_text)
    out: list[str] = []
    for src in found:
        url = urljoin(page.url, src)
        is_script = urlsplit(url).path.endswith((".js", ".mjs")) or ".js?" in url
        if is_script and url not in out:
            out.append(url)
    return out


async def bundle_operations(
    client: DiscoveryClient, pages: list[Exchange], max_bundles: int = MAX_BUNDLES
) -> list[Operation]:
    """Operations named in the same-origin scripts the pages load (plus inline scripts)."""
    routes: dict[str, set[str]] = {}

    def merge(found: dict[str, set[str]]) -> None:
        for path, methods in found.items():
            routes.setdefault(path, set()).update(methods)

    urls: list[str] = []
    for page in pages:
        if page.status != 200 or "<script" not in page.body_text.lower():
            continue
        merge(routes_in(page.body_text))  # inline scripts
        urls += [u for u in script_urls(page) if client.in_scope(u) and u not in urls]
    for url in urls[:max_bundles]:
        ex = await client.get(url)
        if ex is not None and ex.status == 200:
            merge(routes_in(ex.body_text))
    return _operations(routes)
