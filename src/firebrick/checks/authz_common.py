"""What the authentication, bola, bfla, property_authorization, rate_limiting and inventory checks
share: who is calling (anonymous, the user's --header, a named --identity), how an operation is
sent as one of them, what a path looks like (private, admin, login, health), the pool of
responses they saw (ctx.state["authz.responses"]) that later checks read instead of re-sending,
and the privileged properties a client must never set (property_authorization and writes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from firebrick.context import ScanContext
from firebrick.credentials import CREDENTIAL_HEADERS
from firebrick.inject import build
from firebrick.model import Confidence, Evidence, Exchange, Finding, Location, Operation, Severity
from firebrick.safejson import safe_json_loads

POOL = "authz.responses"
# Stripped for anonymous requests: the credential headers and a session's CSRF token.
AUTH_HEADERS = CREDENTIAL_HEADERS | {"x-csrf-token"}
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

_PRIVATE = re.compile(
    r"(^|/)(me|my|self|account|accounts|profile|profiles|settings|preferences|orders?|invoices?|"
    r"billing|payments?|wallets?|cart|messages|inbox|users?|customers?|private|reports?|export)(/|$)",
    re.I,
)
_ADMIN = re.compile(
    r"(^|/)(admin|administrator|internal|debug|_debug|manage|management|staff|superuser|root)(/|$|[-_])",
    re.I,
)
_LOGIN = re.compile(
    r"(^|/)(login|log-in|signin|sign-in|authenticate|auth/token|session|sessions|token)(/|$)", re.I
)
_REGISTER = re.compile(r"regist|sign[-_]?up|create_?(user|account)|new_?(user|account)", re.I)
# Operations with a password field that are not logins: registration, resets, help pages.
_NOT_LOGIN = re.compile(
    r"regist|sign_?-?up|create_?-?account|enrol|invit|reset|forgot|recover|change_?-?password|"
    r"(^|/)(help|docs?|faq|about)(/|$)",
    re.I,
)
_HEALTH = re.compile(
    r"(^|/)(health|healthz|status|ping|ready|readyz|live|livez|version|metrics)(/|$)", re.I
)


@dataclass
class Identity:
    """Who a request is sent as. headers None: anonymous (no credentials at all)."""

    label: str  # "anonymous", "--header", or the --identity name
    headers: dict[str, str] | None

    @property
    def anonymous(self) -> bool:
        return self.headers is None


@dataclass
class Observed:
    op: str  # Operation.key
    exchange: Exchange
    identity: str  # Identity.label


def auth_names(ctx: ScanContext) -> set[str]:
    names = set(AUTH_HEADERS)
    for headers in ctx.options.identities.values():
        names |= {h.lower() for h in headers}
    return names


def has_user_credentials(ctx: ScanContext) -> bool:
    names = auth_names(ctx)
    return any(h.lower() in names for h in ctx.options.headers)


def anonymous_headers(ctx: ScanContext) -> dict[str, str]:
    """The user's headers minus anything that carries credentials."""
    names = auth_names(ctx)
    return {k: v for k, v in ctx.options.headers.items() if k.lower() not in names}


def identities(ctx: ScanContext) -> list[Identity]:
    """The credentialed identities: the user's --header first (if it carries credentials), then
    each --identity. The first is "the user's credentials" for single-identity probes."""
    names = auth_names(ctx)

    def creds(headers: dict[str, str]) -> dict[str, str]:
        return {k.lower(): v for k, v in headers.items() if k.lower() in names}

    named = [
        Identity(name, {**anonymous_headers(ctx), **headers})
        for name, headers in ctx.options.identities.items()
    ]
    if not has_user_credentials(ctx):
        return named
    mine = creds(ctx.options.headers)
    # -H with the same credentials as a named identity is that identity, not a second caller.
    same = [i for i in named if creds(i.headers or {}) == mine]
    if same:
        return [same[0], *(i for i in named if i is not same[0])]
    return [Identity("--header", dict(ctx.options.headers)), *named]


ANONYMOUS = Identity("anonymous", None)


async def send_as(
    ctx: ScanContext,
    check: str,
    op: Operation,
    who: Identity,
    values: dict[str, Any] | None = None,
    *,
    method: str | None = None,
    path: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Exchange:
    """Send op (optionally with another method or a concrete path) as who."""
    spec = build(op, values or {})
    creds = ctx.client.credentials
    # a managed identity (login, OAuth2, --identity): the client adds its current credentials,
    # its own cookies and CSRF token, and logs in again when they expired
    managed = creds is not None and not who.anonymous and who.label in creds.names()
    headers = anonymous_headers(ctx) if who.headers is None or managed else dict(who.headers)
    headers.update(spec.headers)
    headers.update(extra_headers or {})
    return await ctx.client.request(
        method or spec.method,
        path or spec.path,
        params=spec.params or None,
        headers=headers,
        json=spec.json,
        data=spec.data,
        check=check,
        op_key=op.key,
        follow_redirects=False,
        use_user_headers=False,
        identity=who.label if managed else None,
    )


def remember(ctx: ScanContext, op: Operation, exchange: Exchange, who: Identity) -> None:
    if exchange.status is not None:
        ctx.state.setdefault(POOL, []).append(Observed(op.key, exchange, who.label))


def pool(ctx: ScanContext) -> list[Observed]:
    return list(ctx.state.get(POOL, []))


def json_body(exchange: Exchange | None) -> Any:
    if exchange is None or exchange.status is None or not exchange.body_text:
        return None
    ctype = exchange.response_headers.get("content-type", "")
    text = exchange.body_text.lstrip()
    if "json" not in ctype and not text.startswith(("{", "[")):
        return None
    return safe_json_loads(exchange.body_text)


_BARE_KEYS = frozenset({"status", "ok", "error", "message", "detail", "variant", "success"})


def _has_content(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_content(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_content(v) for v in value)
    return value is not None and value != ""


def carries_data(exchange: Exchange | None) -> bool:
    """A 2xx answer with content beyond a bare status/error object."""
    if exchange is None or exchange.status is None or not 200 <= exchange.status < 300:
        return False
    data = json_body(exchange)
    if isinstance(data, list):
        return bool(data)
    if isinstance(data, dict):
        # An object whose only content is empty ({"data": {}}, {"items": []}) carries nothing.
        return any(k.lower() not in _BARE_KEYS and _has_content(v) for k, v in data.items())
    text = exchange.body_text.strip()
    return len(text) >= 20 and "<form" not in text.lower()


def items_of(data: Any) -> list[Any] | None:
    """The list a collection response carries: the body itself or its one big list field."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if lists:
            return max(lists, key=len)
    return None


def walk_keys(data: Any, depth: int = 0) -> list[tuple[str, Any]]:
    """Every (key, value) in a JSON document, to a small depth, capped."""
    out: list[tuple[str, Any]] = []
    if depth > 5:
        return out
    if isinstance(data, dict):
        for k, v in data.items():
            out.append((str(k), v))
            out += walk_keys(v, depth + 1)
    elif isinstance(data, list):
        for v in data[:50]:
            out += walk_keys(v, depth + 1)
    return out[:2000]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).replace("-", "_").lower()


# -- privileged properties (mass assignment: property_authorization and writes) ------------------
# Properties a client must never set on itself, and the value that would escalate.
PRIVILEGED = {
    "role": "admin",
    "roles": ["admin"],
    "is_admin": True,
    "isadmin": True,
    "admin": True,
    "is_staff": True,
    "is_superuser": True,
    "permissions": ["*"],
    "scopes": ["admin"],
    "verified": True,
    "is_verified": True,
    "email_verified": True,
    "balance": 1_000_000,
    "credit": 1_000_000,
    "account_type": "premium",
    "plan": "enterprise",
    "tier": "enterprise",
    "owner_id": 1,
    "approved": True,
}
# On operations that create payments or orders: the state a client must never set.
PAYMENT_STATE = {"status": "paid", "payment_status": "paid", "paid": True, "is_paid": True}


def privileged_value(name: str) -> Any:
    """The value of property ``name`` that would escalate ("admin" for one not listed)."""
    key = snake(name)
    if key in PAYMENT_STATE:
        return PAYMENT_STATE[key]
    return PRIVILEGED.get(key, "admin")


def path_params(op: Operation) -> list[str]:
    return [p.name for p in op.params if p.location is Location.PATH]


def has_required_inputs(op: Operation) -> bool:
    """Inputs a plain request cannot fill without examples (query/header/body, required)."""
    for p in op.params:
        if p.location is Location.PATH:
            continue
        if (
            p.required
            and p.example is None
            and not (p.schema or {}).get("example")
            and not p.guessed
        ):
            return True
    return False


def looks_private(op: Operation) -> bool:
    return bool(_PRIVATE.search(op.path))


def looks_admin(op: Operation) -> bool:
    tags = {t.lower() for t in op.tags}
    return bool(_ADMIN.search(op.path)) or bool(tags & {"admin", "internal", "debug", "management"})


def looks_login(op: Operation) -> bool:
    text = " ".join([op.path, op.operation_id or "", *op.tags]).lower()
    if op.method != "POST":
        return False
    names = {p.name.lower() for p in op.params} | {
        p.json_path[-1].lower() for p in op.params if p.json_path
    }
    has_password = any("pass" in n or n in ("pwd", "secret") for n in names)
    if _REGISTER.search(text):
        return False  # a registration creates an account: never a login probe (issue 10)
    if _NOT_LOGIN.search(op.path) or _NOT_LOGIN.search(op.operation_id or ""):
        return False  # resets, help pages: a password field, but no login to throttle
    return has_password and bool(
        _LOGIN.search(op.path) or re.search(r"log_?in|sign_?in|auth", text)
    )


_SELF = re.compile(r"(^|/)(me|profile|whoami|account|self|current[_-]?user|userinfo)(/|$)", re.I)


def looks_self(op: Operation) -> bool:
    """The caller's own record: /me, /profile, /account, /whoami, /userinfo."""
    return bool(_SELF.search(op.path))


def looks_health(op: Operation) -> bool:
    return bool(_HEALTH.search(op.path)) or "health" in (op.operation_id or "").lower()


def plain_ops(ctx: ScanContext, *, methods: tuple[str, ...] = ("GET",)) -> list[Operation]:
    """REST operations (no GraphQL), of these methods."""
    return [op for op in ctx.surface.operations if op.graphql is None and op.method in methods]


def status_line(exchange: Exchange | None) -> str:
    if exchange is None:
        return "no request"
    return f"{exchange.method} {exchange.url} -> {exchange.status if exchange.status is not None else exchange.error}"


def make_finding(
    category: str,
    reference: str,
    kind: str,
    title: str,
    severity: Severity,
    confidence: Confidence,
    op_key: str | None,
    description: str,
    exchanges: list[Exchange],
    summary: str,
    input: str | None = None,
    **details: Any,
) -> Finding:
    """The Finding every check of this family builds: at most 4 exchanges, details as given.

    Each module binds its own category and OWASP reference:
    ``_finding = partial(make_finding, CATEGORY, OWASP)``.
    """
    return Finding(
        kind=kind,
        category=category,
        title=title,
        severity=severity,
        confidence=confidence,
        operation=op_key,
        input=input,
        description=description,
        evidence=Evidence(summary=summary, exchanges=exchanges[:4], details=details),
        references=[reference],
    )
