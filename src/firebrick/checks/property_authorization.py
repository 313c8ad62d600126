"""Broken object property-level authorization (API3).

- sensitive properties in answers: passwords and hashes, secrets, tokens, API keys, private keys
  (read from the answers the authentication, bola and bfla checks received, plus one GET of each
  collection they did not reach);
- other users' personal data: a collection answer listing the e-mail addresses (or phone
  numbers) of several different people;
- mass-assignment surface: write operations whose request schema accepts privileged properties
  (role, is_admin, permissions, balance ...), reported from the spec in safe mode;
- mass assignment, full mode only, with credentials: set one privileged property through a
  PUT/PATCH of an object the caller can read, read it back, then put the old value back.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from firebrick.checks import writes
from firebrick.checks.authz_common import (
    ANONYMOUS,
    PRIVILEGED,
    Identity,
    carries_data,
    has_required_inputs,
    identities,
    items_of,
    json_body,
    looks_health,
    looks_login,
    make_finding,
    path_params,
    plain_ops,
    pool,
    remember,
    send_as,
    snake,
    status_line,
    walk_keys,
)
from firebrick.checks.writes import restore_now
from firebrick.context import ScanContext
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
CATEGORY = "property_authorization"
MAX_EXTRA_GETS = 6
SENSITIVE = re.compile(
    r"^(password|passwd|pwd|pass|password_hash|passwordhash|hashed_password|pwd_hash|pass_hash|"
    r"secret|client_secret|secret_key|api_key|apikey|api_secret|private_key|access_token|"
    r"refresh_token|auth_token|session_token|otp_secret|totp_secret|mfa_secret|ssn|"
    r"social_security_number|credit_card|card_number|cvv|aws_secret_access_key)$"
)
PII = ("email", "phone", "phone_number", "address", "date_of_birth", "dob")
OWASP = "https://owasp.org/API-Security/editions/2023/en/0xa3-broken-object-property-level-authorization/"


_finding = partial(make_finding, CATEGORY, OWASP)


async def run(ctx: ScanContext) -> AsyncIterator[Finding]:
    who = identities(ctx)
    me = who[0] if who else ANONYMOUS
    seen_ops = {obs.op for obs in pool(ctx)}
    # Collections nobody fetched yet: one GET each as the user (or anonymously).
    extra = [
        op
        for op in plain_ops(ctx)
        if op.key not in seen_ops
        and not path_params(op)
        and not has_required_inputs(op)
        and not looks_health(op)
        # never touch URL-fetching inputs: their examples point at third parties
        and not any(p.kinds & {InputKind.URL, InputKind.HOST} for p in op.params)
    ][:MAX_EXTRA_GETS]
    answers = await asyncio.gather(*(send_as(ctx, CHECK, op, me) for op in extra))
    for op, ex in zip(extra, answers, strict=True):
        remember(ctx, op, ex, me)

    for finding in _sensitive(ctx):
        yield finding
    for finding in _other_users(ctx):
        yield finding

    surface = _mass_assignment_surface(ctx)
    if ctx.options.mode == "full":
        # Creates (registrations need no account) and another user's objects: checks/writes.py.
        created = await writes.mass_assignment_on_create(ctx, me)
        crossed = await writes.cross_identity_writes(ctx, who[0], who[1]) if len(who) > 1 else []
        for finding in [*created, *crossed]:
            yield finding
        surface = [f for f in surface if f.operation not in {c.operation for c in created}]
    if ctx.options.mode == "full" and who:
        active = await _mass_assignment(ctx, who[0])
        for finding in active:
            yield finding
        tested = {f.operation for f in active} | set(
            ctx.state.get("property_authorization.ma_clean", [])
        )
        surface = [f for f in surface if f.operation not in tested]  # the active test decided
    for finding in surface:
        yield finding


def _answers(ctx: ScanContext) -> dict[str, tuple[Exchange, Any]]:
    """One 2xx JSON GET answer per operation from the pool (first seen)."""
    out: dict[str, tuple[Exchange, Any]] = {}
    for obs in pool(ctx):
        ex = obs.exchange
        if obs.op in out or ex.method != "GET" or ex.status is None or not 200 <= ex.status < 300:
            continue
        data = json_body(ex)
        if data is not None:
            out[obs.op] = (ex, data)
    return out


def _sensitive(ctx: ScanContext) -> list[Finding]:
    findings = []
    for op_key, (ex, data) in _answers(ctx).items():
        hits = sorted(
            {
                k
                for k, v in walk_keys(data)
                if SENSITIVE.match(snake(k)) and isinstance(v, (str, int)) and str(v).strip()
            }
        )
        if hits:
            findings.append(
                _finding(
                    "property_authorization.sensitive-property",
                    "Response exposes sensitive properties",
                    Severity.HIGH,
                    Confidence.CONFIRMED,
                    op_key,
                    f"The answer of {op_key} carries {', '.join(hits)}. The client never needs them; "
                    "whoever reads the answer (browser, logs, an attacker with any account) gets them.",
                    [ex],
                    f"{', '.join(hits)} in {status_line(ex)}",
                    properties=hits,
                )
            )
        else:
            ctx.cover(
                CHECK, CATEGORY, None, op_key, "passed", "no sensitive properties in the answer"
            )
    return findings


def _other_users(ctx: ScanContext) -> list[Finding]:
    findings = []
    for op_key, (ex, data) in _answers(ctx).items():
        items = [i for i in items_of(data) or [] if isinstance(i, dict)]
        if len(items) < 2:
            continue
        for field in PII:
            values = {str(i[k]) for i in items for k in i if snake(str(k)) == field and i[k]}
            if len(values) >= 2:
                findings.append(
                    _finding(
                        "property_authorization.other-users-data",
                        "Response lists other users' personal data",
                        Severity.MEDIUM,
                        Confidence.LIKELY,
                        op_key,
                        f"The answer of {op_key} lists {len(values)} different {field} values: personal data "
                        "of several people in one answer. Unless every caller may see all of them, filter "
                        "the collection to the caller or drop the field.",
                        [ex],
                        f"{len(values)} distinct {field} values in {status_line(ex)}",
                        property=field,
                    )
                )
                break
    return findings


def _privileged_inputs(op: Operation) -> list[str]:
    out = []
    for p in op.params:
        if p.location not in (Location.JSON, Location.FORM) or len(p.json_path) > 1:
            continue  # top-level fields only: nested ones (chat messages' role) are data
        name = snake(p.json_path[-1] if p.json_path else p.name)
        if name in PRIVILEGED:
            out.append(p.display)
    return out


def _mass_assignment_surface(ctx: ScanContext) -> list[Finding]:
    findings = []
    for op in plain_ops(ctx, methods=("POST", "PUT", "PATCH")):
        if looks_login(op):
            continue
        inputs = _privileged_inputs(op)
        if inputs:
            findings.append(
                _finding(
                    "property_authorization.mass-assignment-surface",
                    "Request schema accepts privileged properties",
                    Severity.LOW,
                    Confidence.POSSIBLE,
                    op.key,
                    f"{op.key} documents {', '.join(inputs)} as writable by the client. If the view copies "
                    "them onto the object, a caller grants itself privileges (run in full mode with "
                    "credentials to test it).",
                    [],
                    f"privileged inputs in the request schema: {', '.join(inputs)}",
                    input=inputs[0],
                    inputs=inputs,
                )
            )
    return findings


async def _mass_assignment(ctx: ScanContext, me: Identity) -> list[Finding]:
    """Full mode: PUT/PATCH a privileged property on an object the caller can read, read it back,
    then put the old value back and verify that by reading again."""
    findings: list[Finding] = []
    clean: list[str] = []
    reads = {op.path: op for op in plain_ops(ctx) if not has_required_inputs(op)}
    for write in plain_ops(ctx, methods=("PATCH", "PUT"))[:4]:
        read = reads.get(write.path)
        if read is None or path_params(write) or looks_login(write):
            continue
        before_ex = await send_as(ctx, CHECK, read, me)
        before = json_body(before_ex)
        if not carries_data(before_ex) or not isinstance(before, dict):
            continue
        lowered = {snake(str(k)): k for k in before}
        name = next((lowered[k] for k in PRIVILEGED if k in lowered), None) or "role"
        new = PRIVILEGED.get(snake(name), "admin")
        if before.get(name) == new:
            continue
        body = {
            k: before[k]
            for k in before
            if any((p.json_path or (p.name,))[0] == k for p in write.params)
        }
        body[name] = new
        put_ex = await ctx.client.request(
            write.method, write.path, json=body, headers=me.headers, check=CHECK, op_key=write.key
        )
        if ctx.client.ledger is not None:
            ctx.client.ledger.annotate(
                put_ex, f"mass-assignment probe: {name}={new!r} (was {before.get(name)!r})"
            )
        after_ex = await send_as(ctx, CHECK, read, me)
        after = json_body(after_ex)
        readable = carries_data(after_ex) and isinstance(after, dict)
        applied = readable and isinstance(after, dict) and after.get(name) == new
        accepted = put_ex.status is not None and 200 <= put_ex.status < 300
        # Restore whenever the write was accepted and the object is not provably as it was: the
        # probe may have broken the object (an answer that no longer reads) as well as changed it.
        unchanged = readable and isinstance(after, dict) and after.get(name) == before.get(name)
        restored: Restore | None = None
        if accepted and not unchanged:
            restored = await restore_now(ctx, put_ex, before)
        if applied and isinstance(after, dict):
            findings.append(
                _finding(
                    "property_authorization.mass-assignment",
                    "Mass assignment: a client set a privileged property",
                    Severity.HIGH,
                    Confidence.CONFIRMED,
                    write.key,
                    f"{write.key} accepted {name}={new!r} from {me.label} and {read.key} now returns it "
                    f"(it was {before.get(name)!r}): the view copies request fields onto the object. "
                    + (restored.sentence if restored else ""),
                    [put_ex, after_ex],
                    f"{name}: {before.get(name)!r} -> {after.get(name)!r}",
                    input=f"json:{name}",
                    property=name,
                    restored=restored.verified if restored else None,
                    left_as=restored.now if restored and not restored.verified else None,
                )
            )
        elif not readable and accepted:
            # The write was taken and the object no longer reads: we cannot say "not applied".
            ctx.cover(
                CHECK,
                CATEGORY,
                write,
                f"json:{name}",
                Outcome.NOT_DETERMINED,
                f"{read.key} answered {status_line(after_ex)} after the write; "
                + (restored.sentence if restored else ""),
            )
        else:
            # "not applied" is a pass only when the write reached the view (not a 401/400)
            outcome = ctx.passed_if_reached(
                CHECK,
                CATEGORY,
                write,
                f"json:{name}",
                put_ex,
                reason="privileged property not applied",
            )
            if outcome is Outcome.PASSED:
                clean.append(write.key)
    ctx.state["property_authorization.ma_clean"] = clean
    return findings
