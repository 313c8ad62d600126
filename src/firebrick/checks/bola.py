"""Broken object-level authorization (API1). Read-only: GET requests only.

- predictable ids: an object operation whose id is a sequential integer, where id±1 answers with
  another object to a caller without credentials (anyone can walk the collection);
- adjacent ids: with the user's credentials (-H, or the first --identity), id±1 answers with an
  object that is not the caller's (not in the caller's own list, or another owner field);
- cross identity: with two identities (--identity A ..., --identity B ...), B reads A's object.

Object ids need not be integers: a path parameter of any name (``/notes/{title}``,
``/users/{username}``, UUIDs) is an object id. The caller's own ids come from the parent
collection (GET /orders for /orders/{id}) when the API has one, else from values seen in that
identity's own answers (the field named like the parameter, or ``id``), else from the spec's
example. Names cannot be guessed by counting: for them the adjacent test says so and the
cross-identity test (two identities) is the verdict. When BOLA cannot run, coverage says why.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

from firebrick.checks.authz_common import (
    ANONYMOUS,
    Identity,
    carries_data,
    identities,
    items_of,
    json_body,
    plain_ops,
    pool,
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
    Param,
    Severity,
)
from firebrick.reach import refusal

CHECK = "bola"
CATEGORY = "bola"
MAX_OPS = 6  # object operations probed
OWNER_FIELDS = (
    "owner",
    "owner_id",
    "ownerid",
    "user",
    "user_id",
    "userid",
    "username",
    "customer",
    "customer_id",
    "customerid",
    "account_id",
    "accountid",
    "created_by",
    "createdby",
    "email",
)
_ID_NAME = re.compile(r"(^id$|_id$|Id$|^uid$|^pk$|^key$)")
OWASP = "https://owasp.org/API-Security/editions/2023/en/0xa1-broken-object-level-authorization/"


def id_param(op: Operation) -> Param | None:
    """The input that names the object: an id-like query/path input first, else any declared
    path parameter (names, titles, usernames, UUIDs are object ids too)."""
    declared = [p for p in op.params if not p.guessed]
    for p in declared:
        if p.location in (Location.PATH, Location.QUERY) and _ID_NAME.search(p.name):
            return p
    return next((p for p in declared if p.location is Location.PATH), None)


def _fields(p: Param) -> list[str]:
    """The object fields that may carry this input's value: its own name, then ``id``."""
    out = [p.name]
    base = re.sub(r"(_id|Id)$", "", p.name)
    if base and base != p.name:
        out.append(base)
    out.append("id")
    return list(dict.fromkeys(out))


def _scalar(value: Any) -> str | int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and 0 < len(value) <= 200 and "/" not in value:
        return value
    return None


def _int_like(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 12:
        return int(value)
    return None


def _example(p: Param) -> Any:
    return p.example if p.example is not None else (p.schema or {}).get("example")


def _parent(ctx: ScanContext, op: Operation, p: Param) -> Operation | None:
    if p.location is not Location.PATH:
        return None
    prefix = op.path.split("{" + p.name + "}")[0].rstrip("/")
    return next(
        (o for o in plain_ops(ctx) if o.path.rstrip("/") == prefix and not id_param(o)), None
    )


def _ids(data: Any, p: Param) -> list[Any]:
    """Ids in a collection answer: per item, the field named like the input, else ``id``."""
    fields = _fields(p)
    out: list[Any] = []
    for item in items_of(data) or []:
        if isinstance(item, dict):
            lowered = {str(k).lower(): v for k, v in item.items()}
            for f in fields:
                value = _scalar(lowered.get(f.lower()))
                if value is not None:
                    out.append(value)
                    break
    return out


def _seen_ids(ctx: ScanContext, me: Identity, p: Param) -> list[Any]:
    """Ids this identity has seen in its own answers (any check's), by the input's name."""
    fields = {f.lower() for f in _fields(p)}
    fields.discard("id")  # a bare "id" in an arbitrary answer names some other object
    out: list[Any] = []
    for seen in pool(ctx):
        if seen.identity != me.label or not carries_data(seen.exchange):
            continue
        data = json_body(seen.exchange)
        for item in [*(items_of(data) or []), data]:
            if isinstance(item, dict):
                for k, v in item.items():
                    value = _scalar(v)
                    if str(k).lower() in fields and value is not None and value not in out:
                        out.append(value)
    return out


def _same_object(ex: Exchange, other: Exchange, obj_id: Any, p: Param) -> bool:
    if ex.body_text == other.body_text:
        return True
    data = json_body(ex)
    if not isinstance(data, dict):
        return False
    lowered = {str(k).lower(): v for k, v in data.items()}
    return any(
        str(lowered.get(f.lower())) == str(obj_id) for f in _fields(p) if f.lower() in lowered
    )


def _owner(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        return {}
    lowered = {str(k).lower(): v for k, v in data.items()}
    return {
        k: lowered[k] for k in OWNER_FIELDS if k in lowered and isinstance(lowered[k], (str, int))
    }


def _finding(
    kind: str,
    title: str,
    severity: Severity,
    confidence: Confidence,
    op: Operation,
    p: Param,
    description: str,
    exchanges: list[Exchange],
    summary: str,
    **details: Any,
) -> Finding:
    return Finding(
        kind=kind,
        category=CATEGORY,
        title=title,
        severity=severity,
        confidence=confidence,
        operation=op.key,
        input=p.display,
        description=description,
        evidence=Evidence(
            summary=summary,
            exchanges=exchanges[:4],
            details=details,
            payloads_worked=[str(i) for i in details.get("ids_read", [])],
        ),
        references=[OWASP],
    )


async def run(ctx: ScanContext) -> AsyncIterator[Finding]:
    found = [(op, p) for op in plain_ops(ctx) if (p := id_param(op)) is not None]
    # integer-named ids first (the adjacent test can count them), then names
    found.sort(key=lambda t: 0 if _ID_NAME.search(t[1].name) else 1)
    targets = found[:MAX_OPS]
    who = identities(ctx)
    if not targets:
        why = "no object operation found (no GET with a path parameter or an id-like input)"
        ctx.cover(CHECK, CATEGORY, None, None, "skipped", why)
        ctx.note(f"BOLA not run: {why}")
        return
    primary = who[0] if who else ANONYMOUS
    results = await asyncio.gather(*(_adjacent(ctx, op, p, primary) for op, p in targets))
    owned: dict[str, tuple[Any, Exchange, bool]] = {}
    for (op, _p), (findings, own) in zip(targets, results, strict=True):
        for f in findings:
            yield f
        if own is not None:
            owned[op.key] = own
    if len(who) >= 2:
        for f in await _cross(ctx, targets, owned, who[0], who[1]):
            yield f
    else:
        why = 'give two identities (--identity NAME "Header: value", twice) to test this'
        ctx.cover(CHECK, CATEGORY, None, "cross-identity", "skipped", why)
        ctx.note(
            f"BOLA cross-identity not run on {len(targets)} object operation(s): "
            f"{len(who)} identity given, two needed (--identity NAME 'Header: value', twice)"
        )


async def _adjacent(
    ctx: ScanContext, op: Operation, p: Param, me: Identity
) -> tuple[list[Finding], tuple[Any, Exchange, bool] | None]:
    """Probe id±1 from an id the caller can read; returns findings and (that id, its answer,
    whether it is known to be the caller's own)."""
    own: list[Any] = []
    parent = _parent(ctx, op, p)
    if parent is not None and not me.anonymous:
        lst = await send_as(ctx, CHECK, parent, me)
        remember(ctx, parent, lst, me)
        own = _ids(json_body(lst), p) if carries_data(lst) else []
    if not own and not me.anonymous:
        own = _seen_ids(ctx, me, p)
    start: Any = own[0] if own else _scalar(_example(p))
    if start is None and (p.schema or {}).get("type") == "integer":
        start = 1
    if start is None:
        ctx.cover(
            CHECK,
            CATEGORY,
            op,
            p,
            "skipped",
            f"no id of {me.label} seen (no collection, no answer naming one, no example id)",
        )
        return [], None
    first = await send_as(ctx, CHECK, op, me, {p.display: start})
    remember(ctx, op, first, me)
    if not carries_data(first):
        cause = refusal(first)
        why = f"id {start} is not readable as {me.label} ({first.status})"
        if cause is not None and cause is not Cause.ROUTE_ABSENT:
            ctx.refused(CHECK, CATEGORY, op, p, cause, why)
        else:
            ctx.cover(CHECK, CATEGORY, op, p, "inconclusive", why)
        return [], None
    mine_known = bool(own)
    base = _int_like(start)
    if base is None:
        # Names, titles, UUIDs: a neighbour cannot be guessed; cross-identity decides.
        ctx.cover(
            CHECK,
            CATEGORY,
            op,
            p,
            "inconclusive",
            f"ids are names, not numbers ({str(start)[:40]!r}): neighbours cannot be guessed; "
            "the cross-identity test (two identities) covers them",
        )
        return [], (start, first, mine_known)
    neighbours = [i for i in (base + 1, base - 1) if i >= 0 and i not in own]
    answers = await asyncio.gather(
        *(send_as(ctx, CHECK, op, me, {p.display: i}) for i in neighbours)
    )
    base_body = json_body(first)
    others: list[tuple[int, Exchange, bool]] = []  # (id, answer, proven another owner's)
    for i, ex in zip(neighbours, answers, strict=True):
        remember(ctx, op, ex, me)
        if not carries_data(ex) or ex.body_text == first.body_text:
            continue
        body_owner, mine = _owner(json_body(ex)), _owner(base_body)
        shared = set(body_owner) & set(mine)
        if shared and all(body_owner[k] == mine[k] for k in shared) and not own:
            continue  # the neighbour is the caller's too
        proven = bool(own) or (bool(shared) and any(body_owner[k] != mine[k] for k in shared))
        others.append((i, ex, proven))
    mine_known = bool(own)
    if not others:
        ctx.cover(CHECK, CATEGORY, op, p, "passed", f"ids {neighbours} not readable as {me.label}")
        return [], (base, first, mine_known)
    ids_read = [i for i, _, _ in others]
    exchanges = [first, *(e for _, e, _ in others)]
    if me.anonymous:
        return [
            _finding(
                "bola.predictable-id",
                "Sequential object ids let anyone walk the collection",
                Severity.MEDIUM,
                Confidence.CONFIRMED,
                op,
                p,
                f"{op.key} takes a sequential integer id and answers, without credentials, for id {base} "
                f"and for its neighbours {ids_read}: every object can be read by counting.",
                exchanges,
                f"{status_line(first)}; neighbours {ids_read} answered with other objects",
                ids_read=ids_read,
                base_id=base,
            )
        ], (base, first, mine_known)
    proven = any(pr for _, _, pr in others)
    return [
        _finding(
            "bola.adjacent-id",
            "Another user's object readable by changing the id",
            Severity.HIGH,
            Confidence.CONFIRMED if proven else Confidence.LIKELY,
            op,
            p,
            f"As {me.label}, {op.key} answers for id {base} and also for {ids_read}, "
            + (
                "which are not the caller's objects (not in the caller's own list or another owner). "
                if proven
                else "objects that look like someone else's (no owner field to prove it). "
            )
            + "The view loads objects by id without checking who owns them.",
            exchanges,
            f"own id {base}; read {ids_read} as {me.label}",
            ids_read=ids_read,
            base_id=base,
            own_ids=own,
            identity=me.label,
        )
    ], (base, first, mine_known)


async def _cross(
    ctx: ScanContext,
    targets: list[tuple[Operation, Param]],
    owned: dict[str, tuple[Any, Exchange, bool]],
    a: Identity,
    b: Identity,
) -> list[Finding]:
    async def one(op: Operation, p: Param) -> Finding | None:
        if op.key not in owned:
            ctx.cover(
                CHECK,
                CATEGORY,
                op,
                p,
                "inconclusive",
                f"no object of {a.label} found to try as {b.label}",
            )
            return None
        obj_id, a_ex, proven = owned[op.key]
        b_ex = await send_as(ctx, CHECK, op, b, {p.display: obj_id})
        remember(ctx, op, b_ex, b)
        same = carries_data(b_ex) and _same_object(b_ex, a_ex, obj_id, p)
        if not same:
            why = f"{b.label} cannot read {a.label}'s object {obj_id} ({b_ex.status})"
            if b_ex.status is None:
                ctx.cover(CHECK, CATEGORY, op, p, "error", f"{why}: {b_ex.error or 'no answer'}")
            elif b_ex.status == 401 or refusal(b_ex) is Cause.CSRF:
                # 401: B's credentials themselves were refused, not B's access to A's object.
                cause = refusal(b_ex) or Cause.AUTH
                ctx.refused(CHECK, CATEGORY, op, p, cause, f"{why}: {b.label} not authenticated")
            else:
                ctx.cover(CHECK, CATEGORY, op, p, "passed", why)
            return None
        # A public object (a catalogue page by slug, a public profile listed by a public
        # directory) reads the same without any credentials: B reading it is the design, not a
        # broken authorization, even when it came from A's list (the list may be everyone's).
        anon = await send_as(ctx, CHECK, op, ANONYMOUS, {p.display: obj_id})
        if carries_data(anon) and _same_object(anon, a_ex, obj_id, p):
            ctx.cover(CHECK, CATEGORY, op, p, "passed", f"{obj_id} is public (read anonymously)")
            return None
        how = f"from {a.label}'s own list" if proven else f"{a.label} can read it"
        return _finding(
            "bola.cross-identity",
            f"{b.label} reads {a.label}'s object",
            Severity.HIGH,
            Confidence.CONFIRMED if proven else Confidence.LIKELY,
            op,
            p,
            f"Object {obj_id} of {op.key} belongs to {a.label} ({how}); "
            f"{b.label}'s credentials read the same object. Object access is not tied to the caller.",
            [a_ex, b_ex],
            f"{a.label}: {status_line(a_ex)}; {b.label}: {status_line(b_ex)}",
            ids_read=[obj_id],
            owner=a.label,
            reader=b.label,
        )

    results = await asyncio.gather(*(one(op, p) for op, p in targets))
    return [f for f in results if f is not None]
