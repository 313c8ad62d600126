"""The two printed fixes: the stdlib safe fetcher and the ssrfguard policy.

Classification is tested on addresses only (no connection). Fetch behaviour is tested against
real servers on loopback: 127.100.0.1 stands for the internet (allowed via ALLOW_EXTRA / the
policy's allowed_networks), 127.0.0.1 for the inside.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from ssrfguard import SSRFGuardError

from firebrick.remediation.snippets import safe_fetch_ssrfguard as sg
from firebrick.remediation.snippets import safe_fetch_stdlib as sf
from firebrick.remediation.snippets import source

BLOCKED = [
    # loopback and its wrappers
    "127.0.0.1",
    "127.255.255.254",
    "::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:7f00:1",
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "::ffff:0:7f00:1",  # IPv4-translated (SIIT): ssrfguard's shipped table misses it
    "64:ff9b::7f00:1",  # NAT64
    "64:ff9b:1::7f00:1",  # local-use NAT64
    "2002:7f00:1::",  # 6to4
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1 (bit-inverted)
    # unspecified, private, CGNAT, link-local, site-local, ULA
    "0.0.0.0",
    "::",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "169.254.1.1",
    "fe80::1",
    "fec0::1",
    "fc00::1",
    # cloud metadata
    "169.254.169.254",
    "169.254.170.2",
    "100.100.100.200",
    "192.0.0.192",
    "168.63.129.16",  # Azure wire server: public space; ssrfguard's shipped table misses it
    "fd00:ec2::254",
    "64:ff9b::a9fe:a9fe",  # metadata behind NAT64
    "::ffff:169.254.169.254",
    # multicast, broadcast, reserved, documentation, benchmarking
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.2.1",
    "198.51.100.7",
    "203.0.113.9",
    "198.18.0.1",
    "2001:db8::1",
]
ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]

POLICY = sg.make_policy()


@pytest.mark.parametrize("address", BLOCKED)
def test_stdlib_classifier_blocks(address: str) -> None:
    assert sf.is_blocked(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_stdlib_classifier_allows_public(address: str) -> None:
    assert not sf.is_blocked(address)


@pytest.mark.parametrize("address", BLOCKED)
def test_ssrfguard_policy_blocks(address: str) -> None:
    assert not POLICY.permits_address(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_ssrfguard_policy_allows_public(address: str) -> None:
    assert POLICY.permits_address(address)


def test_the_two_gaps_are_real_without_the_fix() -> None:
    """Guards the deny-table additions: if ssrfguard closes the gaps itself, drop them."""
    from ssrfguard import Policy

    stock = Policy()
    assert stock.permits_address("::ffff:0:7f00:1")
    assert stock.permits_address("168.63.129.16")


def test_allow_extra_is_the_only_hook() -> None:
    assert sf.is_blocked("127.100.0.1")
    sf.ALLOW_EXTRA.append(ip_network("127.100.0.0/16"))
    try:
        assert not sf.is_blocked("127.100.0.1")
        assert not sf.is_blocked("::ffff:127.100.0.1")  # the mapped form unwraps to it
        assert sf.is_blocked("127.0.0.1")
    finally:
        sf.ALLOW_EXTRA.pop()


def test_snippets_are_printable_and_self_contained() -> None:
    for name in ("safe_fetch_stdlib", "safe_fetch_ssrfguard"):
        text = source(name)
        assert "firebrick" not in text.replace("firebrick lab", "")  # copyable into any app
    assert 100 <= len(source("safe_fetch_stdlib").splitlines()) <= 240


# ---- fetch behaviour against real loopback servers ----


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", query["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if parts.path == "/big":
            body = b"x" * (int(query["n"][0]))
        else:
            body = f"host={self.headers.get('Host')} path={parts.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _start(host: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[str, str]]:
    outside, inside = _start("127.100.0.1"), _start("127.0.0.1")
    yield (
        f"http://127.100.0.1:{outside.server_address[1]}",
        f"http://127.0.0.1:{inside.server_address[1]}",
    )
    for server in (outside, inside):
        server.shutdown()
        server.server_close()


@pytest.fixture
def lab_internet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    sf.ALLOW_EXTRA.append(ip_network("127.100.0.0/16"))
    monkeypatch.setattr(sf, "ALLOWED_PORTS", None)  # the test servers sit on ephemeral ports
    yield
    sf.ALLOW_EXTRA.remove(ip_network("127.100.0.0/16"))


def test_stdlib_fetch_reaches_the_outside_with_the_host_header(
    servers: tuple[str, str], lab_internet: None
) -> None:
    outside, _ = servers
    result = sf.safe_fetch(outside + "/page")
    assert result.status == 200
    assert result.body.decode() == f"host={outside.removeprefix('http://')} path=/page"


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "2130706433", "127.1", "0x7f000001", "0177.0.0.1", "[::ffff:127.0.0.1]"]
)
def test_stdlib_fetch_refuses_inside_spellings(
    servers: tuple[str, str], lab_internet: None, host: str
) -> None:
    port = servers[1].rsplit(":", 1)[1]
    with pytest.raises(sf.BlockedURL):
        sf.safe_fetch(f"http://{host}:{port}/")


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.100.0.1/",
        "http://user@127.100.0.1/",
        "http://127.100.0.1\\@127.0.0.1/",
        "http://127.100.0.1/\r\nX: y",
    ],
)
def test_stdlib_fetch_refuses_bad_urls(url: str, lab_internet: None) -> None:
    with pytest.raises(sf.BlockedURL):
        sf.safe_fetch(url)


def test_stdlib_fetch_rechecks_every_redirect_hop(
    servers: tuple[str, str], lab_internet: None
) -> None:
    outside, inside = servers
    with pytest.raises(sf.BlockedURL):
        sf.safe_fetch(f"{outside}/redirect?to={inside}/secret")
    ok = sf.safe_fetch(f"{outside}/redirect?to=/landed")
    assert ok.status == 200 and b"path=/landed" in ok.body and ok.url.endswith("/landed")
    unfollowed = sf.safe_fetch(f"{outside}/redirect?to={inside}/", follow_redirects=False)
    assert unfollowed.status == 302


def test_stdlib_fetch_caps_redirects_and_size(servers: tuple[str, str], lab_internet: None) -> None:
    outside, _ = servers
    url = f"{outside}/end"
    for _ in range(sf.MAX_REDIRECTS + 1):
        url = f"{outside}/redirect?to={url}"
    with pytest.raises(sf.BlockedURL, match="redirects"):
        sf.safe_fetch(url)
    assert len(sf.safe_fetch(f"{outside}/big?n=100", max_bytes=100).body) == 100
    with pytest.raises(OSError, match="larger"):
        sf.safe_fetch(f"{outside}/big?n=101", max_bytes=100)


def test_ssrfguard_fetch_refuses_inside_and_redirects_inside(servers: tuple[str, str]) -> None:
    outside, inside = servers
    policy = sg.make_policy(allowed_networks=["127.100.0.0/16"], allowed_ports=range(1, 65536))
    status, body, _ = sg.guarded_fetch(outside + "/hello", policy=policy)
    assert status == 200 and b"path=/hello" in body
    port = inside.rsplit(":", 1)[1]
    for url in (
        inside + "/",
        f"http://2130706433:{port}/",
        f"http://[::ffff:0:7f00:1]:{port}/",
        f"{outside}/redirect?to={inside}/",
    ):
        with pytest.raises(SSRFGuardError):
            sg.guarded_fetch(url, policy=policy)


# ---- policy: ports, host lists, deny wins over allow (both snippets), on an address corpus ----

# Private networks a team might allow-list for one internal service; each contains (or wraps)
# addresses that must stay denied whatever the allow-list says.
ALLOWED_PRIVATE = ["169.254.0.0/16", "10.0.0.0/8", "0.0.0.0/8", "fd00::/8", "100.64.0.0/10"]
STILL_DENIED = [
    "169.254.169.254",
    "::ffff:169.254.169.254",
    "::ffff:a9fe:a9fe",
    "64:ff9b::a9fe:a9fe",
    "169.254.170.2",
    "100.100.100.200",
    "fd00:ec2::254",
    "0.0.0.0",
    "::",
    "::ffff:0.0.0.0",
]
NOW_ALLOWED = ["169.254.1.1", "10.1.2.3", "0.0.0.1", "fd00::1", "100.64.0.1", "8.8.8.8"]


@pytest.fixture
def private_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sf, "ALLOW_EXTRA", [ip_network(n) for n in ALLOWED_PRIVATE])


@pytest.mark.parametrize("address", STILL_DENIED)
def test_stdlib_deny_wins_over_allow(address: str, private_allowed: None) -> None:
    assert sf.is_blocked(address)


@pytest.mark.parametrize("address", NOW_ALLOWED)
def test_stdlib_allow_list_still_allows_the_rest(address: str, private_allowed: None) -> None:
    assert not sf.is_blocked(address)


@pytest.mark.parametrize("address", STILL_DENIED)
def test_ssrfguard_deny_wins_over_allow(address: str) -> None:
    policy = sg.make_policy(allowed_networks=ALLOWED_PRIVATE)
    assert not policy.permits_address(address)


@pytest.mark.parametrize("address", NOW_ALLOWED)
def test_ssrfguard_allow_list_still_allows_the_rest(address: str) -> None:
    assert sg.make_policy(allowed_networks=ALLOWED_PRIVATE).permits_address(address)


def test_deny_wins_is_a_fix_not_the_library_default() -> None:
    """Without the cut, ssrfguard's allowed_networks would let metadata through."""
    from ssrfguard import Policy

    assert Policy(allowed_networks=(ip_network("169.254.0.0/16"),)).permits_address(
        "169.254.169.254"
    )


def test_corpus_measured_both_snippets_agree(private_allowed: None) -> None:
    """Deny-wins measured over the whole corpus: both snippets give the same answer for every
    address, and every address of BLOCKED outside the allowed networks stays blocked."""
    policy = sg.make_policy(allowed_networks=ALLOWED_PRIVATE)
    corpus = BLOCKED + ALLOWED + STILL_DENIED + NOW_ALLOWED
    disagree = [a for a in corpus if sf.is_blocked(a) == policy.permits_address(a)]
    assert disagree == []
    nets = [ip_network(n) for n in ALLOWED_PRIVATE]

    def inside_allowed(a: str) -> bool:
        from ipaddress import ip_address

        ip = ip_address(a)
        return any(ip.version == n.version and ip in n for n in nets)

    leaked = [a for a in BLOCKED if not sf.is_blocked(a) and not inside_allowed(a)]
    assert leaked == []


@pytest.mark.parametrize("port", [22, 6379, 8080, 81])
def test_stdlib_port_policy_defaults_to_80_and_443(port: int) -> None:
    assert frozenset({80, 443}) == sf.ALLOWED_PORTS
    with pytest.raises(sf.BlockedURL, match=f"port {port}"):
        sf.safe_fetch(f"http://8.8.8.8:{port}/")  # refused before any lookup or connection


def test_stdlib_port_policy_is_checked_on_redirect_hops(
    servers: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    outside, _ = servers
    monkeypatch.setattr(sf, "ALLOW_EXTRA", [ip_network("127.100.0.0/16")])
    port = int(outside.rsplit(":", 1)[1])
    monkeypatch.setattr(sf, "ALLOWED_PORTS", frozenset({port}))
    assert sf.safe_fetch(f"{outside}/ok").status == 200
    with pytest.raises(sf.BlockedURL, match="port 6379"):
        sf.safe_fetch(f"{outside}/redirect?to=http://127.100.0.1:6379/")


def test_stdlib_host_lists_deny_wins(
    servers: tuple[str, str], lab_internet: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside, _ = servers
    port = outside.rsplit(":", 1)[1]
    monkeypatch.setattr(sf, "ALLOW_HOSTS", {"127.100.0.1", ".example.com"})
    assert sf.safe_fetch(f"{outside}/listed").status == 200
    for url in (f"http://127.100.0.2:{port}/", "http://example.org/", "http://evil.com/"):
        with pytest.raises(sf.BlockedURL, match="not allowed"):
            sf.safe_fetch(url)
    # The deny list wins over an allow rule that covers the same host.
    monkeypatch.setattr(sf, "DENY_HOSTS", {"127.100.0.1", "internal.example.com"})
    for url in (
        f"{outside}/listed",
        "http://internal.example.com/",
        "http://INTERNAL.example.com./",
    ):
        with pytest.raises(sf.BlockedURL, match="not allowed"):
            sf.safe_fetch(url)
