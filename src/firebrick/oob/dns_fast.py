"""The DNS listener's fast path: plain A/AAAA questions, parsed and answered on the wire.

dnspython costs several hundred microseconds per query (parse, build, render); a resolver hit by
many payloads at once, or a flood, then overflows the socket buffer and queries go unanswered.
The common query (one question, LDH labels, at most an EDNS0 OPT record without DO, standard
opcode) is handled here in a few tens of microseconds with the same answer the full path gives.
Everything else returns None and goes through dnspython (dns_listener.DNSListener._handle).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

_LDH = re.compile(rb"^[A-Za-z0-9_-]{1,63}$")
TYPE_A, TYPE_AAAA, TYPE_OPT, CLASS_IN = 1, 28, 41, 1
OUR_PAYLOAD = 8192  # what dnspython's make_response advertises, so both paths answer alike


@dataclass
class FastQuery:
    txid: int
    flags: int
    labels: list[bytes]  # as received (case kept)
    qtype: int
    question: bytes  # the question section's wire bytes, echoed in the answer
    edns: bool
    payload: int  # the client's EDNS buffer size (512 without EDNS)


def parse(data: bytes) -> FastQuery | None:
    """The query when it is the plain kind this path answers, else None."""
    if len(data) < 17:
        return None
    txid, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", data)
    # a query (QR clear), opcode QUERY, one question, no answer/authority, at most one additional
    if flags & 0xF800 or qd != 1 or an or ns or ar > 1:
        return None
    pos, labels = 12, []
    while True:
        if pos >= len(data):
            return None
        n = data[pos]
        if n == 0:
            pos += 1
            break
        if n & 0xC0 or pos + 1 + n > len(data):
            return None  # compression in a question, or cut short: the full path decides
        label = data[pos + 1 : pos + 1 + n]
        if not _LDH.match(label):
            return None
        labels.append(label)
        pos += 1 + n
    if pos + 4 > len(data) or not labels:
        return None
    qtype, qclass = struct.unpack_from("!HH", data, pos)
    if qclass != CLASS_IN or qtype not in (TYPE_A, TYPE_AAAA):
        return None
    question = data[12 : pos + 4]
    pos += 4
    edns, payload = False, 512
    if ar:
        # the OPT pseudo-record: root owner, type 41, class = payload, ttl = ext-rcode/version/DO
        if pos + 11 > len(data) or data[pos] != 0:
            return None
        rtype, rclass, ttl, rdlen = struct.unpack_from("!HHIH", data, pos + 1)
        if rtype != TYPE_OPT or ttl & 0x00FF8000 or pos + 11 + rdlen != len(data):
            return None  # EDNS version > 0 or DO set (DNSSEC: signed answers) -> full path
        edns, payload = True, max(512, rclass)
    elif pos != len(data):
        return None
    return FastQuery(txid, flags, labels, qtype, question, edns, payload)


def answer(query: FastQuery, address: bytes | None, ttl: int) -> bytes:
    """An authoritative NOERROR answer with one address record (pointing at the question name);
    ``address`` None is NODATA without SOA, which the caller never asks for (it falls back)."""
    flags = 0x8000 | 0x0400 | (query.flags & 0x0100)  # QR, AA, RD copied
    ancount = 1 if address else 0
    header = struct.pack("!HHHHHH", query.txid, flags, 1, ancount, 0, 1 if query.edns else 0)
    out = header + query.question
    if address:
        rtype = TYPE_A if len(address) == 4 else TYPE_AAAA
        out += struct.pack("!HHHIH", 0xC00C, rtype, CLASS_IN, ttl, len(address)) + address
    if query.edns:
        out += b"\x00" + struct.pack("!HHIH", TYPE_OPT, OUR_PAYLOAD, 0, 0)
    return out
