"""Broken authentication (API2).

Sub-tests, all read-only except the login probes (at most LOGIN_ATTEMPTS POSTs to operations that
look like a login, never the right password):

- unauthenticated access: operations the spec marks secured, or whose path looks private,
  answered with data when no credentials are sent (declared security schemes not enforced);
- method bypass: an operation that refuses GET without credentials but answers HEAD or OPTIONS
  (and, in full mode, POST/PATCH);
- JWTs met in the user's headers, the identities, the target's answers and the spec's examples:
  alg=none accepted, signature not verified, a weak HMAC secret (cracked offline against the
  bundled list, then proven by the target accepting a token we signed), an expired token
  accepted, no exp / iss / aud, sensitive data in the claims. Forged tokens go only to the
  target, only on GET requests;
- login: "no such user" told apart from "wrong password" (enumeration), credentials evaluated
  over plain HTTP, HTTP Basic challenges over plain HTTP.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from firebrick.checks import jwt as jwtlib
from firebrick.checks.authz_common import (
    ANONYMOUS,
    Identity,
    carries_data,
    identities,
    items_of,
    json_body,
    looks_admin,
    looks_health,
    looks_login,
    looks_private,
    plain_ops,
    remember,
    send_as,
    status_line,
)
from firebrick.context import ScanContext
from firebrick.model import (
    Cause,
    Confidence,
    Evidence,
    Exchange,
    Finding,
    Location,
    Operation,
    Severity,
)
from firebrick.reach import blocking_refusal

CHECK = "authentication"
CATEGORY = "authentication"
MAX_UNAUTH_OPS = 12  # GETs without credentials
MAX_BYPASS_OPS = 8  # refused operations tried with HEAD (OPTIONS on the first MAX_OPTIONS_OPS)
MAX_OPTIONS_OPS = 3
MAX_JWT_OPS = 3  # secured operations a forged token is tried on (stops at the first that accepts)
MAX_TOKENS = 6  # tokens the JWT tests run on; the coverage names the ones left out
MAX_BRUTE_TOKENS = 2  # tokens brute-forced per scan (each within jwt.BRUTE_BUDGET_S)
MAX_CONFUSION_KEYS = 8  # PEM forms of the published keys tried as HS256 secrets
LOGIN_ATTEMPTS = 4  # wrong-password POSTs per login operation at most (docs/checks.md)
MAX_LOGIN_OPS = 2
OWASP = "https://owasp.org/API-Security/editions/2023/en/0xa2-broken-authentication/"


def _finding(
    kind: str,
    title: str,
    severity: Severity,
    confidence: Confidence,
    op: Operation | None,
    description: str,
    exchanges: Sequence[Exchange | None],
    **evidence: Any,
) -> Finding:
    summary = evidence.pop("summary", title)
    return Finding(
        kind=kind,
        category=CATEGORY,
        title=title,
        severity=severity,
        confidence=confidence,
        operation=op.key if op else None,
        input=evidence.pop("input", None),
        description=description,
        evidence=Evidence(
            summary=summary, exchanges=[e for e in exchanges if e is not None][:4], **evidence
        ),
        references=[OWASP],
    )


async def run(ctx: ScanContext) -> AsyncIterator[Finding]:
    # A spec that declares security somewhere has said which operations are public: the
    # private-looking-path heuristic applies only where no such declaration exists.
    declared = any(op.security_declared for op in ctx.surface.operations)
    candidates = [
        op
        for op in plain_ops(ctx)
        if (op.security_declared or (not declared and looks_private(op)))
        and not looks_admin(op)
        and not looks_health(op)
    ][:MAX_UNAUTH_OPS]
    # Other GETs (not private-looking, e.g. /books/{title} behind a token check the spec does
    # not declare) are sent once too: a refusal there is where forged tokens can be judged.
    walled = [
        op
        for op in plain_ops(ctx)
        if op not in candidates and not looks_admin(op) and not looks_health(op)
    ][: max(0, MAX_UNAUTH_OPS - len(candidates))]
    anon_task = asyncio.gather(
        *(send_as(ctx, CHECK, op, ANONYMOUS) for op in [*candidates, *walled])
    )
    answers, tokens = await asyncio.gather(anon_task, _tokens(ctx))
    anon = answers[: len(candidates)]
    refused: list[tuple[Operation, Exchange]] = []
    for op, ex in zip(walled, answers[len(candidates) :], strict=True):
        remember(ctx, op, ex, ANONYMOUS)
        if ex.status in (401, 403):
            refused.append((op, ex))
            ctx.cover(
                CHECK, CATEGORY, op, None, "passed", f"refused without credentials ({ex.status})"
            )
    for op, ex in zip(candidates, anon, strict=True):
        remember(ctx, op, ex, ANONYMOUS)
        finding = _unauthenticated(ctx, op, ex)
        if finding is not None:
            yield finding
        elif ex.status in (401, 403):
            refused.append((op, ex))
            ctx.cover(
                CHECK, CATEGORY, op, None, "passed", f"refused without credentials ({ex.status})"
            )
        else:
            ctx.cover(
                CHECK,
                CATEGORY,
                op,
                None,
                "inconclusive",
                f"answered {ex.status} without credentials",
            )
        basic = _basic_over_http(ctx, op, ex)
        if basic is not None:
            yield basic
    ctx.state["authentication.refused"] = [op for op, _ in refused]

    jwt_ops = [
        op
        for op, ex in refused
        if not ex.response_headers.get("www-authenticate", "").lower().startswith("basic")
        and op.method == "GET"
    ][:MAX_JWT_OPS]

    async def jwt_all() -> list[Finding]:
        found = await asyncio.gather(*(_jwt_tests(ctx, t, jwt_ops) for t in tokens[:MAX_TOKENS]))
        for t in tokens[MAX_TOKENS:]:
            ctx.cover(
                CHECK,
                CATEGORY,
                None,
                f"jwt ({t.source})",
                "skipped",
                f"not tested: only the first {MAX_TOKENS} tokens found are tested",
            )
        _note_tokens(ctx, tokens, bool(jwt_ops))
        return [f for group in found for f in group]

    # Independent sub-tests run together: the scan's pace, not round trips, should bound us.
    groups = await asyncio.gather(
        _method_bypass(ctx, refused[:MAX_BYPASS_OPS]),
        jwt_all(),
        _login(ctx),
        _key_confusion(ctx, tokens, jwt_ops),
    )
    for group in groups:
        for finding in group:
            yield finding


# -- unauthenticated access ------------------------------------------------------------------------
def _unauthenticated(ctx: ScanContext, op: Operation, ex: Exchange) -> Finding | None:
    if not carries_data(ex):
        return None
    if op.security_declared:
        return _finding(
            "authentication.unauthenticated-access",
            "Secured operation answers without credentials",
            Severity.HIGH,
            Confidence.CONFIRMED,
            op,
            f"The spec says {op.key} requires credentials, but it answered {ex.status} with data "
            "to a request that carried none: the declared security scheme is not enforced.",
            [ex],
            summary=f"{status_line(ex)} with no credentials",
            details={"declared_security": True},
        )
    return _finding(
        "authentication.unauthenticated-access",
        "Private-looking operation answers without credentials",
        Severity.MEDIUM,
        Confidence.POSSIBLE,
        op,
        f"{op.path} looks like it serves one user's data, and it answered {ex.status} with data to a "
        "request without credentials. If it is meant to be public, ignore this; otherwise require "
        "authentication.",
        [ex],
        summary=f"{status_line(ex)} with no credentials",
        details={"declared_security": False},
    )


def _basic_over_http(ctx: ScanContext, op: Operation, ex: Exchange) -> Finding | None:
    challenge = ex.response_headers.get("www-authenticate", "")
    if ex.status != 401 or not challenge.lower().startswith("basic"):
        return None
    if urlsplit(ex.url).scheme != "http":
        return None
    return _finding(
        "authentication.basic-over-http",
        "HTTP Basic authentication over plain HTTP",
        Severity.MEDIUM,
        Confidence.CONFIRMED,
        op,
        f"{op.key} asks for HTTP Basic credentials ({challenge}) over plain HTTP: the user name and "
        "password travel base64-encoded, readable by anyone on the path, on every request.",
        [ex],
        summary=f"401 WWW-Authenticate: {challenge} on {ex.url}",
    )


# -- method bypass ---------------------------------------------------------------------------------
async def _method_bypass(
    ctx: ScanContext, refused: list[tuple[Operation, Exchange]]
) -> list[Finding]:
    full = ["POST", "PATCH"] if ctx.options.mode == "full" else []

    async def one(i: int, op: Operation, denied: Exchange) -> Finding | None:
        methods = ["HEAD", *(["OPTIONS"] if i < MAX_OPTIONS_OPS else []), *full]
        tries = await asyncio.gather(
            *(send_as(ctx, CHECK, op, ANONYMOUS, method=m) for m in methods)
        )
        worked = []
        for method, ex in zip(methods, tries, strict=True):
            if ex.status is None or not 200 <= ex.status < 300:
                continue
            if method == "HEAD":
                length = int(ex.response_headers.get("content-length", "0") or 0)
                if length > 0 and length != denied.response_size:
                    worked.append(
                        (method, ex, f"HEAD answered {ex.status} with Content-Length {length}")
                    )
            elif carries_data(ex):
                worked.append((method, ex, f"{method} answered {ex.status} with data"))
        if not worked:
            ctx.cover(
                CHECK, CATEGORY, op, "method", "passed", f"{', '.join(methods)} refused or empty"
            )
            return None
        return _finding(
            "authentication.method-bypass",
            "Authentication bypassed with another HTTP method",
            Severity.HIGH,
            Confidence.CONFIRMED,
            op,
            f"{op.key} refuses a request without credentials ({denied.status}) but "
            f"{' and '.join(m for m, _, _ in worked)} to the same path succeed(s): the check is tied to "
            "the method, not to the resource.",
            [denied, *(e for _, e, _ in worked)],
            summary="; ".join(w for _, _, w in worked),
            payloads_worked=[m for m, _, _ in worked],
            payloads_failed=[m for m in methods if m not in {w[0] for w in worked}],
        )

    results = await asyncio.gather(*(one(i, op, ex) for i, (op, ex) in enumerate(refused)))
    return [f for f in results if f is not None]


# -- JWT -------------------------------------------------------------------------------------------
async def _spec_text(ctx: ScanContext) -> str:
    src = ctx.surface.spec_url
    if not src:
        return ""
    if "://" in src:
        if not ctx.client.in_scope(src):
            return ""
        ex = await ctx.client.request("GET", src, check=CHECK)
        return ex.body_text if ex.status == 200 else ""
    try:
        return Path(src).read_text(encoding="utf-8")[:2_000_000]
    except OSError:
        return ""


_DOC = re.compile(r'\s*\{\s*"(openapi|swagger)"\s*:')


async def _tokens(ctx: ScanContext) -> list[jwtlib.Token]:
    """Every JWT found: the user's headers and identities (issued by the target), the answers the
    scan has seen so far (login answers, bodies, Set-Cookie headers) and the spec's examples."""
    found: dict[str, jwtlib.Token] = {}
    for who in identities(ctx):
        for name, value in (who.headers or {}).items():
            for tok in jwtlib.find_tokens(value, f"{who.label} header {name}"):
                tok.trusted_origin = True
                tok.extra["identity"] = who
                found.setdefault(tok.raw, tok)
    for tok in jwtlib.find_tokens(await _spec_text(ctx), "an example in the OpenAPI document"):
        found.setdefault(tok.raw, tok)
    spec_path = urlsplit(ctx.surface.spec_url or "").path or None
    for ex in list(ctx.client.exchanges):
        if ex.status is None:
            continue
        where = f"{ex.method} {urlsplit(ex.url).path}"
        for name, value in ex.response_headers.items():
            if name.lower() == "set-cookie":
                cookie = value.split("=", 1)[0].strip()
                for tok in jwtlib.find_tokens(value, f"cookie {cookie} set by {where}"):
                    tok.trusted_origin = True  # the target issued it
                    found.setdefault(tok.raw, tok)
        if "eyJ" in ex.body_text:
            # A token in a 2xx answer (a login, a guest session) was issued by the target; one in
            # a document (the spec, its examples) is an example.
            issued = (
                200 <= ex.status < 300
                and urlsplit(ex.url).path != spec_path
                and not _DOC.match(ex.body_text[:200])
            )
            for tok in jwtlib.find_tokens(ex.body_text[:200_000], f"the answer of {where}"):
                tok.trusted_origin = tok.trusted_origin or issued
                found.setdefault(tok.raw, tok)
    return sorted(found.values(), key=lambda t: not t.trusted_origin)


def _note_tokens(ctx: ScanContext, tokens: list[jwtlib.Token], testable: bool) -> None:
    """The first-screen coverage line that names every token the JWT tests ran on."""
    if not tokens:
        ctx.note("JWT tests: no token found (user headers, answers, cookies, spec examples)")
        return
    if not testable:
        ctx.note(
            f"JWT tests not run on {len(tokens)} token(s) found: no operation refused anonymous "
            "requests, so acceptance of a forged token cannot be told"
        )
        return
    tested = [f"{t.source} ({t.alg})" for t in tokens[:MAX_TOKENS]]
    line = f"JWT tests ran on {len(tested)} token(s): " + "; ".join(tested)
    if len(tokens) > MAX_TOKENS:
        line += f"; {len(tokens) - MAX_TOKENS} more not tested"
    ctx.note(line)


async def _jwt_tests(ctx: ScanContext, token: jwtlib.Token, ops: list[Operation]) -> list[Finding]:
    findings: list[Finding] = []
    secret = jwtlib.crack(token)
    if (
        secret is None
        and token.trusted_origin
        and token.alg.upper() in jwtlib.HMAC_ALGS
        and ctx.state.get("authentication.brute_forced", 0) < MAX_BRUTE_TOKENS
        and ctx.options.jwt_crack_seconds > 0
    ):
        # Short and numeric secrets (every 6-digit number ...), offline, within a time budget.
        ctx.state["authentication.brute_forced"] = (
            ctx.state.get("authentication.brute_forced", 0) + 1
        )
        brute = await asyncio.to_thread(jwtlib.crack_short, token, ctx.options.jwt_crack_seconds)
        secret = brute.secret
        token.extra["brute"] = brute
    if not ops:
        # Nothing to send forged tokens to; what the token itself shows still counts.
        if token.trusted_origin:
            findings += _weak_secret(token, secret, None, None)
            findings += _claim_hygiene(token, None, None)
        ctx.cover(
            CHECK,
            CATEGORY,
            None,
            f"jwt ({token.source})",
            "failed" if findings else "skipped",
            "no operation refused anonymous requests, so acceptance of forged tokens cannot be told",
        )
        return findings
    who: Identity = token.extra.get("identity") or ANONYMOUS

    async def send_all(raw: str) -> list[Exchange]:
        """raw as the bearer token, to every op at once."""
        return list(
            await asyncio.gather(
                *(
                    send_as(ctx, CHECK, op, who, extra_headers={"Authorization": f"Bearer {raw}"})
                    for op in ops
                )
            )
        )

    nones = jwtlib.alg_none(token)[:2]
    tampered = jwtlib.tampered_signature(token)
    exp = token.claims.get("exp")
    expired_raw = None
    if secret is not None:
        expired_raw = jwtlib.expired(token, secret)
    elif isinstance(exp, (int, float)) and exp < time.time():
        expired_raw = token.raw
    variants = [
        ("as found", token.raw),
        *(("alg none", v) for v in nones),
        ("bad signature", tampered),
    ]
    if expired_raw is not None and expired_raw != token.raw:
        variants.append(("expired", expired_raw))
    forged = None
    if secret is not None and not token.trusted_origin:
        # An example token signed with a common secret: does the target accept what it signs?
        claims = {**token.claims, "exp": int(time.time()) + 3600}
        forged = jwtlib.sign(token.header, claims, secret)
        variants.append(("signed with the cracked secret", forged))
    for _label, raw in variants:
        if raw != token.raw:  # ours, the proof of a finding: shown in replay lines
            ctx.client.add_forged(raw)
    sent = await asyncio.gather(*(send_all(raw) for _, raw in variants))
    answered = dict(zip((raw for _, raw in variants), sent, strict=True))
    results = {
        raw: _first_accepting(
            ctx, ops, answered[raw], answered[tampered], raw, label, raw == tampered
        )
        for label, raw in variants
    }
    base_op, base_ex = results[token.raw]
    if base_op is not None:
        token.trusted_origin = True  # the target accepts it: it was signed with the target's key

    # alg=none: the token's claims, unsigned
    for variant in nones:
        op, ex = results[variant]
        if op is not None:
            findings.append(
                _finding(
                    "authentication.jwt-alg-none",
                    'JWT with alg "none" accepted (no signature)',
                    Severity.CRITICAL,
                    Confidence.CONFIRMED,
                    op,
                    f'{op.key} accepted a token whose header says alg "{jwtlib.parse(variant).alg}" and '  # type: ignore[union-attr]
                    "that carries no signature. Anyone can mint a token for any user or role.",
                    [ex],
                    summary=f"unsigned token accepted by {op.key}",
                    input="header:Authorization",
                    payloads_worked=[f"Bearer {variant}"],
                    details={"claims": token.claims, "source": token.source},
                )
            )
            break
    # signature not verified: the same claims, a wrong signature
    op, ex = results[tampered]
    if op is not None:
        findings.append(
            _finding(
                "authentication.jwt-signature-not-verified",
                "JWT signature is not verified",
                Severity.CRITICAL,
                Confidence.CONFIRMED,
                op,
                f"{op.key} accepted a token whose signature we had replaced with garbage: the server "
                "decodes tokens without verifying them, so any claims are believed.",
                [ex],
                summary=f"token with a wrong signature accepted by {op.key}",
                input="header:Authorization",
                payloads_worked=[f"Bearer {tampered}"],
                details={"source": token.source},
            )
        )
    if forged is not None and results[forged][0] is not None:
        base_op, base_ex = results[forged]
        token.trusted_origin = True  # the target accepts what the secret signs: it is its key
    # weak secret: cracked offline; proven when the target accepts what that secret signs
    if token.trusted_origin:
        findings += _weak_secret(token, secret, base_op, base_ex)
    # an expired token: only meaningful when the target's key is known (or the token itself expired)
    if expired_raw is not None and (token.trusted_origin or expired_raw == token.raw):
        op, ex = results[expired_raw] if expired_raw != token.raw else (base_op, base_ex)
        if op is not None:
            findings.append(
                _finding(
                    "authentication.jwt-expired-accepted",
                    "Expired JWT accepted",
                    Severity.HIGH,
                    Confidence.CONFIRMED,
                    op,
                    f"{op.key} accepted a token whose exp claim lies in the past: stolen tokens never "
                    "stop working.",
                    [ex],
                    summary=f"token expired an hour ago accepted by {op.key}",
                    input="header:Authorization",
                    payloads_worked=[f"Bearer {expired_raw}"],
                )
            )
    if token.trusted_origin:
        findings += _claim_hygiene(token, base_op, base_ex)
    # Say exactly what was tried on this token, and what the secret search found.
    tried = ", ".join(label for label, _ in variants)
    if secret is None:
        cracked = f"none of {len(jwtlib.common_secrets())} common secrets verifies it"
    elif token.trusted_origin:
        cracked = f"secret {secret!r} verifies it"
    else:
        cracked = f"secret {secret!r} verifies it offline, but the target refused tokens it signs"
    reason = f"{token.alg} token; sent: {tried} to {len(ops)} operation(s); {cracked}"
    # The operations were chosen because they refused anonymous requests: the token check is
    # the code under test, and a refusal of every forged variant is that code holding.
    status = "failed" if findings else "passed"
    ctx.cover(CHECK, CATEGORY, None, f"jwt ({token.source})", status, reason)
    return findings


def _first_accepting(
    ctx: ScanContext,
    ops: list[Operation],
    answers: list[Exchange],
    control: list[Exchange],
    raw: str,
    label: str,
    is_control: bool,
) -> tuple[Operation | None, Exchange | None]:
    """The first op (in order) that accepted raw: it answered with data, or (real apps: a token
    for an example user asks for an example object that is not there) the refusal was lifted:
    not 401/403 where the same request with a garbage signature (the control) was refused."""
    for op, ex in zip(ops, answers, strict=True):
        if carries_data(ex):
            remember(ctx, op, ex, Identity(f"jwt {label}", {"Authorization": f"Bearer {raw}"}))
            return op, ex
    if is_control:
        return None, None
    for op, ex, ctl in zip(ops, answers, control, strict=True):
        if (
            ex.status is not None
            and ex.status not in (401, 403)
            and ex.status < 500
            and ctl.status in (401, 403)
        ):
            return op, ex
    return None, None


async def _accepting(
    ctx: ScanContext, ops: list[Operation], raw: str, label: str
) -> tuple[Operation | None, Exchange | None]:
    """The first op (GET, in order) that answers raw as a bearer token with data."""
    answers = await asyncio.gather(
        *(
            send_as(ctx, CHECK, op, ANONYMOUS, extra_headers={"Authorization": f"Bearer {raw}"})
            for op in ops
        )
    )
    for op, ex in zip(ops, answers, strict=True):
        if carries_data(ex):
            remember(ctx, op, ex, Identity(f"jwt {label}", {"Authorization": f"Bearer {raw}"}))
            return op, ex
    return None, None


async def _public_keys(ctx: ScanContext) -> list[tuple[str, str, bytes]]:
    """(path, label, PEM) of public keys published at well-known paths (one GET each)."""
    paths = list(jwtlib.PUBLIC_KEY_PATHS)
    answers = await asyncio.gather(
        *(ctx.client.request("GET", p, check=CHECK, follow_redirects=False) for p in paths)
    )
    out: list[tuple[str, str, bytes]] = []
    for path, ex in zip(paths, answers, strict=True):
        if ex.status != 200:
            continue
        text = ex.body_text
        if path.endswith("openid-configuration"):
            try:
                uri = json.loads(text).get("jwks_uri")
            except (ValueError, AttributeError):
                uri = None
            if not isinstance(uri, str) or not ctx.client.in_scope(ctx.client.url_for(uri)):
                continue
            jwks = await ctx.client.request("GET", uri, check=CHECK, follow_redirects=False)
            path, text = urlsplit(ctx.client.url_for(uri)).path, jwks.body_text
        out += [(path, label, pem) for label, pem in jwtlib.public_keys(text)]
    return list(dict.fromkeys(out))


async def _key_confusion(
    ctx: ScanContext, tokens: list[jwtlib.Token], ops: list[Operation]
) -> list[Finding]:
    """RS256/ES256 -> HS256: an HS256 token whose secret is the published public key.

    Forged tokens go only to the target, only with GET, only to operations that refused
    anonymous callers; a token signed with a random secret must be refused first (otherwise a
    server that verifies nothing would pass for a confused one).
    """
    if not ops:
        return []
    keys = await _public_keys(ctx)
    if not keys:
        ctx.cover(CHECK, CATEGORY, None, "jwt key confusion", "skipped", "no public key published")
        return []
    asym = [t for t in tokens if t.trusted_origin and t.alg.upper()[:2] in ("RS", "ES", "PS")]
    model = asym[0] if asym else next((t for t in tokens if t.trusted_origin), None)
    claims: dict[str, Any] = dict(model.claims) if model else {"sub": "firebrick"}
    if isinstance(claims.get("exp"), (int, float)) and claims["exp"] < time.time() + 60:
        claims["exp"] = int(time.time()) + 600
    junk = jwtlib.sign({"alg": "HS256", "typ": "JWT"}, claims, secrets.token_bytes(32))
    ctx.client.add_forged(junk)  # forged by us: shown as such in replay lines
    if (await _accepting(ctx, ops, junk, "random secret"))[0] is not None:
        ctx.cover(
            CHECK,
            CATEGORY,
            None,
            "jwt key confusion",
            "inconclusive",
            "any HS256 token is accepted",
        )
        return []
    kid = next((t.header.get("kid") for t in asym if t.header.get("kid")), None)
    for path, label, pem in keys[:MAX_CONFUSION_KEYS]:
        raw = jwtlib.confusion_token(claims, pem, kid if isinstance(kid, str) else None)
        ctx.client.add_forged(raw)  # HS256 signed with the public key: shown in replay lines
        op, ex = await _accepting(ctx, ops, raw, "key confusion")
        if op is None:
            continue
        ctx.cover(CHECK, CATEGORY, op, "jwt key confusion", "failed", f"public key {path}")
        return [
            _finding(
                "authentication.jwt-key-confusion",
                "JWT algorithm confusion: the public key verifies HS256 tokens",
                Severity.CRITICAL,
                Confidence.CONFIRMED,
                op,
                f"{op.key} accepted an HS256 token whose HMAC secret is the public key served at "
                f"{path} ({label}). The verifier takes the algorithm from the token, so anyone "
                "holding the public key (everyone) signs tokens for any user and role.",
                [ex],
                summary=f"HS256 signed with {path} accepted by {op.key}",
                input="header:Authorization",
                payloads_worked=[f"Bearer {raw}"],
                details={
                    "public_key": path,
                    "key_form": label,
                    "claims_from": model.source if model else None,
                },
            )
        ]
    ctx.cover(
        CHECK,
        CATEGORY,
        None,
        "jwt key confusion",
        "passed",
        f"{min(len(keys), MAX_CONFUSION_KEYS)} public-key forms refused as HS256 secrets",
    )
    return []


def _weak_secret(
    token: jwtlib.Token, secret: str | None, base_op: Operation | None, base_ex: Exchange | None
) -> list[Finding]:
    if secret is None:
        return []
    brute = token.extra.get("brute")
    how = (
        f"found offline by trying every short secret ({brute.tried:,} candidates in "
        f"{brute.seconds:.1f} s)"
        if brute is not None and brute.secret == secret
        else "found offline in firebrick's list of common secrets"
    )
    proof = [base_ex] if base_ex is not None else []
    lifted = ""
    if base_op is not None and base_ex is not None and not carries_data(base_ex):
        lifted = (
            f" {base_op.key} answered {base_ex.status} to a token signed with it, where the same "
            "token with a wrong signature was refused (401/403): the token check passed."
        )
    return [
        _finding(
            "authentication.jwt-weak-secret",
            "JWT signed with a guessable HMAC secret",
            Severity.CRITICAL,
            Confidence.CONFIRMED,
            base_op,
            f"The token ({token.source}) is signed {token.alg} with the secret {secret!r}, {how}. "
            "Anyone can sign tokens the server accepts, for any user and any role." + lifted,
            proof,
            summary=f"HMAC secret {secret!r} verifies the token"
            + (f"; {base_op.key} accepts it" if base_op else ""),
            input="header:Authorization",
            details={"secret": secret, "alg": token.alg, "source": token.source},
        )
    ]


def _claim_hygiene(token: jwtlib.Token, op: Operation | None, ex: Exchange | None) -> list[Finding]:
    out = []
    exchanges = [ex] if ex is not None else []
    details = {
        "claims": {k: token.claims[k] for k in list(token.claims)[:20]},
        "source": token.source,
    }
    if "exp" not in token.claims:
        out.append(
            _finding(
                "authentication.jwt-no-expiry",
                "JWT never expires (no exp claim)",
                Severity.MEDIUM,
                Confidence.CONFIRMED,
                op,
                f"The token ({token.source}) has no exp claim: it stays valid until the signing key "
                "changes, so a leaked token is a permanent credential.",
                exchanges,
                summary="no exp claim",
                input="header:Authorization",
                details=details,
            )
        )
    else:
        life = jwtlib.lifetime(token)
        if life is not None and life > 7 * 86400:
            out.append(
                _finding(
                    "authentication.jwt-long-lived",
                    "JWT lifetime longer than a week",
                    Severity.LOW,
                    Confidence.CONFIRMED,
                    op,
                    f"The token ({token.source}) is valid for {life / 86400:.0f} days.",
                    exchanges,
                    summary=f"lifetime {life:.0f} s",
                    input="header:Authorization",
                    details=details,
                )
            )
    missing = [c for c in ("iss", "aud") if c not in token.claims]
    if missing:
        out.append(
            _finding(
                "authentication.jwt-missing-claims",
                f"JWT without {' and '.join(missing)} claims",
                Severity.LOW,
                Confidence.CONFIRMED,
                op,
                f"The token ({token.source}) carries no {' or '.join(missing)}: a token issued for "
                "another service that shares the key is accepted here too.",
                exchanges,
                summary=f"missing {', '.join(missing)}",
                input="header:Authorization",
                details=details,
            )
        )
    sensitive = jwtlib.sensitive_claims(token)
    if sensitive:
        out.append(
            _finding(
                "authentication.jwt-sensitive-claims",
                "Sensitive data in JWT claims",
                Severity.HIGH,
                Confidence.CONFIRMED,
                op,
                f"The token ({token.source}) carries {', '.join(sensitive)}. JWT claims are only "
                "base64-encoded: every holder of the token (browser storage, logs, proxies) can read them.",
                exchanges,
                summary=f"claims {', '.join(sensitive)}",
                input="header:Authorization",
                details={"claims": sensitive, "source": token.source},
            )
        )
    return out


# -- login -----------------------------------------------------------------------------------------
_USER_NAMES = re.compile(r"^(user(name)?|login|email|e_?mail|user_?id|account|name|handle)$", re.I)
_PASS_NAMES = re.compile(r"pass|pwd|secret", re.I)


def _login_fields(op: Operation) -> tuple[Any, Any] | None:
    user = next(
        (
            p
            for p in op.params
            if p.location in (Location.JSON, Location.FORM)
            and _USER_NAMES.match(p.json_path[-1] if p.json_path else p.name)
        ),
        None,
    )
    password = next(
        (
            p
            for p in op.params
            if p.location in (Location.JSON, Location.FORM)
            and _PASS_NAMES.search(p.json_path[-1] if p.json_path else p.name)
        ),
        None,
    )
    return (user, password) if user is not None and password is not None else None


def _normalize(text: str, names: list[str]) -> str:
    # The name comes back in many spellings: as sent, upper/lower case, escaped, or its local
    # part (an e-mail). Answers that differ only there are the same answer.
    for name in names:
        forms = {name, html.escape(name), quote(name), name.split("@")[0]}
        for form in sorted((f for f in forms if len(f) >= 3), key=len, reverse=True):
            text = re.sub(re.escape(form), "<user>", text, flags=re.I)
    return re.sub(r"\d+", "0", text).strip()


async def _login(ctx: ScanContext) -> list[Finding]:
    findings: list[Finding] = []
    ops = [op for op in plain_ops(ctx, methods=("POST",)) if looks_login(op) and _login_fields(op)][
        :MAX_LOGIN_OPS
    ]
    attempts: dict[str, list[Exchange]] = {}
    for op in ops:
        fields = _login_fields(op)
        assert fields is not None
        user_p, pass_p = fields
        # A user known to exist (ours, or one the API lists) beside the spec's example: an
        # example name that does not exist gets "no such user" twice, which proves nothing.
        listed = await _known_users(ctx)
        exists = listed[0] if listed else None
        example = str(user_p.example or (user_p.schema or {}).get("example") or "admin")
        knowns = list(dict.fromkeys([*(n for n, _ in listed[:1]), example]))
        unknown = f"fb-no-such-user-{secrets.token_hex(4)}"
        wrong = f"fb-wrong-{secrets.token_hex(6)}"
        ex_unknown, *ex_knowns = await asyncio.gather(
            *(
                send_as(ctx, CHECK, op, ANONYMOUS, {user_p.display: name, pass_p.display: wrong})
                for name in [unknown, *knowns]
            )
        )
        attempts[op.key] = [ex_unknown, *ex_knowns]
        if ex_unknown.status is None or any(e.status is None for e in ex_knowns):
            ctx.cover(CHECK, CATEGORY, op, "login", "inconclusive", "no answer")
            continue
        a = (ex_unknown.status, _normalize(ex_unknown.body_text, [unknown]))
        known, ex_known = knowns[0], ex_knowns[0]
        b = (ex_known.status, _normalize(ex_known.body_text, [known]))
        differs = False
        for name, ex in zip(knowns, ex_knowns, strict=True):
            answer = (ex.status, _normalize(ex.body_text, [name]))
            if answer != a and ex.status not in (429, 403) and ex_unknown.status not in (429, 403):
                known, ex_known, b, differs = name, ex, answer, True
                break
        if differs:
            # A second unknown user: if two unknown users already get different answers, the
            # difference is noise (an echo we could not strip, a timestamp), not enumeration.
            unknown2 = f"fb-no-such-user-{secrets.token_hex(4)}"
            ex_unknown2 = await send_as(
                ctx, CHECK, op, ANONYMOUS, {user_p.display: unknown2, pass_p.display: wrong}
            )
            attempts[op.key].append(ex_unknown2)
            differs = (ex_unknown2.status, _normalize(ex_unknown2.body_text, [unknown2])) == a
        if differs:
            findings.append(
                _finding(
                    "authentication.user-enumeration",
                    "Login tells unknown users from wrong passwords",
                    Severity.MEDIUM,
                    Confidence.CONFIRMED,
                    op,
                    f"With a wrong password, {op.key} answers {ex_unknown.status} for a user that does not "
                    f"exist and {ex_known.status} for {known!r}, with different messages: an attacker can "
                    "list valid accounts and aim password guessing at them.",
                    [ex_unknown, ex_known],
                    summary=f"unknown user -> {a[0]} {a[1][:80]!r}; {known!r} -> {b[0]} {b[1][:80]!r}",
                    input=user_p.display,
                    payloads_worked=[unknown, known],
                )
            )
        elif (
            blocked := blocking_refusal(ex_known, frozenset({Cause.AUTH, Cause.INPUT_REJECTED}))
        ) is not None:
            # CSRF, a missing route or a rate limit answered, not the credential check
            ctx.refused(CHECK, CATEGORY, op, "login", blocked, f"answered {ex_known.status}")
        elif exists is None:
            ctx.cover(
                CHECK,
                CATEGORY,
                op,
                "login",
                "inconclusive",
                f"same answer for an unknown user and for {example!r}, but no user is known to exist "
                "(give --username, or an API that lists its users): enumeration not determined",
                cause=Cause.NO_TARGET,
            )
        else:
            ctx.cover(
                CHECK,
                CATEGORY,
                op,
                "login",
                "passed",
                f"same answer for an unknown user and a wrong password for {exists[0]!r} ({exists[1]})",
            )
        evaluated = [
            e
            for e in (ex_unknown, ex_known)
            if e.status in (200, 400, 401, 404, 422) and not _https_redirect(e)
        ]
        if urlsplit(ex_known.url).scheme == "http" and evaluated and ctx.target_is_local:
            # Our documented loopback rule: plain HTTP to this machine never crosses a network.
            ctx.cover(CHECK, CATEGORY, op, "transport", "skipped", "plain-HTTP login on loopback")
        elif urlsplit(ex_known.url).scheme == "http" and evaluated:
            findings.append(
                _finding(
                    "authentication.credentials-over-http",
                    "Credentials accepted over plain HTTP",
                    Severity.MEDIUM,
                    Confidence.CONFIRMED,
                    op,
                    f"{op.key} checked a user name and password sent over plain HTTP (it answered "
                    f"{evaluated[0].status}) instead of refusing or redirecting to HTTPS: passwords cross the "
                    "network in clear text.",
                    evaluated[:1],
                    summary=status_line(evaluated[0]),
                    input=pass_p.display,
                )
            )
    ctx.state["authentication.login_attempts"] = attempts
    return findings


_USER_LIST = re.compile(r"(^|/)(users|accounts|members|people|customers|profiles)(/|$)", re.I)
_USER_KEYS = ("username", "user_name", "login", "email", "user")


def _listed_names(ex: Exchange) -> list[str]:
    """User names a 2xx GET answer lists: the records of a collection (never an echo of ours)."""
    if ex.method != "GET" or not carries_data(ex):
        return []
    out: list[str] = []
    for item in items_of(json_body(ex)) or []:
        if not isinstance(item, dict):
            continue
        lowered = {str(k).lower(): v for k, v in item.items()}
        for key in _USER_KEYS:
            value = lowered.get(key)
            if isinstance(value, str) and 2 < len(value) <= 120 and not value.startswith("fb-"):
                out.append(value)
                break
    return out


async def _known_users(ctx: ScanContext) -> list[tuple[str, str]]:
    """(user name, why we know it exists): the user's own, else names the API lists (answers
    seen so far, else one GET of a user collection such as /users)."""
    out: list[tuple[str, str]] = []
    if ctx.options.username:
        out.append((ctx.options.username, "the --username given"))
    out += [(user, f"--login-user {name}") for name, user, _pw in ctx.options.login_users]
    if out:
        return out
    seen = sorted(  # user directories first, then any list whose records name a user
        list(ctx.client.exchanges), key=lambda e: not _USER_LIST.search(urlsplit(e.url).path)
    )
    for ex in seen:
        names = _listed_names(ex)
        if names:
            return [(n, f"listed by GET {urlsplit(ex.url).path}") for n in names[:3]]
    lists = [op for op in plain_ops(ctx) if _USER_LIST.search(op.path) and "{" not in op.path]
    for op in lists[:1]:
        ex = await send_as(ctx, CHECK, op, ANONYMOUS)
        remember(ctx, op, ex, ANONYMOUS)
        out += [(n, f"listed by {op.key}") for n in _listed_names(ex)[:3]]
    return out


def _https_redirect(ex: Exchange) -> bool:
    return ex.status in (301, 302, 307, 308) and ex.response_headers.get("location", "").startswith(
        "https:"
    )
