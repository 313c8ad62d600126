"""The OOB server over real sockets on 127.0.0.1: HTTP, HTTPS, inside listener and DNS."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from firebrick.lab.runner import ready_timeout
from firebrick.model import Interaction
from firebrick.oob import TOKEN_RE, OOBConfig, OOBServer, new_token
from firebrick.oob.server import serve_forever

LOOP = "127.0.0.1"


@pytest.fixture
async def server() -> AsyncIterator[OOBServer]:
    async with OOBServer(OOBConfig(inside_host=LOOP)) as srv:
        yield srv


async def dns_query(srv: OOBServer, qname: str, qtype: str = "A") -> dns.message.Message:
    assert srv.dns_port is not None
    query = dns.message.make_query(qname, qtype)
    return await dns.asyncquery.udp(query, LOOP, port=srv.dns_port, timeout=3)


def mixed_case(text: str) -> str:
    """0x20-style: alternate the case of letters, as a case-randomising resolver would."""
    return "".join(ch.upper() if i % 2 else ch.lower() for i, ch in enumerate(text))


def a_records(response: dns.message.Message) -> list[tuple[str, int]]:
    return [
        (rdata.address, rrset.ttl)
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.A
        for rdata in rrset
    ]


# -- tokens ---------------------------------------------------------------------------------


def test_tokens_are_dns_safe_random_and_found_case_insensitively() -> None:
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000
    for token in tokens:
        assert len(token) == 12 and token.startswith("fb")
        assert token.isalnum() and token == token.lower()
    token = next(iter(tokens))
    match = TOKEN_RE.search(f"GET /x/{token.upper()}/y")
    assert match is not None and match.group(0).lower() == token


async def test_resolve_token_finds_only_issued_tokens(server: OOBServer) -> None:
    token = server.new_token("query:url")
    assert server.resolve_token(f"/cb/{token.upper()}?x=1") == token
    # A token directly after token-like characters is still found (overlapping candidates).
    assert server.resolve_token(f"fbfb{token}") == token
    assert server.resolve_token(f"{token}.a-127-0-0-1.{server.zone}") == token
    assert server.resolve_token(f"/{new_token()}") is None
    assert server.resolve_token("") is None
    assert server.purpose(token) == "query:url"


# -- HTTP -----------------------------------------------------------------------------------


async def test_http_hit_records_token_source_path_and_returns_canary(server: OOBServer) -> None:
    token = server.new_token()
    assert token in server.outstanding
    url = server.http_url(token, "/deep?x=1")
    assert url == f"http://127.0.0.1:{server.http_port}/{token}/deep?x=1"
    async with httpx.AsyncClient() as client:
        response = await client.get(url, headers={"X-Probe": "yes"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert server.canary(token) in response.text
    assert response.text.startswith(f"firebrick-canary-{token}\n")

    [hit] = server.interactions(token)
    assert hit.protocol == "http" and hit.listener == "public"
    assert hit.token == token
    assert hit.source_ip == LOOP and hit.source_port > 0
    assert hit.http_method == "GET"
    assert hit.http_path == f"/{token}/deep?x=1"
    assert hit.http_host == f"127.0.0.1:{server.http_port}"
    assert "X-Probe: yes" in hit.raw
    assert token not in server.outstanding


async def test_http_token_in_host_header_and_unknown_paths(server: OOBServer) -> None:
    token = server.new_token()
    async with httpx.AsyncClient() as client:
        # A DNS-name payload reaches the listener with the token only in the Host header.
        by_host = await client.get(
            f"http://127.0.0.1:{server.http_port}/", headers={"Host": server.dns_name(token)}
        )
        unknown = await client.post(f"http://127.0.0.1:{server.http_port}/nothing", content=b"x")
    assert by_host.status_code == 200 and server.canary(token) in by_host.text
    [hit] = server.interactions(token)
    assert hit.http_host == server.dns_name(token) and hit.http_path == "/"
    assert unknown.status_code == 404
    assert "firebrick-canary" not in unknown.text
    assert server.interactions(token) == [hit]  # the tokenless request is not attributed to it


async def test_redirect_answers_location_instead_of_canary(server: OOBServer) -> None:
    token, other = server.new_token(), server.new_token()
    server.set_redirect(token, "http://127.0.0.1:9/internal", status=307)
    async with httpx.AsyncClient(follow_redirects=False) as client:
        redirected = await client.get(server.http_url(token, "/x"))
        normal = await client.get(server.http_url(other))
    assert redirected.status_code == 307
    assert redirected.headers["location"] == "http://127.0.0.1:9/internal"
    assert "firebrick-canary" not in redirected.text
    assert len(server.interactions(token)) == 1  # the hit that got redirected is recorded
    assert normal.status_code == 200 and server.canary(other) in normal.text
    with pytest.raises(ValueError):
        server.set_redirect(token, "http://127.0.0.1/", status=200)
    with pytest.raises(ValueError):
        server.set_redirect(token, "http://127.0.0.1/\r\nSet-Cookie: x=1")


async def test_https_works_without_verification_and_fails_with_it(server: OOBServer) -> None:
    trusted, untrusted = server.new_token(), server.new_token()
    async with httpx.AsyncClient(verify=True) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(server.https_url(trusted))
    assert server.interactions(trusted) == []  # a verifying client never sends the request

    # Plain HTTP on the TLS port is a failed handshake, nothing more.
    assert server.https_port is not None
    reader, writer = await asyncio.open_connection(LOOP, server.https_port)
    writer.write(f"GET /{trusted} HTTP/1.1\r\n\r\n".encode())
    async with asyncio.timeout(5):
        await reader.read()
    writer.close()
    await writer.wait_closed()
    assert server.interactions(trusted) == []

    async with httpx.AsyncClient(verify=False) as client:
        response = await client.get(server.https_url(untrusted, "/p"))
    assert response.status_code == 200 and server.canary(untrusted) in response.text
    [hit] = server.interactions(untrusted)
    assert hit.protocol == "https" and hit.http_path == f"/{untrusted}/p"

    # The certificate is the self-signed firebrick-oob.test one.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.open_connection(LOOP, server.https_port, ssl=ctx)
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True)
    writer.close()
    await writer.wait_closed()
    cert = x509.load_der_x509_certificate(der)
    [cn] = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert cn.value == "firebrick-oob.test"
    assert cert.issuer == cert.subject


async def test_wait_for_wakes_on_hit_and_times_out_quickly(server: OOBServer) -> None:
    token, silent = server.new_token(), server.new_token()
    waiter = asyncio.create_task(server.wait_for([silent, token], timeout=10))
    started = time.monotonic()
    async with httpx.AsyncClient() as client:
        await client.get(server.http_url(token))
    assert await waiter is True
    assert time.monotonic() - started < 5  # woke on the event, not on the 10 s timeout

    assert await server.wait_for([token], timeout=10) is True  # already there: immediate
    started = time.monotonic()
    assert await server.wait_for([silent], timeout=0.2) is False
    assert time.monotonic() - started < 2
    assert await server.wait_for([], timeout=0.1) is False


async def test_wait_for_filters_by_protocol(server: OOBServer) -> None:
    token = server.new_token()
    await dns_query(server, server.dns_name(token))
    assert await server.wait_for([token], timeout=0.1, protocols={"http", "https"}) is False
    assert await server.wait_for([token], timeout=1, protocols={"dns"}) is True
    waiter = asyncio.create_task(server.wait_for([token], timeout=10, protocols={"http"}))
    async with httpx.AsyncClient() as client:
        await client.get(server.http_url(token))
    assert await waiter is True


async def test_many_concurrent_tokens_are_attributed_to_their_own_payload(
    server: OOBServer,
) -> None:
    tokens = [server.new_token() for _ in range(50)]
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=50)) as client:
        responses = await asyncio.gather(*(client.get(server.http_url(t, "/c")) for t in tokens))
    for token, response in zip(tokens, responses, strict=True):
        assert response.status_code == 200
        assert response.text.startswith(server.canary(token))
        [hit] = server.interactions(token)
        assert hit.http_path == f"/{token}/c"
    assert server.outstanding == set()
    assert len(server.interactions()) == 50


async def test_inside_listener_records_listener_inside(server: OOBServer) -> None:
    token = server.new_token()
    assert server.inside_port is not None and server.inside_port != server.http_port
    async with httpx.AsyncClient() as client:
        response = await client.get(server.inside_url(token, suffix="/admin"))
    assert response.status_code == 200 and server.canary(token) in response.text
    [hit] = server.interactions(token)
    assert hit.listener == "inside" and hit.http_path == f"/{token}/admin"
    # Odd spellings of the inside address are written as given; bare IPv6 gets brackets.
    port = server.inside_port
    assert server.inside_url(token, host="2130706433") == f"http://2130706433:{port}/{token}"
    assert server.inside_url(token, host="[::ffff:127.0.0.1]").startswith(
        "http://[::ffff:127.0.0.1]:"
    )
    assert server.inside_url(token, host="::1", suffix="/a") == f"http://[::1]:{port}/{token}/a"


async def test_http_listener_survives_garbage_oversize_and_slow_clients(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="firebrick.oob")
    config = OOBConfig(https_port=None, dns_port=None, http_read_timeout=0.3)
    async with OOBServer(config) as srv:
        token = srv.new_token()

        async def raw_exchange(payload: bytes, *, close_write: bool = True) -> bytes:
            reader, writer = await asyncio.open_connection(LOOP, srv.http_port)
            writer.write(payload)
            await writer.drain()
            if close_write:
                writer.write_eof()
            async with asyncio.timeout(5):
                data = await reader.read()  # until the listener closes the connection
            writer.close()
            await writer.wait_closed()
            return data

        assert (await raw_exchange(b"\x16\x03\x01\x02\x00\x01\x00\xff\xff")).startswith(
            b"HTTP/1.1 400"
        )
        big = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
        assert (await raw_exchange(big)).startswith(b"HTTP/1.1 431")
        many = b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 3000 + b"\r\n"
        assert (await raw_exchange(many)).startswith(b"HTTP/1.1 431")
        # Garbage that still names a payload is kept as evidence.
        assert (await raw_exchange(f"BOGUS /{token}\r\n\r\n".encode())).startswith(b"HTTP/1.1 400")
        assert [i.http_method for i in srv.interactions(token)] == [None]
        # A client that never finishes its headers is cut off by the read timeout.
        assert await raw_exchange(b"GET / HTTP/1.1\r\nHost: x", close_write=False) == b""
        # A body larger than Content-Length promises, and a POST with a body, still work.
        body = f"POST /{token} HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcdEXTRA".encode()
        assert (await raw_exchange(body)).startswith(b"HTTP/1.1 200")
        assert srv.interactions(token)[-1].raw.endswith("abcd")

        async with httpx.AsyncClient() as client:
            assert (await client.get(srv.http_url(token))).status_code == 200
    assert not caplog.records


async def test_max_interactions_drops_the_oldest() -> None:
    async with OOBServer(OOBConfig(https_port=None, dns_port=None, max_interactions=5)) as srv:
        tokens = [srv.new_token() for _ in range(8)]
        async with httpx.AsyncClient() as client:
            for token in tokens:
                await client.get(srv.http_url(token))
        kept = srv.interactions()
        assert [i.token for i in kept] == tokens[3:]
        assert srv.recorded_total == 8
        assert srv.interactions(tokens[0]) == []
        assert srv.outstanding == set()  # hits are remembered even after eviction
        assert await srv.wait_for([tokens[0]], timeout=0.1) is True


async def test_ignore_sources_drops_interactions_but_still_answers() -> None:
    config = OOBConfig(https_port=None, ignore_sources=frozenset({"127.0.0.1"}))
    async with OOBServer(config) as srv:
        token = srv.new_token()
        async with httpx.AsyncClient() as client:
            response = await client.get(srv.http_url(token))
        assert response.status_code == 200  # answered: the request was fully handled
        answer = await dns_query(srv, srv.dns_name(token))
        assert a_records(answer) == [("127.0.0.1", 0)]
        assert srv.interactions() == []
        assert token in srv.outstanding
        assert await srv.wait_for([token], timeout=0.1) is False


async def test_serve_forever_reports_interactions_until_cancelled() -> None:
    seen: list[Interaction] = []
    got_one = asyncio.Event()
    ready: asyncio.Future[OOBServer] = asyncio.get_running_loop().create_future()

    def on_interaction(interaction: Interaction) -> None:
        seen.append(interaction)
        got_one.set()

    config = OOBConfig(https_port=None, dns_port=None)
    task = asyncio.create_task(serve_forever(config, on_interaction, on_ready=ready.set_result))
    srv = await asyncio.wait_for(ready, timeout=ready_timeout())
    token = new_token()  # issued elsewhere: the standalone server still attributes it
    async with httpx.AsyncClient() as client:
        response = await client.get(srv.http_url(token))
    assert response.status_code == 200 and srv.canary(token) in response.text
    await asyncio.wait_for(got_one.wait(), timeout=ready_timeout())
    assert seen[0].token == token
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(OSError):
        await asyncio.open_connection(LOOP, srv.http_port)


async def test_urls_need_a_started_server_and_bad_config_is_refused() -> None:
    srv = OOBServer(OOBConfig())
    with pytest.raises(RuntimeError):
        srv.http_url("fb0000000000")
    assert srv.dns_name("fb0000000000") == "fb0000000000.oob.firebrick.test"
    with pytest.raises(ValueError):
        OOBServer(OOBConfig(max_interactions=0))
    with pytest.raises(ValueError, match="advertise_host"):
        OOBServer(OOBConfig(listen_host="0.0.0.0"))  # would answer 0.0.0.0: the target itself
    assert OOBServer(OOBConfig(listen_host="::", advertise_host="::1")).advertise_host == "::1"
    async with OOBServer(OOBConfig(https_port=None, dns_port=None)) as plain:
        with pytest.raises(RuntimeError):
            plain.https_url("fb0000000000")
        with pytest.raises(RuntimeError):
            plain.inside_url("fb0000000000")
        assert plain.https_port is None and plain.dns_port is None


# -- DNS ------------------------------------------------------------------------------------


async def test_dns_callback_name_echoes_case_and_records_it(server: OOBServer) -> None:
    token = server.new_token()
    qname = mixed_case(server.dns_name(token))
    assert qname != qname.lower()
    query = dns.message.make_query(qname, "A")
    assert server.dns_port is not None
    response = await dns.asyncquery.udp(query, LOOP, port=server.dns_port, timeout=3)

    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    assert a_records(response) == [(server.advertise_host, 0)]
    # The question comes back byte for byte, as a 0x20-checking resolver requires.
    assert response.question[0].name.to_text() == qname + "."
    assert response.answer[0].name.to_text() == qname + "."

    [hit] = server.interactions(token)
    assert hit.protocol == "dns" and hit.token == token
    assert hit.dns_qname == qname
    assert hit.dns_qtype == "A"
    assert hit.dns_txid == query.id
    assert hit.source_ip == LOOP and hit.source_port > 0
    assert token not in server.outstanding


async def test_dns_advertise_host_is_what_names_answer() -> None:
    config = OOBConfig(https_port=None, advertise_host="127.0.0.5")
    async with OOBServer(config) as srv:
        token = srv.new_token()
        assert srv.http_url(token).startswith("http://127.0.0.5:")
        response = await dns_query(srv, srv.dns_name(token))
        assert a_records(response) == [("127.0.0.5", 0)]


async def test_name_answering_returns_the_requested_address(server: OOBServer) -> None:
    token = server.new_token()
    name = server.name_answering(token, "127.0.0.9")
    assert name == f"{token}.a-127-0-0-9.{server.zone}"
    response = await dns_query(server, mixed_case(name))
    assert a_records(response) == [("127.0.0.9", 0)]
    v6 = server.name_answering(token, "::1")
    response = await dns_query(server, v6, "AAAA")
    assert [r.address for rrset in response.answer for r in rrset] == ["::1"]
    assert a_records(await dns_query(server, v6, "A")) == []
    assert [i.token for i in server.interactions(token)] == [token] * 3


async def test_rebinding_name_answers_public_first_then_internal(server: OOBServer) -> None:
    token = server.new_token()
    name = server.rebinding_name(token, "127.0.0.9")
    assert name == f"{token}.rb-127-0-0-9.{server.zone}"
    first = await dns_query(server, name)
    second = await dns_query(server, name.upper())  # the count ignores letter case
    third = await dns_query(server, mixed_case(name))
    assert a_records(first) == [(server.advertise_host, 0)]
    assert a_records(second) == [("127.0.0.9", 0)]
    assert a_records(third) == [("127.0.0.9", 0)]
    # An AAAA query does not consume the public answer of another rebinding name.
    other = server.rebinding_name(server.new_token(), "127.0.0.9")
    assert (await dns_query(server, other, "AAAA")).answer == []
    assert a_records(await dns_query(server, other)) == [(server.advertise_host, 0)]
    with pytest.raises(ValueError):
        server.rebinding_name(token, "::1")


async def test_dns_out_of_zone_refused_apex_and_nodata(server: OOBServer) -> None:
    refused = await dns_query(server, "www.example.com")
    assert refused.rcode() == dns.rcode.REFUSED and refused.answer == []
    assert not refused.flags & dns.flags.AA
    assert server.interactions()[-1].dns_qname == "www.example.com"

    soa = await dns_query(server, server.zone, "SOA")
    assert soa.rcode() == dns.rcode.NOERROR and soa.flags & dns.flags.AA
    assert soa.answer[0].rdtype == dns.rdatatype.SOA
    ns = await dns_query(server, server.zone, "NS")
    assert [r.target.to_text() for r in ns.answer[0]] == [f"ns1.{server.zone}."]

    token = server.new_token()
    nodata = await dns_query(server, server.dns_name(token), "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and nodata.answer == []
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA
    # A name under the zone that the grammar does not know still answers the callback.
    unparsed = await dns_query(server, f"whatever.a-999-1-1-1.{server.zone}")
    assert a_records(unparsed) == [(server.advertise_host, 0)]


async def test_dns_over_tcp_answers_like_udp(server: OOBServer) -> None:
    token = server.new_token()
    assert server.dns_port is not None and server.dns_tcp
    query = dns.message.make_query(server.name_answering(token, "127.0.0.7"), "A")
    response = await dns.asyncquery.tcp(query, LOOP, port=server.dns_port, timeout=3)
    assert a_records(response) == [("127.0.0.7", 0)]
    assert server.interactions(token)[0].protocol == "dns"
