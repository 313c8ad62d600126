"""Full-mode write probes (property_authorization runs them; safe mode never sends these):

- mass assignment on *create* operations (registrations, payments, orders ...): the documented
  body plus privileged fields taken from the request schema, from the answers the scan received,
  and a common list (``role``, ``is_admin``, ``admin``, ``status: "paid"`` ...). Applied when the
  answer shows our value (*likely*) and reading the created object back shows it (*confirmed*).
  The created object is then deleted where the API offers a delete, and the deletion verified by
  reading again; otherwise the scan warns that it was left behind (the write ledger lists it).
- cross-identity writes: with two identities, B writes a harmless marker into one text field of
  the object A reads as its own (``PUT /users/{name}/profile``), A reads it back, and the old
  value is put back (as B, then as A) and verified by reading again.

Updates of the caller's own object (``PUT /me`` with ``role``) stay in property_authorization.
"""

from __future__ import annotations

import re
import secrets
from functools import partial
from typing import Any
from urllib.parse import urljoin, urlsplit

from firebrick.checks.authz_common import (
    PAYMENT_STATE,
    PRIVILEGED,
    Identity,
    anonymous_headers,
    carries_data,
    json_body,
    looks_login,
    looks_self,
    make_finding,
    path_params,
    plain_ops,
    pool,
    privileged_value,
    send_as,
    snake,
    status_line,
    walk_keys,
)
from firebrick.checks.inventory import template_matches
from firebrick.context import ScanContext
from firebrick.inject import build
from firebrick.model import (
    Confidence,
    Exchange,
    Finding,
    InputKind,
    Location,
    Operation,
    Outcome,
    Severity,
)
from firebrick.restore import Restore

CHECK = "property_authorization"
OWASP_API3 = "https://owasp.org/API-Security/editions/2023/en/0xa3-broken-object-property-level-authorization/"
OWASP_API1 = (
    "https://owasp.org/API-Security/editions/2023/en/0xa1-broken-object-level-authorization/"
)
MAX_CREATE_OPS = 4
MAX_CROSS_OPS = 3
# Tried on every create operation, whatever its schema says (the fields real apps forgot).
COMMON = {key: PRIVILEGED[key] for key in ("role", "is_admin", "admin")}
_PAYMENT_PATH = re.compile(r"pay|order|invoice|checkout|purchase|subscription|charge", re.I)
_SUSPECT_KEYS = {"role", "roles", "is_admin", "admin", "is_staff", "is_superuser", "status",
                 "paid", "is_paid", "payment_status", "verified", "is_verified", "plan", "tier",
                 "balance", "credit", "permissions", "approved"}  # fmt: skip
_REGISTER = re.compile(r"regist|sign_?-?up|account|users?$", re.I)
_ID_KEYS = ("id", "uuid", "username", "name", "slug")
_OWNER_KEYS = ("username", "user_name", "name", "login", "id", "user_id", "uid")

_finding3 = partial(make_finding, "property_authorization", OWASP_API3)
_finding1 = partial(make_finding, "bola", OWASP_API1)


def _candidates(ctx: ScanContext, op: Operation) -> dict[str, Any]:
    """Privileged fields for a create: schema, answers seen, the common list."""
    out: dict[str, Any] = {}
    for p in op.params:
        if p.location is Location.JSON and len(p.json_path) == 1:
            name = p.json_path[0]
            if _privileged(name):
                out[name] = privileged_value(name)
    for obs in pool(ctx):
        if urlsplit(obs.exchange.url).path.startswith(op.path.rstrip("/")):
            for key, _v in walk_keys(json_body(obs.exchange)):
                if snake(key) in _SUSPECT_KEYS and _privileged(key):
                    out.setdefault(key, privileged_value(key))
    for key, value in COMMON.items():
        out.setdefault(key, value)
    if _PAYMENT_PATH.search(op.path):
        out.setdefault("status", "paid")
    return out


def _privileged(name: str) -> bool:
    return snake(name) in PRIVILEGED or snake(name) in PAYMENT_STATE


def _applied(data: Any, fields: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data, dict):
        return {}
    flat: dict[str, Any] = {}
    for key, value in walk_keys(data):
        flat.setdefault(key, value)
    return {k: v for k, v in fields.items() if k in flat and flat[k] == v}


def _created_path(op: Operation, ex: Exchange) -> str | None:
    """Where the created object reads: the Location header, or the create path + the new id."""
    location = ex.response_headers.get("location")
    if location:
        return urlsplit(urljoin(ex.url, location)).path
    data = json_body(ex)
    if isinstance(data, dict):
        for key in _ID_KEYS:
            value = data.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
                return f"{op.path.rstrip('/')}/{value}"
    return None


def _op_for(ctx: ScanContext, method: str, path: str) -> Operation | None:
    for op in plain_ops(ctx, methods=(method,)):
        if op.path == path or ("{" in op.path and template_matches(op.path, path)):
            return op
    return None


async def _read(ctx: ScanContext, who: Identity, path: str) -> Exchange:
    op = _op_for(ctx, "GET", path) or Operation("GET", path, source="probe")
    return await send_as(ctx, CHECK, op, who, path=path)


async def _delete_created(ctx: ScanContext, who: Identity, path: str) -> tuple[bool, str]:
    """Delete what the probe created and verify by reading again (404/410)."""
    op = _op_for(ctx, "DELETE", path)
    if op is None:
        return False, f"no delete operation for {path}"
    ex = await send_as(ctx, CHECK, op, who, method="DELETE", path=path)
    check = await _read(ctx, who, path)
    ok = check.status in (404, 410)
    if ctx.client.ledger is not None:
        ctx.client.ledger.annotate(
            ex,
            "removal of the mass-assignment probe's object: "
            + ("verified (read back 404/410)" if ok else f"NOT verified ({status_line(check)})"),
        )
    return ok, f"DELETE {path} answered {ex.status}; reading it again answered {check.status}"


async def mass_assignment_on_create(ctx: ScanContext, who: Identity) -> list[Finding]:
    findings: list[Finding] = []
    ops = sorted(
        (
            op
            for op in plain_ops(ctx, methods=("POST",))
            if op.body_content_type == "application/json"
            and not looks_login(op)
            and not path_params(op)
            and op.graphql is None
            # never a body with URL inputs: their examples point at third parties (SSRF owns them)
            and not any(p.kinds & {InputKind.URL, InputKind.HOST} for p in op.params)
        ),
        # registrations, payments and orders first: where real apps forgot their fields
        key=lambda op: not (_REGISTER.search(op.path) or _PAYMENT_PATH.search(op.path)),
    )[:MAX_CREATE_OPS]
    for op in ops:
        spec = build(op, {})
        if not isinstance(spec.json, dict):
            continue
        fields = _candidates(ctx, op)
        body = dict(spec.json)
        for key in ("username", "name", "login", "email"):  # a fresh account, never a real one
            if isinstance(body.get(key), str):
                tag = secrets.token_hex(3)
                body[key] = f"fb-ma-{tag}@example.com" if key == "email" else f"fb-ma-{tag}"
        body.update(fields)
        ex = await ctx.client.request(
            "POST",
            spec.path,
            params=spec.params or None,
            json=body,
            headers={
                **(anonymous_headers(ctx) if who.headers is None else who.headers),
                **spec.headers,
            },
            check=CHECK,
            op_key=op.key,
            use_user_headers=False,
        )
        if ctx.client.ledger is not None:
            ctx.client.ledger.annotate(ex, f"mass-assignment probe (create): {sorted(fields)}")
        if ex.status is None or not 200 <= ex.status < 300:
            ctx.passed_if_reached(
                CHECK, "property_authorization", op, "json:(privileged fields)", ex,
                reason="create refused the privileged fields",
            )  # fmt: skip
            continue
        in_answer = _applied(json_body(ex), fields)
        where = _created_path(op, ex)
        read_ex: Exchange | None = None
        in_read: dict[str, Any] = {}
        if where is not None and ctx.client.in_scope(ctx.client.url_for(where)):
            read_ex = await _read(ctx, who, where)
            if carries_data(read_ex):
                in_read = _applied(json_body(read_ex), fields)
        removed, how = (
            await _delete_created(ctx, who, where) if where else (False, "no object address")
        )
        if not removed:
            ctx.warn(
                f"{op.key}: the mass-assignment probe created an object that firebrick could not "
                f"remove ({how}); see the write ledger."
            )
        applied = in_read or in_answer
        if not applied:
            ctx.passed_if_reached(
                CHECK, "property_authorization", op, "json:(privileged fields)", ex,
                reason="privileged fields not applied on create",
            )  # fmt: skip
            continue
        name = next(iter(applied))
        confirmed = bool(in_read)
        findings.append(
            _finding3(
                "property_authorization.mass-assignment",
                "Mass assignment on create: a client set "
                + ", ".join(f"{k}={v!r}" for k, v in applied.items()),
                Severity.HIGH,
                Confidence.CONFIRMED if confirmed else Confidence.LIKELY,
                op.key,
                f"{op.key} created an object with {', '.join(f'{k}={v!r}' for k, v in applied.items())} "
                "taken from the request"
                + (
                    f", and reading it back at {where} shows them"
                    if confirmed
                    else " (its answer shows them)"
                )
                + ": the view copies request fields onto the new object, so anyone registers as an "
                "admin or marks their own payment paid. "
                + (
                    "firebrick deleted the object and verified it is gone."
                    if removed
                    else f"The object was NOT removed ({how})."
                ),
                [ex, *([read_ex] if read_ex is not None else [])],
                f"{', '.join(sorted(applied))} applied on create",
                input=f"json:{name}",
                property=name,
                fields=sorted(applied),
                restored=removed,
            )
        )
    return findings


async def restore_now(ctx: ScanContext, write: Exchange, before: dict[str, Any]) -> Restore:
    """Put back the object ``write`` changed, now, and verify it by reading again (restore.py:
    the whole object is compared with its snapshot; ``before`` stands in when the layer could not
    read it itself). A failure is a first-screen warning at the end of the scan (engine)."""
    restorer = ctx.client.restorer
    result = await restorer.restore(write, before) if restorer is not None else None
    if result is not None:
        return result
    path = urlsplit(write.url).path
    return Restore(f"GET {path}", [], False, [("(object)", "unknown", "not restored: not watched")])


# -- cross-identity writes ------------------------------------------------------------------------
async def _owner_key(ctx: ScanContext, who: Identity) -> dict[str, Any]:
    """Who the identity is, from its own record (/me ...): name, username, id."""
    for op in plain_ops(ctx):
        if looks_self(op) and "{" not in op.path:
            ex = await send_as(ctx, CHECK, op, who)
            data = json_body(ex)
            if carries_data(ex) and isinstance(data, dict):
                return {k: data[k] for k in _OWNER_KEYS if isinstance(data.get(k), (str, int))}
    return {}


def _text_field(write: Operation, data: dict[str, Any]) -> str | None:
    """A harmless text field the write documents and the object shows (never a secret)."""
    for p in write.params:
        if p.location is not Location.JSON or len(p.json_path) != 1:
            continue
        name = p.json_path[0]
        if re.search(r"pass|secret|token|key|role|admin|email", name, re.I):
            continue
        if isinstance(data.get(name), str) and (p.schema or {}).get("type", "string") == "string":
            return name
    return None


async def cross_identity_writes(ctx: ScanContext, a: Identity, b: Identity) -> list[Finding]:
    owner = await _owner_key(ctx, a)
    if not owner:
        ctx.cover(CHECK, "bola", None, "cross-identity write", "skipped", f"no record of {a.label}")
        return []
    findings: list[Finding] = []
    writes = [
        op
        for op in plain_ops(ctx, methods=("PUT", "PATCH"))
        if path_params(op) and op.body_content_type == "application/json"
    ]
    for write in writes[:MAX_CROSS_OPS]:
        read = _op_for(ctx, "GET", write.path)
        if read is None:
            continue
        params = path_params(write)
        values: dict[str, Any] = {}
        for name in params:
            key = next(
                (k for k in owner if snake(k) in snake(name) or snake(name) in snake(k)), None
            )
            if key is None:
                break
            values[f"path:{name}"] = owner[key]
        if len(values) != len(params):
            continue
        path = build(write, values).path
        before_ex = await send_as(ctx, CHECK, read, a, path=path)
        before = json_body(before_ex)
        if not carries_data(before_ex) or not isinstance(before, dict):
            continue
        field = _text_field(write, before)
        if field is None:
            continue
        marker = f"firebrick-{secrets.token_hex(4)}"
        body = {field: marker}
        w_ex = await ctx.client.request(
            write.method, path, json=body, headers=b.headers, check=CHECK, op_key=write.key,
            use_user_headers=False,
        )  # fmt: skip
        after_ex = await send_as(ctx, CHECK, read, a, path=path)
        after = json_body(after_ex)
        changed = isinstance(after, dict) and after.get(field) == marker
        if not changed:
            ctx.passed_if_reached(
                CHECK, "bola", write, f"json:{field}", w_ex, reason=f"{b.label} could not change it"
            )
            continue
        # Put it back now (restore.py: as the reader of the snapshot, then as B, then as the
        # scan's own credentials), verified by reading the whole object again.
        result = await restore_now(ctx, w_ex, before)
        restored = result.verified
        findings.append(
            _finding1(
                "bola.cross-identity-write",
                "Another user's object can be changed",
                Severity.HIGH,
                Confidence.CONFIRMED,
                write.key,
                f"{b.label} changed {field} of {path}, which belongs to {a.label}, and {a.label} "
                f"reads the new value: the view checks that a caller is logged in, not that the "
                "object is theirs (a password or e-mail written this way takes the account over). "
                + result.sentence,
                [w_ex, after_ex],
                f"{b.label} wrote {field} of {a.label}'s object",
                input=f"json:{field}",
                owner=a.label,
                writer=b.label,
                restored=restored,
            )
        )
    if not writes:
        ctx.cover(
            CHECK,
            "bola",
            None,
            "cross-identity write",
            Outcome.NOT_DETERMINED,
            "no object write operation",
        )
    return findings
