"""Unrestricted resource consumption (API4). Read-only; the burst is small and bounded.

- burst: ``--burst`` (default 30) GETs to one cheap operation, in waves of at most 5 (never more
  than the advertised RateLimit-Remaining + 1), stopping at the first 429. Passed when the target answers 429 or advertises a limit (RateLimit-* / X-RateLimit-*
  headers); otherwise "no rate limit seen". The operation chosen is one that already advertises a
  limit (to verify it is enforced), else the smallest answer among parameterless collections.
- login throttling: the authentication check's (at most four) wrong-password attempts are read
  for 429 or limit headers; no extra login attempt is sent here.
- unbounded collections: answers listing 500 or more items (or 1 MiB) in one page; pagination
  size parameters (limit, per_page ...) that accept 100000.

It runs after the other authorization checks so its burst (and any 429, which slows the whole
scan's pace) comes last.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from firebrick.checks.authz_common import (
    ANONYMOUS,
    carries_data,
    has_required_inputs,
    identities,
    items_of,
    json_body,
    looks_admin,
    looks_health,
    make_finding,
    path_params,
    plain_ops,
    pool,
    remember,
    send_as,
    status_line,
)
from firebrick.context import ScanContext
from firebrick.model import (
    Confidence,
    Exchange,
    Finding,
    InputKind,
    Location,
    Operation,
    Severity,
)
from firebrick.reach import refusal

CHECK = "rate_limiting"
CATEGORY = "rate_limiting"
LIMIT_HEADERS = (
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit-policy",
    "ratelimit",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-rate-limit-limit",
    "x-rate-limit-remaining",
    "retry-after",
)
PAGE_SIZE_NAMES = {
    "limit",
    "per_page",
    "perpage",
    "page_size",
    "pagesize",
    "size",
    "count",
    "max",
    "top",
    "first",
    "take",
    "max_results",
    "maxresults",
    "pagelimit",
    "page_limit",
}
HUGE = 100_000
BIG_COLLECTION = 500  # items in one answer
BIG_BODY = 1_048_576  # bytes in one answer
MAX_LIMIT_OPS = 3
WAVE = 5  # burst requests in flight at once
OWASP = "https://owasp.org/API-Security/editions/2023/en/0xa4-unrestricted-resource-consumption/"


def limit_headers(ex: Exchange) -> dict[str, str]:
    return {k: v for k, v in ex.response_headers.items() if k.lower() in LIMIT_HEADERS}


def _remaining(ex: Exchange) -> int | None:
    for name in ("ratelimit-remaining", "x-ratelimit-remaining", "x-rate-limit-remaining"):
        value = ex.response_headers.get(name, "").split(",")[0].strip()
        if value.isdigit():
            return int(value)
    return None


_finding = partial(make_finding, CATEGORY, OWASP)


def _cheap_candidates(ctx: ScanContext) -> list[Operation]:
    return [
        op
        for op in plain_ops(ctx)
        if not path_params(op)
        and not has_required_inputs(op)
        and not looks_health(op)
        and not looks_admin(op)
        and not op.deprecated
        and not any(p.kinds & {InputKind.URL, InputKind.HOST} for p in op.params)
    ]


async def run(ctx: ScanContext) -> AsyncIterator[Finding]:
    for finding in _login_throttling(ctx):
        yield finding
    for finding in _unbounded(ctx):
        yield finding
    for finding in await _huge_limits(ctx):
        yield finding
    burst = await _burst(ctx)
    if burst is not None:
        yield burst


def _checks_credentials(answered: list[Exchange]) -> bool:
    """Answers that judged the credentials: refusals, or a login's own words. The same 200 page
    for every attempt (a static help page behind a form) is no login at all."""
    if any(e.status in (400, 401, 403, 422) for e in answered):
        return True
    bodies = {e.body_text for e in answered}
    if len(bodies) == 1 and all(
        "html" in e.response_headers.get("content-type", "") for e in answered
    ):
        return False
    return any(
        re.search(
            r"password|credential|invalid|incorrect|denied|token|does not exist|no such user|"
            r"unknown user|user not found",
            e.body_text,
            re.I,
        )
        for e in answered
    )


def _login_throttling(ctx: ScanContext) -> list[Finding]:
    findings = []
    attempts: dict[str, list[Exchange]] = ctx.state.get("authentication.login_attempts", {})
    for op_key, exchanges in attempts.items():
        answered = [e for e in exchanges if e.status is not None]
        if not answered:
            continue
        if not _checks_credentials(answered):
            ctx.cover(CHECK, CATEGORY, None, op_key, "skipped", "answers do not look like a login")
            continue
        if any(e.status == 429 or limit_headers(e) for e in answered):
            ctx.cover(CHECK, CATEGORY, None, op_key, "passed", "login answers carry a rate limit")
            continue
        findings.append(
            _finding(
                "rate_limiting.login-unthrottled",
                "Login shows no sign of throttling",
                Severity.MEDIUM,
                Confidence.POSSIBLE,
                op_key,
                f"{len(answered)} wrong-password attempts at {op_key} were answered with no 429 and no "
                "rate-limit headers. firebrick sends no more than a handful (to lock nobody out), so "
                "this is a sign, not proof, that password guessing is unlimited.",
                answered,
                "; ".join(status_line(e) for e in answered),
            )
        )
    return findings


def _answers(ctx: ScanContext) -> dict[str, Exchange]:
    out: dict[str, Exchange] = {}
    for obs in pool(ctx):
        ex = obs.exchange
        if (
            obs.op not in out
            and ex.method == "GET"
            and ex.status is not None
            and 200 <= ex.status < 300
        ):
            out[obs.op] = ex
    return out


def _count(ex: Exchange) -> int | None:
    items = items_of(json_body(ex))
    return len(items) if items is not None else None


def _unbounded(ctx: ScanContext) -> list[Finding]:
    findings = []
    for op_key, ex in _answers(ctx).items():
        n = _count(ex)
        if (n is not None and n >= BIG_COLLECTION) or ex.response_size >= BIG_BODY:
            findings.append(
                _finding(
                    "rate_limiting.unbounded-collection",
                    "Collection returned in one unbounded answer",
                    Severity.MEDIUM,
                    Confidence.CONFIRMED,
                    op_key,
                    f"{op_key} returned {n if n is not None else 'a'} items ({ex.response_size} bytes) in one "
                    "answer without pagination. Every caller can make the server load and serialize the "
                    "whole collection, and it only grows.",
                    [ex],
                    f"{n} items, {ex.response_size} bytes in {status_line(ex)}",
                    items=n,
                )
            )
    return findings


def _size_param(op: Operation) -> Any:
    return next(
        (
            p
            for p in op.params
            if p.location is Location.QUERY
            and not p.guessed
            and p.name.lower().replace("-", "_") in PAGE_SIZE_NAMES
        ),
        None,
    )


async def _huge_limits(ctx: ScanContext) -> list[Finding]:
    findings = []
    who = identities(ctx)
    me = who[0] if who else ANONYMOUS
    seen = _answers(ctx)
    for op in [op for op in _cheap_candidates(ctx) if _size_param(op)][:MAX_LIMIT_OPS]:
        param = _size_param(op)
        base = seen.get(op.key)
        if base is None:
            base = await send_as(ctx, CHECK, op, me)
            remember(ctx, op, base, me)
        n0 = _count(base) if carries_data(base) else None
        if n0 is None:
            continue
        big = await send_as(ctx, CHECK, op, me, {param.display: HUGE})
        n1 = _count(big) if carries_data(big) else None
        if n1 is not None and n1 > max(n0, 100):
            findings.append(
                _finding(
                    "rate_limiting.huge-limit",
                    "Page size parameter accepts huge values",
                    Severity.MEDIUM,
                    Confidence.CONFIRMED,
                    op.key,
                    f"{op.key} returned {n0} items by default and {n1} with {param.name}={HUGE}: the "
                    "server does not cap the page size, so one request can ask for everything.",
                    [base, big],
                    f"{param.name}={HUGE} -> {n1} items (default {n0})",
                    input=param.display,
                    default_items=n0,
                    items=n1,
                )
            )
        else:
            ctx.cover(
                CHECK,
                CATEGORY,
                op,
                param,
                "passed",
                f"{param.name}={HUGE} -> {n1} items (default {n0})",
            )
    return findings


async def _burst(ctx: ScanContext) -> Finding | None:
    n = ctx.options.burst
    if n <= 0 or ctx.options.mode == "passive":
        ctx.cover(CHECK, CATEGORY, None, "burst", "skipped", "--burst 0")
        return None
    seen = _answers(ctx)
    candidates = _cheap_candidates(ctx)
    if not candidates:
        ctx.cover(
            CHECK,
            CATEGORY,
            None,
            "burst",
            "skipped",
            "no parameterless GET operation to send a burst to",
        )
        return None

    def rank(op: Operation) -> tuple[int, int, int]:
        ex = seen.get(op.key)
        advertised = 0 if ex is not None and limit_headers(ex) else 1
        return (
            advertised,
            0 if ex is not None else 1,
            ex.response_size if ex is not None else 1 << 30,
        )

    op = sorted(candidates, key=rank)[0]
    who = identities(ctx)
    me = who[0] if who else ANONYMOUS
    sent: list[Exchange] = []
    started = time.monotonic()
    # Small waves, stopping at the first 429: each 429 halves the whole scan's pace, so a wave
    # never exceeds what the server says is left (RateLimit-Remaining) plus one.
    while len(sent) < n:
        size = 1 if not sent else min(WAVE, n - len(sent))
        left = _remaining(sent[-1]) if sent else None
        if left is not None:
            size = max(1, min(size, left + 1))
        wave = await asyncio.gather(*(send_as(ctx, CHECK, op, me) for _ in range(size)))
        sent += wave
        if any(e.status == 429 or e.status is None for e in wave):
            break
    took = time.monotonic() - started
    limited = [e for e in sent if e.status == 429]
    advertised = [e for e in sent if limit_headers(e)]
    walled = [refusal(e) for e in sent if e.status != 429]
    if walled and all(c is not None for c in walled) and not limited:
        # every answer was a refusal (401, CSRF, 404): the burst measured the wall, not the API
        cause = walled[0]
        assert cause is not None
        ctx.refused(CHECK, CATEGORY, op, "burst", cause, f"{len(sent)} burst requests refused")
        return None
    if limited:
        ctx.cover(
            CHECK,
            CATEGORY,
            op,
            "burst",
            "passed",
            f"429 after {sent.index(limited[0]) + 1} requests",
        )
        return None
    if advertised:
        ctx.cover(
            CHECK,
            CATEGORY,
            op,
            "burst",
            "passed",
            f"limit advertised ({', '.join(f'{k}: {v}' for k, v in limit_headers(advertised[-1]).items())}), "
            f"not reached in {len(sent)} requests",
        )
        return None
    ok = [e for e in sent if e.status is not None and e.status < 400]
    if len(ok) < len(sent) // 2:
        causes = [c for e in sent if (c := refusal(e)) is not None]
        if causes and len(causes) * 2 >= len(sent):
            cause = max(set(causes), key=causes.count)
            ctx.refused(CHECK, CATEGORY, op, "burst", cause, "most burst requests were refused")
        else:
            ctx.cover(CHECK, CATEGORY, op, "burst", "inconclusive", "most burst requests failed")
        return None
    rate = len(sent) / took if took > 0 else float("inf")
    return _finding(
        "rate_limiting.no-rate-limit",
        "No rate limit on the API",
        Severity.MEDIUM,
        Confidence.LIKELY,
        op.key,
        f"{len(sent)} requests to {op.key} in {took:.2f} s ({rate:.0f}/s) were all answered, none with "
        "429, and no answer advertised a limit (RateLimit or X-RateLimit headers). Without a limit one "
        "client can exhaust the service, scrape it, or brute-force it.",
        [sent[0], sent[-1]],
        f"{len(sent)} x {op.key}: statuses {sorted({e.status for e in sent if e.status})}, "
        "no 429, no rate-limit headers",
        requests=len(sent),
        seconds=round(took, 3),
    )
