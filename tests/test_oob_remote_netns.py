"""The remote OOB service across three network stacks: a "public" OOB host, a target, a scanner.

::

    namespace O (the public OOB host)       namespace T (the target)            root (scanners)
    10.203.X.2  firebrick oob-server        10.203.Y.2  lab app :8080, unbound
                :53 :80 :443, API :8443 <── direct veth ──> (its resolver's stub-zone -> O:53)
        ^                                       ^
        └──── veth ──── 10.203.X.1 (root) ──────┴──── veth ──── 10.203.Y.1 (root)

The target reaches only the OOB host (and the root side of its own link); the scanners in the
root namespace run no listener at all: every callback they see came through the OOB host's
client API. Needs root, iproute2 and unbound (skips with the reason otherwise).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from firebrick.netlab import NetLab, NetLabConfig, missing_requirements
from firebrick.netlab.net import Network, create_network, link_namespaces
from firebrick.oob.client import RemoteOOB

MISSING = missing_requirements(("unbound",))
pytestmark = pytest.mark.skipif(bool(MISSING), reason="network lab " + "; ".join(MISSING))

KEY_A = "ci-runner-key-a-0123456789abcdef"
KEY_B = "fleet-worker-key-b-0123456789abcd"
CAP = 300  # --max-scan-events of the OOB host (scan A makes ~200: nothing of it is dropped)
READY = 60.0  # generous: 2 shared cores
BLIND = {"POST /api/import", "POST /api/webhooks"}  # the lab's blind fetchers


@dataclass
class World:
    oob_host: Network
    target: NetLab
    api_url: str
    ca: str
    host: NetLab

    @property
    def target_ip(self) -> str:
        assert self.target.network is not None
        return self.target.network.inside_ip

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca)


def _wait_api(world_url: str, ca: Path, host: NetLab) -> None:
    deadline = time.monotonic() + READY
    while time.monotonic() < deadline:
        if ca.is_file():
            try:
                ctx = ssl.create_default_context(cafile=str(ca))
                if httpx.get(f"{world_url}/v1/health", verify=ctx, timeout=2).status_code == 200:
                    return
            except (httpx.HTTPError, ssl.SSLError, OSError):
                pass
        proc = host._children[-1].proc if host._children else None
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.1)  # polling a subprocess's readiness, bounded by the deadline
    pytest.fail(f"the OOB host did not start: {host.child_log('oob-server')[-1500:]}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("remote-oob")
    keys = tmp / "keys"
    # One key kept hashed at rest, one in clear: both must work.
    from firebrick.oob.api import KeyRing

    keys.write_text(f"{KeyRing.digest_line(KEY_A)}\n{KEY_B}\n")
    ca = tmp / "api.pem"
    host = NetLab(NetLabConfig())
    target = NetLab(NetLabConfig(variant="vulnerable", resolver="unbound"))
    try:
        host.network = create_network()
        oob_ip = host.network.inside_ip
        target_net = target.create_network()
        link_namespaces(host.network, target_net)
        host.spawn(
            "oob-server",
            [
                sys.executable, "-m", "firebrick", "oob-server",
                "--listen", "0.0.0.0", "--advertise", oob_ip,
                "--zone", "oob.firebrick.test",
                "--http-port", "80", "--https-port", "443", "--dns-port", "53",
                "--api-port", "8443", "--api-keys-file", str(keys),
                "--api-cert-out", str(ca), "--max-scan-events", str(CAP),
            ],
        )  # fmt: skip
        api_url = f"https://{oob_ip}:8443"
        _wait_api(api_url, ca, host)
        # The target's resolver forwards the zone to the OOB host (stands in for delegation).
        target.start((oob_ip, 53), None)
        yield World(host.network, target, api_url, str(ca), host)
    finally:
        target.stop()
        host.stop()


def _scan_cli(world: World, key_env: str | None, *flags: str, out: Path | None = None) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREBRICK_")}
    if key_env is not None:
        env["FIREBRICK_OOB_KEY"] = key_env
    cmd = [
        sys.executable, "-m", "firebrick", "scan", f"http://{world.target_ip}:8080",
        "--oob-server", world.api_url, "--oob-ca", world.ca,
        "--check", "ssrf", "--rate", "200", "--max-time", "120", "--no-store", "-q",
        "--fail-on", "none", *flags,
    ]  # fmt: skip
    if out is not None:
        cmd += ["-f", "json", "-o", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def _namespaces(interactions: list[dict[str, Any]]) -> set[str]:
    """The namespace label each interaction carried (path segment, Host or query name)."""
    found = set()
    for i in interactions:
        for text in (i.get("http_path") or "", i.get("http_host") or "", i.get("dns_qname") or ""):
            for piece in text.replace("/", ".").split("."):
                if len(piece) == 12 and piece.startswith("s") and "f" not in piece:
                    found.add(piece.lower())
    return found


@pytest.fixture(scope="module")
def scans(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Scan A (the CLI, key on the command line) while scan B is registered and probing the same
    target through its own namespace."""
    out = tmp_path_factory.mktemp("scan-a") / "a.json"

    async def run() -> dict[str, Any]:
        async with RemoteOOB(world.api_url, KEY_B, ca_file=world.ca, label="b") as b:
            proc = await asyncio.create_subprocess_exec(
                *_cli_args(world, out),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=_env_without_firebrick(),
            )
            # Scan B makes the same target fetch its own URL while scan A runs.
            t_b = b.new_token("b webhook")
            async with httpx.AsyncClient(trust_env=False) as client:
                await client.post(
                    f"http://{world.target_ip}:8080/api/webhooks",
                    json={"callback_url": b.http_url(t_b)},
                    timeout=30,
                )
            b_hit = await b.wait_for({t_b}, READY, protocols={"http"})
            stdout, stderr = await asyncio.wait_for(proc.communicate(), 300)
            await asyncio.sleep(0)  # let B's feed apply what already arrived
            return {
                "rc": proc.returncode,
                "stdout": stdout.decode(),
                "stderr": stderr.decode(),
                "report": json.loads(out.read_text()) if out.is_file() else None,
                "b_hit": b_hit,
                "b_token": t_b,
                "b_namespace": b.namespace,
                "b_interactions": [i.to_dict() for i in b.interactions()],
                "b_missed": b.missed,
            }

    return asyncio.run(run())


def _env_without_firebrick() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FIREBRICK_")}


def _cli_args(world: World, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "firebrick", "scan", f"http://{world.target_ip}:8080",
        "--oob-server", world.api_url, "--oob-ca", world.ca, "--oob-key", KEY_A,
        "--check", "ssrf", "--check", "dns_hygiene", "--check", "unsafe_consumption",
        "--rate", "200", "--max-time", "120", "--no-store", "-q",
        "--fail-on", "none", "-f", "json", "-o", str(out),
    ]  # fmt: skip


def _evidence(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for f in report["findings"] for i in f["evidence"]["interactions"]]


def test_blind_ssrf_is_attributed_to_the_right_scan_through_the_remote_api(
    world: World, scans: dict[str, Any]
) -> None:
    # 0, or 2 when the grade is "incomplete" (only the ssrf check ran): never a usage error.
    assert scans["rc"] in (0, 2) and scans["report"] is not None, scans["stderr"][-2000:]
    report = scans["report"]
    found = {f["operation"] for f in report["findings"] if f["kind"].startswith("ssrf.")}
    assert found >= BLIND, [(f["kind"], f["operation"]) for f in report["findings"]]
    # The blind fetchers' proof: callbacks from the target's own address, at the OOB host.
    blind = [
        i
        for f in report["findings"]
        if f["operation"] in BLIND
        for i in f["evidence"]["interactions"]
    ]
    assert blind and {i["source_ip"] for i in blind if i["protocol"] == "http"} == {world.target_ip}
    # Every interaction in A's report carries A's namespace, and A's only.
    spaces = _namespaces(_evidence(report))
    assert len(spaces) == 1 and scans["b_namespace"] not in spaces
    assert report["stats"]["oob_interactions"] > 0
    # The report says what a remote OOB server cannot prove.
    assert any("remote OOB server: no inside" in w for w in report["warnings"])


def test_checks_use_remote_redirects_behaviours_and_resolver_data(scans: dict[str, Any]) -> None:
    """What the checks need beyond callbacks works through the API: per-token redirects (an
    unbounded redirect chain), behaviours (a script page reflected), and per-query resolver data
    (the target's unbound measured: random ports and ids, 0x20)."""
    report = scans["report"]
    kinds = {(f["kind"], f["operation"]) for f in report["findings"]}
    assert ("unsafe_consumption.redirects-unbounded", "GET /api/image") in kinds, kinds
    assert ("unsafe_consumption.unsanitized-content", "GET /api/image") in kinds, kinds
    resolver = [
        c
        for c in report["coverage"]
        if c["check"] == "dns_hygiene" and c["input"] == "resolver" and c["status"] == "passed"
    ]
    assert resolver and "source ports GREAT" in resolver[0]["reason"], report["coverage"]


def test_a_concurrent_scan_sees_none_of_the_other_scans_interactions(
    scans: dict[str, Any],
) -> None:
    assert scans["b_hit"], "scan B's own callback never arrived"
    b_seen = scans["b_interactions"]
    assert b_seen and {i["token"] for i in b_seen} == {scans["b_token"]}
    assert _namespaces(b_seen) == {scans["b_namespace"]}
    a_spaces = _namespaces(_evidence(scans["report"]))
    assert not (_namespaces(b_seen) & a_spaces)
    # And A never saw B's token.
    assert scans["b_token"] not in json.dumps(scans["report"])


def test_the_key_never_appears_in_any_output(scans: dict[str, Any]) -> None:
    for name in ("stdout", "stderr"):
        assert KEY_A not in scans[name]
    assert KEY_A not in json.dumps(scans["report"])


def test_a_wrong_key_is_refused_with_one_line(world: World) -> None:
    done = _scan_cli(world, "wrong-key-but-long-enough-000")
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused the key" in lines[0], done.stderr
    assert "wrong-key-but-long-enough" not in done.stderr + done.stdout


def test_retention_bounds_hold_on_the_public_host(world: World) -> None:
    ctx = world.tls()
    headers = {"Authorization": f"Bearer {KEY_B}"}
    with httpx.Client(verify=ctx, headers=headers, trust_env=False, timeout=30) as api:
        scan = api.post(f"{world.api_url}/v1/scans", json={"label": "c"}).json()
        assert scan["retention"]["max_events"] == CAP
        ns, oob = scan["namespace"], scan["advertise"]

        async def flood() -> None:
            limits = httpx.Limits(max_connections=16)
            timeout = httpx.Timeout(30, pool=None)
            async with httpx.AsyncClient(trust_env=False, limits=limits, timeout=timeout) as c:
                base = f"http://{oob}:{scan['http_port']}/{ns}"
                await asyncio.gather(*(c.get(f"{base}/fb{n:010d}") for n in range(CAP + 15)))

        asyncio.run(flood())
        events = api.get(f"{world.api_url}/v1/scans/{scan['scan']}/events").json()
        assert len(events["events"]) == CAP and events["dropped"] == 15, {
            k: v for k, v in events.items() if k != "events"
        }
        # Another key cannot read it, and after deregistration nobody can.
        other = api.get(
            f"{world.api_url}/v1/scans/{scan['scan']}/events",
            headers={"Authorization": f"Bearer {KEY_A}"},
        )
        assert other.status_code == 404
        assert api.delete(f"{world.api_url}/v1/scans/{scan['scan']}").status_code == 204
        assert api.get(f"{world.api_url}/v1/scans/{scan['scan']}/events").status_code == 404
