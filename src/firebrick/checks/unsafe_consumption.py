"""How the target consumes a third party it fetches (category unsafe_consumption, API10).

Runs after the SSRF check and reuses what it learned: every input seen fetching our URLs
(``ctx.state["ssrf.fetchers"]``). Each of those gets, concurrently, one request per probe, and the
OOB server plays the misbehaving third party:

- tls: our HTTPS listener with a self-signed certificate no client should trust. A completed
  HTTP request over it proves the app does not verify TLS (a poisoned name or any on-path
  attacker then reads and rewrites its outbound calls).
- redirects: a chain of REDIRECT_CHAIN redirects; a client that follows more than REDIRECT_LIMIT
  hops follows redirects blindly (sane fetchers stop at 3-5 and re-validate each hop).
- script (GET operations): a text/html page with a <script> canary; reflected unchanged, with a content type a
  browser renders and no CSP that stops scripts, it is third-party content passed to the caller
  unsanitized (stored XSS from someone else's server).
- huge: a HUGE_BYTES body, streamed; a client that reads all of it has no size cap.
- stall (full mode only): our listener holds its answer STALL_SECONDS. A client still waiting at
  the end has no usable timeout. It occupies a worker of the target for seconds and would add
  them to the scan's wall time, so the safe default leaves it out.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from firebrick.checks.encryption import rendered
from firebrick.checks.ssrf import Target, kept_back, write_budget
from firebrick.context import ScanContext
from firebrick.inject import send
from firebrick.model import Confidence, Evidence, Exchange, Finding, Interaction, Severity

CHECK = "unsafe_consumption"
CATEGORY = "unsafe_consumption"
REDIRECT_CHAIN = 8
REDIRECT_LIMIT = 5
HUGE_BYTES = 20 * 1024 * 1024
STALL_SECONDS = 6.0  # above httpx's 5 s default; a client that waits longer has no real timeout
REPORT_WAIT = 3.0  # how long to wait for the listener's account of a huge body after the answer
MAX_TARGETS = 12


@dataclass
class Outcome:
    probe: str
    token: str
    exchange: Exchange | None = None
    interactions: list[Interaction] = field(default_factory=list)
    reports: list[dict[str, object]] = field(default_factory=list)
    hops: int = 0


def _filler(ctx: ScanContext) -> Callable[[], str]:
    oob = ctx.oob
    assert oob is not None
    return lambda: oob.http_url(oob.new_token("filler"))


async def run(ctx: ScanContext) -> AsyncIterator[Finding]:
    oob = ctx.oob
    fetchers: list[Target] = list(ctx.state.get("ssrf.fetchers") or [])
    if oob is None:
        ctx.warn("unsafe-consumption probes need the OOB server; it is off")
        return
    if not fetchers:
        ctx.cover(CHECK, CATEGORY, None, None, "skipped", "no input was seen fetching our URLs")
        return
    results = await asyncio.gather(*(_one(ctx, t) for t in fetchers[:MAX_TARGETS]))
    for findings in results:
        for finding in findings:
            yield finding


async def _fire(ctx: ScanContext, target: Target, url: str, outcome: Outcome) -> Outcome:
    outcome.exchange = await send(
        ctx.client, target.op, target.values(url), check=CHECK, url_filler=_filler(ctx)
    )
    return outcome


async def _one(ctx: ScanContext, target: Target) -> list[Finding]:
    oob = ctx.oob
    assert oob is not None
    label = f"{target.op.key} {target.label}"
    probes: list[tuple[Outcome, str]] = []
    if oob.https_port and not target.host_only:
        t = oob.new_token(f"{label} tls")
        probes.append((Outcome("tls", t), oob.https_url(t)))
    if not target.host_only:
        chain = [oob.new_token(f"{label} redirect {i}") for i in range(REDIRECT_CHAIN + 1)]
        for a, b in itertools.pairwise(chain):
            oob.set_redirect(a, oob.http_url(b))
        out = Outcome("redirects", chain[0])
        out.reports = [{"chain": chain}]
        probes.append((out, oob.http_url(chain[0])))
    if target.op.method == "GET":  # a page a browser can be sent to; POST answers go to API clients
        t = oob.new_token(f"{label} script")
        oob.set_behavior(t, "html-script")
        probes.append(
            (Outcome("script", t), oob.http_url(t) if not target.host_only else _host_url(ctx, t))
        )
    t = oob.new_token(f"{label} huge")
    oob.set_behavior(t, "huge", size=HUGE_BYTES)
    probes.append(
        (Outcome("huge", t), oob.http_url(t) if not target.host_only else _host_url(ctx, t))
    )
    if ctx.options.mode == "full":
        t = oob.new_token(f"{label} stall")
        oob.set_behavior(t, "stall", stall=STALL_SECONDS)
        probes.append(
            (Outcome("stall", t), oob.http_url(t) if not target.host_only else _host_url(ctx, t))
        )
    # Safe mode, a write operation: the SSRF depth ladder went first; what its write cap leaves.
    left = write_budget(ctx, target.op)
    unsent = [out.probe for out, _ in probes[left:]] if left is not None else []
    probes = probes[: len(probes) - len(unsent)]
    outcomes = await asyncio.gather(*(_fire(ctx, target, url, out) for out, url in probes))
    unsent += [o.probe for o in outcomes if _unsent(o.exchange)]
    outcomes = [o for o in outcomes if not _unsent(o.exchange)]
    findings: list[Finding] = []
    for out in outcomes:
        out.interactions = oob.interactions(out.token)
        if out.probe in ("huge", "stall") and out.interactions:
            await oob.wait_behavior(out.token, REPORT_WAIT)
            out.reports = oob.behavior_reports(out.token)
        if out.probe == "redirects":
            hop_tokens: list[str] = out.reports[0]["chain"]  # type: ignore[assignment]
            hits = [oob.interactions(tok) for tok in hop_tokens]
            out.hops = max((i for i, h in enumerate(hits) if h), default=-1)
            out.interactions = [i for h in hits for i in h]
        finding = _verdict(ctx, target, out)
        if finding is not None:
            findings.append(finding)
    not_sent = (
        f"; not sent: {', '.join(unsent)} (safe mode's write cap for this operation; "
        "--mode full sends them)"
        if unsent
        else ""
    )
    if findings or outcomes:
        ctx.cover(
            CHECK,
            CATEGORY,
            target.op,
            target.label,
            "failed" if findings else "passed",
            ", ".join(o.probe for o in outcomes) + not_sent,
        )
    else:
        ctx.cover(CHECK, CATEGORY, target.op, target.label, "skipped", not_sent[2:])
    return findings


def _unsent(ex: Exchange | None) -> bool:
    return ex is not None and kept_back(ex)


def _host_url(ctx: ScanContext, token: str) -> str:
    oob = ctx.oob
    assert oob is not None
    return f"http://{oob.dns_name(token)}:{oob.http_port}/{token}"


def _script_blocked(ex: Exchange) -> bool:
    csp = ex.response_headers.get("content-security-policy", "").lower()
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
    if "sandbox" in directives and "allow-scripts" not in directives["sandbox"]:
        return True
    script = directives.get("script-src") or directives.get("default-src") or ""
    return "'none'" in script or ("'self'" in script and "'unsafe-inline'" not in script)


def _verdict(ctx: ScanContext, target: Target, out: Outcome) -> Finding | None:
    oob = ctx.oob
    assert oob is not None
    ex = out.exchange

    def finding(
        kind: str,
        title: str,
        severity: Severity,
        description: str,
        summary: str,
        payload: str,
        **details: object,
    ) -> Finding:
        return Finding(
            kind=kind,
            category=CATEGORY,
            title=title,
            severity=severity,
            confidence=Confidence.CONFIRMED,
            operation=target.op.key,
            input=target.label,
            description=description,
            evidence=Evidence(
                summary=summary,
                exchanges=[ex] if ex else [],
                interactions=out.interactions[:12],
                payloads_worked=[payload],
                details=dict(details),
            ),
        )

    if out.probe == "tls":
        completed = [i for i in out.interactions if i.protocol == "https" and i.http_method]
        if completed:
            return finding(
                "unsafe_consumption.tls-unverified",
                "Outbound HTTPS without certificate verification",
                Severity.HIGH,
                f"The server fetched our HTTPS URL from {target.label} although our listener presents a "
                "self-signed certificate no client should trust. Anyone who can poison the name it calls or "
                "sit on the path reads and rewrites that traffic (credentials, webhooks, responses).",
                f"{completed[0].http_method} {completed[0].http_path} completed over untrusted TLS",
                "our HTTPS listener (self-signed certificate)",
                certificate_sha256=oob.tls_fingerprint,
            )
        return None
    if out.probe == "redirects":
        if out.hops > REDIRECT_LIMIT:
            return finding(
                "unsafe_consumption.redirects-unbounded",
                "Redirects from third parties followed blindly",
                Severity.MEDIUM,
                f"The server followed {out.hops} redirects in a row from our server, each to a new URL, "
                f"through {target.label}. A third party (or whoever controls its name) steers the request "
                f"wherever it likes; safe fetchers stop after {REDIRECT_LIMIT} hops or fewer and re-check each.",
                f"{out.hops} of {REDIRECT_CHAIN} redirect hops followed",
                f"a chain of {REDIRECT_CHAIN} redirects",
                hops=out.hops,
            )
        return None
    if out.probe == "script":
        if ex is None or ex.status is None:
            return None
        ctype = ex.response_headers.get("content-type", "")
        attached = "attachment" in ex.response_headers.get("content-disposition", "").lower()
        if (
            oob.script_canary(out.token) in ex.body_text
            and rendered(ctype)
            and not attached
            and not _script_blocked(ex)
        ):
            return finding(
                "unsafe_consumption.unsanitized-content",
                "Third-party HTML passed to the caller unsanitized",
                Severity.MEDIUM,
                f"The page our server returned (with a <script>) came back unchanged from {target.label} as "
                f"`{ctype}` from the target's own origin, with no CSP that stops scripts: whoever controls the "
                "third party runs script in your users' browsers on your origin.",
                f"our <script> canary reflected as {ctype}",
                "an HTML page with a <script> canary",
            )
        return None
    if out.probe == "huge":
        done = [r for r in out.reports if r.get("complete")]
        if done:
            return finding(
                "unsafe_consumption.no-size-cap",
                "No size cap on third-party responses",
                Severity.MEDIUM,
                f"The server read all {HUGE_BYTES // (1024 * 1024)} MiB our server sent through {target.label}. "
                "One slow, huge upstream answer exhausts its memory or workers.",
                f"the client read all {done[0].get('sent')} bytes",
                f"a {HUGE_BYTES // (1024 * 1024)} MiB body",
                bytes=done[0].get("sent"),
            )
        return None
    if out.probe == "stall":
        held = [r for r in out.reports if "held_s" in r]
        if held and not held[0].get("client_left"):
            return finding(
                "unsafe_consumption.no-timeout",
                "No timeout on third-party calls",
                Severity.MEDIUM,
                f"Our server held its answer {STALL_SECONDS:g} s and {target.label}'s fetch was still waiting: "
                "a slow third party ties up a worker per request (denial of service by proxy).",
                f"client still connected after {held[0].get('held_s')} s",
                f"a response stalled {STALL_SECONDS:g} s",
                held_s=held[0].get("held_s"),
            )
        if held:
            ctx.cover(
                CHECK,
                CATEGORY,
                target.op,
                target.label,
                "passed",
                f"gave up after {held[0].get('held_s')} s",
            )
    return None
