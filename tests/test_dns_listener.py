"""The DNS listener under hostile input, over a real UDP socket on 127.0.0.1; and the name grammar.

A crash shows up three ways and each is asserted: an exception reaching the event loop's handler,
an ERROR log from the listener's last-resort guard (stats.errors), or a valid query that no longer
gets an answer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firebrick.model import Interaction
from firebrick.oob import OOBConfig, OOBServer, names
from firebrick.oob.dns_listener import DNSListener
from firebrick.oob.tokens import new_token

LOOP = "127.0.0.1"
ZONE = "oob.firebrick.test"
MAX_INTERACTIONS = 1000


# -- a raw UDP client --------------------------------------------------------------------------


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.queue.put_nowait(data)


class RawClient:
    """Sends arbitrary bytes to the listener; a valid query after them is the sync point."""

    def __init__(
        self, sock: socket.socket, transport: asyncio.DatagramTransport, protocol: _Collect
    ) -> None:
        self.sock = sock
        self.transport = transport
        self.protocol = protocol
        self._sync_id = 0

    def send(self, packet: bytes) -> None:
        # The socket itself: asyncio's sendto() silently skips empty datagrams.
        self.sock.send(packet)

    async def sync(self, timeout: float = 5.0) -> tuple[dns.message.Message, list[bytes]]:
        """Send a valid query and wait for its answer.

        Returns the answer and every datagram that arrived before it (the replies to whatever
        was sent earlier on this socket, which the listener handles in order).
        """
        self._sync_id = (self._sync_id + 1) % 65536
        query = dns.message.make_query(f"{new_token()}.{ZONE}", "A", id=self._sync_id)
        self.transport.sendto(query.to_wire())
        before: list[bytes] = []
        async with asyncio.timeout(timeout):
            while True:
                data = await self.protocol.queue.get()
                if data[:2] == struct.pack("!H", self._sync_id) and len(data) > 12:
                    answer = dns.message.from_wire(data)
                    if answer.answer:
                        return answer, before
                before.append(data)


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    yield errors
    loop.set_exception_handler(previous)


@pytest.fixture
async def server(
    loop_errors: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> AsyncIterator[OOBServer]:
    caplog.set_level(logging.ERROR, logger="firebrick.oob")
    config = OOBConfig(https_port=None, zone=ZONE, max_interactions=MAX_INTERACTIONS)
    async with OOBServer(config) as srv:
        yield srv
        stats = srv.dns_stats
        assert stats is not None and stats.errors == 0
    assert loop_errors == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.fixture
async def client(server: OOBServer) -> AsyncIterator[RawClient]:
    loop = asyncio.get_running_loop()
    assert server.dns_port is not None
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.connect((LOOP, server.dns_port))
    transport, protocol = await loop.create_datagram_endpoint(_Collect, sock=sock)
    yield RawClient(sock, transport, protocol)
    transport.close()


def header(qid: int = 0x1234, flags: int = 0x0100, qd: int = 1, an: int = 0) -> bytes:
    return struct.pack("!HHHHHH", qid, flags, qd, an, 0, 0)


def wire_name(*labels: bytes) -> bytes:
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"


QTYPE_A_IN = struct.pack("!HH", 1, 1)


# -- hostile packets ---------------------------------------------------------------------------


async def test_short_packets_are_dropped_silently(server: OOBServer, client: RawClient) -> None:
    for packet in (b"", b"\x00", header()[:11]):
        client.send(packet)
    _, before = await client.sync()
    assert before == []  # nothing to answer: not even the id is readable
    stats = server.dns_stats
    assert stats is not None and stats.malformed == 3


@pytest.mark.parametrize(
    "packet",
    [
        pytest.param(header(qd=50), id="qdcount-50-no-data"),
        pytest.param(header() + b"\xc0\x0c" + QTYPE_A_IN, id="pointer-to-itself"),
        pytest.param(
            header() + b"\x01a\xc0\x0c" + QTYPE_A_IN, id="pointer-loop-via-label"
        ),  # label "a" then a pointer back to that label: a.a.a.a...
        pytest.param(header() + b"\x40" + b"x" * 64 + b"\x00" + QTYPE_A_IN, id="label-64"),
        pytest.param(
            header() + wire_name(*[b"y" * 63] * 5) + QTYPE_A_IN, id="name-longer-than-255"
        ),
        pytest.param(header() + b"\x05abc", id="truncated-question"),
    ],
)
async def test_malformed_queries_get_formerr_and_no_state(
    server: OOBServer, client: RawClient, packet: bytes
) -> None:
    client.send(packet)
    _, before = await client.sync()
    assert len(before) == 1
    reply = before[0]
    # Header-only FORMERR: same id, QR set, no sections echoed back.
    assert reply[:2] == packet[:2]
    flags = struct.unpack("!H", reply[2:4])[0]
    assert flags & 0x8000 and flags & 0x000F == dns.rcode.FORMERR
    assert len(reply) == 12
    stats = server.dns_stats
    assert stats is not None and stats.malformed == 1
    assert len(server.interactions()) == 1  # only the sync query was recorded


async def test_a_broken_later_section_still_gets_the_question_answered(
    server: OOBServer, client: RawClient
) -> None:
    token = new_token()
    zone = [z.encode() for z in ZONE.split(".")]
    # Claims three answer records and carries none: the question itself is fine.
    client.send(header(qid=9, an=3) + wire_name(token.encode(), *zone) + QTYPE_A_IN)
    _, before = await client.sync()
    [reply] = before
    answer = dns.message.from_wire(reply)
    assert answer.id == 9 and answer.answer
    assert server.interactions()[0].token == token


async def test_a_63_byte_label_is_legal_and_answered(server: OOBServer, client: RawClient) -> None:
    token = new_token()
    zone = [z.encode() for z in ZONE.split(".")]
    packet = header(qid=7) + wire_name(token.encode(), b"z" * 63, *zone) + QTYPE_A_IN
    client.send(packet)
    _, before = await client.sync()
    [reply] = before
    answer = dns.message.from_wire(reply)
    assert answer.rcode() == dns.rcode.NOERROR and answer.answer
    assert server.interactions()[0].token == token


async def test_response_packets_are_never_answered(server: OOBServer, client: RawClient) -> None:
    # A packet with QR set that spoofs our own answer: replying could start a loop between servers.
    reply_like = header(flags=0x8400) + wire_name(b"x", *[z.encode() for z in ZONE.split(".")])
    client.send(reply_like + QTYPE_A_IN)
    _, before = await client.sync()
    assert before == []
    stats = server.dns_stats
    assert stats is not None and stats.dropped == 1


async def test_seeded_random_garbage_and_mutations(server: OOBServer, client: RawClient) -> None:
    rng = random.Random(20240607)
    valid = dns.message.make_query(f"{new_token()}.a-127-0-0-1.{ZONE}", "A", use_edns=0).to_wire()
    sent = 0
    for batch in range(20):
        for _ in range(25):  # small batches keep well inside the socket buffer
            if rng.random() < 0.5:
                packet = rng.randbytes(rng.randint(0, 600))
            else:  # bit flips and truncation of a valid query reach deeper into the parser
                mutated = bytearray(valid)
                for _ in range(rng.randint(1, 6)):
                    mutated[rng.randrange(len(mutated))] = rng.randrange(256)
                packet = bytes(mutated[: rng.randint(0, len(mutated))])
            client.send(packet)
            sent += 1
        answer, _ = await client.sync()
        assert answer.rcode() == dns.rcode.NOERROR, f"batch {batch}"
    stats = server.dns_stats
    assert stats is not None
    assert stats.received == sent + 20  # every packet was seen and handled
    assert len(server.interactions()) <= MAX_INTERACTIONS


async def test_flood_of_valid_queries_stays_bounded(server: OOBServer, client: RawClient) -> None:
    tokens = [new_token() for _ in range(5000)]
    rb_zone = [b"rb-127-0-0-2", *(z.encode() for z in ZONE.split("."))]
    answered = 0
    for start in range(0, len(tokens), 100):
        batch = tokens[start : start + 100]
        for i, token in enumerate(batch):
            # Built by hand: dnspython's make_query would cost more than the listener's work.
            client.send(header(qid=start + i) + wire_name(token.encode(), *rb_zone) + QTYPE_A_IN)
        try:
            async with asyncio.timeout(3):
                for _ in batch:
                    await client.protocol.queue.get()
                    answered += 1
        except TimeoutError:  # the kernel may drop a datagram under load; that is not our bug
            pass
    assert answered >= 4900
    answer, _ = await client.sync()  # still answering
    assert answer.rcode() == dns.rcode.NOERROR
    kept = server.interactions()
    assert len(kept) == MAX_INTERACTIONS
    assert server.recorded_total >= 4901
    # The newest are kept (the last is the sync query), the oldest dropped.
    recent = set(tokens[-1100:])
    assert all(i.token in recent for i in kept[:-1])
    assert tokens[0] not in {i.token for i in kept}


async def test_tcp_garbage_then_valid_query(server: OOBServer) -> None:
    assert server.dns_port is not None
    for payload in (b"\x00", b"\xff\xff" + b"x" * 10, struct.pack("!H", 5) + b"hello"):
        reader, writer = await asyncio.open_connection(LOOP, server.dns_port)
        writer.write(payload)
        writer.write_eof()
        async with asyncio.timeout(5):
            await reader.read()  # the listener closes (or answers FORMERR, then sees EOF)
        writer.close()
        await writer.wait_closed()
    query = dns.message.make_query(f"{new_token()}.{ZONE}", "A")
    answer = await dns.asyncquery.tcp(query, LOOP, port=server.dns_port, timeout=3)
    assert answer.answer


# -- the core without sockets: fuzz it, and check state stays bounded --------------------------


def _listener(records: list[Interaction], rebind_capacity: int = 10000) -> DNSListener:
    return DNSListener(
        host=LOOP,
        port=0,
        zone=ZONE,
        advertise_host="127.0.0.1",
        record=records.append,
        rebind_capacity=rebind_capacity,
    )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=700))
def test_handle_never_raises_and_replies_parse(data: bytes) -> None:
    records: list[Interaction] = []
    listener = _listener(records)
    reply = listener.handle(data, LOOP, 5353)
    assert listener.stats.errors == 0
    if reply is not None:
        assert reply[:2] == data[:2]
        assert reply[2] & 0x80  # always a response
        assert len(reply) <= 4096


def test_rebinding_state_is_bounded() -> None:
    records: list[Interaction] = []
    listener = _listener(records, rebind_capacity=100)
    for i in range(500):
        query = dns.message.make_query(f"{new_token()}.rb-127-0-0-{i % 250 + 1}.{ZONE}", "A")
        assert listener.handle(query.to_wire(), LOOP, 5353) is not None
    assert listener.rebind_entries == 100
    assert len(records) == 500


def test_edns_query_gets_a_well_formed_edns_reply() -> None:
    records: list[Interaction] = []
    listener = _listener(records)
    query = dns.message.make_query(f"{new_token()}.{ZONE}", "A", use_edns=0, payload=512)
    answer = dns.message.from_wire(listener.handle(query.to_wire(), LOOP, 5353) or b"")
    assert answer.flags & dns.flags.AA and answer.answer
    assert answer.edns == 0


# -- names.py ----------------------------------------------------------------------------------


def test_parse_qname_grammar() -> None:
    token = new_token()
    parsed = names.parse_qname(f"{token.upper()}.oOb.FireBrick.TEST.", ZONE)
    assert parsed is not None
    assert parsed.token == token and parsed.instruction.kind is names.Kind.CALLBACK

    parsed = names.parse_qname(f"{token}.A-169-254-169-254.{ZONE}", ZONE)
    assert parsed is not None and parsed.token == token
    assert parsed.instruction == names.Instruction(
        names.Kind.ANSWER, "169.254.169.254", "a-169-254-169-254"
    )

    parsed = names.parse_qname(f"{token}.rb-10-0-0-1.{ZONE}", ZONE)
    assert parsed is not None and parsed.instruction.kind is names.Kind.REBIND
    assert parsed.instruction.address == "10.0.0.1"

    parsed = names.parse_qname(f"{token}.a6-fd00-ec2--254.{ZONE}", ZONE)
    assert parsed is not None and parsed.instruction.address == "fd00:ec2::254"

    apex = names.parse_qname(ZONE.upper(), ZONE)
    assert apex is not None and apex.instruction.kind is names.Kind.APEX and apex.token is None

    assert names.parse_qname("example.com", ZONE) is None
    assert names.parse_qname(f"x{ZONE}", ZONE) is None  # a suffix match is not a subdomain
    # Labels the grammar does not know (or bad addresses) fall back to the callback.
    for odd in ("a-300-1-1-1", "a-1-2-3", "rb-fd00--1", "a6-zz", "c99-x", "c-1", "ds-good"):
        parsed = names.parse_qname(f"{token}.{odd}.{ZONE}", ZONE)
        assert parsed is not None and parsed.instruction.kind is names.Kind.CALLBACK, odd

    parsed = names.parse_qname(f"C26-Fb.{token}.{ZONE}", ZONE)
    assert parsed is not None and parsed.token == token
    assert parsed.instruction.kind is names.Kind.CNAME and parsed.instruction.count == 26
    assert names.chain_next(parsed.relative, parsed.instruction) == ("c25-fb", token)
    parsed = names.parse_qname(f"{token}.ds-bad.{ZONE}", ZONE)
    assert parsed is not None and parsed.instruction.kind is names.Kind.DNSSEC_BAD


def test_address_labels_round_trip() -> None:
    for address in ("127.0.0.1", "169.254.169.254", "::1", "fd00:ec2::254", "::ffff:127.0.0.1"):
        label = names.address_label(address)
        assert not label.endswith("-") and len(label) <= 63
        instruction = names.parse_label(label.upper())
        assert instruction is not None and instruction.kind is names.Kind.ANSWER
        assert instruction.address == str(ipaddress.ip_address(address))
    assert names.rebinding_label("127.0.0.1") == "rb-127-0-0-1"
    with pytest.raises(ValueError):
        names.rebinding_label("::1")
    with pytest.raises(ValueError):
        names.address_label("not-an-ip")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parse_qname_never_raises(text: str) -> None:
    parsed = names.parse_qname(text, ZONE)
    if parsed is not None and parsed.token is not None:
        assert len(parsed.token) == 12 and parsed.token == parsed.token.lower()
