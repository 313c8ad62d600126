"""The injection engine: probes every kind of input for SQL, template and command injection and
reflected XSS (used by checks/input_validation.py).

Inputs: query, path, declared headers and cookies, form fields, JSON body fields at any depth
(``Param.json_path``) and GraphQL arguments. Operations: GET everywhere, GraphQL queries, and in
safe mode also POSTs that only read (logins and searches, which the authentication check already
sends); every other write method only in full mode. Inputs that carry URLs or hosts belong to the
SSRF check and are skipped, as are enums, booleans and numbers (except SQL probes on numbers).

Per input (bounded, see REQUESTS_PER_INPUT), in this order, stopping a family at its first proof:

- SQL, error-based: ``value'"`` must produce a database error signature (patterns.SQL_ERRORS) the
  plain value does not: *likely* (the error shows the quote broke the SQL text; the description
  says whether the balanced ``value''`` made it go away again).
- SQL, boolean: ``value' OR '1'='1' -- `` answered unlike the plain value and ``... '1'='2' -- ``
  answered like it, then the same with a second spelling (``2>1`` / ``2>3``): two agreeing pairs
  are *confirmed*. The plain value is sent twice first; a page that changes by itself is not
  compared.
- Template injection: one polyglot with a product unique to the scan in Jinja2/Twig (``{{a*b}}``),
  Mako/Freemarker (``${a*b}``), Pug/Ruby (``#{a*b}``), ERB (``<%= a*b %>``); when it only causes a
  server error, each syntax alone, plus Django's ``{% widthratio %}`` and a Handlebars comment.
  The product (or the comment vanished between two numbers) coming back is *confirmed*.
- Command injection: ``;echo fbc$((a*b))`` and the ``$(...)``/quote-breaking forms; the product
  comes back only if a shell ran it (*confirmed*). Full mode adds one bounded ``sleep`` when no
  echo came back: a delay of SLEEP_S over the plain answer is *likely*.
- Reflected XSS, only where the answer is HTML: a bare marker finds where the input is reflected
  (text, attribute, script); then ``marker'"<marker>`` shows whether a tag or a quote comes back
  unescaped in that context.

A 5xx with a framework debug page met on the way is reported once per operation under
data_exposure (kind ``data_exposure.debug-page``), with secrets in the excerpt redacted.
"""

from __future__ import annotations

import asyncio
import difflib
import html
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

from firebrick.checks import patterns
from firebrick.checks.authz_common import looks_login
from firebrick.context import ScanContext
from firebrick.errors import BudgetExhausted
from firebrick.inject import placeholder, send
from firebrick.model import (
    Confidence,
    Evidence,
    Exchange,
    Finding,
    InputKind,
    Location,
    Operation,
    Param,
    Severity,
)
from firebrick.sideeffects import READ_POST

MAX_INPUTS = 40  # inputs probed per scan
REQUESTS_PER_INPUT = 16  # the most one input can cost (worst case: every stage-2 probe)
SLEEP_S = 3  # the one bounded delay of full mode's blind command probe
SIMILAR = 0.97  # two answers with the same status and this body ratio are "the same answer"


@dataclass
class Target:
    op: Operation
    param: Param

    @property
    def numeric(self) -> bool:
        kind = (self.param.schema or {}).get("type")
        return kind in ("integer", "number")


@dataclass
class Outcome:
    findings: list[Finding] = field(default_factory=list)
    sent: list[Exchange] = field(default_factory=list)
    base: Exchange | None = None


# -- which operations and inputs ------------------------------------------------------------------
def reads_by_post(op: Operation) -> bool:
    """A POST that only reads: a login or a search (safe mode probes it like a GET, and its
    POSTs do not count against the per-operation write cap)."""
    return (
        op.graphql is None
        and op.method == "POST"
        and (looks_login(op) or bool(READ_POST.search(op.path)))
    )


def probe_ops(ctx: ScanContext) -> list[Operation]:
    """Operations the engine may send to in this mode."""
    full = ctx.options.mode == "full"
    out: list[Operation] = []
    for op in ctx.surface.operations:
        if any(p.kinds & {InputKind.URL, InputKind.HOST} for p in op.params):
            continue  # the SSRF check owns these; a probe here would be a fetch
        if op.graphql is not None:
            if op.graphql.operation_type == "query" or full:
                out.append(op)
        elif op.method == "GET":
            out.append(op)
        elif reads_by_post(op):
            out.append(op)  # reads that happen to be POSTs: logins and searches
        elif full and op.method in ("POST", "PUT", "PATCH"):
            out.append(op)
    return out


def _probeable(p: Param) -> bool:
    if p.guessed or p.kinds & {InputKind.URL, InputKind.HOST, InputKind.PORT}:
        return False
    schema = p.schema or {}
    if schema.get("enum") or schema.get("type") in ("boolean", "array", "object"):
        return False
    if p.location is Location.GRAPHQL:
        return True
    return p.location in (
        Location.QUERY,
        Location.PATH,
        Location.HEADER,
        Location.COOKIE,
        Location.FORM,
        Location.JSON,
    )


def targets(ctx: ScanContext, limit: int = MAX_INPUTS) -> list[Target]:
    """Inputs to probe, spread over operations (round robin) so one wide form cannot take all."""
    per_op = [[Target(op, p) for p in op.params if _probeable(p)] for op in probe_ops(ctx)]
    out: list[Target] = []
    depth = 0
    while len(out) < limit and any(depth < len(ts) for ts in per_op):
        for ts in per_op:
            if depth < len(ts) and len(out) < limit:
                out.append(ts[depth])
        depth += 1
    return out


# -- sending and comparing ---------------------------------------------------------------------------
def _encode(t: Target, value: str) -> str:
    # build() puts path values in verbatim; a quote or space must not end the path.
    return quote(value, safe="") if t.param.location is Location.PATH else value


def _base_value(t: Target) -> str:
    v = placeholder(t.param)
    if t.numeric:
        return str(v if isinstance(v, (int, float)) and not isinstance(v, bool) else 1)
    return v if isinstance(v, str) and v else "firebrick"


def _variants(value: str) -> list[str]:
    """How the server may echo a value back (raw, URL-, HTML- or JSON-encoded)."""
    forms = {value, quote(value, safe=""), quote_plus(value), html.escape(value)}
    forms.add(json.dumps(value)[1:-1])
    forms.add(html.escape(value, quote=False))
    return sorted((f for f in forms if f), key=len, reverse=True)


def normalized(ex: Exchange, value: str) -> str:
    text = ex.body_text[:20000]
    for form in _variants(value):
        text = text.replace(form, "\x00")
    return text


def same_answer(a: Exchange, va: str, b: Exchange, vb: str) -> bool:
    """Same status and nearly the same body once each request's own value is taken out."""
    if a.status != b.status:
        return False
    na, nb = normalized(a, va), normalized(b, vb)
    if na == nb:
        return True
    return difflib.SequenceMatcher(None, na[:6000], nb[:6000], autojunk=False).ratio() >= SIMILAR


class Prober:
    """Sends one target's probes and keeps what came back (for evidence and debug pages)."""

    def __init__(self, ctx: ScanContext, check: str, t: Target, base: tuple[Exchange, Exchange]):
        self.ctx, self.check, self.t = ctx, check, t
        self.base, self.base2 = base
        self.base_value = _base_value(t)
        self.sent: list[Exchange] = []

    async def send(self, value: str) -> Exchange:
        ex = await send(
            self.ctx.client,
            self.t.op,
            {self.t.param.display: _encode(self.t, value)},
            check=self.check,
        )
        self.sent.append(ex)
        return ex

    def like_base(self, ex: Exchange, value: str) -> bool:
        return same_answer(ex, value, self.base, self.base_value)


async def _baseline(ctx: ScanContext, check: str, t: Target) -> tuple[Exchange, Exchange]:
    """The plain answer, twice (is the page stable?), shared by every input of the operation."""
    cache: dict[str, asyncio.Task[tuple[Exchange, Exchange]]] = ctx.state.setdefault(
        "injection.baseline", {}
    )
    if t.op.key not in cache:

        async def two() -> tuple[Exchange, Exchange]:
            a = await send(ctx.client, t.op, {}, check=check)
            b = await send(ctx.client, t.op, {}, check=check)
            return a, b

        cache[t.op.key] = asyncio.ensure_future(two())
    return await cache[t.op.key]


# -- findings -------------------------------------------------------------------------------------
def _finding(
    kind: str,
    title: str,
    severity: Severity,
    confidence: Confidence,
    t: Target,
    description: str,
    exchanges: list[Exchange],
    worked: list[str],
    failed: list[str] | None = None,
    category: str = "input_validation",
    **details: Any,
) -> Finding:
    return Finding(
        kind=kind,
        category=category,
        title=title,
        severity=severity,
        confidence=confidence,
        operation=t.op.key,
        input=t.param.display,
        description=description,
        evidence=Evidence(
            summary=title,
            exchanges=exchanges[:3],
            payloads_worked=worked,
            payloads_failed=failed or [],
            details=dict(details),
        ),
    )


# -- SQL ------------------------------------------------------------------------------------------
async def _sql(p: Prober) -> list[Finding]:
    base = p.base_value
    quoted = base + "'\""
    ex = await p.send(quoted)
    err = patterns.sql_error(ex.body_text)
    if err and not patterns.sql_error(p.base.body_text):
        balanced = await p.send(base + "''")
        confirmed = patterns.sql_error(balanced.body_text) is None
        db, text = err
        return [
            _finding(
                "input_validation.sql-error",
                f"SQL injection: a quote causes a {db} error",
                Severity.HIGH,
                # An error shows the quote broke the SQL text, not that a query can be steered:
                # likely (the boolean pairs, when they agree, are the confirmed kind).
                Confidence.LIKELY,
                p.t,
                f"Adding `'\"` to {p.t.param.display} made the answer show a {db} error "
                f"(`{text}`, status {ex.status}) that the plain value does not"
                + (
                    ", and the balanced `''` makes it go away again: the input is spliced into SQL "
                    "text, and an attacker can change the query."
                    if confirmed
                    else ": the input is likely spliced into SQL text."
                ),
                [p.base, ex, balanced],
                [quoted],
                [base, base + "''"],
                database=db,
                signature=text,
            )
        ]
    if p.t.param.location is Location.HEADER:
        return []  # boolean pairs in headers mostly measure caching; errors are enough there
    if not same_answer(p.base, base, p.base2, base):
        return []  # the page changes by itself: differences would prove nothing
    pairs = (
        [(f"{base} OR 1=1", f"{base} OR 1=2"), (f"{base} OR 2>1", f"{base} OR 2>3")]
        if p.t.numeric
        else [
            (f"{base}' OR '1'='1' -- ", f"{base}' OR '1'='2' -- "),
            (f"{base}' OR 2>1 -- ", f"{base}' OR 2>3 -- "),
        ]
    )
    shown: list[Exchange] = []
    for true_v, false_v in pairs:
        t_ex = await p.send(true_v)
        if p.like_base(t_ex, true_v) or (t_ex.status or 0) >= 500:
            return []
        f_ex = await p.send(false_v)
        if not p.like_base(f_ex, false_v) or same_answer(t_ex, true_v, f_ex, false_v):
            return []
        shown += [t_ex, f_ex]
    login = looks_login(p.t.op)
    return [
        _finding(
            "input_validation.sql-boolean",
            "SQL injection: a true condition changes the answer"
            + (" (login bypass)" if login else ""),
            Severity.CRITICAL if login else Severity.HIGH,
            Confidence.CONFIRMED,
            p.t,
            f"{p.t.param.display} = `{pairs[0][0]}` answered {shown[0].status} unlike the plain "
            f"value ({p.base.status}), while the false twin `{pairs[0][1]}` answered like the plain "
            "value; a second spelling of the same pair agreed. The input is spliced into a SQL "
            "condition: an attacker decides what the query returns"
            + (", here whether a login succeeds." if login else "."),
            [p.base, *shown],
            [pairs[0][0], pairs[1][0]],
            [pairs[0][1], pairs[1][1]],
        )
    ]


# -- templates ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Marker:
    a: int
    b: int

    @property
    def product(self) -> str:
        return str(self.a * self.b)


def _template_probes(m: Marker) -> list[tuple[str, str, str]]:
    """(engine family, payload, the text that proves evaluation)."""
    a, b, p = m.a, m.b, m.product
    return [
        ("Jinja2/Twig/Nunjucks", f"fbt{{{{{a}*{b}}}}}", f"fbt{p}"),
        ("Mako/Freemarker/JSP EL", f"fbt${{{a}*{b}}}", f"fbt{p}"),
        ("Pug/Ruby interpolation", f"fbt#{{{a}*{b}}}", f"fbt{p}"),
        ("ERB/EJS", f"fbt<%= {a}*{b} %>", f"fbt{p}"),
        ("Django", f"fbt{{% widthratio {a} 1 {b} %}}", f"fbt{p}"),
        ("Handlebars/Mustache", f"fbt{a}{{{{!-- fb --}}}}{b}", f"fbt{a}{b}"),
    ]


async def _template(p: Prober, m: Marker) -> list[Finding]:
    probes = _template_probes(m)
    poly = "".join(payload for _, payload, _ in probes[:4])
    ex = await p.send(poly)
    hit = [(fam, pl, proof) for fam, pl, proof in probes[:4] if proof in ex.body_text]
    tried = [poly]
    if not hit and (ex.status or 0) >= 500 and (p.base.status or 0) < 500:
        for fam, payload, proof in probes:  # one syntax broke the template: which one works?
            one = await p.send(payload)
            tried.append(payload)
            if proof in one.body_text and proof not in p.base.body_text:
                hit, ex = [(fam, payload, proof)], one
                break
    if not hit or hit[0][2] in p.base.body_text:
        return []
    fam, payload, proof = hit[0]
    return [
        _finding(
            "input_validation.template-injection",
            f"Server-side template injection ({fam} syntax evaluated)",
            Severity.CRITICAL,
            Confidence.CONFIRMED,
            p.t,
            f"{p.t.param.display} = `{payload}` came back as `{proof}`: the server renders the "
            f"input as a {fam} template. Template injection usually ends in code execution on the "
            "server.",
            [ex],
            [payload],
            engine=fam,
        )
    ]


# -- OS commands ----------------------------------------------------------------------------------
async def _command(p: Prober, m: Marker) -> list[Finding]:
    proof = f"fbc{m.product}"
    echo = f"echo fbc$(({m.a}*{m.b}))"
    forms = [f";{echo};", f"$({echo})", f"';{echo};'", f'";{echo};"']
    if p.t.param.location is Location.COOKIE:
        forms = [f for f in forms if ";" not in f]  # ";" ends a cookie
    if proof in p.base.body_text:
        return []
    for form in forms:
        value = p.base_value + form
        ex = await p.send(value)
        if proof in ex.body_text:
            return [
                _finding(
                    "input_validation.command-injection",
                    "OS command injection: a shell ran our echo",
                    Severity.CRITICAL,
                    Confidence.CONFIRMED,
                    p.t,
                    f"{p.t.param.display} = `{value}` came back with `{proof}`: only a shell "
                    "computes that product. The input reaches a command line, and an attacker runs "
                    "any command as the server.",
                    [ex],
                    [value],
                )
            ]
    if p.ctx.options.mode != "full":
        return []
    value = p.base_value + f";sleep {SLEEP_S};"
    ex = await p.send(value)
    slow = ex.elapsed_ms >= SLEEP_S * 1000 and p.base.elapsed_ms < SLEEP_S * 1000 / 3
    if not slow:
        return []
    return [
        _finding(
            "input_validation.command-injection",
            f"OS command injection (blind): `sleep {SLEEP_S}` delayed the answer",
            Severity.HIGH,
            Confidence.LIKELY,
            p.t,
            f"{p.t.param.display} = `{value}` took {ex.elapsed_ms / 1000:.1f} s against "
            f"{p.base.elapsed_ms / 1000:.1f} s for the plain value: a shell probably ran it.",
            [p.base, ex],
            [value],
        )
    ]


# -- reflected XSS --------------------------------------------------------------------------------
def _is_html(ex: Exchange) -> bool:
    return "html" in ex.response_headers.get("content-type", "").lower()


def _contexts(body: str, marker: str) -> set[str]:
    """Where marker sits in an HTML page: text, attr-dq, attr-sq, script, comment."""
    out: set[str] = set()
    for m in re.finditer(re.escape(marker), body):
        before = body[: m.start()]
        if before.rfind("<script") > before.rfind("</script"):
            out.add("script")
        elif before.rfind("<!--") > before.rfind("-->"):
            out.add("comment")
        elif before.rfind("<") > before.rfind(">"):
            tag = before[before.rfind("<") :]
            dq, sq = tag.count('"') % 2, tag.count("'") % 2
            out.add("attr-dq" if dq else "attr-sq" if sq else "attr")
        else:
            out.add("text")
    return out


async def _xss(p: Prober, m: Marker) -> list[Finding]:
    if not _is_html(p.base):
        return []
    marker = f"fbx{m.a}{m.b}"
    ex = await p.send(marker)
    where = _contexts(ex.body_text, marker) if _is_html(ex) else set()
    if not where:
        return []
    payload = f"{marker}'\"<{marker}>"
    ex2 = await p.send(payload)
    proof: tuple[str, str] | None = None
    if f"<{marker}>" in ex2.body_text and where & {"text", "comment", "attr", "attr-dq", "attr-sq"}:
        proof = ("a tag", f"<{marker}>")
    elif "attr-dq" in where and f"{marker}'\"" in ex2.body_text:
        proof = ("a double quote that ends the attribute", f"{marker}'\"")
    elif "attr-sq" in where and f"{marker}'" in ex2.body_text:
        proof = ("a single quote that ends the attribute", f"{marker}'")
    elif "script" in where and (f"{marker}'" in ex2.body_text or f"{marker}'\"" in ex2.body_text):
        proof = ("a quote inside a script block", f"{marker}'")
    if proof is None or not _is_html(ex2):
        return []
    what, shown = proof
    tag = what == "a tag"
    return [
        _finding(
            "input_validation.reflected-xss",
            "Reflected cross-site scripting in an HTML answer",
            Severity.HIGH if tag else Severity.MEDIUM,
            Confidence.CONFIRMED if tag else Confidence.LIKELY,
            p.t,
            f"{p.t.param.display} is reflected into the HTML page ({', '.join(sorted(where))}) and "
            f"{what} came back unescaped (`{shown}`). A link carrying a script runs it in the "
            "victim's session on this origin.",
            [ex2],
            [payload],
            contexts=sorted(where),
        )
    ]


# -- debug pages met on the way ---------------------------------------------------------------------
def debug_page_finding(op_key: str | None, inp: str | None, ex: Exchange) -> Finding | None:
    """A framework debug page or stack trace in a 5xx: data_exposure.debug-page, secrets redacted."""
    if ex.status is None or ex.status < 500:
        return None
    found = patterns.debug_page(ex.body_text)
    if found is None:
        return None
    pattern, text = found
    return Finding(
        kind="data_exposure.debug-page",
        category="data_exposure",
        title=f"Debug page exposed: {pattern.label}",
        severity=Severity.HIGH if pattern.name == "werkzeug" else Severity.MEDIUM,
        confidence=Confidence.CONFIRMED,
        operation=op_key,
        input=inp,
        description=f"An error answered {ex.status} with the {pattern.label} page: source lines, "
        "file paths, settings and library versions for anyone who sends a bad request. Turn "
        "debug mode off in production.",
        evidence=Evidence(
            summary=f"{pattern.label} in a {ex.status} answer",
            exchanges=[redact_exchange(ex)],
            payloads_worked=[ex.request_body or ex.url],
            details={"framework": pattern.name, "signature": redact_text(text)},
        ),
    )


def redact_text(text: str) -> str:
    """Debug pages print settings: values of secret-looking names and known key shapes masked."""
    return patterns.redact_assigned(text)


def _trace(ex: Exchange) -> str | None:
    if ex.status is None or ex.status < 500:
        return None
    for pattern in patterns.TRACES:
        if pattern.regex.search(ex.body_text):
            return pattern.label
    return None


def _stack_trace_finding(t: Target, ex: Exchange, label: str) -> Finding:
    return _finding(
        "input_validation.stack-trace",
        "Malformed input returns a stack trace",
        Severity.MEDIUM,
        Confidence.CONFIRMED,
        t,
        f"A malformed value made the server answer {ex.status} with a {label}: file paths, "
        "library versions and code that help an attacker aim the next request.",
        [redact_exchange(ex)],
        [ex.request_body or ex.url],
    )


def redact_exchange(ex: Exchange) -> Exchange:
    from dataclasses import replace

    return replace(ex, response_excerpt=redact_text(ex.response_excerpt), body_text="")


# -- the engine -----------------------------------------------------------------------------------
async def probe(ctx: ScanContext, check: str, t: Target, m: Marker) -> Outcome:
    base = await _baseline(ctx, check, t)
    p = Prober(ctx, check, t, base)
    out = Outcome()
    families: list[Callable[[], Any]] = [lambda: _sql(p)]
    if not t.numeric:
        families += [lambda: _template(p, m), lambda: _command(p, m), lambda: _xss(p, m)]
    for family in families:
        out.findings += await family()
    # A 5xx that shows the framework's debug page or a bare stack trace (the plain value did not).
    if debug_page_finding(t.op.key, None, p.base) is None and not _trace(p.base):
        for ex in p.sent:
            f = debug_page_finding(t.op.key, t.param.display, ex)
            if f is None and not out.findings and _trace(ex):
                f = _stack_trace_finding(t, ex, _trace(ex) or "")
            if f is not None:
                out.findings.append(f)
                break
    out.sent, out.base = list(p.sent), p.base
    return out


async def run(ctx: ScanContext, check: str, category: str) -> list[Finding]:
    """Probe every selected input; one finding per (kind, operation, input)."""
    m = Marker(random.randint(1013, 9973), random.randint(1013, 9973))
    chosen = targets(ctx)
    findings: list[Finding] = []

    async def one(t: Target) -> None:
        try:
            outcome = await probe(ctx, check, t, m)
        except BudgetExhausted as exc:
            ctx.cover(check, category, t.op, t.param, "not_determined", f"injection: {exc}")
            return
        findings.extend(outcome.findings)
        kinds = sorted({f.kind.split(".", 1)[1] for f in outcome.findings})
        if kinds:
            ctx.cover(
                check, category, t.op, t.param, "vulnerable", "injection: " + ", ".join(kinds)
            )
        else:
            # "passed" only where the probes reached the code (not a 401, 404 or 415 wall).
            ctx.passed_if_reached(
                check,
                category,
                t.op,
                t.param,
                outcome.sent,
                baseline=outcome.base,
                reason="injection: sql, template, command, xss",
            )

    await asyncio.gather(*(one(t) for t in chosen))
    # A debug page is a property of the operation: keep one per operation.
    seen: set[tuple[str, str | None, str | None]] = set()
    unique: list[Finding] = []
    for f in findings:
        key = (f.kind, f.operation, None if f.kind == "data_exposure.debug-page" else f.input)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique
