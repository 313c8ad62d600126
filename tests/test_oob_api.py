"""The remote OOB client API on loopback: keys, namespaces, long-poll, SSE, answers, retention.

A real ``OOBServer`` + ``OOBAPI`` run in their own thread and event loop (as on a separate host),
the client is the real ``RemoteOOB`` verifying the API's self-signed certificate; callbacks are
real HTTP requests and DNS queries to the server's listeners.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.asyncquery
import dns.message
import dns.rdatatype
import httpx
import pytest

from firebrick.oob import OOBConfig, OOBServer
from firebrick.oob.api import OOBAPI, APIConfig, APIKeyError, KeyRing, load_keys
from firebrick.oob.client import OOBRemoteError, RemoteOOB, validate_server_url
from firebrick.oob.endpoint import OOBEndpoint

LOOP = "127.0.0.1"
KEY_A = "team-a-key-0123456789abcdef"
KEY_B = "team-b-key-fedcba9876543210"
WAIT = 20.0  # generous: the machine is shared and loaded


@dataclass
class Hosted:
    server: OOBServer
    api: OOBAPI
    loop: asyncio.AbstractEventLoop
    ca: str

    @property
    def url(self) -> str:
        return f"https://{LOOP}:{self.api.port}"

    def call(self, fn: Any) -> Any:
        """Run ``fn()`` on the server's loop (its state is not thread-safe) and return it."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)


@contextmanager
def host_api(tmp: Path, **api_kw: Any) -> Iterator[Hosted]:
    ready: dict[str, Any] = {}
    started = threading.Event()
    stop: list[asyncio.Event] = []

    async def main() -> None:
        server = OOBServer(OOBConfig(listen_host=LOOP))
        await server.start()
        cert = tmp / "api.pem"
        api = OOBAPI(
            server,
            KeyRing([KEY_A, KeyRing.digest_line(KEY_B)]),
            APIConfig(host=LOOP, port=0, cert_out=str(cert), **api_kw),
        )
        await api.start()
        done = asyncio.Event()
        stop.append(done)
        ready.update(server=server, api=api, loop=asyncio.get_running_loop(), ca=str(cert))
        started.set()
        await done.wait()
        await api.stop()
        await server.stop()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(WAIT), "the OOB API did not start"
    hosted = Hosted(**ready)
    try:
        yield hosted
    finally:
        hosted.loop.call_soon_threadsafe(stop[0].set)
        thread.join(WAIT)


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosted]:
    with host_api(tmp_path_factory.mktemp("oobapi")) as h:
        yield h


@pytest.fixture
async def scan_a(hosted: Hosted) -> AsyncIterator[RemoteOOB]:
    async with RemoteOOB(hosted.url, KEY_A, ca_file=hosted.ca, label="a") as remote:
        yield remote


@pytest.fixture
async def scan_b(hosted: Hosted) -> AsyncIterator[RemoteOOB]:
    async with RemoteOOB(hosted.url, KEY_B, ca_file=hosted.ca, label="b") as remote:
        yield remote


async def fetch(url: str, **kw: Any) -> httpx.Response:
    """What a target's fetcher does: a plain GET to our callback URL (no redirects followed)."""
    async with httpx.AsyncClient(verify=False, trust_env=False) as client:
        return await client.get(url, **kw)


async def resolve(hosted: Hosted, name: str) -> dns.message.Message:
    query = dns.message.make_query(name, dns.rdatatype.A)
    assert hosted.server.dns_port is not None
    return await dns.asyncquery.udp(query, LOOP, port=hosted.server.dns_port, timeout=5)


def api(
    hosted: Hosted, method: str, path: str, key: str | None = KEY_A, **kw: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    with httpx.Client(
        verify=ssl.create_default_context(cafile=hosted.ca), trust_env=False, timeout=WAIT
    ) as client:
        return client.request(method, hosted.url + path, headers=headers, **kw)


# -- keys ---------------------------------------------------------------------------------------


def test_keyring_holds_digests_only_and_refuses_short_keys() -> None:
    ring = KeyRing([KEY_A, KeyRing.digest_line(KEY_B), "# a comment", ""])
    assert len(ring) == 2
    assert KEY_A not in repr(ring) and KEY_A.encode() not in b"".join(ring._digests)
    assert ring.verify(KEY_A) and ring.verify(KEY_B)
    assert ring.verify(KEY_A) != ring.verify(KEY_B)
    assert ring.verify(KEY_A[:-1]) is None and ring.verify("") is None
    with pytest.raises(APIKeyError):
        KeyRing(["short"])
    with pytest.raises(APIKeyError):
        KeyRing(["sha256:abcd"])


def test_keys_come_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keyfile = tmp_path / "keys"
    keyfile.write_text(f"# keys\n{KeyRing.digest_line(KEY_B)}\n")
    monkeypatch.setenv("FIREBRICK_OOB_API_KEYS", KEY_A)
    ring = load_keys((), str(keyfile))
    assert ring.verify(KEY_A) and ring.verify(KEY_B)


def test_wrong_or_missing_key_is_refused(hosted: Hosted) -> None:
    assert api(hosted, "GET", "/v1/health", key=None).json()["ok"] is True
    assert api(hosted, "POST", "/v1/scans", key=None).status_code == 401
    assert api(hosted, "POST", "/v1/scans", key="wrong-key-0123456789").status_code == 401
    with httpx.Client(
        verify=ssl.create_default_context(cafile=hosted.ca), trust_env=False
    ) as client:  # not a bearer scheme
        r = client.post(hosted.url + "/v1/scans", headers={"Authorization": f"Basic {KEY_A}"})
    assert r.status_code == 401


async def test_remote_oob_with_a_wrong_key_fails_with_one_clear_line(hosted: Hosted) -> None:
    remote = RemoteOOB(hosted.url, "wrong-key-0123456789", ca_file=hosted.ca)
    with pytest.raises(OOBRemoteError) as info:
        await remote.start()
    assert "refused the key" in str(info.value)
    assert "wrong-key" not in str(info.value) and "wrong-key" not in repr(remote)


async def test_the_api_certificate_is_verified(hosted: Hosted) -> None:
    remote = RemoteOOB(hosted.url, KEY_A)  # system CAs: the self-signed API is not trusted
    with pytest.raises(OOBRemoteError) as info:
        await remote.start()
    assert "--oob-ca" in str(info.value)


def test_server_url_must_be_https_without_credentials() -> None:
    assert validate_server_url("https://oob.example.com:8443/") == "https://oob.example.com:8443"
    for bad in ("http://oob.example.com", "https://", "https://k:secret@oob.example.com", "x"):
        with pytest.raises(OOBRemoteError) as info:
            validate_server_url(bad)
        assert "secret" not in str(info.value)


# -- namespaces -----------------------------------------------------------------------------


async def test_interactions_reach_only_the_scan_whose_namespace_they_carry(
    hosted: Hosted, scan_a: RemoteOOB, scan_b: RemoteOOB
) -> None:
    assert isinstance(scan_a, OOBEndpoint) and isinstance(hosted.server, OOBEndpoint)
    assert scan_a.namespace != scan_b.namespace
    assert scan_a.zone == f"{scan_a.namespace}.{hosted.server.zone}"
    t_http, t_dns = scan_a.new_token("http"), scan_a.new_token("dns")
    url = scan_a.http_url(t_http, "?x=1")
    assert f"/{scan_a.namespace}/{t_http}" in url
    response = await fetch(url)
    assert response.status_code == 200 and scan_a.canary(t_http) in response.text
    answer = await resolve(hosted, scan_a.dns_name(t_dns))
    assert answer.answer, "the namespaced name must resolve"
    assert await scan_a.wait_for({t_http}, WAIT, protocols={"http"})
    assert await scan_a.wait_for({t_dns}, WAIT, protocols={"dns"})
    assert [i.token for i in scan_a.interactions(t_http)] == [t_http]
    assert scan_a.dns_queries(t_dns), "DNS interactions carry the resolver's query data"
    assert scan_a.outstanding == set()
    # A token-shaped guess in scan B's namespace path and a name of B: those go to B only.
    t_b = scan_b.new_token()
    await fetch(scan_b.http_url(t_b))
    assert await scan_b.wait_for({t_b}, WAIT)
    # B never sees A's interactions; A never sees B's.
    assert not any(i.token in (t_http, t_dns) for i in scan_b.interactions())
    assert not any(i.token == t_b for i in scan_a.interactions())


async def test_a_scan_is_invisible_to_another_key(hosted: Hosted, scan_a: RemoteOOB) -> None:
    for method, path in (
        ("GET", f"/v1/scans/{scan_a.scan_id}"),
        ("GET", f"/v1/scans/{scan_a.scan_id}/events"),
        ("DELETE", f"/v1/scans/{scan_a.scan_id}"),
    ):
        assert api(hosted, method, path, key=KEY_B).status_code == 404
    assert api(hosted, "GET", f"/v1/scans/{scan_a.scan_id}").status_code == 200


async def test_callbacks_without_a_namespace_are_dropped(hosted: Hosted, scan_a: RemoteOOB) -> None:
    before = hosted.call(lambda: hosted.api.unattributed)
    t = scan_a.new_token()
    await fetch(f"http://{LOOP}:{hosted.server.http_port}/{t}")  # no namespace, no claim
    assert await scan_a.wait_for({t}, 1.0) is False
    assert hosted.call(lambda: hosted.api.unattributed) == before + 1


# -- long-poll and SSE ----------------------------------------------------------------------


async def test_long_poll_returns_when_an_interaction_arrives(
    hosted: Hosted, scan_a: RemoteOOB
) -> None:
    path = f"/v1/scans/{scan_a.scan_id}/events"
    first = api(hosted, "GET", path, params={"after": 0, "wait": 0}).json()
    t = scan_a.new_token()

    async def poll() -> dict[str, Any]:
        return (
            await asyncio.to_thread(
                api, hosted, "GET", path, params={"after": first["seq"], "wait": 25}
            )
        ).json()

    waiting = asyncio.create_task(poll())
    await fetch(scan_a.http_url(t))  # the poll is hanging (or about to): this wakes it
    answer = await waiting
    tokens = [e["data"]["token"] for e in answer["events"] if e["kind"] == "interaction"]
    assert t in tokens
    assert answer["next"] >= answer["events"][-1]["seq"]
    # Nothing new: a short wait comes back empty.
    empty = api(hosted, "GET", path, params={"after": answer["seq"], "wait": 0.2}).json()
    assert empty["events"] == []


async def test_poll_transport_feeds_wait_for(hosted: Hosted) -> None:
    async with RemoteOOB(hosted.url, KEY_A, ca_file=hosted.ca, transport="poll") as remote:
        t = remote.new_token()
        await fetch(remote.http_url(t))
        assert await remote.wait_for({t}, WAIT)
        assert remote.interactions(t)[0].http_path.startswith(f"/{remote.namespace}/")


async def test_sse_stream_resumes_from_last_event_id(hosted: Hosted, scan_a: RemoteOOB) -> None:
    tokens = [scan_a.new_token() for _ in range(3)]
    for t in tokens:
        await fetch(scan_a.http_url(t))
    assert await scan_a.wait_for({tokens[-1]}, WAIT)
    for t in tokens:
        assert await scan_a.wait_for({t}, WAIT)
    # A raw SSE reader starting after the first event gets the rest, with ids and kinds.
    seen: list[dict[str, Any]] = []
    async with httpx.AsyncClient(
        verify=ssl.create_default_context(cafile=hosted.ca), trust_env=False
    ) as client:
        headers = {"Authorization": f"Bearer {KEY_A}", "Last-Event-ID": "1"}
        async with client.stream(
            "GET", f"{hosted.url}/v1/scans/{scan_a.scan_id}/stream", headers=headers, timeout=WAIT
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    seen.append(json.loads(line[5:]))
                    if len(seen) == 2:
                        break
    assert [e["seq"] for e in seen] == [2, 3]
    assert [e["data"]["token"] for e in seen] == tokens[1:]


# -- per-token answers ----------------------------------------------------------------------


async def test_redirects_are_per_token_and_per_scan(
    hosted: Hosted, scan_a: RemoteOOB, scan_b: RemoteOOB
) -> None:
    t = scan_a.new_token()
    scan_a.set_redirect(t, "http://127.0.0.1:9/inside", status=307)
    response = await fetch(scan_a.http_url(t))
    assert response.status_code == 307
    assert response.headers["location"] == "http://127.0.0.1:9/inside"
    with pytest.raises(OOBRemoteError, match="another scan"):
        scan_b.set_redirect(t, "http://127.0.0.1:9/stolen")
    with pytest.raises(ValueError):
        scan_a.set_redirect(t, "http://x/\r\nSet-Cookie: a=b")


async def test_behaviours_report_through_the_event_feed(hosted: Hosted, scan_a: RemoteOOB) -> None:
    page, stall = scan_a.new_token(), scan_a.new_token()
    scan_a.set_behavior(page, "html-script")
    scan_a.set_behavior(stall, "stall", stall=0.3)
    response = await fetch(scan_a.http_url(page))
    assert scan_a.script_canary(page) in response.text
    await fetch(scan_a.http_url(stall))
    assert await scan_a.wait_behavior(stall, WAIT)
    assert scan_a.behavior_reports(stall)[0]["held_s"] >= 0.2


async def test_rebinding_and_poisoned_names_answer_inside_the_namespace(
    hosted: Hosted, scan_a: RemoteOOB
) -> None:
    t = scan_a.new_token()
    name = scan_a.rebinding_name(t, "127.0.0.1")
    first = await resolve(hosted, name)
    second = await resolve(hosted, name)
    addresses = [r.address for m in (first, second) for s in m.answer for r in s]
    assert addresses == [hosted.server.advertise_host, "127.0.0.1"]
    poisoned = await resolve(hosted, scan_a.name_answering(scan_a.new_token(), "169.254.169.254"))
    assert [r.address for s in poisoned.answer for r in s] == ["169.254.169.254"]
    assert await scan_a.wait_for({t}, WAIT, protocols={"dns"})


def test_capabilities_say_what_a_remote_server_cannot_do(hosted: Hosted) -> None:
    async def go() -> RemoteOOB:
        remote = RemoteOOB(hosted.url, KEY_A, ca_file=hosted.ca)
        await remote.start()
        await remote.stop()
        return remote

    remote = asyncio.run(go())
    assert "inside" not in remote.capabilities and remote.inside_port is None
    assert {"http", "https", "dns", "redirect", "rebinding", "behavior"} <= remote.capabilities
    assert any(line.startswith("inside:") for line in remote.unavailable())
    with pytest.raises(RuntimeError):
        remote.inside_url("fbaaaaaaaaaa")


# -- retention --------------------------------------------------------------------------------


async def test_per_scan_cap_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    with host_api(tmp_path, max_events=5) as h:
        async with RemoteOOB(h.url, KEY_A, ca_file=h.ca) as remote:
            tokens = [remote.new_token() for _ in range(8)]
            for t in tokens:
                await fetch(remote.http_url(t))
            path = f"/v1/scans/{remote.scan_id}/events"
            state = api(h, "GET", path, params={"after": 0}).json()
            assert len(state["events"]) == 5 and state["dropped"] == 3
            assert [e["data"]["token"] for e in state["events"]] == tokens[3:]
            assert state["oldest"] == 4


async def test_events_expire_by_age_and_idle_scans_are_deregistered(tmp_path: Path) -> None:
    with host_api(tmp_path, event_ttl=0.5, scan_ttl=3600) as h:
        async with RemoteOOB(h.url, KEY_A, ca_file=h.ca) as remote:
            t = remote.new_token()
            await fetch(remote.http_url(t))  # recorded before the listener answers
            path = f"/v1/scans/{remote.scan_id}/events"
            deadline = asyncio.get_running_loop().time() + WAIT
            while api(h, "GET", path, params={"after": 0}).json()["events"]:
                assert asyncio.get_running_loop().time() < deadline, "events never expired"
                await asyncio.sleep(0.1)  # polling the sweeper's effect, bounded by deadline
            state = api(h, "GET", path).json()
            assert state["seq"] == 1 and state["dropped"] == 1 and state["oldest"] == 2
    with host_api(tmp_path, scan_ttl=0.5) as h:
        scan = api(h, "POST", "/v1/scans", json={}).json()
        t = "fbidle0000001"[:12]
        api(
            h,
            "PUT",
            f"/v1/scans/{scan['scan']}/tokens/{t}/redirect",
            json={"location": "http://a/"},
        )
        deadline = asyncio.get_running_loop().time() + WAIT
        while api(h, "GET", "/v1/health").status_code == 200 and h.call(lambda: len(h.api.scans)):
            assert asyncio.get_running_loop().time() < deadline, "idle scan never expired"
            await asyncio.sleep(0.1)
        assert api(h, "GET", f"/v1/scans/{scan['scan']}").status_code == 404
        # Its redirect went with it.
        assert (await fetch(f"http://{LOOP}:{h.server.http_port}/{t}")).status_code == 200


async def test_deregistration_forgets_events_and_answers(hosted: Hosted) -> None:
    remote = RemoteOOB(hosted.url, KEY_A, ca_file=hosted.ca)
    await remote.start()
    t = remote.new_token()
    remote.set_redirect(t, "http://127.0.0.1:9/")
    url = remote.http_url(t)
    assert (await fetch(url)).status_code == 302
    scan_id = remote.scan_id
    await remote.stop()
    assert api(hosted, "GET", f"/v1/scans/{scan_id}").status_code == 404
    assert (await fetch(url)).status_code == 200  # the redirect is gone
    assert hosted.call(lambda: t not in hosted.api.claims)


async def test_settle_makes_a_synchronous_callback_visible_before_the_check_reads(
    hosted: Hosted,
) -> None:
    from firebrick.model import Exchange

    async with RemoteOOB(hosted.url, KEY_A, ca_file=hosted.ca) as remote:
        # A feed that lags behind (stopped here, so the test cannot pass by luck).
        assert remote._feed is not None
        remote._feed.cancel()
        t = remote.new_token()
        url = remote.http_url(t)
        await fetch(url)  # the target's fetch, done before it answered the scanner
        assert remote.interactions(t) == []
        # An exchange that did not carry our namespace changes nothing ...
        await remote.settle(Exchange("GET", "http://target.example/api?x=1"))
        assert remote.interactions(t) == []
        # ... one that carried the payload catches up with the server.
        await remote.settle(Exchange("POST", "http://target.example/hook", request_body=url))
        assert [i.token for i in remote.interactions(t)] == [t]
        assert remote.outstanding == set()


async def test_a_global_bound_takes_from_the_busiest_scan(tmp_path: Path) -> None:
    with host_api(tmp_path, max_events=100, max_total_events=6) as h:
        async with (
            RemoteOOB(h.url, KEY_A, ca_file=h.ca) as busy,
            RemoteOOB(h.url, KEY_B, ca_file=h.ca) as quiet,
        ):
            for remote, count in ((quiet, 3), (busy, 5)):
                for _ in range(count):
                    await fetch(remote.http_url(remote.new_token()))
            states = {
                name: api(h, "GET", f"/v1/scans/{r.scan_id}/events", key=key).json()
                for name, r, key in (("busy", busy, KEY_A), ("quiet", quiet, KEY_B))
            }
            assert len(states["quiet"]["events"]) == 3 and states["quiet"]["dropped"] == 0
            assert len(states["busy"]["events"]) == 3 and states["busy"]["dropped"] == 2
