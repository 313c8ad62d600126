"""Improper inventory management (API9). Read-only: GET requests only.

- fingerprinting: Server / X-Powered-By / X-AspNet-Version headers that name software with a
  version, and version strings on the error page of an unknown path (one GET);
- interactive documentation (Swagger UI, ReDoc, GraphQL playgrounds) served by the API (one GET
  per well-known path), and GraphQL introspection on a host that does not look like a
  development or local one;
- several API versions live: for a versioned spec path (/v2/...), the same path under each
  lower version;
- deprecated operations (spec ``deprecated: true``) that still answer;
- operations the crawl found that the spec does not list.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import secrets
from collections.abc import AsyncIterator
from functools import partial
from urllib.parse import urlsplit

from firebrick.checks.authz_common import (
    ANONYMOUS,
    carries_data,
    make_finding,
    plain_ops,
    remember,
    send_as,
    status_line,
)
from firebrick.context import ScanContext
from firebrick.model import Cause, Confidence, Exchange, Finding, Operation, Severity
from firebrick.reach import refusal

CHECK = "inventory"
CATEGORY = "inventory"
DOC_PATHS = (
    "/docs",
    "/swagger-ui",
    "/swagger-ui.html",
    "/swagger",
    "/redoc",
    "/api-docs",
    "/playground",
)
DOC_MARKERS = re.compile(
    r"swagger-ui|SwaggerUIBundle|redoc|graphql-playground|GraphiQL|apollo-sandbox", re.I
)
VERSIONED = re.compile(r"/v(\d+)(?=/|$)")
VERSION_IN = re.compile(r"\d+\.\d+")
FINGERPRINT_HEADERS = (
    "server",
    "x-powered-by",
    "x-aspnet-version",
    "x-aspnetmvc-version",
    "x-generator",
    "x-runtime",
    "x-version",
)
ERROR_PAGE_VERSIONS = re.compile(
    r"(Apache/\d[\d.]*|nginx/\d[\d.]*|Werkzeug/\d[\d.]*|Microsoft-IIS/\d[\d.]*|Jetty\(\d[\w.]*\)|"
    r"Apache Tomcat/\d[\d.]*|PHP/\d[\d.]*|Express \d[\d.]*|Django (?:version )?\d[\d.]*|Python/\d[\d.]*)"
)
MAX_VERSION_PROBES = 4
DEV_HOST = re.compile(
    r"(^|[.-])(localhost|local|dev|develop|development|test|testing|staging|stage|qa|sandbox|preview)([.-]|$)",
    re.I,
)
OWASP = "https://owasp.org/API-Security/editions/2023/en/0xa9-improper-inventory-management/"


_finding = partial(make_finding, CATEGORY, OWASP)


def looks_production(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    try:
        ip = ipaddress.ip_address(host)
        return bool(ip.is_global)
    except ValueError:
        return not DEV_HOST.search(host)


async def run(ctx: ScanContext) -> AsyncIterator[Finding]:
    unknown = Operation("GET", f"/firebrick-{secrets.token_hex(4)}", source="probe")
    docs = [
        Operation("GET", p, source="probe")
        for p in DOC_PATHS
        if p not in {o.path for o in plain_ops(ctx)}
    ]
    versions = _older_versions(ctx)
    deprecated = [op for op in plain_ops(ctx) if op.deprecated]
    batch = [unknown, *docs, *(o for o, _ in versions), *deprecated]
    answers = await asyncio.gather(*(send_as(ctx, CHECK, op, ANONYMOUS) for op in batch))
    by_op = dict(zip((o.key for o in batch), answers, strict=True))
    for op, ex in zip(batch, answers, strict=True):
        remember(ctx, op, ex, ANONYMOUS)
    not_found = by_op[unknown.key]

    for finding in _fingerprint(ctx, not_found):
        yield finding
    for op in docs:
        ex = by_op[op.key]
        if (
            ex.status is not None
            and 200 <= ex.status < 300
            and DOC_MARKERS.search(ex.body_text[:20000])
            and ex.body_text != not_found.body_text
        ):
            yield _finding(
                "inventory.interactive-docs",
                "Interactive API documentation exposed",
                Severity.LOW,
                Confidence.CONFIRMED,
                op.key,
                f"{op.path} serves an interactive API console ({DOC_MARKERS.search(ex.body_text[:20000]).group(0)}). "  # type: ignore[union-attr]
                "On a production API it maps the attack surface for anyone and lets them send "
                "requests from a browser; serve it only on internal or staging hosts.",
                [ex],
                status_line(ex),
            )
    if ctx.surface.facts.get("graphql_introspection") and ctx.surface.graphql_endpoint:
        if looks_production(ctx.surface.base_url):
            yield _finding(
                "inventory.graphql-introspection",
                "GraphQL introspection enabled in production",
                Severity.LOW,
                Confidence.CONFIRMED,
                f"POST {ctx.surface.graphql_endpoint}",
                "The GraphQL endpoint answers introspection queries: anyone can download the whole "
                "schema, including fields the clients never use.",
                [],
                "introspection query answered during discovery",
            )
        else:
            ctx.cover(
                CHECK,
                CATEGORY,
                None,
                "graphql introspection",
                "skipped",
                "enabled, but the host looks like a development one",
            )
    for older, current in versions:
        ex = by_op[older.key]
        if carries_data(ex) and ex.body_text != not_found.body_text:
            yield _finding(
                "inventory.old-version-live",
                "Older API version still live",
                Severity.MEDIUM,
                Confidence.CONFIRMED,
                older.key,
                f"The spec documents {current.path}, and {older.path} still answers {ex.status} with "
                "data. Old versions keep old bugs and old authorization rules and are rarely monitored.",
                [ex],
                status_line(ex),
                current=current.key,
            )
    for op in deprecated:
        ex = by_op[op.key]
        if carries_data(ex):
            yield _finding(
                "inventory.deprecated-live",
                "Deprecated operation still answers",
                Severity.LOW,
                Confidence.CONFIRMED,
                op.key,
                f"The spec marks {op.key} deprecated, and it still answers {ex.status} with data. "
                "Retire it (410 Gone) once clients have moved.",
                [ex],
                status_line(ex),
            )
        elif (blocked := refusal(ex)) in (Cause.AUTH, Cause.CSRF, Cause.RATE_LIMITED):
            # a retired route answers 404/410; a 401 hides whether it is still live
            assert blocked is not None
            ctx.refused(CHECK, CATEGORY, op, None, blocked, f"deprecated and answering {ex.status}")
        else:
            ctx.cover(CHECK, CATEGORY, op, None, "passed", f"deprecated and answering {ex.status}")
    for finding in _undocumented(ctx):
        yield finding


def _fingerprint(ctx: ScanContext, not_found: Exchange) -> list[Finding]:
    leaks: dict[str, str] = {}
    for ex in [not_found, *ctx.client.exchanges[:50]]:
        for name in FINGERPRINT_HEADERS:
            value = ex.response_headers.get(name)
            if value and name not in leaks and (VERSION_IN.search(value) or name != "server"):
                leaks[name] = value
    body = ERROR_PAGE_VERSIONS.findall(not_found.body_text[:20000]) if not_found.status else []
    if not leaks and not body:
        ctx.cover(
            CHECK,
            CATEGORY,
            None,
            "fingerprint",
            "passed",
            "no software versions in headers or error page",
        )
        return []
    what = [f"{k}: {v}" for k, v in leaks.items()] + [
        f"error page: {b}" for b in dict.fromkeys(body)
    ]
    return [
        _finding(
            "inventory.server-fingerprint",
            "Server software and versions disclosed",
            Severity.LOW,
            Confidence.CONFIRMED,
            None,
            f"The API names its software and versions ({'; '.join(what)}). Attackers match versions to "
            "known vulnerabilities without probing further.",
            [not_found],
            "; ".join(what),
            headers=leaks,
        )
    ]


def _older_versions(ctx: ScanContext) -> list[tuple[Operation, Operation]]:
    """(the same path under a lower version, the documented operation), a few."""
    documented = {op.path for op in ctx.surface.operations if op.source == "spec"}
    out: list[tuple[Operation, Operation]] = []
    for op in plain_ops(ctx):
        if op.source != "spec" or "{" in op.path:
            continue
        m = VERSIONED.search(op.path)
        if not m:
            continue
        for v in range(int(m.group(1)) - 1, 0, -1):
            path = op.path[: m.start()] + f"/v{v}" + op.path[m.end() :]
            if path not in documented and all(o.path != path for o, _ in out):
                out.append((Operation("GET", path, source="probe"), op))
        if len(out) >= MAX_VERSION_PROBES:
            break
    return out[:MAX_VERSION_PROBES]


def template_matches(template: str, path: str) -> bool:
    """Does a concrete path fall under a path template (``/users/{name}`` ~ ``/users/me``)?"""
    pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template))
    return re.fullmatch(pattern, path) is not None


def _documented_by_template(op: Operation, spec_ops: list[Operation]) -> bool:
    return any(
        s.method == op.method and "{" in s.path and template_matches(s.path, op.path)
        for s in spec_ops
    )


def _undocumented(ctx: ScanContext) -> list[Finding]:
    if not ctx.surface.spec_url:
        return []
    spec_ops = [op for op in ctx.surface.operations if op.source == "spec"]
    spec_paths = [op.path for op in spec_ops]
    prefixes = {"/" + p.strip("/").split("/")[0] for p in spec_paths if p.strip("/")}
    spec_at = urlsplit(ctx.surface.spec_url).path if "://" in ctx.surface.spec_url else None
    findings = []
    for op in ctx.surface.operations:
        if (
            op.source not in ("crawl", "probe")
            or op.graphql is not None
            or op.path in ("/", "", spec_at)
        ):
            continue
        if "/" + op.path.strip("/").split("/")[0] not in prefixes:
            continue  # a web page beside the API, not an API operation
        if op.source == "probe" and op.method != "GET":
            # Known only from the Allow header of a 405: nothing showed the method is served
            # (catch-all 405 handlers list methods of neighbouring routes).
            ctx.cover(CHECK, CATEGORY, op, None, "inconclusive", "only listed in an Allow header")
            continue
        if _documented_by_template(op, spec_ops):
            continue  # /users/me is /users/{name} of the spec
        findings.append(
            _finding(
                "inventory.undocumented-operation",
                "Operation missing from the API specification",
                Severity.LOW,
                Confidence.CONFIRMED,
                op.key,
                f"Discovery found {op.key} ({op.source}), which the OpenAPI document does not list. "
                "Undocumented operations escape reviews, tests and gateways' policies.",
                [],
                f"{op.key} found by {op.source}, absent from {ctx.surface.spec_url}",
            )
        )
    return findings
