"""The authoritative DNS listener of the OOB zone (UDP, and TCP on the same port when free).

Every well-formed query is recorded as an Interaction with the query name exactly as received
(case kept: 0x20 statistics need it), its type and transaction id. Answers follow the grammar in
``names.py``. Hostile input (truncated packets, compression loops, oversized names, floods) is
counted and dropped, or answered FORMERR when the header is readable; it never raises out of the
protocol callbacks and never grows state without bound.

For resolver hygiene (checks/dns_hygiene.py) every query is also kept, bounded, as a
``QueryInfo``: source address and port, transaction id, the name as received (0x20), EDNS buffer
size and the DO bit. With a ``ZoneSigner`` the zone is DNSSEC-signed on the fly for queries that
set DO (see oob/dnssec.py), with one deliberately broken name.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rrset

from firebrick.model import Interaction
from firebrick.oob import dns_fast, names
from firebrick.oob.connections import Connections
from firebrick.oob.dnssec import ZoneSigner

log = logging.getLogger("firebrick.oob.dns")

RAW_CAP = 2048  # chars of the text dump kept per query
TCP_IDLE_TIMEOUT = 10.0
TCP_MAX_QUERIES = 100  # per connection, so one client cannot hold a handler forever
APEX_TTL = 60
TCP_MAX_CONNECTIONS = 256
UDP_RCVBUF = 4 * 1024 * 1024  # bytes (the kernel caps it at net.core.rmem_max)
MAX_QUERY_LOG = 10000  # QueryInfo records kept (oldest dropped): bounded under a flood


@dataclass(frozen=True)
class QueryInfo:
    """What a resolver's query says about the resolver (one per well-formed query)."""

    source_ip: str
    source_port: int
    txid: int
    qname: str  # as received, case kept
    qtype: str
    edns: int  # EDNS version, -1 without EDNS
    payload: int  # advertised UDP buffer size (512 without EDNS)
    do: bool  # DNSSEC OK bit
    token: str | None
    time: float
    tcp: bool = False


@dataclass
class DNSStats:
    received: int = 0  # datagrams / TCP messages seen
    answered: int = 0  # responses sent (including REFUSED/NOTIMP/FORMERR)
    malformed: int = 0  # could not be parsed as a query
    dropped: int = 0  # parsed but not answered (e.g. a response packet: never reflect)
    errors: int = 0  # bugs caught by the handler's last-resort guard (should stay 0)


class DNSListener:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        zone: str,
        advertise_host: str,
        record: Callable[[Interaction], object],
        ttl: int = 0,
        rebind_capacity: int = 10000,
        tcp: bool = True,
        signer: ZoneSigner | None = None,
        query_log: int = MAX_QUERY_LOG,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.port = port
        self.zone = ".".join(names.zone_labels(zone))
        self.zone_name = dns.name.from_text(self.zone)
        self._zone_wire = [label.lower() for label in self.zone_name.labels if label]
        self.advertise_host = advertise_host
        self.ttl = ttl
        self.stats = DNSStats()
        self.signer = signer
        self.queries: deque[QueryInfo] = deque(maxlen=max(1, query_log))
        self.tcp_enabled = False
        self._record = record
        self._want_tcp = tcp
        self._advertise_ip = _ip_or_none(advertise_host)
        # Rebinding: how many A queries each rb- name has had. LRU-bounded: a flood of distinct
        # names evicts the oldest instead of growing memory.
        self._rebind_seen: OrderedDict[str, int] = OrderedDict()
        self._rebind_capacity = max(1, rebind_capacity)
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp_server: asyncio.Server | None = None
        self._tcp_connections = Connections(TCP_MAX_CONNECTIONS)
        soa = f"ns1.{self.zone}. hostmaster.{self.zone}. 1 3600 600 86400 0"
        self._soa = dns.rrset.from_text(self.zone_name, APEX_TTL, "IN", "SOA", soa)

    @property
    def rebind_entries(self) -> int:
        """How many rebinding names the listener currently remembers (bounded)."""
        return len(self._rebind_seen)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # With an ephemeral port, retry when TCP cannot take the port UDP got.
        attempts = 5 if self.requested_port == 0 else 1
        for attempt in range(attempts):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UDPProtocol(self), local_addr=(self.host, self.requested_port)
            )
            self._udp = transport
            self.port = int(transport.get_extra_info("sockname")[1])
            sock = transport.get_extra_info("socket")
            if sock is not None:  # a burst waits in the kernel while the loop is busy elsewhere
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)
            if not self._want_tcp:
                return
            try:
                self._tcp_server = await asyncio.start_server(
                    self._handle_tcp, self.host, self.port
                )
                self.tcp_enabled = True
                return
            except OSError as exc:
                if attempt == attempts - 1:
                    log.warning("DNS over TCP unavailable on port %d: %s", self.port, exc)
                    return
                transport.close()
                self._udp = None

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp_server is not None:
            await self._tcp_connections.close(self._tcp_server)
            self._tcp_server = None

    # -- the core: bytes in, bytes out ---------------------------------------------------------

    def handle(
        self, data: bytes, source_ip: str, source_port: int, *, tcp: bool = False
    ) -> bytes | None:
        """Answer one DNS message; None means send nothing. Never raises."""
        self.stats.received += 1
        try:
            fast = self._fast(data, source_ip, source_port, tcp)
            if fast is not None:
                return fast
            return self._handle(data, source_ip, source_port, tcp)
        except Exception:  # a bug here must not take the listener down
            log.exception("DNS handler failed")
            self.stats.errors += 1
            return None

    def _fast(self, data: bytes, source_ip: str, source_port: int, tcp: bool) -> bytes | None:
        """The common A/AAAA query answered without dnspython (dns_fast); None: not that kind."""
        query = dns_fast.parse(data)
        if query is None:
            return None
        zone = self._zone_wire
        if (
            len(query.labels) < len(zone)
            or [label.lower() for label in query.labels[len(query.labels) - len(zone) :]] != zone
        ):
            return None
        relative = [
            label.decode("latin-1") for label in query.labels[: len(query.labels) - len(zone)]
        ]
        parsed = names.parse_labels(relative)
        kind = parsed.instruction.kind
        if kind in (names.Kind.CALLBACK, names.Kind.APEX) or (
            kind is names.Kind.CNAME and not parsed.instruction.count
        ):
            ip = self._advertise_ip
        elif kind is names.Kind.ANSWER:
            ip = _ip_or_none(parsed.instruction.address)
        else:  # rebinding state, CNAME links, the DNSSEC test name: the full path
            return None
        want = 4 if query.qtype == dns_fast.TYPE_A else 6
        if ip is None or ip.version != want:
            return None  # NODATA carries the SOA: the full path
        qname_text = ".".join(label.decode("latin-1") for label in query.labels)
        qtype_text = "A" if want == 4 else "AAAA"
        now = time.time()
        token = parsed.token
        self.queries.append(
            QueryInfo(
                source_ip=source_ip,
                source_port=source_port,
                txid=query.txid,
                qname=qname_text,
                qtype=qtype_text,
                edns=0 if query.edns else -1,
                payload=query.payload,
                do=False,
                token=token,
                time=now,
                tcp=tcp,
            )
        )
        edns = f" edns=0 payload={query.payload} do=0" if query.edns else ""
        flags = dns.flags.to_text(query.flags)
        raw = f"id={query.txid} opcode=QUERY flags={flags}{edns}\n{qname_text}. IN {qtype_text}"
        self._record(
            Interaction(
                protocol="dns",
                token=token,
                source_ip=source_ip,
                source_port=source_port,
                time=now,
                listener="public",
                raw=raw[:RAW_CAP],
                dns_qname=qname_text,
                dns_qtype=qtype_text,
                dns_txid=query.txid,
            )
        )
        self.stats.answered += 1
        return dns_fast.answer(query, ip.packed, self.ttl)

    def _handle(self, data: bytes, source_ip: str, source_port: int, tcp: bool) -> bytes | None:
        if len(data) < 12:
            self.stats.malformed += 1
            return None
        if data[2] & 0x80:  # QR set: a response; answering it could start a packet loop
            self.stats.dropped += 1
            return None
        query = _parse(data)
        if query is None:
            self.stats.malformed += 1
            return self._formerr(data)
        if query.opcode() != dns.opcode.QUERY:
            return self._render(_response(query, dns.rcode.NOTIMP), query, tcp)
        if len(query.question) != 1:
            self.stats.malformed += 1
            return self._render(_response(query, dns.rcode.FORMERR), query, tcp)

        question = query.question[0]
        qname: dns.name.Name = question.name
        qtype = question.rdtype
        in_zone = qname.is_subdomain(self.zone_name)
        parsed: names.ParsedName | None = None
        qname_text = qname.to_text(omit_final_dot=True) or "."
        if in_zone:
            relative = qname.relativize(self.zone_name).labels
            parsed = names.parse_labels([label.decode("latin-1") for label in relative])
        now = time.time()
        do = query.edns >= 0 and bool(query.ednsflags & dns.flags.DO)
        if in_zone:  # what the resolver's query says about it, for resolver hygiene
            self.queries.append(
                QueryInfo(
                    source_ip=source_ip,
                    source_port=source_port,
                    txid=query.id,
                    qname=qname_text,
                    qtype=dns.rdatatype.to_text(qtype),
                    edns=query.edns,
                    payload=int(query.payload) if query.edns >= 0 else 512,
                    do=do,
                    token=parsed.token if parsed else None,
                    time=now,
                    tcp=tcp,
                )
            )
        self._record(
            Interaction(
                protocol="dns",
                token=parsed.token if parsed else None,
                source_ip=source_ip,
                source_port=source_port,
                time=now,
                listener="public",
                raw=_dump(query, qname_text, qtype, question.rdclass),
                dns_qname=qname_text,
                dns_qtype=dns.rdatatype.to_text(qtype),
                dns_txid=query.id,
            )
        )

        if parsed is None or question.rdclass != dns.rdataclass.IN:
            return self._render(_response(query, dns.rcode.REFUSED), query, tcp)
        response = _response(query, dns.rcode.NOERROR)
        response.flags |= dns.flags.AA
        broken = self._answer(response, qname, qtype, parsed)
        if not response.answer:
            response.authority.append(self._soa)  # NODATA: SOA for negative caching (RFC 2308)
        if do and self.signer is not None:
            self._sign(response, qname, qtype, broken)
        return self._render(response, query, tcp)

    def _sign(
        self,
        response: dns.message.Message,
        qname: dns.name.Name,
        qtype: dns.rdatatype.RdataType,
        broken: bool,
    ) -> None:
        signer = self.signer
        assert signer is not None
        response.ednsflags |= dns.flags.DO
        nodata = not response.answer
        for section in (response.answer, response.authority):
            for rrset in list(section):
                if rrset.rdtype != dns.rdatatype.RRSIG:
                    section.append(signer.sign(rrset, broken=broken and section is response.answer))
        if nodata:
            response.authority.extend(signer.nodata_proof(qname, qtype, APEX_TTL))

    def _answer(
        self,
        response: dns.message.Message,
        qname: dns.name.Name,
        qtype: dns.rdatatype.RdataType,
        parsed: names.ParsedName,
    ) -> bool:
        """Fill the answer; True when its signature must be broken (the DNSSEC test name)."""
        instruction = parsed.instruction
        kind = instruction.kind
        if kind is names.Kind.APEX:
            if qtype == dns.rdatatype.SOA:
                response.answer.append(dns.rrset.from_rdata_list(qname, APEX_TTL, list(self._soa)))
                return False
            if qtype == dns.rdatatype.NS:
                ns = dns.rrset.from_text(qname, APEX_TTL, "IN", "NS", f"ns1.{self.zone}.")
                response.answer.append(ns)
                return False
            if qtype == dns.rdatatype.DNSKEY and self.signer is not None:
                keys = self.signer.dnskey_rrset
                response.answer.append(dns.rrset.from_rdata_list(qname, keys.ttl, list(keys)))
                return False
            self._address(response, qname, qtype, self._advertise_ip)
        elif kind is names.Kind.CNAME and instruction.count:
            # One link per answer, TTL 0: the resolver must come back for every link.
            labels = names.chain_next(parsed.relative, instruction)
            # Wire labels, not text: a hostile label may hold dots or escapes.
            next_name = dns.name.Name(
                tuple(label.encode("latin-1") for label in labels) + self.zone_name.labels
            )
            link = dns.rdtypes.ANY.CNAME.CNAME(dns.rdataclass.IN, dns.rdatatype.CNAME, next_name)
            response.answer.append(dns.rrset.from_rdata(qname, self.ttl, link))
        elif kind is names.Kind.DNSSEC_BAD:
            self._address(response, qname, qtype, self._advertise_ip)
            return True
        elif kind is names.Kind.ANSWER:
            self._address(response, qname, qtype, _ip_or_none(instruction.address))
        elif kind is names.Kind.REBIND:
            if qtype != dns.rdatatype.A:
                return False
            key = ".".join(parsed.relative)
            seen = self._rebind_seen.pop(key, 0)
            self._rebind_seen[key] = seen + 1
            while len(self._rebind_seen) > self._rebind_capacity:
                self._rebind_seen.popitem(last=False)
            first = seen == 0
            target = self._advertise_ip if first else _ip_or_none(instruction.address)
            self._address(response, qname, qtype, target)
        else:  # CALLBACK, the end of a CNAME chain, and anything a later rule does not handle
            self._address(response, qname, qtype, self._advertise_ip)
        return False

    def _address(
        self,
        response: dns.message.Message,
        qname: dns.name.Name,
        qtype: dns.rdatatype.RdataType,
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
    ) -> None:
        # The owner is the question's Name object, so the answer keeps the case as received.
        if ip is None:
            return
        rdata: dns.rdata.Rdata
        if qtype == dns.rdatatype.A and ip.version == 4:
            rdata = dns.rdtypes.IN.A.A(dns.rdataclass.IN, dns.rdatatype.A, str(ip))
        elif qtype == dns.rdatatype.AAAA and ip.version == 6:
            rdata = dns.rdtypes.IN.AAAA.AAAA(dns.rdataclass.IN, dns.rdatatype.AAAA, str(ip))
        else:
            return
        response.answer.append(dns.rrset.from_rdata(qname, self.ttl, rdata))

    def _render(
        self, response: dns.message.Message, query: dns.message.Message, tcp: bool
    ) -> bytes | None:
        max_size = 65535  # TCP
        if not tcp:  # UDP: 512 unless the client advertised a larger EDNS buffer
            max_size = 512 if query.edns < 0 else max(512, min(query.payload, 4096))
        try:
            wire = response.to_wire(max_size=max_size)
        except dns.exception.TooBig:
            response.answer.clear()
            response.authority.clear()
            response.additional.clear()
            response.flags |= dns.flags.TC
            try:
                wire = response.to_wire(max_size=max_size)
            except Exception:
                self.stats.dropped += 1
                return None
        except Exception:
            self.stats.dropped += 1
            return None
        self.stats.answered += 1
        return wire

    def _formerr(self, data: bytes) -> bytes:
        # Header-only FORMERR: same id, opcode and RD; QR set; no sections (the question may be
        # the unparseable part).
        flags = int.from_bytes(data[2:4], "big")
        out_flags = 0x8000 | (flags & 0x7800) | (flags & 0x0100) | dns.rcode.FORMERR
        self.stats.answered += 1
        return data[:2] + out_flags.to_bytes(2, "big") + bytes(8)

    # -- TCP framing ---------------------------------------------------------------------------

    async def _handle_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with self._tcp_connections.serving(writer) as admitted:
            if admitted:
                await self._serve_tcp(reader, writer)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        try:
            for _ in range(TCP_MAX_QUERIES):
                async with asyncio.timeout(TCP_IDLE_TIMEOUT):
                    size = int.from_bytes(await reader.readexactly(2), "big")
                    data = await reader.readexactly(size)
                answer = self.handle(data, str(peer[0]), int(peer[1]), tcp=True)
                if answer is None:
                    break
                writer.write(len(answer).to_bytes(2, "big") + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("DNS TCP handler failed")


class _UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, listener: DNSListener) -> None:
        self.listener = listener
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        answer = self.listener.handle(data, str(addr[0]), int(addr[1]))
        if answer is not None and self.transport is not None:
            with contextlib.suppress(OSError):
                self.transport.sendto(answer, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a client that went away: nothing to do.
        log.debug("DNS UDP error: %s", exc)


def _parse(data: bytes) -> dns.message.Message | None:
    try:
        return dns.message.from_wire(data, ignore_trailing=True)
    except Exception:
        pass
    # The question may still be fine when a later section (EDNS, TSIG...) is not.
    try:
        return dns.message.from_wire(data, question_only=True, ignore_trailing=True)
    except Exception:
        return None


def _response(query: dns.message.Message, rcode: dns.rcode.Rcode) -> dns.message.Message:
    response = dns.message.make_response(query)
    response.set_rcode(rcode)
    return response


def _dump(
    query: dns.message.Message,
    qname: str,
    qtype: dns.rdatatype.RdataType,
    qclass: dns.rdataclass.RdataClass,
) -> str:
    # A short dig-like summary; Message.to_text() costs as much as the rest of the handler.
    flags = dns.flags.to_text(query.flags)
    edns = ""
    if query.edns >= 0:
        do = 1 if query.ednsflags & dns.flags.DO else 0
        edns = f" edns={query.edns} payload={query.payload} do={do}"
    text = (
        f"id={query.id} opcode={dns.opcode.to_text(query.opcode())} flags={flags}{edns}\n"
        f"{qname}. {dns.rdataclass.to_text(qclass)} {dns.rdatatype.to_text(qtype)}"
    )
    return text[:RAW_CAP]


def _ip_or_none(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
