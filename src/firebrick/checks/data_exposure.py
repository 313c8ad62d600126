"""Sensitive data in responses and in the published spec (category data_exposure, API3/API8).

Sends one GET per callable GET operation (no URL inputs, placeholders from the spec; at most
MAX_OPS) plus the spec once, and looks for: API keys and tokens (AWS, Stripe, GitHub, Slack,
Google, private keys, JWTs), payment card numbers that pass Luhn, emails, phone numbers, national
ids with their label, stack traces, private IP addresses and internal host names. Evidence is
redacted: the finding shows where the value sits and its first and last characters, never the
whole value, and the recorded response excerpt is redacted the same way.

The baseline responses are shared through ``ctx.state["baseline"]`` (encryption reads their
headers), so both checks together cost the same requests.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from firebrick.checks import patterns
from firebrick.checks.authz_common import has_user_credentials, looks_self
from firebrick.checks.injection import debug_page_finding
from firebrick.context import ScanContext
from firebrick.inject import send
from firebrick.model import Confidence, Evidence, Exchange, Finding, InputKind, Operation, Severity
from firebrick.safejson import safe_json_loads

CHECK = "data_exposure"
CATEGORY = "data_exposure"
MAX_OPS = 60
STATE_KEY = "baseline"


_TOKEN_ISSUER = re.compile(
    r"(^|/)(token|tokens|session|sessions|login|signin|auth|oauth|guest)(/|$)", re.I
)


def callable_gets(ctx: ScanContext) -> list[Operation]:
    """GET operations we can call safely: no URL/host input (the SSRF check owns those)."""
    ops = []
    for op in ctx.surface.operations:
        if op.method != "GET" or op.graphql is not None:
            continue
        # guessed inputs (discovery's url/callback names on crawled and bundle routes) are
        # not sent by a plain GET, so they do not make an operation the SSRF check's alone
        if any(p.kinds & {InputKind.URL, InputKind.HOST} and not p.guessed for p in op.params):
            continue
        if any(
            p.required
            and p.example is None
            and not (p.schema or {}).get("example")
            and not (p.schema or {}).get("enum")
            for p in op.params
            if p.location.value != "path"
        ):
            continue  # a required input we can only guess: the answer would be a 400
        ops.append(op)
    return ops[:MAX_OPS]


async def baseline(ctx: ScanContext, check: str) -> list[tuple[Operation | None, Exchange]]:
    """One plain GET per callable operation, sent once per scan whoever asks first."""
    lock = ctx.state.setdefault(STATE_KEY + ".lock", asyncio.Lock())
    async with lock:
        if STATE_KEY not in ctx.state:
            ops = callable_gets(ctx)
            exchanges = await asyncio.gather(*(send(ctx.client, op, {}, check=check) for op in ops))
            ctx.state[STATE_KEY] = list(zip(ops, exchanges, strict=True))
    return list(ctx.state[STATE_KEY])


def _redacted_exchange(ex: Exchange, matches: list[patterns.Match]) -> Exchange:
    excerpt = ex.response_excerpt
    for m in matches:
        excerpt = excerpt.replace(m.value, m.redacted)
    return replace(ex, response_excerpt=excerpt, body_text="")


_KIND = {
    "secret": (
        "data_exposure.secret",
        "Secrets in the response",
        Severity.HIGH,
        Confidence.CONFIRMED,
    ),
    "card": (
        "data_exposure.card-number",
        "Payment card numbers in the response",
        Severity.HIGH,
        Confidence.CONFIRMED,
    ),
    "pii": (
        "data_exposure.personal-data",
        "Personal data in the response",
        Severity.MEDIUM,
        Confidence.LIKELY,
    ),
    "trace": (
        "data_exposure.stack-trace",
        "Stack trace in the response",
        Severity.MEDIUM,
        Confidence.CONFIRMED,
    ),
    "internal": (
        "data_exposure.internal-address",
        "Internal addresses or host names in the response",
        Severity.LOW,
        Confidence.CONFIRMED,
    ),
}


def _group(m: patterns.Match) -> str:
    return "card" if m.pattern.name == "card" else m.pattern.kind


def findings_for_text(
    text: str,
    *,
    where: str,
    op: str | None,
    ex: Exchange | None,
    kinds: tuple[str, ...] = ("secret", "pii", "internal", "trace"),
    spec: bool = False,
    issues_tokens: bool = False,
) -> list[Finding]:
    """Findings for one body: one per group (secret, card, pii, trace, internal).

    ``issues_tokens``: the operation's job is to hand out a token (login, session, guest), so a
    JWT in its answer is the product, not a leak (the authentication check reads its claims).
    """
    by_group: dict[str, list[patterns.Match]] = {}
    every = [
        m
        for m in patterns.scan_text(text, kinds)
        if not (issues_tokens and m.pattern.name == "jwt")
    ]
    for m in every:
        by_group.setdefault(_group(m), []).append(m)
    out: list[Finding] = []
    for group, matches in by_group.items():
        kind, title, severity, confidence = _KIND[group]
        if spec:
            kind, title = (
                kind + "-in-spec",
                title.replace("in the response", "in the API documentation"),
            )
            confidence = (
                Confidence.LIKELY
            )  # an example may be a fake; it still teaches people to paste keys
        shown = list(
            dict.fromkeys(f"{m.pattern.label}: {patterns.context(text, m)}" for m in matches)
        )[:8]
        labels = sorted({m.pattern.label for m in matches})
        out.append(
            Finding(
                kind=kind,
                category=CATEGORY,
                title=title,
                severity=severity,
                confidence=confidence,
                operation=op,
                input=None,
                description=f"{where} contains {', '.join(labels)} ({len(matches)} match"
                f"{'es' if len(matches) != 1 else ''}). Values are redacted here; the locations "
                "below show where to look.",
                evidence=Evidence(
                    summary=f"{len(matches)} x {', '.join(labels)}",
                    exchanges=[_redacted_exchange(ex, every)] if ex is not None else [],
                    payloads_worked=shown,
                    details={"types": labels, "redacted": [m.redacted for m in matches][:8]},
                ),
            )
        )
    return out


async def _spec_text(ctx: ScanContext) -> tuple[str, Exchange | None]:
    source = ctx.surface.spec_url
    if not source:
        return "", None
    if "://" in source:
        if not ctx.client.in_scope(source):
            return "", None
        ex = await ctx.client.request("GET", source, check=CHECK)
        return (ex.body_text if ex.status == 200 else ""), ex
    try:
        return Path(source).read_text("utf-8", "replace"), None
    except OSError:
        return "", None


def _examples(spec_text: str) -> str:
    """Only the example values of the document: descriptions and names are not data."""
    doc = safe_json_loads(spec_text)
    if doc is None:
        from firebrick.discovery.openapi import parse_document  # alias and size budgets
        from firebrick.errors import SpecError

        try:
            doc = parse_document(spec_text, "spec")
        except SpecError:
            return spec_text
    found: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("example", "examples", "default", "x-example"):
                    found.append(json.dumps(v) if not isinstance(v, str) else v)
                else:
                    collect(v)
        elif isinstance(node, list):
            for v in node:
                collect(v)

    collect(doc)
    for server in (doc.get("servers") or []) if isinstance(doc, dict) else []:
        if isinstance(server, dict):
            found.append(str(server.get("url", "")))
    return "\n".join(found)


async def run(ctx: ScanContext) -> AsyncIterator[Finding]:
    pairs = await baseline(ctx, CHECK)
    for op, ex in pairs:
        if ex.status is None or not ex.body_text:
            continue
        own = op is not None and looks_self(op) and has_user_credentials(ctx)
        found = findings_for_text(
            ex.body_text,
            where=f"The response of {op.key if op else ex.url}",
            op=op.key if op else None,
            ex=ex,
            issues_tokens=op is not None and bool(_TOKEN_ISSUER.search(op.path)),
        )
        if own:  # the caller's own profile shows the caller's own e-mail: that is its purpose
            found = [f for f in found if f.kind != "data_exposure.personal-data"]
        debug = debug_page_finding(op.key if op else None, None, ex)
        if debug is not None:  # the framework's page says more than "a stack trace"
            found = [f for f in found if f.kind != "data_exposure.stack-trace"] + [debug]
        if found:
            ctx.cover(CHECK, CATEGORY, op, None, "failed", "response body scanned")
        else:  # a 401 page scanned clean says nothing about the data behind it
            ctx.passed_if_reached(CHECK, CATEGORY, op, None, ex, None, "response body scanned")
        if own:
            ctx.cover(CHECK, CATEGORY, op, "personal data", "skipped", "the caller's own profile")
        for f in found:
            yield f
    text, _spec_ex = await _spec_text(ctx)
    if text:
        found = findings_for_text(
            _examples(text),
            where="The API documentation's examples",
            op=None,
            ex=None,
            kinds=("secret", "internal"),
            spec=True,
        )
        for f in found:
            f.evidence.details["spec"] = ctx.surface.spec_url
            yield f
        ctx.cover(
            CHECK,
            CATEGORY,
            None,
            "spec examples",
            "failed" if found else "passed",
            "examples scanned",
        )
