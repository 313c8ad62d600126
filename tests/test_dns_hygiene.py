"""Resolver hygiene without root: the porttest arithmetic, the OOB zone's CNAME chains and DNSSEC
signatures over a real UDP socket on 127.0.0.1, and the loopback lab's honest "no verdict"."""

from __future__ import annotations

import importlib
import random
import statistics

import dns._features
import dns.asyncquery
import dns.dnssec as dnssec_module
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from firebrick.checks.dns_hygiene import Spread
from firebrick.model import ScanResult
from firebrick.oob import OOBConfig, OOBServer
from firebrick.oob.dns_listener import DNSListener
from firebrick.oob.dnssec import ZoneSigner

ZONE = "oob.firebrick.test"


# -- porttest arithmetic ---------------------------------------------------------------------


def test_fixed_port_is_poor_with_zero_bits() -> None:
    spread = Spread([5353] * 30)
    assert (
        spread.verdict == "POOR"
        and spread.stddev == 0
        and spread.bits == 0
        and spread.distinct == 1
    )


def test_full_range_random_ports_are_great() -> None:
    rng = random.Random(7)
    spread = Spread([rng.randint(1024, 65535) for _ in range(26)])
    assert spread.verdict == "GREAT"
    assert 14.5 < spread.bits <= 16.1


def test_narrow_random_range_is_good_and_sequential_ports_poor() -> None:
    rng = random.Random(3)
    assert Spread([rng.randint(40000, 44000) for _ in range(200)]).verdict == "GOOD"
    assert Spread(list(range(33000, 33026))).verdict == "POOR"  # a counter: stddev ~7.5


def test_bits_follow_the_reference_formula() -> None:
    values = [0, 65535] * 13
    expected = round(__import__("math").log2(statistics.pstdev(values) * 12**0.5), 2)
    assert Spread(values).bits == expected


# -- the listener: chains, DNSSEC, query log -------------------------------------------------


@pytest.fixture
async def server() -> OOBServer:
    async with OOBServer(OOBConfig(listen_host="127.0.0.1", https_port=None)) as oob:
        yield oob  # type: ignore[misc]


async def _ask(
    oob: OOBServer, name: str, rdtype: str = "A", dnssec: bool = False
) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
    assert oob.dns_port is not None
    return await dns.asyncquery.udp(query, "127.0.0.1", port=oob.dns_port, timeout=2)


async def test_a_cname_chain_makes_one_query_per_link(server: OOBServer) -> None:
    token = server.new_token("chain")
    name = f"c26-fb.{token}.{ZONE}"
    for links_left in range(26, 0, -1):
        reply = await _ask(server, name)
        [rrset] = reply.answer
        assert rrset.rdtype == dns.rdatatype.CNAME and rrset.ttl == 0
        name = rrset[0].target.to_text()
        assert name.startswith(f"c{links_left - 1}-fb.{token}.")
    reply = await _ask(server, name)
    assert reply.answer[0].rdtype == dns.rdatatype.A and reply.answer[0][0].address == "127.0.0.1"
    queries = server.dns_queries(token)
    assert len(queries) == 27 and all(q.token == token for q in queries)
    assert {q.source_ip for q in queries} == {"127.0.0.1"}


async def test_query_log_records_case_edns_and_do(server: OOBServer) -> None:
    token = server.new_token("case")
    await _ask(server, f"{token.upper()}.OoB.firebrick.TEST", dnssec=True)
    [q] = server.dns_queries(token)
    assert q.qname.startswith(token.upper()) and q.do and q.payload >= 1232 and q.edns == 0


@pytest.fixture
def validating() -> object:
    # dnspython gates validation behind a newer `cryptography` than this project pins; the
    # algorithms it needs are present, so force the feature on for the test's checks only.
    dns._features.force("dnssec", True)
    yield importlib.reload(dnssec_module)
    dns._features._cache.pop("dnssec", None)
    importlib.reload(dnssec_module)


async def test_signed_answers_validate_and_the_broken_name_does_not(
    server: OOBServer, validating: object
) -> None:
    dnssec = validating
    zone = dns.name.from_text(ZONE)
    keys_reply = await _ask(server, ZONE, "DNSKEY", dnssec=True)
    dnskey = next(r for r in keys_reply.answer if r.rdtype == dns.rdatatype.DNSKEY)
    keys = {zone: dnskey}
    rrsig = next(r for r in keys_reply.answer if r.rdtype == dns.rdatatype.RRSIG)
    dnssec.validate(dnskey, rrsig, keys)  # type: ignore[attr-defined]

    good = await _ask(server, f"{server.new_token()}.{ZONE}", dnssec=True)
    assert good.ednsflags & dns.flags.DO
    a, sig = good.answer[0], good.answer[1]
    dnssec.validate(a, sig, keys)  # type: ignore[attr-defined]

    bad = await _ask(server, f"{server.new_token()}.ds-bad.{ZONE}", dnssec=True)
    with pytest.raises(dnssec.ValidationFailure):  # type: ignore[attr-defined]
        dnssec.validate(bad.answer[0], bad.answer[1], keys)  # type: ignore[attr-defined]

    # NODATA (AAAA of an A-only name): a signed NSEC proves it, covering nothing else.
    nodata = await _ask(server, f"{server.new_token()}.{ZONE}", "AAAA", dnssec=True)
    assert not nodata.answer
    nsec = next(r for r in nodata.authority if r.rdtype == dns.rdatatype.NSEC)
    nsec_sig = next(
        r
        for r in nodata.authority
        if r.rdtype == dns.rdatatype.RRSIG and r.covers == dns.rdatatype.NSEC
    )
    dnssec.validate(nsec, nsec_sig, keys)  # type: ignore[attr-defined]
    assert dns.rdatatype.AAAA not in {t for w in nsec[0].windows for t in _types(w)}


def _types(window: tuple[int, bytes]) -> list[int]:
    base, bits = window
    return [
        base * 256 + i * 8 + j
        for i, byte in enumerate(bits)
        for j in range(8)
        if byte & (0x80 >> j)
    ]


async def test_no_signatures_without_the_do_bit(server: OOBServer) -> None:
    reply = await _ask(server, f"{server.new_token()}.ds-bad.{ZONE}")
    assert [r.rdtype for r in reply.answer] == [dns.rdatatype.A]


def test_signer_material_for_resolvers() -> None:
    signer = ZoneSigner(ZONE)
    assert signer.trust_anchor().startswith(f"{ZONE}. DNSKEY 257 3 13 ")
    assert signer.ds_text().startswith(f"{ZONE}. DS {signer.key.key_tag} 13 2 ")
    zone, tag, alg, dtype, digest = signer.dnsmasq_trust_anchor().split(",")
    assert (zone, int(tag), alg, dtype, len(digest)) == (ZONE, signer.key.key_tag, "13", "2", 64)


def test_hostile_chain_names_never_crash_and_the_log_stays_bounded() -> None:
    listener = DNSListener(
        host="127.0.0.1",
        port=0,
        zone=ZONE,
        advertise_host="127.0.0.1",
        record=lambda _i: None,
        query_log=50,
        signer=ZoneSigner(ZONE),
    )
    rng = random.Random(11)
    hostile = [
        f"c40-{'x' * 40}.{'y' * 63}.{'z' * 63}.{ZONE}",  # a long chain near the 255-byte limit
        f"c0-fb.c1-fb.c2-fb.{ZONE}",
        f"c26-.{ZONE}",
        f"c9-a\\.b.{ZONE}",  # an escaped dot inside a label
        f"C26-FB.ds-bad.rb-127-0-0-1.{ZONE}",
    ]
    for i in range(500):
        name = hostile[i % len(hostile)] if i < 50 else f"c{rng.randint(0, 40)}-{i}.{ZONE}"
        query = dns.message.make_query(
            name, rng.choice(["A", "AAAA", "CNAME", "DNSKEY", "TXT"]), want_dnssec=bool(i % 2)
        )
        wire = listener.handle(query.to_wire(), "127.0.0.1", 5000 + i)
        assert wire is not None
        reply = dns.message.from_wire(wire)
        assert reply.rcode() == dns.rcode.NOERROR
    assert listener.stats.errors == 0
    assert len(listener.queries) == 50


# -- the loopback lab: no verdict on a stub -------------------------------------------------


def test_loopback_lab_gets_coverage_not_a_resolver_verdict(
    vulnerable_scan: ScanResult, hardened_scan: ScanResult
) -> None:
    for result in (vulnerable_scan, hardened_scan):
        assert not [f for f in result.findings if f.category == "dns_hygiene"]
        items = [c for c in result.coverage if c.check == "dns_hygiene"]
        assert items and items[0].status == "not_determined"
        assert "loopback" in items[0].reason and "127.0.0.1" in items[0].reason
        assert result.stats.requests_by_check.get("dns_hygiene", 0) == 1
