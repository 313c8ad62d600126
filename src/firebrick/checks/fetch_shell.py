"""OS command injection through a fetched URL (category input_validation, CWE-78).

Runs after the SSRF check, on every input seen fetching our URLs (``ctx.state["ssrf.fetchers"]``).
A fetcher that builds a shell command line (``os.popen(f"curl {url}")``, ``subprocess`` with
``shell=True``) lets the shell expand what the URL carries, and stripping ``;`` ``|`` ``"`` does not
stop ``$(( ))``. One request per input: our callback URL with ``-$((A*B))`` after the token in its
path. The OOB listener then sees

- the product A*B: a shell expanded the URL (confirmed command injection);
- the text ``$((``: the URL reached a fetcher that runs no shell (passed);
- nothing: not determined (the URL was refused or never fetched).

The payload only multiplies two numbers. Measured on a third-party GraphQL API whose paste import
runs ``curl`` through a shell (docs/real-apps.md).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from urllib.parse import unquote

from firebrick.checks.ssrf import Target, kept_back, write_budget
from firebrick.context import ScanContext
from firebrick.inject import send
from firebrick.model import Confidence, Evidence, Finding, Interaction, Severity

CHECK = "fetch_shell"
CATEGORY = "input_validation"
MAX_TARGETS = 12
WAIT_S = 3.0  # the fetch may run in the background: how long to wait for its callback
CWE = "https://cwe.mitre.org/data/definitions/78.html"
OWASP = "https://owasp.org/API-Security/editions/2023/en/0xa7-server-side-request-forgery/"


async def run(ctx: ScanContext) -> AsyncIterator[Finding]:
    fetchers: list[Target] = list(ctx.state.get("ssrf.fetchers") or [])
    if ctx.oob is None or not fetchers:
        return  # nothing fetches our URLs: the SSRF check's coverage already says so
    usable = [t for t in fetchers if not t.host_only][:MAX_TARGETS]
    for t in fetchers:
        if t.host_only:
            ctx.cover(CHECK, CATEGORY, t.op, t.label, "skipped", "a host input carries no path")
    for finding in await asyncio.gather(*(_one(ctx, t) for t in usable)):
        if finding is not None:
            yield finding


async def _one(ctx: ScanContext, target: Target) -> Finding | None:
    oob = ctx.oob
    assert oob is not None
    left = write_budget(ctx, target.op)
    if left is not None and left < 1:
        ctx.cover(
            CHECK, CATEGORY, target.op, target.label, "skipped",
            "safe mode's write cap for this operation is spent; --mode full sends it",
        )  # fmt: skip
        return None
    a, b = 1000 + secrets.randbelow(8000), 1000 + secrets.randbelow(8000)
    token = oob.new_token(f"{target.op.key} {target.label} shell")
    url = oob.http_url(token, f"-$(({a}*{b}))")
    ex = await send(ctx.client, target.op, target.values(url), check=CHECK)
    if kept_back(ex):
        ctx.cover(CHECK, CATEGORY, target.op, target.label, "skipped", ex.error or "not sent")
        return None
    hits = await _callbacks(ctx, token)
    paths = [unquote(i.http_path or "") for i in hits]
    if any(f"{token}-{a * b}" in p for p in paths):
        return Finding(
            kind="input_validation.command-injection",
            category=CATEGORY,
            title="OS command injection: a shell expanded the URL it fetches",
            severity=Severity.CRITICAL,
            confidence=Confidence.CONFIRMED,
            operation=target.op.key,
            input=target.label,
            description=(
                f"{target.label} of {target.op.key} was given {url}; the callback arrived for "
                f"/{token}-{a * b}: a shell computed $(({a}*{b})) before fetching. The server "
                "builds a command line from the URL (curl/wget through a shell), so an attacker "
                "runs any command as the server, whatever characters it strips."
            ),
            evidence=Evidence(
                summary=f"fetched /{token}-{a * b} for a URL ending -$(({a}*{b}))",
                exchanges=[ex],
                interactions=hits[:4],
                payloads_worked=[url],
            ),
            references=[CWE, OWASP],
        )
    if any(token in p for p in paths):
        ctx.cover(
            CHECK, CATEGORY, target.op, target.label, "passed",
            "the URL was fetched as written: no shell expanded it",
        )  # fmt: skip
    else:
        ctx.cover(
            CHECK, CATEGORY, target.op, target.label, "inconclusive",
            "no callback for the URL with $(( )) in its path",
        )  # fmt: skip
    return None


async def _callbacks(ctx: ScanContext, token: str) -> list[Interaction]:
    """HTTP interactions for token, after waiting up to WAIT_S for a fetch run in the background."""
    oob = ctx.oob
    assert oob is not None
    await oob.wait_for({token}, timeout=WAIT_S, protocols={"http", "https"})
    return [i for i in oob.interactions(token) if i.protocol in ("http", "https")]
