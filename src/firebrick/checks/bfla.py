"""Broken function-level authorization (API5). Read-only: GET requests only.

- admin, debug and internal functions answering without credentials: a compact list of
  well-known paths (ADMIN_PATHS) plus the operations the spec tags or names admin/internal/debug;
- privileged operations (same selection from the spec) answering the user's ordinary
  credentials (-H, or each --identity): pass a regular user's credentials, not an admin's;
- role and permission fields leaked in answers (role, permissions, is_admin, scopes ...), read
  from what the authentication and bola checks already received plus this check's own answers.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator
from functools import partial

from firebrick.checks import jwt as jwtlib
from firebrick.checks.authz_common import (
    ANONYMOUS,
    Identity,
    carries_data,
    identities,
    json_body,
    looks_admin,
    looks_self,
    make_finding,
    plain_ops,
    pool,
    remember,
    send_as,
    snake,
    status_line,
    walk_keys,
)
from firebrick.context import ScanContext
from firebrick.model import Confidence, Exchange, Finding, Operation, Severity

CHECK = "bfla"
CATEGORY = "bfla"
# Well-known admin/debug paths, probed with one GET each and no credentials.
ADMIN_PATHS = (
    "/admin",
    "/api/admin",
    "/internal",
    "/api/internal",
    "/debug",
    "/_debug",
    "/actuator",
    "/actuator/env",
    "/metrics",
    "/console",
    "/graphiql",
    "/api/debug",
)
MAX_SPEC_OPS = 8
ROLE_KEYS = {
    "role",
    "roles",
    "permissions",
    "permission",
    "scopes",
    "scope",
    "groups",
    "privileges",
    "is_admin",
    "isadmin",
    "admin",
    "is_staff",
    "is_superuser",
    "superuser",
    "authorities",
    "acl",
}
_LOGIN_PAGE = re.compile(r"<input[^>]+type=[\"']?password|<title>[^<]*(log ?in|sign ?in)", re.I)
OWASP = "https://owasp.org/API-Security/editions/2023/en/0xa5-broken-function-level-authorization/"


def _probe_op(path: str) -> Operation:
    return Operation("GET", path, source="probe")


_finding = partial(make_finding, CATEGORY, OWASP)


def _real_answer(ex: Exchange, baseline: Exchange | None) -> bool:
    """2xx with content, not the catch-all page, not a login form."""
    if not carries_data(ex):
        return False
    if baseline is not None and baseline.status == ex.status and baseline.body_text == ex.body_text:
        return False
    return not _LOGIN_PAGE.search(ex.body_text[:5000])


async def run(ctx: ScanContext) -> AsyncIterator[Finding]:
    spec_ops = [op for op in plain_ops(ctx) if looks_admin(op)][:MAX_SPEC_OPS]
    known = {op.path for op in spec_ops}
    probes = [
        _probe_op(p)
        for p in ADMIN_PATHS
        if p not in known and p not in {o.path for o in plain_ops(ctx)}
    ]
    # What an unknown path answers: catch-all pages must not count as admin consoles.
    baseline_op = _probe_op(f"/firebrick-{secrets.token_hex(4)}")
    anon_ops = [*spec_ops, *probes]
    answers = await asyncio.gather(
        *(send_as(ctx, CHECK, op, ANONYMOUS) for op in [baseline_op, *anon_ops])
    )
    baseline, anon = answers[0], answers[1:]
    open_ops: set[str] = set()
    for op, ex in zip(anon_ops, anon, strict=True):
        remember(ctx, op, ex, ANONYMOUS)
        if _real_answer(ex, baseline):
            open_ops.add(op.key)
            where = (
                "the spec marks it administrative"
                if op.source != "probe"
                else "a well-known admin/debug path"
            )
            yield _finding(
                "bfla.unauthenticated-admin",
                "Administrative function open without credentials",
                Severity.HIGH,
                Confidence.CONFIRMED,
                op.key,
                f"{op.path} ({where}) answered {ex.status} with content to a request without any "
                "credentials: administrative and debug functions must require an authenticated "
                "caller with the right role.",
                [ex],
                f"{status_line(ex)} with no credentials",
            )
        elif op.source != "probe":
            ctx.cover(
                CHECK, CATEGORY, op, None, "passed", f"refused without credentials ({ex.status})"
            )
    ctx.cover(
        CHECK,
        CATEGORY,
        None,
        f"{len(probes)} admin/debug paths",
        "passed" if not open_ops else "failed",
        "one GET each, no credentials",
    )

    # Privileged operations with an ordinary user's credentials.
    users = identities(ctx)
    for who in users:
        roles = await identity_roles(ctx, who)
        targets = [op for op in spec_ops if op.key not in open_ops]
        results = await asyncio.gather(*(send_as(ctx, CHECK, op, who) for op in targets))
        for op, ex in zip(targets, results, strict=True):
            remember(ctx, op, ex, who)
            role = meant_for(roles, op)
            if role is not None:
                # The identity holds a role made for this function: access is the design.
                ctx.cover(
                    CHECK, CATEGORY, op, who.label, "skipped", f"{who.label} has role {role!r}"
                )
            elif _real_answer(ex, baseline):
                yield _finding(
                    "bfla.privileged-access",
                    "Ordinary user can call an administrative function",
                    Severity.HIGH,
                    Confidence.CONFIRMED,
                    op.key,
                    f"{op.key} is administrative (path or tags) and refuses anonymous callers, but "
                    f"answered {ex.status} with content to {who.label}'s ordinary credentials: the view "
                    "checks that a caller is logged in, not that the caller may use it.",
                    [ex],
                    f"{status_line(ex)} as {who.label}",
                    identity=who.label,
                )
            elif ex.status == 401 or ex.status is None:
                # 401: the identity itself was not accepted, so its role was never checked
                why = f"{who.label}'s credentials not accepted ({ex.status or ex.error})"
                if ex.status is None:
                    ctx.cover(CHECK, CATEGORY, op, who.label, "error", why)
                else:
                    ctx.refused(CHECK, CATEGORY, op, who.label, "auth", why)
            else:
                ctx.cover(CHECK, CATEGORY, op, who.label, "passed", f"refused ({ex.status})")
    if not users and spec_ops:
        ctx.cover(
            CHECK,
            CATEGORY,
            None,
            "privileged-access",
            "skipped",
            "no user credentials given (-H or --identity): privileged operations not tried as a user",
        )

    for finding in _role_leaks(ctx):
        yield finding


_ME = re.compile(r"(^|/)(me|profile|whoami|account|self|current[_-]?user|userinfo)(/|$)", re.I)
# Roles that may call every administrative function; other roles (staff, manager ...) only the
# functions that name them (/staff/reports, tag "staff").
_SUPER = re.compile(r"admin|superuser|^root$|^owner$", re.I)
MAX_ME_OPS = 4
# Roles every account has: an operation that names them is not made for a privileged few.
_ORDINARY = frozenset({"user", "users", "member", "customer", "guest", "viewer", "reader"})


def _role_values(data: object) -> set[str]:
    """Role names a token's claims or a profile answer grant (``"is_admin": true`` -> is_admin)."""
    out: set[str] = set()
    for key, value in walk_keys(data):
        name = snake(key)
        if name not in ROLE_KEYS:
            continue
        if value is True:
            out.add(name)
        elif isinstance(value, str) and value:
            out |= set(value.replace(",", " ").split())
        elif isinstance(value, list):
            out |= {v for v in value if isinstance(v, str) and v}
    return out


async def identity_roles(ctx: ScanContext, who: Identity) -> set[str]:
    """What the identity is: the role claims of its token, and its own profile's role fields."""
    roles: set[str] = set()
    for value in (who.headers or {}).values():
        for token in jwtlib.find_tokens(value, "identity"):
            roles |= _role_values(token.claims)
    me_ops = [op for op in plain_ops(ctx) if looks_self(op) and "{" not in op.path][:MAX_ME_OPS]
    for op in me_ops:
        ex = await send_as(ctx, CHECK, op, who)
        remember(ctx, op, ex, who)
        if ex.status is not None and 200 <= ex.status < 300:
            roles |= _role_values(json_body(ex))
            if roles:
                break  # the identity's own record said what it is
    return roles


def meant_for(roles: set[str], op: Operation) -> str | None:
    """A role of the identity that this operation is made for (an admin role, or one it names)."""
    named = {seg.lower() for seg in op.path.split("/") if seg} | {t.lower() for t in op.tags}
    for role in sorted(roles):
        if role.lower() in _ORDINARY:
            continue
        if _SUPER.search(role) or role.lower() in named:
            return role
    return None


def _role_leaks(ctx: ScanContext) -> list[Finding]:
    """Role/permission fields in JSON answers already received (one finding per operation)."""
    seen: dict[str, tuple[Exchange, list[str]]] = {}
    for obs in pool(ctx):
        ex = obs.exchange
        if ex.method != "GET" or ex.status is None or not 200 <= ex.status < 300 or obs.op in seen:
            continue
        keys = sorted(
            {
                k
                for k, v in walk_keys(json_body(ex))
                if snake(k) in ROLE_KEYS and v not in (None, "", [])
            }
        )
        if keys:
            seen[obs.op] = (ex, keys)
    return [
        _finding(
            "bfla.role-leak",
            "Role and permission fields exposed in responses",
            Severity.LOW,
            Confidence.CONFIRMED,
            op_key,
            f"The answer of {op_key} carries {', '.join(keys)}. Clients learn the privilege model "
            "(which roles exist, who holds them), and the same fields are the first thing an attacker "
            "tries to set through mass assignment.",
            [ex],
            f"fields {', '.join(keys)} in {status_line(ex)}",
            fields=keys,
        )
        for op_key, (ex, keys) in seen.items()
    ]
