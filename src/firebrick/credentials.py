"""Credentials given with -H / --identity: checked before the scan relies on them.

Two checks:

- ``validate`` (before any request): an empty or malformed credential value is a usage error
  (exit 3): ``Authorization:`` with nothing, ``Authorization: Bearer`` with no token, a bearer
  token with spaces, Basic that is not base64 ``user:password``, a Cookie without ``name=value``.
- ``check_at_start`` (after discovery): send a few operations anonymously and with each set of
  credentials. If an operation that refuses anonymous requests also refuses the credentials, the
  scan says so at once (progress line and first-screen warning): every "passed" behind that wall
  would otherwise be a refusal in disguise.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from firebrick.errors import BudgetExhausted, UsageError
from firebrick.inject import build
from firebrick.model import Cause, Exchange, Operation
from firebrick.reach import refusal

if TYPE_CHECKING:
    from firebrick.context import ScanContext

CHECK = "credentials"
MAX_PROBE_OPS = 3
# Header names that carry credentials (compared lower case).
CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
        "x-access-token",
        "x-session-token",
        "token",
    }
)
_SCHEMES_NEEDING_VALUE = {"bearer", "basic", "token", "digest", "jwt", "apikey", "api-key"}
REFUSED_STATE = "credentials.refused"  # ctx.state: labels whose credentials were refused


def _problem(name: str, value: str) -> str | None:
    lname = name.lower()
    if lname not in CREDENTIAL_HEADERS:
        return None
    if not value.strip():
        return "the value is empty"
    if lname in ("authorization", "proxy-authorization"):
        scheme, _, rest = value.strip().partition(" ")
        rest = rest.strip()
        if scheme.lower() in _SCHEMES_NEEDING_VALUE and not rest:
            return f"{scheme} needs a credential after it"
        if scheme.lower() in ("bearer", "jwt", "token") and re.search(r"\s", rest):
            return f"a {scheme} token cannot contain spaces"
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(rest, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                return "Basic needs base64 of user:password"
            if ":" not in decoded:
                return "Basic needs base64 of user:password"
    if lname == "cookie" and "=" not in value:
        return "a Cookie needs name=value"
    return None


def validate(headers: dict[str, str], identities: dict[str, dict[str, str]]) -> None:
    """UsageError (exit 3) for an empty or malformed credential value."""
    sets = [("-H", headers), *((f"--identity {n}", h) for n, h in identities.items())]
    for label, hs in sets:
        for name, value in hs.items():
            problem = _problem(name, value)
            if problem is not None:
                raise UsageError(f"credential {name!r} given with {label} is malformed: {problem}")


def _probe_ops(ctx: ScanContext) -> list[Operation]:
    """GET operations a credential should open: declared secured first, no required inputs."""
    ops = [
        op
        for op in ctx.surface.operations
        if op.method == "GET"
        and op.graphql is None
        and not any(p.required and p.location.value != "path" for p in op.params)
    ]
    ops.sort(key=lambda op: (not op.security_declared, "{" in op.path, len(op.path)))
    return ops[:8]


async def _send(
    ctx: ScanContext, op: Operation, headers: dict[str, str], identity: str | None = None
) -> Exchange:
    """Send op with exactly these headers (never the user's others): anonymous or one set.
    ``identity``: a login identity (firebrick.auth) whose cookies and current token the
    client adds."""
    spec = build(op, {})
    return await ctx.client.request(
        spec.method,
        spec.path,
        params=spec.params or None,
        headers={**spec.headers, **headers},
        check=CHECK,
        op_key=op.key,
        follow_redirects=False,
        use_user_headers=False,
        identity=identity,
    )


async def check_at_start(ctx: ScanContext, say: Callable[[str], None]) -> list[str]:
    """Warn at once when credentials are refused where anonymous requests are refused too.

    Returns the labels whose credentials were refused (also kept in ctx.state[REFUSED_STATE]).
    """
    sets: list[tuple[str, dict[str, str]]] = []
    user = {k: v for k, v in ctx.options.headers.items() if k.lower() in CREDENTIAL_HEADERS}
    if user:
        sets.append(("-H", dict(ctx.options.headers)))
    for name, hs in ctx.options.identities.items():
        sets.append((f"--identity {name}", {**ctx.options.headers, **hs}))
    if not sets:
        return []
    anon_headers = {
        k: v for k, v in ctx.options.headers.items() if k.lower() not in CREDENTIAL_HEADERS
    }
    walled: list[tuple[Operation, Exchange]] = []
    try:
        for op in _probe_ops(ctx):
            if len(walled) >= MAX_PROBE_OPS:
                break
            ex = await _send(ctx, op, anon_headers)
            if refusal(ex) is Cause.AUTH:
                walled.append((op, ex))
        if not walled:
            return []
        refused: list[str] = []
        managed = set(ctx.client.credentials.names()) if ctx.client.credentials else set()
        for label, hs in sets:
            named = label.removeprefix("--identity ") if label.startswith("--identity ") else None
            who = named if named in managed else None
            answers = await asyncio.gather(*(_send(ctx, op, hs, who) for op, _ in walled))
            # Refused as a caller, not as a role: 401 (or the very answer anonymous got). A 403
            # to credentials that turned a 401 into a 403 means they were accepted, not allowed.
            if all(
                refusal(a) is Cause.AUTH
                and (a.status == 401 or (a.status, a.body_text) == (anon.status, anon.body_text))
                for a, (_op, anon) in zip(answers, walled, strict=True)
            ):
                op, first = walled[0][0], answers[0]
                message = (
                    f"the credentials given with {label} were refused: {op.key} refuses anonymous "
                    f"requests and answered {first.status} with them too "
                    f"({len(answers)} of {len(answers)} such operations); check the value "
                    "(expired token? wrong header name or scheme?)"
                )
                say(message)
                ctx.warn(message)
                refused.append(label)
    except BudgetExhausted:
        return []
    ctx.state[REFUSED_STATE] = refused
    return refused
