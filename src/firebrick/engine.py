"""The engine: discovery -> checks (concurrently) -> late OOB attribution -> judge -> scoring.

It owns the time budget and the lifecycle of the scoped client and the per-scan OOB server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from firebrick import __version__
from firebrick.auth.manager import register_identities, start_auth
from firebrick.checks import Check, selected
from firebrick.checks.injection import reads_by_post
from firebrick.context import COVERAGE_NOTES, EXCLUDED_OPERATIONS, ScanContext
from firebrick.coverage import discovery_warning, summarize
from firebrick.credentials import REFUSED_STATE
from firebrick.credentials import check_at_start as check_credentials
from firebrick.discovery import discover
from firebrick.discovery.framework import detect_framework
from firebrick.errors import BudgetExhausted
from firebrick.http import ScopedClient, concurrency_for, tls_verify
from firebrick.interrupt import INTERRUPT
from firebrick.judge import judge
from firebrick.ledger import WriteLedger
from firebrick.model import Cause, Finding, Operation, Outcome, ScanResult, ScanStats, Surface
from firebrick.oob.endpoint import OOBEndpoint
from firebrick.oob.server import OOBConfig, OOBServer
from firebrick.options import ScanOptions
from firebrick.progress import ScanProgress
from firebrick.redact import redact_result
from firebrick.remediation.extra import annotate
from firebrick.restore import Restorer
from firebrick.scoring import score_result, withhold_if_incomplete
from firebrick.sideeffects import SendPolicy
from firebrick.target_policy import PolicyResolver, TargetPolicy
from firebrick.wall import WallClock, Watchdog

Progress = Callable[[str], None]  # may carry a ``state`` (firebrick.progress.ScanProgress)
PROGRESS_STATE = "progress"  # ctx.state key of the ScanProgress, when a display asked for one


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def target_is_local(url: str) -> bool:
    """True when the target's host is a loopback address of this machine."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:  # the target's own name, never a payload: resolving it is how we reach it anyway
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def oob_config(options: ScanOptions, local: bool) -> OOBConfig:
    inside: str | None = options.oob_inside
    if inside == "auto":
        inside = "127.0.0.1" if local else None
    return OOBConfig(
        listen_host=options.oob_listen,
        http_port=options.oob_http_port,
        https_port=options.oob_https_port,
        dns_port=options.oob_dns_port,
        zone=options.oob_zone,
        advertise_host=options.oob_advertise,
        inside_host=inside,
        # A remote target never calls from our loopback: such interactions are our own.
        ignore_sources=frozenset() if local else frozenset({"127.0.0.1", "::1"}),
    )


def make_oob(options: ScanOptions, local: bool) -> OOBEndpoint:
    """The scan's OOB endpoint: a registration at ``--oob-server`` if given, else our listeners."""
    if options.oob_server:
        from firebrick.oob.client import RemoteOOB

        return RemoteOOB(
            options.oob_server,
            options.oob_key or "",
            # Callers that build ScanOptions themselves (serve, fleet workers) skip the
            # environment: its CA setting still applies to them.
            ca_file=options.oob_ca or os.environ.get("FIREBRICK_OOB_CA") or None,
            label=f"firebrick {__version__}",
        )
    return OOBServer(oob_config(options, local))


def _remote_notes(oob: OOBEndpoint) -> list[str]:
    """What the shared OOB service cannot do for this scan, said once in the report."""
    unavailable = getattr(oob, "unavailable", None)
    lines = unavailable() if callable(unavailable) else []
    return [f"remote OOB server: no {line}" for line in lines]


def _remote_health(oob: OOBEndpoint) -> list[str]:
    """Whether the remote event feed held up: a lost feed or dropped events weaken "passed"."""
    notes = []
    lost = getattr(oob, "lost", None)
    if lost:
        notes.append(f"remote OOB server: the interaction feed ended early ({lost})")
    missed = getattr(oob, "missed", 0)
    if missed:
        notes.append(
            f"remote OOB server: {missed} interactions were dropped by its retention limits "
            "before this scan read them"
        )
    return notes


ALT_LOOPBACK = "127.0.0.2"


async def attach_alt_loopback(oob: OOBServer) -> None:
    """Same machine: our callback address is loopback, which a guard rightly refuses when it is
    spelled 127.0.0.1 and a substring denylist refuses for the wrong reason. The OOB HTTP
    listener also on another 127/8 address gives stage 1 a callback such guards let through
    (``oob.alt_callbacks``; the SSRF check adds it to stage 1)."""
    try:
        if not ipaddress.ip_address(oob.advertise_host).is_loopback:
            return
    except ValueError:
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((ALT_LOOPBACK, 0))
        sock.listen(128)
        sock.setblocking(False)
        port = await oob.attach_listener(sock, "public")
    except OSError:
        sock.close()
        return
    oob.alt_callbacks = [f"http://{ALT_LOOPBACK}:{port}"]


# A scan stops within --max-time plus this grace (docs/cli.md): what is running is cancelled at
# the deadline (a check stuck in synchronous code is interrupted by firebrick.wall), and
# cancellation, the OOB server's shutdown, judging and scoring fit in it.
GRACE_S = 3.0


async def run_scan(
    options: ScanOptions,
    *,
    oob: OOBEndpoint | None = None,
    progress: Progress | None = None,
    target_policy: TargetPolicy | None = None,
    stop: asyncio.Event | None = None,
    rate_limiter: Any = None,
) -> ScanResult:
    """Scan options.target. Pass a started OOBServer to share it (the demo does); else one is
    started and stopped here when a selected check needs it.

    ``--max-time`` is a hard wall around everything (discovery included): at the deadline, or
    when ``stop`` is set (SIGINT/SIGTERM, see firebrick.interrupt), what is running is cancelled
    and a partial result, marked incomplete, is returned.
    """
    options.validate()
    # logins add their identities: never mutate the caller's options
    options = dataclasses.replace(options, identities=dict(options.identities))
    say = progress or (lambda _msg: None)
    started_at, t0 = _now(), time.monotonic()
    deadline = t0 + options.max_time
    stop = stop if stop is not None else INTERRUPT.watch()
    local = target_is_local(options.target)
    checks, skipped = selected(options.checks, options.mode)
    own_oob = oob is None and any(c.needs_oob for c in checks)

    client = ScopedClient(
        options.target,
        headers=options.headers,
        rate=options.rate,
        concurrency=concurrency_for(options.rate, options.concurrency),
        budget=options.budget,
        per_operation_budget=options.per_operation_budget,
        timeout=options.timeout,
        max_response_bytes=options.max_response_bytes,
        deadline=deadline,
        verify_tls=tls_verify(options.insecure, options.ca_cert),
        # A service scanning for others pins every connection to addresses its policy allows.
        resolver=PolicyResolver(target_policy) if target_policy is not None else None,
        rate_limiter=rate_limiter,  # a fleet shares one per target host (fleet/ratelimit.py)
        proxy=options.proxy,
    )
    # What may be sent (classifier + --include/--exclude + mode) and every write that was sent.
    policy = SendPolicy.from_options(
        options.mode, options.include, options.exclude, options.assume_safe
    )
    ledger = WriteLedger()
    client.policy, client.ledger = policy, ledger
    # Full mode puts back what it changes (restore.py): snapshots before writes, restores after.
    restorer = client.start_restoring() if options.mode == "full" else None
    if restorer is not None:
        restorer.set_created(ledger.created_paths)
    ctx = ScanContext(
        options, client, Surface(base_url=client.base_url), oob, target_is_local=local
    )
    findings: list[Finding] = []
    # A progress display (firebrick.progress) reads what the scan has done from this object.
    tracker: ScanProgress | None = getattr(progress, "state", None)
    if isinstance(tracker, ScanProgress):
        tracker.attach(client, ctx, findings, deadline)
        ctx.state[PROGRESS_STATE] = tracker
    state: dict[str, Any] = {"complete": True, "auth": None}
    every_operation: list[Operation] = []

    async def body() -> None:
        if own_oob:
            endpoint = make_oob(options, local)
            say(
                "registering with the remote OOB server"
                if options.oob_server
                else "starting the out-of-band server"
            )
            await endpoint.start()
            ctx.oob = endpoint
            if options.oob_server:  # callbacks must be visible when the check reads them
                client.after_send.append(endpoint.settle)
            if local and isinstance(endpoint, OOBServer):
                await attach_alt_loopback(endpoint)
        oob = ctx.oob
        auth = await start_auth(client, options)
        state["auth"] = auth
        if auth is not None:
            say(f"identities: {', '.join(auth.names())}")
        say("discovering the API surface")
        surface = await discover(
            client,
            spec=options.spec,
            crawl=options.crawl,
            guess_params=options.guess_params,
            link_filter=policy.link_verdict,
            max_spec_bytes=options.max_spec_bytes,
            max_operations=options.max_operations,
        )
        if options.register:
            auth = await register_identities(auth, client, options, surface)
            state["auth"] = auth
        if auth is not None:
            surface.facts["identities"] = auth.names()
        every_operation[:] = surface.operations
        dropped = [(op, policy.operation_verdict(op)) for op in every_operation]
        surface.operations = [op for op, why in dropped if why is None]
        policy.approve(
            surface.operations, {op.key for op in surface.operations if reads_by_post(op)}
        )
        ledger.watch_collections(surface.operations)
        if restorer is not None:
            restorer.set_surface(surface.operations)
        ctx.surface = surface
        excluded = ctx.state.setdefault(EXCLUDED_OPERATIONS, [])
        for op, why in dropped:
            if why is not None:  # one coverage line per operation kept out of the scan
                excluded.append(op.key)
                ctx.cover(
                    "scope", "scope", op, None, Outcome.NOT_DETERMINED, why,
                    cause=Cause.EXCLUDED,
                )  # fmt: skip
        for link, why in surface.facts.get("links_not_followed", {}).items():
            method, _, path = link.partition(" ")
            ctx.cover(
                "scope", "scope", Operation(method, path, source="crawl"), None,
                Outcome.NOT_DETERMINED, why, cause=Cause.EXCLUDED,
            )  # fmt: skip
        ctx.warnings.extend(surface.warnings)
        if (few := discovery_warning(len(surface.operations))) is not None:
            ctx.warn(few)
        if oob is not None and options.oob_server and own_oob:
            ctx.warnings.extend(_remote_notes(oob))
        elif oob is not None and not _is_global(oob.advertise_host) and not local:
            ctx.warn(
                f"the OOB callback address {oob.advertise_host} is not public: a remote target "
                "cannot call it back; pass --oob-advertise with an address the target can reach"
            )
        if checks and (options.headers or options.identities):
            await check_credentials(ctx, say)  # refused credentials: say so at once
        if isinstance(tracker, ScanProgress):
            tracker.start_checks(len(checks), len(surface.operations))
        say(f"found {len(surface.operations)} operations; running {len(checks)} checks")
        if not await _run_checks(ctx, checks, findings, say):
            state["complete"] = False
        findings.extend(await _settle_deferred(ctx, deadline, say))
        if oob is not None and options.oob_server and own_oob:
            ctx.warnings.extend(_remote_health(oob))
        if restorer is not None:
            # At the end, not per check: checks run concurrently, and putting an object back
            # while another check probes it would change that check's verdict.
            changed = [t for t in restorer.objects() if t.dirty]
            if changed:
                say(f"restoring {len(changed)} objects the scan wrote to")
                await restorer.restore_all()
        if options.cleanup_enabled and ledger.created():
            say(f"cleaning up {len(ledger.created())} created objects")
            await ledger.cleanup(client, every_operation)

    interrupted = False
    watchdog = Watchdog(deadline)  # the wall's hard edge for checks stuck in synchronous code

    async def heartbeat() -> None:
        while True:
            watchdog.beat()
            await asyncio.sleep(0.1)  # the beat itself: the loop turns

    beating = asyncio.create_task(heartbeat())
    async with client:
        try:
            task = asyncio.create_task(body())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait(
                {task, stopper},
                timeout=max(deadline - time.monotonic(), 0.0),
                return_when=asyncio.FIRST_COMPLETED,
            )
            stopper.cancel()
            if not task.done():  # the wall (or the user) ends the scan here
                interrupted = stop.is_set()
                state["complete"] = False
                task.cancel()
                await asyncio.wait({task}, timeout=0.5 if interrupted else GRACE_S / 3)
            elif not task.cancelled() and isinstance(task.exception(), WallClock):
                state["complete"] = False  # discovery was stuck at the deadline
            elif not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]  # unreachable target, bad spec
        finally:
            watchdog.stop()
            beating.cancel()
            INTERRUPT.unwatch(stop)
            if own_oob and ctx.oob is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ctx.oob.stop(), timeout=GRACE_S / 3)
    surface, oob, auth, complete = ctx.surface, ctx.oob, state["auth"], state["complete"]
    every_operation = every_operation or list(surface.operations)

    for check, reason in skipped:
        ctx.cover(
            check.name, check.category, None, None, Outcome.NOT_DETERMINED, reason,
            cause=Cause.NOT_SELECTED,
        )  # fmt: skip
    for method, path, reason in dict.fromkeys(policy.refused):  # the client's safety net
        ctx.cover(
            "scope", "scope", Operation(method, path), None, Outcome.NOT_DETERMINED, reason,
            cause=Cause.EXCLUDED,
        )  # fmt: skip
    for entry in ledger.entries:  # checks that sent to a concrete path named no operation
        if entry.operation is None and entry.check not in ("discovery", "cleanup"):
            entry.operation = policy.operation_for(entry.method, entry.path)
    if restorer is not None:
        for failed in restorer.finish():  # one first-screen warning per object left changed
            ctx.warn(failed.warning)
        say_restored(findings, restorer)
    # Updates the target accepted that no verified restore covers: on the ledger and in a warning.
    created = ledger.created_paths()
    kept = [
        e
        for e in ledger.entries
        if e.method in ("PUT", "PATCH", "DELETE")
        and e.check not in ("cleanup", "restore")
        and e.status is not None
        and 200 <= e.status < 300
        and not any(v in (e.note or "") for v in _SETTLED)
        and e.path.split("?", 1)[0].rstrip("/") not in created  # --cleanup's business
    ]
    for entry in kept:
        if "cannot verify" not in (entry.note or ""):
            note = "accepted; not restored by firebrick"
            entry.note = f"{entry.note}; {note}" if entry.note else note
    if kept:
        ctx.warn(
            f"{len(kept)} update requests (PUT/PATCH/DELETE) were accepted and not restored or "
            "verified (see the write ledger: "
            f"{', '.join(sorted({f'{e.method} {e.path}' for e in kept})[:3])})"
        )
    left = [e for e in ledger.created() if not (e.cleanup or "").startswith("deleted")]
    if left:
        ctx.warn(
            f"{len(left)} objects this scan created remain on the target (see the write ledger: "
            + ", ".join(f"{e.method} {e.path} -> {e.created}" for e in left[:3])
            + (", ..." if len(left) > 3 else "")
            + ")"
        )
    # A category is assessed when one of its checks ran AND reached a verdict somewhere (a
    # finding, or a test that passed or was vulnerable): one whose tests were only refused or
    # not determined (e.g. resolver hygiene on the loopback lab) is "not assessed", never a
    # free 100.
    measured = {c.category for c in ctx.coverage if c.outcome.is_verdict}
    assessed = {c.category for c in checks} & (measured | {f.category for f in findings})
    llm = any("llm" in op.tags for op in surface.operations)
    findings = judge(list(findings))
    if isinstance(tracker, ScanProgress):
        tracker.judged(findings)  # the last progress line counts what the report shows
    # fixes fit the stack: the Flask fix first, then one line for the framework the answers show
    framework = detect_framework(client.exchanges)
    if framework is not None:
        surface.facts["framework"] = framework
        findings = annotate(findings, framework)
    categories, score, grade, explanation = score_result(findings, assessed, llm_applicable=llm)
    planned = {c.category for c in checks} - ({"llm_security"} if not llm else set())
    summary = summarize(
        ctx.coverage,
        findings,
        [op.key for op in every_operation],  # the excluded ones count as excluded, not untested
        client.op_answers,
        planned_categories=planned,
        assessed=assessed,
        excluded=ctx.state.get(EXCLUDED_OPERATIONS, ()),
        has_credentials=bool(options.headers or options.identities),
        credentials_refused=ctx.state.get(REFUSED_STATE, []),
        spec_given=bool(options.spec),
        with_inputs=[op.key for op in every_operation if any(not p.guessed for p in op.params)],
        declared=[op.key for op in every_operation if op.source in ("spec", "graphql")],
    )
    summary.notes.extend(ctx.state.get(COVERAGE_NOTES, []))
    grade = withhold_if_incomplete(grade, summary, explanation)
    if interrupted:
        ctx.warn("the scan was interrupted (SIGINT/SIGTERM): results are partial")
    elif not complete:
        ctx.warn(
            "the scan did not finish: its time limit or request budget ran out; "
            f"{summary.operations_untested} of {summary.operations_discovered} operations were "
            "not tested; results are partial"
        )
    result = ScanResult(
        target=options.target,
        started_at=started_at,
        finished_at=_now(),
        mode=options.mode,
        tool_version=__version__,
        score=score,
        grade=grade,
        categories=categories,
        findings=findings,
        coverage=ctx.coverage,
        warnings=ctx.warnings,
        stats=ScanStats(
            requests_sent=client.sent,
            requests_by_check=dict(client.by_check),
            oob_interactions=len(oob.interactions()) if oob is not None else 0,
            duration_s=round(time.monotonic() - t0, 3),
            operations=len(surface.operations),
            inputs_tested=summary.inputs_tested,
        ),
        complete=complete,
        interrupted=interrupted,
        surface={
            "spec": surface.spec_url,
            "spec_version": surface.spec_version,
            "graphql": surface.graphql_endpoint,
            "operations": [op.key for op in surface.operations],
            "facts": surface.facts,
            "identities": list(client.credentials.names()) if client.credentials else [],
            "relogins": auth.relogins() if auth is not None else {},
        },
        score_explanation=explanation,
        coverage_summary=summary,
        writes=list(ledger.entries),
    )
    # Whatever the user gave as a secret never leaves the scan, reflected by the target or not.
    # client.secrets: passwords and tokens the login flows used or obtained (firebrick.auth).
    return redact_result(result, options.secrets() + sorted(client.secrets))


# Ledger notes that settle what became of an accepted write (restore.py).
_SETTLED = ("restored; verified", "accepted; unchanged", "restore failed")


def say_restored(findings: list[Finding], restorer: Restorer) -> None:
    """A finding whose evidence holds a write to an object says what state it was left in
    (mass assignment and cross-identity writes say it themselves)."""
    for finding in findings:
        details = finding.evidence.details
        if "restored" in details:
            continue
        for ex in finding.evidence.exchanges:
            result = restorer.result_for(ex)
            why = restorer.unverified(ex)
            if result is not None and (result.changes or not result.verified):
                finding.description = f"{finding.description} {result.sentence}"
                details["restored"] = result.verified
                if not result.verified:
                    details["left_as"] = {k: n for k, _, n in result.left}
                break
            if why is not None:
                finding.description = (
                    f"{finding.description} The target accepted this write and firebrick cannot "
                    f"verify what it changed ({why})."
                )
                details["restored"] = None
                break


async def _run_checks(
    ctx: ScanContext, checks: list[Check], findings: list[Finding], say: Progress
) -> bool:
    """Run the checks (dependants after what they read); True when none was cut short.

    One check's exception is an ``error`` coverage entry for that check, not the end of the scan.
    The deadline is the caller's wall (run_scan cancels this coroutine, and so every check).
    """
    complete = True
    finished = {c.name: asyncio.Event() for c in checks}

    async def one(check: Check) -> None:
        nonlocal complete
        for name in check.after:  # a dependency that is not selected does not hold us up
            if name in finished:
                await finished[name].wait()
        say(f"check {check.name}")
        try:
            async for finding in check.run(ctx):
                findings.append(finding)
        except (BudgetExhausted, WallClock) as exc:
            complete = False
            ctx.warn(f"check {check.name} stopped early: {exc}")
        except Exception as exc:  # a bug or a hostile answer: this check errs, the scan goes on
            why = f"{type(exc).__name__}: {exc}"[:300]
            ctx.cover(check.name, check.category, None, None, Outcome.ERROR, why)
            ctx.warn(f"check {check.name} failed ({why}); its results are partial")
        finally:
            finished[check.name].set()
            if (tracker := ctx.state.get(PROGRESS_STATE)) is not None:
                tracker.check_finished(check.name)

    tasks = [asyncio.create_task(one(c)) for c in checks]
    try:
        if tasks:  # none: passive mode, or every check deselected
            await asyncio.gather(*tasks)
    finally:  # cancelled by the wall: cancel the checks too, and wait until they are gone
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return complete


async def _settle_deferred(ctx: ScanContext, deadline: float, say: Progress) -> list[Finding]:
    """Give late interactions a grace window, then attribute them.

    The window runs from when each payload was sent, not from now: payloads sent early in the
    scan have already had their time, so the wait is only as long as the youngest one needs.
    """
    if ctx.oob is None or not ctx.deferred:
        return []
    waiting = [d for d in ctx.deferred if d.tokens & ctx.oob.outstanding]
    outstanding = (
        set().union(*(d.tokens for d in waiting)) & ctx.oob.outstanding if waiting else set()
    )
    end = min(max((d.issued_at for d in waiting), default=0.0) + ctx.options.oob_grace, deadline)
    if outstanding and end > time.monotonic():
        say(
            f"waiting up to {end - time.monotonic():.1f}s for late callbacks on {len(outstanding)} payloads"
        )
        # Each wake-up means some token was hit; keep waiting for the rest until the window ends.
        while outstanding and (left := end - time.monotonic()) > 0:
            if not await ctx.oob.wait_for(outstanding, timeout=left):
                break
            outstanding &= ctx.oob.outstanding
    findings: list[Finding] = []
    for d in ctx.deferred:
        seen = {t: ctx.oob.interactions(t) for t in d.tokens}
        findings += d.verdict(seen)
    return findings


def _is_global(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return True  # a name: assume the user knows it is reachable
