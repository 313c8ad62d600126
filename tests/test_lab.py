"""The lab, end to end: real lab subprocesses, real requests, no scanner.

Every vulnerable endpoint must show its flaw, every hardened twin must refuse the same payload
and still fetch from the lab internet (127.100.0.0/16). Helpers here stand in for the outside:
a web server on 127.100.0.1 (public content, redirects, a webhook recorder) and a tiny
authoritative DNS server for the OOB zone (rebinding answers).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import httpx
import pytest
from openapi_spec_validator import validate

from firebrick.lab import (
    ADMIN_SECRET,
    METADATA_KEY,
    LabConfig,
    LabError,
    RunningLab,
    netsandbox,
    start_lab,
)

ZONE = "oob.firebrick.test"
PUBLIC_MARKER = "firebrick-lab-internet-ok"
INTERNET_HOST = "127.100.0.1"


# ---- the lab internet: one server on 127.100.0.1 ----


@dataclass
class Internet:
    server: ThreadingHTTPServer
    hooks: dict[str, list[bytes]] = field(default_factory=dict)
    hook_events: dict[str, threading.Event] = field(default_factory=dict)
    gets: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://{INTERNET_HOST}:{self.server.server_address[1]}"

    def hook_event(self, token: str) -> threading.Event:
        with self.lock:
            return self.hook_events.setdefault(token, threading.Event())


def _internet_handler(state: Internet) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            with state.lock:
                state.gets.append(self.path)
            if parts.path == "/redirect":
                target = parse_qs(parts.query)["to"][0]
                self._send(302, b"", {"Location": target})
                return
            body = f"{PUBLIC_MARKER} {parts.path} host={self.headers.get('Host')}"
            self._send(200, body.encode(), {"Content-Type": "text/plain"})

        def do_POST(self) -> None:
            token = self.path.rsplit("/", 1)[-1]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                state.hooks.setdefault(token, []).append(body)
            self._send(200, b"thanks")
            state.hook_event(token).set()

    return Handler


def _serve_http(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def internet() -> Iterator[Internet]:
    state = Internet(server=None)  # type: ignore[arg-type]
    state.server = ThreadingHTTPServer((INTERNET_HOST, 0), _internet_handler(state))
    _serve_http(state.server)
    yield state
    state.server.shutdown()
    state.server.server_close()


# ---- a tiny authoritative DNS server for the OOB zone ----


class ZoneDNS:
    """``rebind-*``: first answer 127.100.0.1 then 127.0.0.1; ``inside-*``: 127.0.0.1;
    ``public-*``: 127.100.0.1; anything else NXDOMAIN. TTL 0 everywhere."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()
        return host, port

    def answer_for(self, name: str) -> str | None:
        label = name.split(".", 1)[0]
        with self.lock:
            count = self.counts[name] = self.counts.get(name, 0) + 1
        if label.startswith("rebind-"):
            return INTERNET_HOST if count == 1 else "127.0.0.1"
        if label.startswith("inside-"):
            return "127.0.0.1"
        if label.startswith("public-"):
            return INTERNET_HOST
        return None

    def _run(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return  # closed: stop
            query = dns.message.from_wire(data)
            reply = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            label = name.split(".", 1)[0]
            if label.startswith("chain") and "-" in label and name.endswith("." + ZONE):
                # one CNAME link per answer, as an authoritative server for each name gives
                prefix, _, n = label.rpartition("-")
                with self.lock:
                    self.counts[name] = self.counts.get(name, 0) + 1
                target = name.replace(label, f"{prefix}-{int(n) - 1}", 1)
                if int(n) > 0:
                    reply.answer.append(
                        dns.rrset.from_text(question.name, 0, "IN", "CNAME", target + ".")
                    )
                else:
                    reply.answer.append(
                        dns.rrset.from_text(question.name, 0, "IN", "A", INTERNET_HOST)
                    )
                self.sock.sendto(reply.to_wire(), peer)
                continue
            address = self.answer_for(name) if name.endswith("." + ZONE) else None
            if address is None:
                reply.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.A:
                reply.answer.append(dns.rrset.from_text(question.name, 0, "IN", "A", address))
            self.sock.sendto(reply.to_wire(), peer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def zone_dns() -> Iterator[ZoneDNS]:
    server = ZoneDNS()
    yield server
    server.close()


# ---- the two labs ----


@pytest.fixture(scope="module")
def labs(zone_dns: ZoneDNS) -> Iterator[dict[str, RunningLab]]:
    # Both variants start in parallel: most of a start is the child importing its libraries.
    with ThreadPoolExecutor(2) as pool:
        futures = {
            v: pool.submit(start_lab, LabConfig(variant=v, oob_dns=zone_dns.address))
            for v in ("vulnerable", "hardened")
        }
        started = {v: f.result() for v, f in futures.items()}
    yield started
    for lab in started.values():
        lab.stop()


@pytest.fixture(scope="module")
def vuln(labs: dict[str, RunningLab]) -> RunningLab:
    return labs["vulnerable"]


@pytest.fixture(scope="module")
def hard(labs: dict[str, RunningLab]) -> RunningLab:
    return labs["hardened"]


_clients: dict[str, httpx.Client] = {}


def client(lab: RunningLab) -> httpx.Client:
    """One client per lab (building one costs ~30 ms of CA loading)."""
    if lab.base_url not in _clients:
        _clients[lab.base_url] = httpx.Client(base_url=lab.base_url, timeout=10, trust_env=False)
    return _clients[lab.base_url]


def admin_port(lab: RunningLab) -> int:
    return int(lab.internal["admin"].rsplit(":", 1)[1])


# ---- the spec ----

EXPECTED_OPERATIONS = {
    ("get", "/api/health"),
    ("get", "/api/image"),
    ("post", "/api/webhooks"),
    ("get", "/api/redirect"),
    ("get", "/api/preview"),
    ("get", "/api/avatar"),
    ("get", "/api/feed"),
    ("post", "/api/import"),
    ("get", "/api/stock"),
    ("post", "/graphql"),
}


def test_spec_validates_and_lists_every_endpoint(vuln: RunningLab, hard: RunningLab) -> None:
    for lab in (vuln, hard):
        spec = client(lab).get("/openapi.json").json()
        validate(spec)  # raises on an invalid OpenAPI document
        assert spec["openapi"].startswith("3.1")
        ops = {(m, p) for p, item in spec["paths"].items() for m in item}
        assert ops >= EXPECTED_OPERATIONS  # the SSRF endpoints; other issues' labs add theirs
        # Every documented operation is really served (the spec does not invent endpoints).
        for method, path in sorted(ops):
            if method not in ("get", "head") or "{" in path:  # a missing object is a fair 404
                continue
            status = client(lab).request(method, path).status_code
            assert status not in (404, 405), (lab.variant, method, path, status)
    image = spec["paths"]["/api/image"]["get"]["parameters"][0]
    assert image["schema"]["format"] == "uri"


def test_without_spec_the_index_links_inputs_and_stop_is_idempotent() -> None:
    lab = start_lab(LabConfig(variant="hardened", serve_spec=False))
    try:
        c = client(lab)
        assert c.get("/api/health").json()["variant"] == "hardened"
        assert c.get("/openapi.json").status_code == 404
        index = c.get("/").text
        for fragment in ("/api/image?url=", "/api/preview?link=", "/api/feed?feed_url=",
                         "/api/avatar?src=", '<form action="/api/import" method="post"',
                         'name="source_url"'):  # fmt: skip
            assert fragment in index
    finally:
        proc = lab.process
        lab.stop()
        lab.stop()
    assert proc is not None and proc.returncode is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(lab.base_url + "/api/health", trust_env=False)


def test_graphql_introspection_lists_the_mutation(vuln: RunningLab) -> None:
    query = "{ __schema { mutationType { fields { name args { name } } } } }"
    data = client(vuln).post("/graphql", json={"query": query}).json()["data"]
    fields = {
        f["name"]: [a["name"] for a in f["args"]]
        for f in data["__schema"]["mutationType"]["fields"]
    }
    assert fields == {"importDocument": ["host", "port", "path"]}


# ---- vulnerable: each flaw, demonstrated ----


def test_image_reflects_the_admin_api(vuln: RunningLab) -> None:
    r = client(vuln).get("/api/image", params={"url": vuln.internal["admin"] + "/users"})
    assert r.status_code == 200 and ADMIN_SECRET in r.text


def test_image_reads_cloud_metadata_through_169_254_169_254(vuln: RunningLab) -> None:
    url = "http://169.254.169.254/latest/meta-data/iam/security-credentials/firebrick-lab-role"
    r = client(vuln).get("/api/image", params={"url": url})
    assert r.status_code == 200 and METADATA_KEY in r.text
    root = client(vuln).get(
        "/api/image", params={"url": "http://169.254.169.254/latest/meta-data/"}
    )
    assert "ami-id" in root.text and "iam/" in root.text


@pytest.mark.parametrize(
    "host", ["2130706433", "127.1", "0x7f000001", "[::ffff:127.0.0.1]", "inside-p1." + ZONE]
)
def test_preview_blocklist_is_beaten_by_odd_spellings_and_inside_names(
    vuln: RunningLab, host: str
) -> None:
    c = client(vuln)
    refused = c.get("/api/preview", params={"link": f"http://127.0.0.1:{admin_port(vuln)}/"})
    assert refused.status_code == 400 and refused.json() == {"error": "url not allowed"}
    r = c.get("/api/preview", params={"link": f"http://{host}:{admin_port(vuln)}/"})
    assert r.status_code == 200 and ADMIN_SECRET in r.json()["content"]


def test_feed_follows_a_redirect_into_the_admin_api(vuln: RunningLab, internet: Internet) -> None:
    c = client(vuln)
    # the first URL is checked: internal is refused outright
    assert c.get("/api/feed", params={"feed_url": vuln.internal["admin"]}).status_code == 400
    hop = f"{internet.base}/redirect?to={vuln.internal['admin']}/feed"
    r = c.get("/api/feed", params={"feed_url": hop})
    assert r.status_code == 200 and ADMIN_SECRET in r.json()["content"]


def test_graphql_import_document_reflects_the_admin_api(vuln: RunningLab) -> None:
    mutation = 'mutation($p: Int) { importDocument(host: "127.0.0.1", port: $p, path: "/x") { ok preview } }'
    r = client(vuln).post(
        "/graphql", json={"query": mutation, "variables": {"p": admin_port(vuln)}}
    )
    result = r.json()["data"]["importDocument"]
    assert result["ok"] is True and ADMIN_SECRET in result["preview"]


def test_webhook_is_delivered_blind(vuln: RunningLab, internet: Internet) -> None:
    token = "vulnhook1"
    r = client(vuln).post(
        "/api/webhooks",
        json={"callback_url": f"{internet.base}/hook/{token}", "event": "order.created"},
    )
    assert r.status_code == 202 and r.json()["status"] == "queued"
    assert "thanks" not in r.text  # blind: the callback's answer is not reflected
    assert internet.hook_event(token).wait(5)
    assert b"order.created" in internet.hooks[token][0]
    inside = client(vuln).post("/api/webhooks", json={"callback_url": vuln.internal["admin"]})
    assert inside.status_code == 202 and ADMIN_SECRET not in inside.text


def test_import_fetches_blind(vuln: RunningLab, internet: Internet) -> None:
    r = client(vuln).post("/api/import", data={"source_url": vuln.internal["admin"]})
    assert r.status_code == 200 and r.json()["imported"] > 0 and ADMIN_SECRET not in r.text
    r = client(vuln).post("/api/import", data={"source_url": f"{internet.base}/doc/imp1"})
    assert r.status_code == 200 and "/doc/imp1" in internet.gets


def test_redirect_is_open(vuln: RunningLab) -> None:
    r = client(vuln).get("/api/redirect", params={"target": "https://evil.example.com/phish"})
    assert r.status_code == 302 and r.headers["location"] == "https://evil.example.com/phish"


@pytest.mark.parametrize("lab_name", ["vuln", "hard"])
def test_stock_calls_a_fixed_internal_service(
    lab_name: str, request: pytest.FixtureRequest
) -> None:
    lab: RunningLab = request.getfixturevalue(lab_name)
    c = client(lab)
    ok = c.get("/api/stock", params={"warehouse": "north"})
    assert ok.status_code == 200 and ok.json() == {"warehouse": "north", "units": 12}
    for value in ("nowhere", lab.internal["admin"], "../admin"):
        assert c.get("/api/stock", params={"warehouse": value}).status_code == 400


def test_avatar_is_beaten_by_dns_rebinding(vuln: RunningLab, zone_dns: ZoneDNS) -> None:
    c = client(vuln)
    # the resolved-address check works against a plain inside name...
    inside = f"http://inside-av1.{ZONE}:{admin_port(vuln)}/"
    assert c.get("/api/avatar", params={"src": inside}).status_code == 400
    # ...but the fetch resolves again, and the second answer is loopback
    name = f"rebind-av1.{ZONE}"
    r = c.get("/api/avatar", params={"src": f"http://{name}:{admin_port(vuln)}/"})
    assert r.status_code == 200 and ADMIN_SECRET in r.text
    assert zone_dns.counts[name] == 2  # checked once, fetched once: two lookups


def test_zone_names_follow_cname_chains_one_query_per_link(
    vuln: RunningLab, internet: Internet, zone_dns: ZoneDNS
) -> None:
    url = f"{internet.base.replace(INTERNET_HOST, f'chain1-5.{ZONE}')}/public/chain"
    r = client(vuln).get("/api/image", params={"url": url})
    assert r.status_code == 200 and PUBLIC_MARKER in r.text
    for n in range(6):  # the lab's stand-in resolver asked for every link
        assert zone_dns.counts[f"chain1-{n}.{ZONE}"] == 1


# ---- hardened: the same payloads refused, the lab internet still reachable ----


def _refused(r: httpx.Response) -> bool:
    return r.status_code == 400 and r.json() == {"error": "url not allowed"}


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/image", "url"),
        ("/api/preview", "link"),
        ("/api/avatar", "src"),
        ("/api/feed", "feed_url"),
    ],
)
def test_hardened_get_endpoints_refuse_inside_and_fetch_outside(
    hard: RunningLab, internet: Internet, path: str, param: str
) -> None:
    c = client(hard)
    port = admin_port(hard)
    payloads = [
        hard.internal["admin"],
        f"http://2130706433:{port}/",
        f"http://127.1:{port}/",
        f"http://0x7f000001:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://[::ffff:0:7f00:1]:{port}/",  # IPv4-translated: the gap closed in both guards
        f"http://[64:ff9b::7f00:1]:{port}/",
        f"http://inside-h1.{ZONE}:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        f"http://localhost:{port}/",
        f"{internet.base}/redirect?to={hard.internal['admin']}/",
    ]
    for payload in payloads:
        r = c.get(path, params={param: payload})
        assert _refused(r), (payload, r.status_code, r.text)
        assert ADMIN_SECRET not in r.text
    ok = c.get(path, params={param: f"{internet.base}/public/{param}"})
    assert ok.status_code == 200 and PUBLIC_MARKER in ok.text


def test_hardened_redirect_allows_only_relative_or_allowlisted(hard: RunningLab) -> None:
    c = client(hard)
    for target in ("https://evil.example.com/", "//evil.example.com/", "/\\evil.example.com",
                   "https://www.example.com@evil.example.com/", "javascript:alert(1)"):  # fmt: skip
        assert _refused(c.get("/api/redirect", params={"target": target})), target
    for target in ("/api/health", "https://www.example.com/welcome"):
        r = c.get("/api/redirect", params={"target": target})
        assert r.status_code == 302 and r.headers["location"] == target


def test_hardened_graphql_refuses_inside_hosts(hard: RunningLab, internet: Internet) -> None:
    mutation = 'mutation($h: String!, $p: Int) { importDocument(host: $h, port: $p, path: "/gql") { ok preview } }'
    c = client(hard)
    for host in ("127.0.0.1", "2130706433", "[::1]", "localhost"):
        r = c.post(
            "/graphql", json={"query": mutation, "variables": {"h": host, "p": admin_port(hard)}}
        )
        body = r.json()
        assert body["data"]["importDocument"] is None
        assert body["errors"][0]["message"] == "url not allowed", host
    port = internet.server.server_address[1]
    r = c.post("/graphql", json={"query": mutation, "variables": {"h": INTERNET_HOST, "p": port}})
    assert PUBLIC_MARKER in r.json()["data"]["importDocument"]["preview"]


def test_hardened_webhook_and_import(hard: RunningLab, internet: Internet) -> None:
    c = client(hard)
    assert _refused(c.post("/api/webhooks", json={"callback_url": hard.internal["admin"]}))
    assert _refused(c.post("/api/import", data={"source_url": hard.internal["admin"]}))
    assert _refused(
        c.post("/api/import", data={"source_url": f"http://[::ffff:0:7f00:1]:{admin_port(hard)}/"})
    )
    token = "hardhook1"
    r = c.post(
        "/api/webhooks", json={"callback_url": f"{internet.base}/hook/{token}", "event": "e1"}
    )
    assert r.status_code == 202 and internet.hook_event(token).wait(5)
    r = c.post("/api/import", data={"source_url": f"{internet.base}/doc/imp2"})
    assert r.status_code == 200 and r.json()["imported"] > 0 and "/doc/imp2" in internet.gets


@pytest.mark.parametrize(("path", "param"), [("/api/avatar", "src"), ("/api/preview", "link")])
def test_hardened_guards_connect_to_the_address_they_checked(
    hard: RunningLab, zone_dns: ZoneDNS, path: str, param: str
) -> None:
    # A "public" twin on the admin port: the validated first answer leads here, never inside.
    port = admin_port(hard)
    twin = ThreadingHTTPServer((INTERNET_HOST, port), _internet_handler(Internet(server=None)))  # type: ignore[arg-type]
    _serve_http(twin)
    try:
        name = f"rebind-{param}.{ZONE}"
        r = client(hard).get(path, params={param: f"http://{name}:{port}/avatar.png"})
        assert r.status_code == 200 and PUBLIC_MARKER in r.text and ADMIN_SECRET not in r.text
        assert zone_dns.counts[name] == 1  # resolved once, used once
    finally:
        twin.shutdown()
        twin.server_close()


# ---- the sandbox and the runner ----


def test_sandbox_routes_without_leaving_loopback() -> None:
    cfg = netsandbox.SandboxConfig(metadata=("127.0.0.1", 4242))
    v4, v6 = socket.AF_INET, socket.AF_INET6
    assert netsandbox.route(v4, ("127.0.0.9", 80), cfg) == ("127.0.0.9", 80)
    assert netsandbox.route(v6, ("::1", 80, 0, 0), cfg) == ("::1", 80, 0, 0)
    assert netsandbox.route(v6, ("::ffff:127.0.0.1", 80, 0, 0), cfg)[0] == "::ffff:127.0.0.1"
    assert netsandbox.route(v4, ("169.254.169.254", 80), cfg) == ("127.0.0.1", 4242)
    assert netsandbox.route(v4, ("0.0.0.0", 81), cfg) == ("127.0.0.1", 81)
    for address in ("192.0.2.1", "10.0.0.1", "169.254.169.254"):
        port = 8080 if address == "169.254.169.254" else 80
        with pytest.raises(ConnectionRefusedError):
            netsandbox.route(v4, (address, port), cfg)
    with pytest.raises(ConnectionRefusedError):
        netsandbox.route(v6, ("2001:db8::1", 80, 0, 0), cfg)


def test_lab_names_outside_the_lab_do_not_resolve(vuln: RunningLab) -> None:
    r = client(vuln).get("/api/image", params={"url": "http://www.example.com/"})
    assert r.status_code == 502 and "does not resolve" in r.json()["detail"]


def test_start_lab_reports_the_childs_error() -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        with pytest.raises(LabError, match="Address already in use"):
            start_lab(LabConfig(port=busy.getsockname()[1]))
    finally:
        busy.close()
