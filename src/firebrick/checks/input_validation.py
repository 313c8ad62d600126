"""Input validation and request handling (category input_validation, OWASP API8).

What it sends (bounded, see MAX_*):
- CORS: GETs with ``Origin: https://firebrick-cors.example`` and ``Origin: null``.
- Methods: OPTIONS per documented path (Allow / Access-Control-Allow-Methods); in full mode also
  TRACE, and PUT with an empty JSON body on paths that document no PUT.
- Debug: GET /console (the Werkzeug debugger console).
- Error-based injection signals, never destructive: a lone single quote (a database error that
  appears only then), a ``{{7*191}}``-style template marker with a product unique to the scan,
  and a malformed JSON body (a 500 where a 400 belongs).
- Cross-site request forgery surface (full mode: it is a real POST): a JSON operation's example
  body sent as text/plain.
- Host header injection: a GET with ``Host: firebrick-host.example`` echoed into links.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from firebrick.checks import injection
from firebrick.checks.data_exposure import baseline
from firebrick.checks.inventory import template_matches
from firebrick.checks.patterns import TRACES
from firebrick.context import EXCLUDED_OPERATIONS, ScanContext
from firebrick.inject import build, send
from firebrick.model import (
    Cause,
    Confidence,
    Evidence,
    Exchange,
    Finding,
    InputKind,
    Operation,
    Severity,
)
from firebrick.reach import blocking_refusal

CHECK = "input_validation"
CATEGORY = "input_validation"
EVIL_ORIGIN = "https://firebrick-cors.example"
EVIL_HOST = "firebrick-host.example"
MAX_CORS_OPS = 16
MAX_PATHS = 64
MAX_INJECT_INPUTS = 8
MAX_JSON_OPS = 8
WRITE_METHODS = ("PUT", "PATCH", "DELETE")


def _get_ops(ctx: ScanContext) -> list[Operation]:
    """GET operations the check can call with placeholders and no URL input (never fetch)."""
    return [
        op
        for op in ctx.surface.operations
        if op.method == "GET"
        and op.graphql is None
        and not any(p.kinds & {InputKind.URL, InputKind.HOST} for p in op.params)
    ]


def _finding(
    kind: str,
    title: str,
    severity: Severity,
    confidence: Confidence,
    description: str,
    exchanges: list[Exchange],
    op: Operation | None = None,
    inp: str | None = None,
    worked: list[str] | None = None,
    **details: object,
) -> Finding:
    return Finding(
        kind=kind,
        category=CATEGORY,
        title=title,
        severity=severity,
        confidence=confidence,
        operation=op.key if op else None,
        input=inp,
        description=description,
        evidence=Evidence(
            summary=title,
            exchanges=exchanges[:3],
            payloads_worked=worked or [],
            details=dict(details),
        ),
    )


async def run(ctx: ScanContext) -> AsyncIterator[Finding]:
    results = await asyncio.gather(
        _cors(ctx),
        _methods(ctx),
        _debug(ctx),
        _injection(ctx),
        _malformed_json(ctx),
        _content_types(ctx),
        _host_header(ctx),
    )
    for findings in results:
        for finding in findings:
            yield finding


# -- CORS ------------------------------------------------------------------------------------
def _by_prefix(ops: list[Operation], limit: int) -> list[Operation]:
    """One operation per path prefix (/api/web, /api/users ...): CORS is set per app or blueprint."""
    groups: dict[str, list[Operation]] = {}
    for op in ops:
        # The first two segments (/api/web, /api/partner): where an app or blueprint sets CORS.
        groups.setdefault("/".join(op.path.split("/")[:3]) or "/", []).append(op)
    # Biggest groups first: a blueprint with many routes is the likeliest to set its own headers.
    return [g[0] for g in sorted(groups.values(), key=len, reverse=True)][:limit]


async def _cors(ctx: ScanContext) -> list[Finding]:
    ops = _by_prefix(_get_ops(ctx), MAX_CORS_OPS)
    findings: list[Finding] = []
    seen: set[str] = set()

    async def one(op: Operation) -> None:
        ex = await send(ctx.client, op, {}, check=CHECK, extra_headers={"Origin": EVIL_ORIGIN})
        acao = ex.response_headers.get("access-control-allow-origin", "")
        creds = ex.response_headers.get("access-control-allow-credentials", "").lower() == "true"
        kind = None
        if acao == EVIL_ORIGIN:
            kind = (
                "input_validation.cors-reflected-origin",
                "CORS reflects any Origin" + (" with credentials" if creds else ""),
                Severity.HIGH if creds else Severity.MEDIUM,
            )
        elif acao == "*":
            kind = (
                "input_validation.cors-wildcard",
                "CORS allows any origin (*)",
                Severity.MEDIUM if creds else Severity.LOW,
            )
        if kind:
            findings.append(
                _finding(
                    kind[0],
                    kind[1],
                    kind[2],
                    Confidence.CONFIRMED,
                    f"A request from {EVIL_ORIGIN} got `Access-Control-Allow-Origin: {acao}`"
                    + (
                        " and `Access-Control-Allow-Credentials: true`: any web site a user visits can read this "
                        "API's responses with the user's cookies."
                        if creds
                        else ": any web site can read this API's responses from a visitor's browser."
                    ),
                    [ex],
                    op,
                    "header:Origin",
                    [f"Origin: {EVIL_ORIGIN}"],
                    credentials=creds,
                )
            )
        if acao != EVIL_ORIGIN:
            await _cors_bypass(ctx, op, findings, seen)
        if acao:
            ex2 = await send(ctx.client, op, {}, check=CHECK, extra_headers={"Origin": "null"})
            if ex2.response_headers.get("access-control-allow-origin") == "null":
                creds2 = (
                    ex2.response_headers.get("access-control-allow-credentials", "").lower()
                    == "true"
                )
                findings.append(
                    _finding(
                        "input_validation.cors-null-origin",
                        "CORS trusts the null origin",
                        Severity.HIGH if creds2 else Severity.MEDIUM,
                        Confidence.CONFIRMED,
                        "`Origin: null` is what sandboxed iframes and file: pages send; an attacker "
                        "controls both, so trusting it is trusting everyone.",
                        [ex2],
                        op,
                        "header:Origin",
                        ["Origin: null"],
                        credentials=creds2,
                    )
                )

    await asyncio.gather(*(one(op) for op in ops))
    # One finding per kind, from the first operation in probe order (not the fastest answer):
    # the same scan reports the same operation every time.
    order = {op.key: i for i, op in enumerate(ops)}
    findings.sort(key=lambda f: order.get(f.operation or "", len(order)))
    findings[:] = list({f.kind: f for f in reversed(findings)}.values())[::-1]
    if not ops:
        ctx.cover(CHECK, CATEGORY, None, "header:Origin", "skipped", "no GET operation to probe")
        return findings
    ctx.cover(
        CHECK,
        CATEGORY,
        None,
        "header:Origin",
        "failed" if findings else "passed",
        f"CORS probed on {len(ops)} operations",
    )
    return findings


def bypass_origins(base_url: str) -> list[tuple[str, str]]:
    """Origins that pass a careless origin check built around the target's own host.

    (kind, origin): ``suffix`` defeats an unanchored end (``https://app.example.com.evil.test``),
    ``prefix`` an unanchored start (``https://evil-app.example.com``) and ``dot`` an unescaped
    dot (``https://appxexample.com``). None of these names is ours or the target's.
    """
    parts = urlsplit(base_url)
    host, scheme = parts.hostname or "", parts.scheme or "https"
    port = f":{parts.port}" if parts.port else ""
    out = [
        ("suffix", f"{scheme}://{host}.firebrick-evil.test{port}"),
        ("prefix", f"{scheme}://firebrick-evil-{host}{port}"),
    ]
    if "." in host:
        out.append(("dot", f"{scheme}://{host.replace('.', 'x', 1)}{port}"))
    return out


_BYPASS_TEXT = {
    "suffix": "the check does not anchor the end of the origin",
    "prefix": "the check does not anchor the start of the host",
    "dot": "a dot in the allowed origin is a regex wildcard",
}


async def _cors_bypass(
    ctx: ScanContext, op: Operation, findings: list[Finding], seen: set[str]
) -> None:
    """An origin check by regex or substring: origins derived from the target's host."""
    if "cors-bypass" in seen:
        return
    for kind, origin in bypass_origins(ctx.client.base_url):
        ex = await send(ctx.client, op, {}, check=CHECK, extra_headers={"Origin": origin})
        if ex.response_headers.get("access-control-allow-origin") != origin:
            continue
        creds = ex.response_headers.get("access-control-allow-credentials", "").lower() == "true"
        seen.add("cors-bypass")
        findings.append(
            _finding(
                "input_validation.cors-origin-bypass",
                "CORS origin check bypassed ("
                + kind
                + ")"
                + (" with credentials" if creds else ""),
                Severity.HIGH if creds else Severity.MEDIUM,
                Confidence.CONFIRMED,
                f"`Origin: {origin}` was allowed: {_BYPASS_TEXT[kind]}. Anyone who registers such "
                "a name can read this API's answers from a visitor's browser"
                + (" with the visitor's cookies." if creds else "."),
                [ex],
                op,
                "header:Origin",
                [f"Origin: {origin}"],
                credentials=creds,
                bypass=kind,
            )
        )
        return


# -- methods -----------------------------------------------------------------------------------
async def _methods(ctx: ScanContext) -> list[Finding]:
    documented: dict[str, set[str]] = {}
    for op in ctx.surface.operations:
        if op.graphql is None and op.source == "spec":
            documented.setdefault(op.path, set()).add(op.method)
    # Operations the mode keeps out of the scan (DELETE in safe mode) are still documented.
    for key in ctx.state.get(EXCLUDED_OPERATIONS, ()):
        method, _, path = str(key).partition(" ")
        # "GRAPHQL /graphql mutation.deletePaste" names a GraphQL field, not a REST path
        if path.startswith("/") and method.isupper() and method != "GRAPHQL" and " " not in path:
            documented.setdefault(path, set()).add(method)
    # Route groups round robin, densest first (a blueprint's routes share their method
    # handling): every group gets a path before a big one gets a second, capped.
    by_group: dict[str, list[str]] = {}
    for path in documented:
        by_group.setdefault(path.rsplit("/", 1)[0], []).append(path)
    ordered = sorted(by_group.values(), key=len, reverse=True)
    paths = [g[i] for i in range(max(map(len, ordered), default=0)) for g in ordered if i < len(g)][
        :MAX_PATHS
    ]
    findings: list[Finding] = []
    full = ctx.options.mode == "full"

    async def one(path: str) -> None:
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        ex = await ctx.client.request("OPTIONS", concrete, check=CHECK, follow_redirects=False)
        allow = {
            m.strip().upper() for m in ex.response_headers.get("allow", "").split(",") if m.strip()
        }
        # The Allow header is computed for the concrete URL: every documented route that matches
        # it (a neighbouring /users/{name} for /users/me) lends its methods.
        explained = set().union(
            *(ms for p, ms in documented.items() if p == path or template_matches(p, concrete))
        )
        extra = sorted(m for m in allow & set(WRITE_METHODS) if m not in explained)
        if extra:
            findings.append(
                _finding(
                    "input_validation.undocumented-methods",
                    "Write methods advertised that the API does not document",
                    Severity.LOW,
                    Confidence.LIKELY,
                    f"OPTIONS {path} answers `Allow: {', '.join(sorted(allow))}`; the spec documents only "
                    f"{', '.join(sorted(documented[path]))}. Routes nobody documents are routes nobody reviews.",
                    [ex],
                    inp=None,
                    worked=[f"OPTIONS {concrete}"],
                    path=path,
                    methods=extra,
                )
            )
        if "TRACE" in allow and not full:
            findings.append(
                _finding(
                    "input_validation.trace-enabled",
                    "TRACE method enabled (advertised)",
                    Severity.LOW,
                    Confidence.LIKELY,
                    f"OPTIONS {path} lists TRACE: the server echoes requests back "
                    "(cross-site tracing exposes headers such as cookies).",
                    [ex],
                    worked=[f"OPTIONS {concrete}"],
                    path=path,
                )
            )
        if full:
            tr = await ctx.client.request(
                "TRACE",
                concrete,
                check=CHECK,
                follow_redirects=False,
                headers={"X-Firebrick-Trace": "fbtrace"},
            )
            if tr.status == 200 and "fbtrace" in tr.body_text.lower():
                findings.append(
                    _finding(
                        "input_validation.trace-enabled",
                        "TRACE method answered (request echoed)",
                        Severity.LOW,
                        Confidence.CONFIRMED,
                        f"TRACE {path} echoed our request headers back.",
                        [tr],
                        worked=[f"TRACE {concrete}"],
                        path=path,
                    )
                )
            # DELETE last: full mode sends a DELETE only where --include names it (issue 10)
            for method in sorted(extra, key=lambda m: (m == "DELETE", m))[:1]:
                w = await ctx.client.request(
                    method, concrete, check=CHECK, json={}, follow_redirects=False
                )
                if w.status is not None and 200 <= w.status < 300:
                    findings.append(
                        _finding(
                            "input_validation.undocumented-methods",
                            f"Undocumented {method} accepted",
                            Severity.MEDIUM,
                            Confidence.CONFIRMED,
                            f"{method} {path} answered {w.status} although the spec documents no {method}.",
                            [w],
                            worked=[f"{method} {concrete}"],
                            path=path,
                            methods=[method],
                        )
                    )

    await asyncio.gather(*(one(p) for p in paths))
    # One finding per kind and path is plenty; keep the first of each kind+path.
    unique: dict[tuple[str, object], Finding] = {}
    for f in findings:
        unique.setdefault((f.kind + f.title, f.evidence.details.get("path")), f)
    for f in unique.values():
        f.operation = f"OPTIONS {f.evidence.details.get('path')}"
    if not paths:
        ctx.cover(CHECK, CATEGORY, None, "methods", "skipped", "no documented path to compare")
    else:
        status = "failed" if unique else "passed"
        ctx.cover(CHECK, CATEGORY, None, "methods", status, f"{len(paths)} paths")
    return _merge_by_kind(list(unique.values()))


def _merge_by_kind(findings: list[Finding]) -> list[Finding]:
    """TRACE: one finding for the API (it is a server setting), evidence from every path."""
    out: list[Finding] = []
    trace: Finding | None = None
    for f in findings:
        if f.kind == "input_validation.trace-enabled":
            if trace is None or f.confidence.rank > trace.confidence.rank:
                trace = f
            continue
        out.append(f)
    if trace is not None:
        trace.operation = None
        out.append(trace)
    return out


# -- debug -----------------------------------------------------------------------------------
async def _debug(ctx: ScanContext) -> list[Finding]:
    ex = await ctx.client.request("GET", "/console", check=CHECK, follow_redirects=False)
    if ex.status == 200 and re.search(r"Werkzeug Debugger|__debugger__|CONSOLE_MODE", ex.body_text):
        ctx.cover(CHECK, CATEGORY, None, "GET /console", "failed", "debugger console served")
        return [
            _finding(
                "input_validation.debugger-exposed",
                "Werkzeug debugger console reachable",
                Severity.CRITICAL,
                Confidence.CONFIRMED,
                "GET /console serves the Werkzeug interactive debugger. Its PIN is the only thing between "
                "anyone on the network and arbitrary Python in the server process, and the PIN can be "
                "derived from values a file read or an SSRF exposes.",
                [ex],
                worked=["GET /console"],
            )
        ]
    ctx.cover(CHECK, CATEGORY, None, "GET /console", "passed", f"answered {ex.status}")
    return []


# -- injection (SQL, template, command, XSS): the engine in checks/injection.py ------------------
async def _injection(ctx: ScanContext) -> list[Finding]:
    return await injection.run(ctx, CHECK, CATEGORY)


async def _known(ex: Exchange) -> Exchange:
    return ex


def findings_for(findings: list[Finding], op: Operation) -> bool:
    return any(f.operation == op.key for f in findings)


def _trace_in(ex: Exchange) -> tuple[Exchange, str] | None:
    if ex.status is None or ex.status < 500:
        return None
    for pattern in TRACES:
        m = pattern.regex.search(ex.body_text)
        if m:
            return ex, pattern.label
    return None


def _traceback_finding(op: Operation, inp: str | None, ex: Exchange, label: str) -> Finding:
    return Finding(
        kind="input_validation.stack-trace",
        category=CATEGORY,
        title="Malformed input returns a stack trace",
        severity=Severity.MEDIUM,
        confidence=Confidence.CONFIRMED,
        operation=op.key,
        input=inp,
        description=f"A malformed request made the server answer {ex.status} with a {label}: file paths, "
        "library versions and code that help an attacker aim the next request.",
        evidence=Evidence(
            summary=f"{ex.status} with a {label}",
            exchanges=[ex],
            payloads_worked=[ex.request_body or ex.url],
        ),
    )


async def _malformed_json(ctx: ScanContext) -> list[Finding]:
    ops = [
        op
        for op in ctx.surface.operations
        if op.graphql is None
        and op.body_content_type == "application/json"
        and op.method in ("POST", "PUT", "PATCH")
    ]
    if ctx.options.mode != "full":
        ops = [op for op in ops if op.method == "POST"]
    findings: list[Finding] = []

    async def one(op: Operation) -> None:
        spec = build(op, {})
        ex = await ctx.client.request(
            op.method,
            spec.path,
            params=spec.params or None,
            content='{"firebrick": ',
            headers={"Content-Type": "application/json"},
            check=CHECK,
            op_key=op.key,
        )
        if ex.status is not None and ex.status >= 500:
            trace = _trace_in(ex)
            if trace:
                findings.append(_traceback_finding(op, "body", ex, trace[1]))
            else:
                findings.append(
                    Finding(
                        kind="input_validation.malformed-json-500",
                        category=CATEGORY,
                        title="Malformed JSON makes the server fail (500)",
                        severity=Severity.LOW,
                        confidence=Confidence.CONFIRMED,
                        operation=op.key,
                        input="body",
                        description="A truncated JSON body got a server error instead of 400: the body is "
                        "parsed without validation.",
                        evidence=Evidence(
                            summary=f"{ex.status} on malformed JSON",
                            exchanges=[ex],
                            payloads_worked=['{"firebrick": '],
                        ),
                    )
                )
        # 400/422 is the right answer to a malformed body; any other refusal kept it away.
        blocked = blocking_refusal(ex, frozenset({Cause.INPUT_REJECTED}))
        if findings_for(findings, op):
            ctx.cover(CHECK, CATEGORY, op, "body", "failed", f"malformed JSON answered {ex.status}")
        elif blocked is not None:
            ctx.refused(CHECK, CATEGORY, op, "body", blocked, f"answered {ex.status}")
        elif ex.status is None:
            ctx.cover(CHECK, CATEGORY, op, "body", "error", ex.error or "no answer")
        else:
            ctx.cover(CHECK, CATEGORY, op, "body", "passed", f"malformed JSON answered {ex.status}")

    await asyncio.gather(*(one(op) for op in ops[:MAX_JSON_OPS]))
    return findings


async def _content_types(ctx: ScanContext) -> list[Finding]:
    """A JSON endpoint that takes text/plain is reachable by a plain HTML form (CSRF)."""
    if ctx.options.mode != "full":
        return []
    findings: list[Finding] = []
    ops = [
        op
        for op in ctx.surface.operations
        if op.graphql is None and op.method == "POST" and op.body_content_type == "application/json"
    ]

    async def one(op: Operation) -> None:
        spec = build(op, {})
        if not isinstance(spec.json, dict) or not spec.json:
            return
        ex = await ctx.client.request(
            "POST",
            spec.path,
            params=spec.params or None,
            content=json.dumps(spec.json),
            headers={"Content-Type": "text/plain"},
            check=CHECK,
            op_key=op.key,
        )
        if ex.status is not None and 200 <= ex.status < 300:
            findings.append(
                Finding(
                    kind="input_validation.json-as-text-plain",
                    category=CATEGORY,
                    title="JSON endpoint accepts a text/plain body (CSRF surface)",
                    severity=Severity.MEDIUM,
                    confidence=Confidence.CONFIRMED,
                    operation=op.key,
                    input="header:Content-Type",
                    description="The operation processed a JSON body sent as `text/plain`, a content type any "
                    "web page can POST cross-site without a CORS preflight: with cookie "
                    "authentication this is cross-site request forgery.",
                    evidence=Evidence(
                        summary=f"text/plain body accepted ({ex.status})",
                        exchanges=[ex],
                        payloads_worked=["Content-Type: text/plain"],
                    ),
                )
            )

    await asyncio.gather(*(one(op) for op in ops[:MAX_JSON_OPS]))
    return findings


async def _host_header(ctx: ScanContext) -> list[Finding]:
    # Only responses that already carry our own host in absolute links can echo another one.
    netloc = urlsplit(ctx.client.base_url).netloc
    ops = [
        op
        for op, ex in await baseline(ctx, CHECK)
        if op is not None and re.search(rf"(https?:)?//{re.escape(netloc)}", ex.body_text)
    ][:MAX_PATHS]
    findings: list[Finding] = []

    async def one(op: Operation) -> None:
        ex = await send(ctx.client, op, {}, check=CHECK, extra_headers={"Host": EVIL_HOST})
        if (
            ex.status is not None
            and ex.status < 400
            and re.search(
                rf"(https?:)?//{re.escape(EVIL_HOST)}",
                ex.body_text + ex.response_headers.get("location", ""),
            )
        ):
            findings.append(
                Finding(
                    kind="input_validation.host-header-injection",
                    category=CATEGORY,
                    title="Host header echoed into links",
                    severity=Severity.MEDIUM,
                    confidence=Confidence.CONFIRMED,
                    operation=op.key,
                    input="header:Host",
                    description=f"With `Host: {EVIL_HOST}` the response built its links on {EVIL_HOST}. Behind a "
                    "cache this poisons pages for everyone; in password-reset mails it sends tokens "
                    "to the attacker.",
                    evidence=Evidence(
                        summary=f"{EVIL_HOST} in the response",
                        exchanges=[ex],
                        payloads_worked=[f"Host: {EVIL_HOST}"],
                    ),
                )
            )

    await asyncio.gather(*(one(op) for op in ops))
    if not ops:  # nothing answered with absolute links to our host: an echo could not be seen
        ctx.cover(
            CHECK, CATEGORY, None, "header:Host", "skipped", "no answer carries absolute links"
        )
        return findings
    ctx.cover(
        CHECK,
        CATEGORY,
        None,
        "header:Host",
        "failed" if findings else "passed",
        f"{len(ops)} operations",
    )
    return findings
