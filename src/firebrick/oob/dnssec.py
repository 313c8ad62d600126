"""Online DNSSEC signing for the OOB zone (dnspython), so a scan can tell whether the target's
resolver validates.

The zone's answers are generated per query (tokens, rebinding, CNAME chains), so they are signed
per query too: one ECDSA P-256 key (algorithm 13, flags 257: key-signing and zone-signing at
once), RRSIGs made on the fly, and "minimally covering" NSEC records for NODATA answers (the
technique large signing providers use for dynamic zones: the NSEC at the query name claims every
type but the one asked for, so no zone walk is possible and no zone has to exist in memory).

The signature arithmetic is done here with ``cryptography`` (RFC 4034 section 3.1.8.1 and RFC
6605), not through ``dns.dnssec.sign``: dnspython gates that behind a newer ``cryptography``
than this project pins, and the RRSIG data is a few lines of canonical wire format.

One name is broken on purpose (``<token>.ds-bad.<zone>``): its A record carries an RRSIG whose
signature bytes are flipped. A validating resolver must answer SERVFAIL; one that hands the
address out does not validate.

There is no parent to publish a DS record in, so resolvers that should validate the zone are
given a trust anchor (``trust_anchor()``: the DNSKEY in zone-file form, what unbound's
``trust-anchor:`` and dnsmasq's ``--trust-anchor`` take as DS). On a public host with a delegated
zone, publish ``ds_text()`` at the parent instead.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.DNSKEY
import dns.rdtypes.ANY.NSEC
import dns.rdtypes.ANY.RRSIG
import dns.rrset
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ALGORITHM = dns.dnssec.Algorithm.ECDSAP256SHA256
KEY_FLAGS = 257  # ZONE | SEP: one key signs everything
DNSKEY_TTL = 300
# Signatures valid from an hour ago (clock skew) to a week ahead: a scan never outlives them.
INCEPTION_SLACK = 3600
VALIDITY = 7 * 86400


@dataclass(frozen=True)
class SignedKey:
    dnskey: dns.rdtypes.ANY.DNSKEY.DNSKEY
    key_tag: int


class ZoneSigner:
    """Signs RRsets of one zone with a fresh in-memory key (never written to disk)."""

    def __init__(self, zone: str) -> None:
        self.zone = dns.name.from_text(zone)
        self._private = ec.generate_private_key(ec.SECP256R1())
        numbers = self._private.public_key().public_numbers()
        public = numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")  # RFC 6605
        key = dns.rdtypes.ANY.DNSKEY.DNSKEY(
            dns.rdataclass.IN, dns.rdatatype.DNSKEY, KEY_FLAGS, 3, ALGORITHM, public
        )
        self.key = SignedKey(key, dns.dnssec.key_id(key))
        self.dnskey_rrset = dns.rrset.from_rdata(self.zone, DNSKEY_TTL, key)
        self._dnskey_rrsig = self.sign(self.dnskey_rrset)

    # -- material for resolvers and parents --------------------------------------------------

    def trust_anchor(self) -> str:
        """``zone. DNSKEY 257 3 13 <base64>``: a trust anchor line (unbound ``trust-anchor:``)."""
        return f"{self.zone.to_text()} DNSKEY {self.key.dnskey.to_text()}"

    def dnsmasq_trust_anchor(self) -> str:
        """``zone,tag,alg,digest-type,digest``: dnsmasq's ``--trust-anchor`` form of the DS."""
        ds = self.ds()
        zone = self.zone.to_text(omit_final_dot=True)
        return f"{zone},{ds.key_tag},{ds.algorithm},{ds.digest_type},{ds.digest.hex()}"  # type: ignore[attr-defined]

    def ds(self) -> dns.rdata.Rdata:
        return dns.dnssec.make_ds(self.zone, self.key.dnskey, "SHA256")

    def ds_text(self) -> str:
        """``zone. DS <tag> 13 2 <digest>``: what the parent publishes (or a DS trust anchor)."""
        return f"{self.zone.to_text()} DS {self.ds().to_text()}"

    # -- signing -------------------------------------------------------------------------------

    def sign(self, rrset: dns.rrset.RRset, *, broken: bool = False) -> dns.rrset.RRset:
        """The RRSIG RRset covering ``rrset``; ``broken`` flips the signature's bytes."""
        now = int(time.time())
        owner = rrset.name
        labels = len(owner.labels) - 1  # the root label does not count (RFC 4034 3.1.3)
        if owner.labels and owner.labels[0] == b"*":
            labels -= 1
        unsigned = dns.rdtypes.ANY.RRSIG.RRSIG(
            dns.rdataclass.IN,
            dns.rdatatype.RRSIG,
            rrset.rdtype,
            ALGORITHM,
            labels,
            rrset.ttl,
            now + VALIDITY,
            now - INCEPTION_SLACK,
            self.key.key_tag,
            self.zone,
            b"",
        )
        # Signed data: the RRSIG RDATA without signature, then every RR in canonical form
        # (lower-case owner, original TTL), sorted by canonical RDATA (RFC 4034 6.2, 6.3).
        data: bytes = unsigned.to_wire(origin=None, canonicalize=True) or b""  # no signature
        head = (owner.canonicalize().to_wire() or b"") + struct.pack(
            "!HHI", rrset.rdtype, rrset.rdclass, rrset.ttl
        )
        rdatas = sorted(rd.to_digestable(self.zone) for rd in rrset)
        for rd in rdatas:
            data += head + struct.pack("!H", len(rd)) + rd
        der = self._private.sign(data, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if broken:
            signature = bytes(b ^ 0xFF for b in signature)
        return dns.rrset.from_rdata(owner, rrset.ttl, unsigned.replace(signature=signature))

    def dnskey_answer(self) -> list[dns.rrset.RRset]:
        return [self.dnskey_rrset, self._dnskey_rrsig]

    def nodata_proof(
        self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType, ttl: int
    ) -> list[dns.rrset.RRset]:
        """A minimally covering NSEC (and its RRSIG) proving ``qname`` has no ``qtype`` record:
        it names ``\\000.qname`` as next, so it covers nothing but ``qname``."""
        types = {dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.RRSIG, dns.rdatatype.NSEC}
        if qname == self.zone:
            types |= {dns.rdatatype.NS, dns.rdatatype.SOA, dns.rdatatype.DNSKEY}
        types.discard(qtype)
        bitmap = dns.rdtypes.ANY.NSEC.Bitmap.from_rdtypes(sorted(types))
        nxt = dns.name.Name((b"\x00", *qname.labels))
        nsec = dns.rdtypes.ANY.NSEC.NSEC(dns.rdataclass.IN, dns.rdatatype.NSEC, nxt, bitmap)
        rrset = dns.rrset.from_rdata(qname, ttl, nsec)
        return [rrset, self.sign(rrset)]
