"""DNS hygiene of the target's resolver, seen from the OOB zone's authoritative server
(category dns_hygiene).

An input that makes the target fetch our URLs (``ctx.state["ssrf.fetchers"]``) also makes its
resolver query our zone. Through one such input the check sends (budget: at most
``MAX_REQUESTS`` = 8 HTTP requests, plus one DNS query to the resolver itself):

1. a name at the top of a CNAME chain of ``CHAIN_LINKS`` links with TTL 0 (``c26-fb.<token>``):
   the resolver asks for every link, and the DNS listener sees each query's source port,
   transaction id, letter case (0x20), EDNS buffer size and DO bit. Ports and ids get the DNS-OARC
   porttest verdict (REFERENCE.md: GREAT / GOOD / POOR by standard deviation);
2. DNSSEC: a control name (plain, validly signed) and ``<token>.ds-bad`` whose signature is
   broken. Control fetched and broken fetched: the resolver hands out forged answers, it does not
   validate. Control fetched, broken not: it validates;
3. open resolver: if the resolver's address is the target's (or on its /24), one recursive query
   for a name of our zone, sent to it directly: an answer means anyone can use it.

Resolver weaknesses are hygiene (low / info): they tell how cheaply an off-path attacker can
poison the cache the app trusts. Only where the same target fetches URLs or calls services by
name AND the resolver's ports are guessable does the check add a medium finding that explains the
combination (``dns.poisonable-fetch``).

Loopback: when the resolver's queries come from a loopback address (the bundled loopback lab's
stub in lab/netsandbox.py, or a resolver on the scanner's own machine), it is not the target's
production resolver seen from outside: the numbers go to coverage as inconclusive, no finding.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import socket
import statistics
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from firebrick.checks.ssrf import Target, write_budget
from firebrick.context import ScanContext
from firebrick.inject import send
from firebrick.model import Confidence, Evidence, Exchange, Finding, Interaction, Severity
from firebrick.oob import names
from firebrick.oob.dns_listener import QueryInfo
from firebrick.oob.endpoint import OOBEndpoint

CHECK = "dns_hygiene"
CATEGORY = "dns_hygiene"
CHAIN_LINKS = 26
MIN_SAMPLES = 8  # fewer queries than this: no verdict on the spread
EXTRA_LOOKUPS = 3  # plain lookups sent when a forwarder does not chase the chain
MAX_REQUESTS = 2 + 2 + EXTRA_LOOKUPS + 1  # chain x2, DNSSEC pair, extra lookups, spare
CALLBACK_WAIT = 1.5  # seconds to wait for a fetch that the target makes after answering
RESOLVER_TIMEOUT = 1.5
# porttest scale (REFERENCE.md): standard deviation of the observed values.
GREAT, GOOD = 3980.0, 296.0
REFERENCES = [
    "https://www.kb.cert.org/vuls/id/800113",  # Kaminsky, multiple DNS implementations
    "https://www.dns-oarc.net/oarc/services/porttest",
    "https://datatracker.ietf.org/doc/html/draft-vixie-dnsext-dns0x20-00",
]


@dataclass
class Spread:
    """Statistics of one field (source port or transaction id) over the observed queries."""

    values: list[int]

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def distinct(self) -> int:
        return len(set(self.values))

    @property
    def stddev(self) -> float:
        return statistics.pstdev(self.values) if len(self.values) > 1 else 0.0

    @property
    def bits(self) -> float:
        """log2(stddev * sqrt(12)): the entropy a uniform spread of that width would have."""
        width = self.stddev * math.sqrt(12)
        return round(math.log2(width), 2) if width > 1 else 0.0

    @property
    def verdict(self) -> str:
        if self.stddev >= GREAT:
            return "GREAT"
        return "GOOD" if self.stddev >= GOOD else "POOR"

    def to_dict(self) -> dict[str, object]:
        return {
            "count": self.count,
            "distinct": self.distinct,
            "min": min(self.values) if self.values else None,
            "max": max(self.values) if self.values else None,
            "stddev": round(self.stddev, 1),
            "bits": self.bits,
            "verdict": self.verdict,
        }


@dataclass
class ResolverView:
    """What the queries of one resolver address tell."""

    address: str
    queries: list[QueryInfo] = field(default_factory=list)

    @property
    def ports(self) -> Spread:
        return Spread([q.source_port for q in self.queries if not q.tcp])

    @property
    def txids(self) -> Spread:
        return Spread([q.txid for q in self.queries])

    @property
    def mixed_case(self) -> int:
        """Queries whose name came back with letter case we never sent (0x20 encoding)."""
        return sum(1 for q in self.queries if q.qname != q.qname.lower())

    @property
    def do_bit(self) -> int:
        return sum(1 for q in self.queries if q.do)

    @property
    def payloads(self) -> list[int]:
        return sorted(set(q.payload for q in self.queries))

    @property
    def loopback(self) -> bool:
        with contextlib.suppress(ValueError):
            return ipaddress.ip_address(self.address).is_loopback
        return False

    def numbers(self) -> dict[str, object]:
        n = len(self.queries)
        return {
            "resolver": self.address,
            "queries": n,
            "source_ports": self.ports.to_dict(),
            "txids": self.txids.to_dict(),
            "case_randomized_0x20": f"{self.mixed_case}/{n}",
            "edns_buffer_sizes": self.payloads,
            "do_bit": f"{self.do_bit}/{n}",
        }

    def summary(self) -> str:
        p, t = self.ports, self.txids
        return (
            f"resolver {self.address}: {len(self.queries)} queries; source ports {p.verdict} "
            f"(stddev {p.stddev:.0f}, {p.bits} bits, {p.distinct} distinct), txids {t.verdict} "
            f"(stddev {t.stddev:.0f}, {t.bits} bits); 0x20 {self.mixed_case}/{len(self.queries)}; "
            f"EDNS {self.payloads}; DO {self.do_bit}/{len(self.queries)}"
        )


MAX_WRITES = 7  # the most requests the check sends (2 chains + EXTRA_LOOKUPS + the DNSSEC pair)


def _pick(ctx: ScanContext, fetchers: list[Target]) -> Target | None:
    """A fetcher whose request is a plain read if there is one (GET, one input); else one whose
    safe-mode write cap leaves room for the whole check (None: none does)."""
    for target in fetchers:
        if target.op.method == "GET" and target.param is not None:
            return target
    for target in fetchers:
        left = write_budget(ctx, target.op)
        if left is None or left >= MAX_WRITES:
            return target
    return None


async def run(ctx: ScanContext) -> AsyncIterator[Finding]:
    oob = ctx.oob
    if oob is None or oob.dns_port is None:
        ctx.cover(CHECK, CATEGORY, None, None, "skipped", "needs the OOB server's DNS listener")
        return
    fetchers: list[Target] = list(ctx.state.get("ssrf.fetchers") or [])
    if not fetchers:
        ctx.cover(
            CHECK,
            CATEGORY,
            None,
            None,
            "inconclusive",
            "no input made the target fetch our URLs, so its resolver never asked our zone",
        )
        return
    picked = _pick(ctx, fetchers)
    if picked is None:
        ctx.cover(
            CHECK,
            CATEGORY,
            fetchers[0].op,
            fetchers[0].label,
            "skipped",
            f"the inputs that fetch our URLs are all on write operations whose safe-mode write "
            f"cap is spent (the check needs up to {MAX_WRITES}); --mode full runs it",
        )
        return
    target = picked
    port = oob.http_port

    def url_for(host: str, token: str) -> str:
        return f"http://{host}:{port}/{token}"

    async def fire(url: str) -> Exchange:
        return await send(ctx.client, target.op, target.values(url), check=CHECK)

    # 1. CNAME chains (two, so a resolver that gives up early still shows enough queries).
    # A target on our own machine resolves over loopback: no outside view of its resolver is
    # possible, so one short chain (enough for the numbers in the coverage note) keeps it cheap.
    count, links = (1, MIN_SAMPLES) if ctx.target_is_local else (2, CHAIN_LINKS)
    chain_tokens = [oob.new_token(f"{CHECK} chain") for _ in range(count)]
    chains = [f"{names.chain_label(links)}.{oob.dns_name(t)}" for t in chain_tokens]
    exchanges = list(
        await asyncio.gather(
            *(fire(url_for(n, t)) for n, t in zip(chains, chain_tokens, strict=True))
        )
    )
    tokens = set(chain_tokens)
    view = _view(oob.dns_queries(), tokens)
    if view is not None and view.loopback:
        ctx.cover(
            CHECK,
            CATEGORY,
            target.op,
            target.label,
            "inconclusive",
            "queries came over loopback (the loopback lab's stub, not a recursive resolver seen "
            "from outside): no verdict; measured only: " + view.summary(),
        )
        return
    if view is not None and len(view.queries) < MIN_SAMPLES:
        # A forwarder that leaves CNAME chasing to its client: more plain lookups, more samples.
        extra = [oob.new_token(f"{CHECK} lookup") for _ in range(EXTRA_LOOKUPS)]
        await asyncio.gather(*(fire(url_for(oob.dns_name(t), t)) for t in extra))
        tokens |= set(extra)
    # 2. DNSSEC pair: a validly signed control and the deliberately broken name.
    ok_t, bad_t = oob.new_token(f"{CHECK} dnssec-control"), oob.new_token(f"{CHECK} dnssec-bad")
    bad_name = f"{bad_t}.{names.DNSSEC_BAD_LABEL}.{oob.zone}"
    exchanges += await asyncio.gather(
        fire(url_for(oob.dns_name(ok_t), ok_t)), fire(url_for(bad_name, bad_t))
    )
    if not oob.interactions(ok_t):  # an asynchronous fetcher: give it a moment
        await oob.wait_for([ok_t], timeout=CALLBACK_WAIT)
    tokens |= {ok_t, bad_t}
    view = _view(oob.dns_queries(), tokens, widen=oob)
    if view is None:
        ctx.cover(
            CHECK,
            CATEGORY,
            target.op,
            target.label,
            "inconclusive",
            "the target fetched our URLs but no resolver queried our zone for these names "
            "(no delegation to the OOB server, or a cache or proxy in between)",
        )
        return
    evidence_ex = exchanges[:2]
    spread = _spread_findings(view, evidence_ex)
    ctx.cover(CHECK, CATEGORY, None, "resolver", "failed" if spread else "passed", view.summary())
    for finding in spread:
        yield finding
    dnssec = _dnssec_finding(ctx, oob, view, ok_t, bad_t, evidence_ex)
    if dnssec is not None:
        yield dnssec
    opened = await _open_resolver(ctx, oob, view)
    if opened is not None:
        yield opened
    if view.ports.count >= MIN_SAMPLES and view.ports.verdict == "POOR":
        yield _poisonable(target, view)


def _view(
    queries: list[QueryInfo], tokens: set[str], widen: OOBEndpoint | None = None
) -> ResolverView | None:
    """The resolver that asked for our tokens (the busiest source if several). With ``widen``
    (the OOB server) every query of this scan's tokens from that address counts too."""
    mine = [q for q in queries if q.token in tokens]
    if not mine:
        return None
    address = Counter(q.source_ip for q in mine).most_common(1)[0][0]
    if widen is not None:
        mine = [
            q
            for q in queries
            if q.source_ip == address and q.token and widen.purpose(q.token) is not None
        ]
    return ResolverView(address, [q for q in mine if q.source_ip == address])


def _spread_findings(view: ResolverView, exchanges: list[Exchange]) -> list[Finding]:
    findings: list[Finding] = []
    numbers = view.numbers()
    ports, txids = view.ports, view.txids
    weak: list[str] = []
    if ports.count >= MIN_SAMPLES and ports.verdict == "POOR":
        weak.append(
            f"source ports POOR (stddev {ports.stddev:.0f}, {ports.distinct} distinct "
            f"of {ports.count})"
        )
    if txids.count >= MIN_SAMPLES and txids.verdict == "POOR":
        weak.append(f"transaction ids POOR (stddev {txids.stddev:.0f})")
    if weak:
        findings.append(
            Finding(
                kind="dns.resolver-predictable",
                category=CATEGORY,
                title="The target's DNS resolver uses predictable source ports or query ids",
                severity=Severity.LOW,
                confidence=Confidence.CONFIRMED,
                description=(
                    f"The resolver at {view.address}, which the API uses to look up names, sent our "
                    f"zone {len(view.queries)} queries with {'; '.join(weak)}. An off-path attacker "
                    "who can guess the port and the 16-bit id of a query can race the real answer "
                    "with a forged one and poison the cache the app trusts (Kaminsky, 2008): every "
                    "later lookup of that name, by every request, goes where the attacker chose. "
                    "A spread proves non-randomness, never randomness; NAT in front of the resolver "
                    "can also rewrite ports."
                ),
                evidence=Evidence(summary=view.summary(), exchanges=exchanges, details=numbers),
                references=REFERENCES,
            )
        )
    if len(view.queries) >= MIN_SAMPLES and view.mixed_case == 0:
        findings.append(
            Finding(
                kind="dns.resolver-no-0x20",
                category=CATEGORY,
                title="The target's DNS resolver does not randomise letter case (0x20)",
                severity=Severity.INFO,
                confidence=Confidence.LIKELY,
                description=(
                    f"None of the {len(view.queries)} queries from {view.address} used mixed case. "
                    "0x20 encoding adds about one bit per letter that a forged answer must match; "
                    "without it, port and id randomness are the only defence against off-path "
                    "cache poisoning."
                ),
                evidence=Evidence(summary=view.summary(), exchanges=exchanges, details=numbers),
                references=REFERENCES,
            )
        )
    return findings


def _dnssec_finding(
    ctx: ScanContext,
    oob: OOBEndpoint,
    view: ResolverView,
    ok_t: str,
    bad_t: str,
    exchanges: list[Exchange],
) -> Finding | None:
    ok_http = [i for i in oob.interactions(ok_t) if i.protocol in ("http", "https")]
    bad_all: list[Interaction] = oob.interactions(bad_t)
    bad_http = [i for i in bad_all if i.protocol in ("http", "https")]
    bad_dns = [i for i in bad_all if i.protocol == "dns"]
    numbers = view.numbers()
    asked_do = view.do_bit > 0
    if bad_http and asked_do and not oob.config.dnssec_anchored:
        # A validating resolver treats an unanchored zone as insecure and returns the name too.
        ctx.cover(
            CHECK,
            CATEGORY,
            None,
            "dnssec",
            "inconclusive",
            f"resolver {view.address} asks for signatures (DO) but our zone has no DS at its "
            "parent, so returning the broken name proves nothing",
        )
        return None
    if bad_http:
        return Finding(
            kind="dns.no-dnssec-validation",
            category=CATEGORY,
            title="The target's DNS resolver does not validate DNSSEC",
            severity=Severity.LOW,
            confidence=Confidence.CONFIRMED,
            description=(
                f"Our zone is signed and one name carries a broken signature. The resolver at "
                f"{view.address} handed that name's address to the app anyway and the app "
                "connected to it: forged answers are accepted, so DNSSEC on the names the app "
                "calls would not protect it from a poisoned cache. "
                + (
                    "It asked for signatures (DO bit) but did not check them."
                    if asked_do
                    else "It never asked for signatures (no DO bit in its queries)."
                )
            ),
            evidence=Evidence(
                summary=f"broken-signature name fetched ({len(bad_http)} HTTP requests); "
                f"DO bit in {view.do_bit}/{len(view.queries)} queries",
                exchanges=exchanges,
                interactions=(bad_dns[:3] + bad_http[:2]),
                details={**numbers, "dnssec": "not validated"},
            ),
            references=["https://datatracker.ietf.org/doc/html/rfc4035#section-4.3"],
        )
    if ok_http and bad_dns:
        ctx.cover(
            CHECK,
            CATEGORY,
            None,
            "dnssec",
            "passed",
            f"resolver {view.address} refused the broken-signature name (validates DNSSEC)",
        )
    else:
        ctx.cover(
            CHECK,
            CATEGORY,
            None,
            "dnssec",
            "inconclusive",
            "the control name was not fetched, so a refused broken name proves nothing",
        )
    return None


def _near_target(ctx: ScanContext, address: str) -> bool:
    """Probe only the target's own resolver: its host, or its /24 (never a public service)."""
    host = urlsplit(ctx.client.base_url).hostname or ""
    try:
        resolver = ipaddress.ip_address(address)
    except ValueError:
        return False
    try:
        targets = {ipaddress.ip_address(host)}
    except ValueError:  # the target's own name: resolving it is how we reach it anyway
        try:
            targets = {ipaddress.ip_address(i[4][0]) for i in socket.getaddrinfo(host, None)}
        except OSError:
            return False
    for t in targets:
        if t == resolver:
            return True
        same_net = t.version == resolver.version == 4 and not t.is_global
        if same_net and ipaddress.ip_network(f"{t}/24", strict=False) == ipaddress.ip_network(
            f"{resolver}/24", strict=False
        ):
            return True
    return False


async def _open_resolver(ctx: ScanContext, oob: OOBEndpoint, view: ResolverView) -> Finding | None:
    if not _near_target(ctx, view.address):
        ctx.cover(
            CHECK,
            CATEGORY,
            None,
            "open-resolver",
            "skipped",
            f"resolver {view.address} is not the target's host or network: not probed",
        )
        return None
    token = oob.new_token(f"{CHECK} open-resolver")
    query = dns.message.make_query(oob.dns_name(token), dns.rdatatype.A)
    query.flags |= dns.flags.RD
    try:
        reply = await dns.asyncquery.udp(query, view.address, port=53, timeout=RESOLVER_TIMEOUT)
    except (dns.exception.DNSException, OSError) as exc:
        ctx.cover(
            CHECK,
            CATEGORY,
            None,
            "open-resolver",
            "passed",
            f"{view.address}:53 did not answer us ({type(exc).__name__})",
        )
        return None
    relayed = bool(oob.dns_queries(token))
    if reply.rcode() == dns.rcode.NOERROR and (reply.answer or relayed):
        return Finding(
            kind="dns.open-resolver",
            category=CATEGORY,
            title="The target's DNS resolver answers recursive queries from anyone",
            severity=Severity.LOW,
            confidence=Confidence.CONFIRMED,
            description=(
                f"We sent the resolver at {view.address} a recursive query for a name in our "
                "zone and it resolved it for us"
                + (", asking our server on our behalf. " if relayed else ". ")
                + "An open resolver lets an attacker trigger lookups whenever they like, which is "
                "the first step of an off-path cache-poisoning race, and it can be abused for "
                "traffic amplification."
            ),
            evidence=Evidence(
                summary=f"{view.address}:53 answered {dns.rcode.to_text(reply.rcode())} "
                f"with {len(reply.answer)} RRsets; relayed to our server: {relayed}",
                details={"resolver": view.address, "rcode": dns.rcode.to_text(reply.rcode())},
            ),
        )
    ctx.cover(
        CHECK,
        CATEGORY,
        None,
        "open-resolver",
        "passed",
        f"{view.address}:53 refused recursion for us ({dns.rcode.to_text(reply.rcode())})",
    )
    return None


def _poisonable(target: Target, view: ResolverView) -> Finding:
    return Finding(
        kind="dns.poisonable-fetch",
        category=CATEGORY,
        title="Names this API fetches resolve through a resolver that can be poisoned",
        severity=Severity.MEDIUM,
        confidence=Confidence.LIKELY,
        operation=target.op.key,
        input=target.label,
        description=(
            f"{target.label} makes the server fetch URLs by name, and its resolver "
            f"({view.address}) sends queries from a guessable source port "
            f"(stddev {view.ports.stddev:.0f}). An off-path attacker can poison the answer for a "
            "host this endpoint trusts (an allowlisted partner, a webhook domain, an internal "
            "service name) so that it points inside: the URL passes any text-based allowlist "
            "and the request lands on an internal address. That is why this is rated above the "
            "resolver finding itself; fix the resolver and validate the address actually "
            "connected to."
        ),
        evidence=Evidence(summary=view.summary(), details=view.numbers()),
        references=REFERENCES,
    )
