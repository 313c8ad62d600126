"""Broken object-level authorization (API1). Read-only: GET requests only.

- predictable ids: an object operation whose id is a sequential integer, where id±1 answers with
  another object to a caller without credentials (anyone can walk the collection);
- adjacent ids: with the user's credentials (-H, or the first --identity), id±1 answers with an
  object that is not the caller's (not in the caller's own list, or another owner field);
- cross identity: with two identities (--identity A ..., --identity B ...), B reads A's object.

The caller's own objects come from the parent collection (GET /orders for /orders/{id}) when the
API has one; the starting id otherwise comes from the spec's example.
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
    remember,
    send_as,
    status_line,
)
from firebrick.context import ScanContext
from firebrick.model import (
    Confidence,
    Evidence,
    Exchange,
    Finding,
    Location,
    Operation,
    Param,
    Severity,
)

CHECK = "bola"
CATEGORY = "bola"
MAX_OPS = 4  # object operations probed
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
    for p in op.params:
        if (
            p.location in (Location.PATH, Location.QUERY)
            and _ID_NAME.search(p.name)
            and not p.guessed
        ):
            return p
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


def _ids(data: Any) -> list[int]:
    out = []
    for item in items_of(data) or []:
        if isinstance(item, dict):
            value = _int_like(item.get("id"))
            if value is not None:
                out.append(value)
    return out


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
    targets = [(op, p) for op in plain_ops(ctx) if (p := id_param(op)) is not None][:MAX_OPS]
    who = identities(ctx)
    primary = who[0] if who else ANONYMOUS
    results = await asyncio.gather(*(_adjacent(ctx, op, p, primary) for op, p in targets))
    owned: dict[str, tuple[int, Exchange, bool]] = {}
    for (op, _p), (findings, own) in zip(targets, results, strict=True):
        for f in findings:
            yield f
        if own is not None:
            owned[op.key] = own
    if len(who) >= 2:
        for f in await _cross(ctx, targets, owned, who[0], who[1]):
            yield f
    elif targets:
        ctx.cover(
            CHECK,
            CATEGORY,
            None,
            "cross-identity",
            "skipped",
            'give two identities (--identity NAME "Header: value", twice) to test this',
        )


async def _adjacent(
    ctx: ScanContext, op: Operation, p: Param, me: Identity
) -> tuple[list[Finding], tuple[int, Exchange, bool] | None]:
    """Probe id±1 from an id the caller can read; returns findings and (that id, its answer,
    whether it is known to be the caller's own)."""
    own: list[int] = []
    parent = _parent(ctx, op, p)
    if parent is not None and not me.anonymous:
        lst = await send_as(ctx, CHECK, parent, me)
        remember(ctx, parent, lst, me)
        own = _ids(json_body(lst)) if carries_data(lst) else []
    base = own[0] if own else _int_like(_example(p))
    if base is None:
        base = 1 if (p.schema or {}).get("type") == "integer" else None
    if base is None:
        ctx.cover(
            CHECK, CATEGORY, op, p, "skipped", "ids are not sequential integers (or no example id)"
        )
        return [], None
    first = await send_as(ctx, CHECK, op, me, {p.display: base})
    remember(ctx, op, first, me)
    if not carries_data(first):
        ctx.cover(
            CHECK,
            CATEGORY,
            op,
            p,
            "inconclusive",
            f"id {base} is not readable as {me.label} ({first.status})",
        )
        return [], None
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
    owned: dict[str, tuple[int, Exchange, bool]],
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
        same = carries_data(b_ex) and (
            b_ex.body_text == a_ex.body_text
            or _int_like(
                (json_body(b_ex) or {}).get("id") if isinstance(json_body(b_ex), dict) else None
            )
            == obj_id
        )
        if not same:
            ctx.cover(
                CHECK,
                CATEGORY,
                op,
                p,
                "passed",
                f"{b.label} cannot read {a.label}'s object {obj_id} ({b_ex.status})",
            )
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
