"""GraphQL endpoints (any category the finding belongs to; the check is one module).

What it sends, bounded and read-only (queries only; mutations only in full mode):

- field suggestions: one query with a misspelt field name; "Did you mean" in the error leaks
  the schema even with introspection off;
- GraphiQL / Playground: GET of the endpoint as a browser (Accept: text/html), /graphiql,
  /playground;
- batching: one JSON array of ``BATCH`` ``{__typename}`` queries; answered in full -> no limit;
- aliases: one query with ``ALIASES`` aliases of ``__typename`` (the cheapest field there is);
- SQL errors through string arguments: per query field (at most ``MAX_FIELDS``), per string
  argument (at most 2), a control value and a quote; an SQL error signature (checks/patterns.py)
  only with the quote is SQL injection; any error carrying a stack trace is reported once;
- token arguments (``token``, ``jwt``, ``accessToken``...): a garbage control, then the claims
  unsigned (alg none) and with a wrong signature (checks/jwt.py); data for the forged tokens but
  not for the control means the signature is not checked.

Introspection on a production-looking host is reported by the inventory check; URLs assembled
from GraphQL arguments by the SSRF check.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from firebrick.checks import jwt
from firebrick.checks.authz_common import make_finding
from firebrick.checks.patterns import debug_page, sql_error
from firebrick.context import ScanContext
from firebrick.inject import build
from firebrick.model import Confidence, Exchange, Finding, Operation, Param, Severity

CHECK = "graphql"
OWASP = {
    "inventory": "https://owasp.org/API-Security/editions/2023/en/0xa9-improper-inventory-management/",
    "rate_limiting": "https://owasp.org/API-Security/editions/2023/en/0xa4-unrestricted-resource-consumption/",
    "data_exposure": "https://owasp.org/API-Security/editions/2023/en/0xa8-security-misconfiguration/",
    "input_validation": "https://owasp.org/API-Security/editions/2023/en/0xa8-security-misconfiguration/",
    "authentication": "https://owasp.org/API-Security/editions/2023/en/0xa2-broken-authentication/",
}
BATCH = 10  # queries in the batching probe
ALIASES = 50  # aliases in the alias probe
MAX_FIELDS = 6  # query fields probed with SQL quotes
IDE_PATHS = ("/graphiql", "/playground")
IDE_MARKERS = re.compile(
    r"graphiql|graphql-playground|GraphQL Playground|apollo-sandbox|embeddable-sandbox|altair",
    re.I,
)
TOKEN_ARGS = re.compile(r"^(token|jwt|access_?token|id_?token|auth_?token|auth|bearer)$", re.I)
STACK = re.compile(
    r"Traceback \(most recent call last\)|\bat [\w$.<>]+ \([^)]*:\d+:\d+\)|\"stacktrace\"", re.I
)
QUOTE = "firebrick'\""
CONTROL = "firebrick"


def _finding(category: str, *args: Any, **kw: Any) -> Finding:
    return make_finding(category, OWASP[category], *args, **kw)


def _doc(ex: Exchange) -> Any:
    try:
        return json.loads(ex.body_text)
    except ValueError:
        return None


def _errors(ex: Exchange) -> list[dict[str, Any]]:
    doc = _doc(ex)
    errs = doc.get("errors") if isinstance(doc, dict) else None
    return [e for e in errs if isinstance(e, dict)] if isinstance(errs, list) else []


def _data_value(ex: Exchange, field: str) -> Any:
    doc = _doc(ex)
    data = doc.get("data") if isinstance(doc, dict) else None
    return data.get(field) if isinstance(data, dict) else None


class _Endpoint:
    def __init__(self, ctx: ScanContext, path: str) -> None:
        self.ctx = ctx
        parts = urlsplit(ctx.client.base_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.url = self.origin + path
        self.key = f"GRAPHQL {path}"

    async def post(self, body: Any) -> Exchange:
        return await self.ctx.client.request(
            "POST", self.url, json=body, check=CHECK, op_key=self.key, follow_redirects=False
        )

    async def get(self, url: str, accept: str = "text/html") -> Exchange:
        return await self.ctx.client.request(
            "GET", url, headers={"Accept": accept}, check=CHECK, op_key=self.key
        )


async def run(ctx: ScanContext) -> AsyncIterator[Finding]:
    path = ctx.surface.graphql_endpoint
    if not path:
        ctx.cover(CHECK, "inventory", None, None, "skipped", "no GraphQL endpoint found")
        return
    ep = _Endpoint(ctx, path)
    ops = [op for op in ctx.surface.operations if op.graphql is not None]
    for probe in (_suggestions, _ide, _batching, _aliases):
        async for finding in probe(ctx, ep, ops):
            yield finding
    async for finding in _string_args(ctx, ep, ops):
        yield finding
    async for finding in _token_args(ctx, ep, ops):
        yield finding


async def _suggestions(
    ctx: ScanContext, ep: _Endpoint, ops: list[Operation]
) -> AsyncIterator[Finding]:
    names = [op.graphql.name for op in ops if op.graphql and op.graphql.operation_type == "query"]
    known = next((n for n in names if len(n) >= 4), None)
    guess = known[:-1] if known else "user"  # one letter short of a real field
    ex = await ep.post({"query": f"{{ {guess} }}"})
    hints = [
        e.get("message", "")
        for e in _errors(ex)
        if "did you mean" in str(e.get("message", "")).lower()
    ]
    if hints:
        yield _finding(
            "inventory",
            "graphql.field-suggestions",
            "GraphQL field suggestions leak the schema",
            Severity.LOW,
            Confidence.CONFIRMED,
            ep.key,
            'A misspelt field is answered with the names of real fields ("Did you mean ..."): '
            "with introspection off, the schema can still be recovered field by field.",
            [ex],
            str(hints[0])[:200],
        )
    else:
        ctx.passed_if_reached(CHECK, "inventory", None, "field suggestions", ex)


async def _ide(ctx: ScanContext, ep: _Endpoint, ops: list[Operation]) -> AsyncIterator[Finding]:
    for url in (ep.url, *(ep.origin + p for p in IDE_PATHS)):
        ex = await ep.get(url)
        html = "html" in ex.response_headers.get("content-type", "")
        marker = IDE_MARKERS.search(ex.body_text[:20000]) if ex.status == 200 and html else None
        if marker:
            yield _finding(
                "inventory",
                "graphql.ide-exposed",
                "GraphQL IDE (GraphiQL / Playground) served",
                Severity.LOW,
                Confidence.CONFIRMED,
                ep.key,
                f"{urlsplit(url).path} serves an in-browser GraphQL IDE ({marker.group(0)}): it "
                "documents the schema and sends queries with a visitor's cookies; serve it on "
                "development hosts only.",
                [ex],
                f"GET {url} -> {ex.status} ({marker.group(0)})",
            )
            return
    ctx.cover(CHECK, "inventory", None, "GraphQL IDE", "passed", "no GraphiQL/Playground page")


async def _batching(
    ctx: ScanContext, ep: _Endpoint, ops: list[Operation]
) -> AsyncIterator[Finding]:
    ex = await ep.post([{"query": "{ __typename }"} for _ in range(BATCH)])
    doc = _doc(ex)
    answered = (
        sum(1 for item in doc if isinstance(item, dict) and isinstance(item.get("data"), dict))
        if isinstance(doc, list)
        else 0
    )
    if ex.status == 200 and answered >= BATCH:
        yield _finding(
            "rate_limiting",
            "graphql.batching-unbounded",
            "GraphQL accepts batches of queries without a limit",
            Severity.MEDIUM,
            Confidence.CONFIRMED,
            ep.key,
            f"One HTTP request carrying {BATCH} queries was answered in full: a batch multiplies "
            "every per-request limit (login attempts, OTP guesses, expensive resolvers) by its size.",
            [ex],
            f"{BATCH} queries in one request, {answered} answered",
            batch=BATCH,
        )
    else:
        ctx.passed_if_reached(CHECK, "rate_limiting", None, "batching", ex)


async def _aliases(ctx: ScanContext, ep: _Endpoint, ops: list[Operation]) -> AsyncIterator[Finding]:
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(ALIASES)) + " }"
    ex = await ep.post({"query": query})
    doc = _doc(ex)
    data = doc.get("data") if isinstance(doc, dict) else None
    if isinstance(data, dict) and len(data) >= ALIASES:
        yield _finding(
            "rate_limiting",
            "graphql.aliases-unbounded",
            "GraphQL accepts any number of aliases in one query",
            Severity.LOW,
            Confidence.CONFIRMED,
            ep.key,
            f"A query with {ALIASES} aliases of one field was answered in full: aliases repeat an "
            "expensive field or a login mutation many times in a single request.",
            [ex],
            f"{ALIASES} aliases answered",
            aliases=ALIASES,
        )
    else:
        ctx.passed_if_reached(CHECK, "rate_limiting", None, "aliases", ex)


def _string_params(op: Operation) -> list[Param]:
    assert op.graphql is not None
    out = []
    for p in op.params:
        t = op.graphql.arguments.get(p.name, "").rstrip("!")
        if t in ("String", "ID") and not TOKEN_ARGS.match(p.name):
            out.append(p)
    return out[:2]


async def _send_op(ctx: ScanContext, op: Operation, values: dict[str, Any]) -> Exchange:
    spec = build(op, values)
    return await ctx.client.request(
        spec.method, spec.path, json=spec.json, check=CHECK, op_key=op.key, follow_redirects=False
    )


def _stack_trace(ex: Exchange) -> str | None:
    for err in _errors(ex):
        text = json.dumps(err)
        m = STACK.search(text)
        if m:
            return m.group(0)
        hit = debug_page(text)
        if hit:
            return hit[1]
    return None


async def _string_args(
    ctx: ScanContext, ep: _Endpoint, ops: list[Operation]
) -> AsyncIterator[Finding]:
    allowed = ("query", "mutation") if ctx.options.mode == "full" else ("query",)
    targets = [
        (op, p)
        for op in ops
        if op.graphql is not None and op.graphql.operation_type in allowed
        for p in _string_params(op)
    ]
    ops_seen: set[str] = set()
    stack_reported = False
    for op, param in targets:
        if len(ops_seen) >= MAX_FIELDS and op.key not in ops_seen:
            break
        ops_seen.add(op.key)
        control = await _send_op(ctx, op, {param.display: CONTROL})
        quoted = await _send_op(ctx, op, {param.display: QUOTE})
        sql = sql_error(json.dumps(_errors(quoted))) if _errors(quoted) else None
        if sql and not sql_error(json.dumps(_errors(control))):
            yield _finding(
                "input_validation",
                "input_validation.sql-error",
                "SQL injection through a GraphQL argument",
                Severity.HIGH,
                Confidence.CONFIRMED,
                op.key,
                f"A quote in the GraphQL argument {param.name} breaks the SQL the resolver "
                f"builds ({sql[0]} error in the answer); the same value without a quote does "
                "not. The argument is pasted into SQL text.",
                [quoted, control],
                f"{sql[0]}: {sql[1]}",
                input=param.display,
                database=sql[0],
            )
        else:
            ctx.passed_if_reached(CHECK, "input_validation", op, param, quoted, control)
        trace = _stack_trace(quoted) or _stack_trace(control)
        if trace and not stack_reported:
            stack_reported = True
            yield _finding(
                "data_exposure",
                "graphql.stack-trace",
                "GraphQL errors carry stack traces",
                Severity.MEDIUM,
                Confidence.CONFIRMED,
                ep.key,
                "Resolver errors are returned with their stack trace (file paths, code, library "
                "versions): a map of the server for whoever sends a bad value.",
                [quoted],
                trace[:160],
            )


def _claims(ctx: ScanContext) -> dict[str, Any]:
    """Claims to forge: those of a token the scan met (identities, answers), else generic."""
    for headers in ctx.options.identities.values():
        for value in headers.values():
            for tok in jwt.find_tokens(value):
                return dict(tok.claims)
    for ex in ctx.client.exchanges[-300:]:
        for tok in jwt.find_tokens(ex.body_text[:20000]):
            return dict(tok.claims)
    return {"sub": "admin", "username": "admin", "role": "admin", "iat": int(time.time())}


async def _token_args(
    ctx: ScanContext, ep: _Endpoint, ops: list[Operation]
) -> AsyncIterator[Finding]:
    targets = [
        (op, p)
        for op in ops
        if op.graphql is not None and op.graphql.operation_type == "query"
        for p in op.params
        if TOKEN_ARGS.match(p.name)
    ][:3]
    claims = _claims(ctx)
    claims.pop("exp", None)
    for op, param in targets:
        assert op.graphql is not None
        field = op.graphql.name
        control = await _send_op(ctx, op, {param.display: "firebrick.invalid.token"})
        if _data_value(control, field) is not None and not _errors(control):
            ctx.cover(
                CHECK,
                "authentication",
                op,
                param,
                "inconclusive",
                "a garbage token is answered with data",
            )
            continue
        forged = {
            "authentication.jwt-alg-none": jwt.sign({"alg": "none", "typ": "JWT"}, claims, None),
            "authentication.jwt-signature-not-verified": jwt.sign(
                {"alg": "HS256", "typ": "JWT"}, claims, secrets.token_hex(16)
            ),
        }
        found = False
        for kind, token in forged.items():
            ex = await _send_op(ctx, op, {param.display: token})
            if _data_value(ex, field) is not None and not _errors(ex):
                found = True
                none = kind.endswith("alg-none")
                yield _finding(
                    "authentication",
                    kind,
                    'JWT with alg "none" accepted (GraphQL argument)'
                    if none
                    else "JWT signature is not verified (GraphQL argument)",
                    Severity.CRITICAL,
                    Confidence.CONFIRMED,
                    op.key,
                    f"The GraphQL argument {param.name} takes a token: one "
                    + (
                        "with no signature at all (alg none)"
                        if none
                        else "signed with a random key"
                    )
                    + f" was accepted and {field} answered as {claims.get('sub') or claims.get('username') or 'its subject'}; "
                    "a garbage token was refused. Anyone can mint any identity.",
                    [ex, control],
                    f"forged token accepted by {field}",
                    input=param.display,
                )
        if not found:
            ctx.passed_if_reached(CHECK, "authentication", op, param, ex, control)
