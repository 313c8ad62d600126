"""`firebrick serve` for real: the service on loopback (uvicorn), the lab as its target, a Flask
webhook receiver; the REST API, live progress, reports, monitors, signed webhooks, keys, and the
target policy that keeps the service from becoming an SSRF proxy."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from flask import Flask, Response, request

from firebrick.lab.runner import LabConfig, start_lab
from firebrick.server import Service, ServiceConfig, create_app
from firebrick.server.db import MIGRATIONS
from firebrick.server.webhooks import verify
from firebrick.target_policy import TargetPolicy, parse_networks
from support import serve

ROOT = Path(__file__).resolve().parents[1]
WAIT = 120.0  # generous: scans share two cores with the rest of the suite


@contextmanager
def service_on_loopback(tmp_path: Path, **config: Any) -> Iterator[tuple[str, Service, str]]:
    """(base URL, the Service, an admin key) with uvicorn serving it on a free port."""
    allow = config.pop("allow", ("127.0.0.0/8",))
    database = config.pop("database", f"sqlite:///{tmp_path / 'server.sqlite'}")
    config.setdefault("default_rate", 200.0)  # the lab is ours and local
    service = Service(
        ServiceConfig(
            database=database,
            policy=TargetPolicy(parse_networks(list(allow))),
            monitor_tick=0.2,
            webhook_backoff=0.05,
            **config,
        )
    )
    _, admin = service.create_key("admin", admin=True)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", service, admin
    finally:
        server.should_exit = True
        thread.join(timeout=WAIT)


def client(base: str, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=base, headers=headers, trust_env=False, timeout=60)


def wait_done(c: httpx.Client, scan_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while True:
        scan = c.get(f"/api/v1/scans/{scan_id}").json()
        if scan["status"] in ("done", "failed"):
            return scan
        assert time.monotonic() < deadline, scan
        time.sleep(0.1)


@pytest.fixture(scope="module")
def lab() -> Iterator[str]:
    with start_lab(LabConfig(variant="vulnerable")) as running:
        yield running.base_url


def test_scan_through_the_api_with_live_progress_reports_and_diff(lab: str, tmp_path: Path) -> None:
    with service_on_loopback(tmp_path) as (base, _service, admin), client(base, admin) as c:
        anonymous = client(base, None).post("/api/v1/scans", json={"url": lab})
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "unauthorized"
        bad = c.post("/api/v1/scans", json={"url": "ftp://x"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"

        created = c.post("/api/v1/scans", json={"url": lab, "checks": ["ssrf"], "rate": 200})
        assert created.status_code == 202, created.text
        scan_id = created.json()["id"]
        assert created.headers["location"] == f"/api/v1/scans/{scan_id}"

        events: list[str] = []
        with c.stream("GET", f"/api/v1/scans/{scan_id}/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    events.append(line[7:])
        assert events[-1] == "done" and "progress" in events

        scan = wait_done(c, scan_id)
        assert scan["status"] == "done" and scan["findings"] > 0
        report = c.get(f"/api/v1/scans/{scan_id}/report.json").json()
        assert any(f["kind"] == "ssrf.internal-read" for f in report["findings"])
        sarif = c.get(f"/api/v1/scans/{scan_id}/report.sarif").json()
        assert sarif["version"] == "2.1.0"
        assert c.get(f"/api/v1/scans/{scan_id}/report.html").text.startswith("<!DOCTYPE html>")
        assert c.get(f"/api/v1/scans/{scan_id}/report.exe").status_code == 404

        second = c.post("/api/v1/scans", json={"url": lab, "checks": ["inventory"], "rate": 200})
        other = wait_done(c, second.json()["id"])
        d = c.get("/api/v1/diff", params={"a": scan_id, "b": other["id"]}).json()
        assert isinstance(d["resolved"], list) and "score_delta" in d

        listed = c.get("/api/v1/scans", params={"target": lab}).json()["scans"]
        assert {s["id"] for s in listed} >= {scan_id, other["id"]}
        assert c.delete(f"/api/v1/scans/{other['id']}").status_code == 204
        assert c.get(f"/api/v1/scans/{other['id']}").status_code == 404

        spec = c.get("/api/v1/openapi.json").json()
        assert "/api/v1/scans" in spec["paths"] and "/api/v1/webhooks" in spec["paths"]


def test_keys_are_hashed_scoped_rate_limited_and_revocable(tmp_path: Path) -> None:
    with service_on_loopback(tmp_path, requests_per_minute=40) as (base, _service, admin):
        with client(base, admin) as c:
            made = c.post("/api/v1/keys", json={"name": "ci"}).json()
            user_key = made["key"]
        raw = (tmp_path / "server.sqlite").read_bytes()
        assert admin.encode() not in raw and user_key.encode() not in raw  # hashed at rest
        with client(base, user_key) as u:
            assert u.get("/api/v1/me").json()["name"] == "ci"
            assert u.get("/api/v1/keys").status_code == 403  # not an admin
            statuses = [u.get("/api/v1/me").status_code for _ in range(45)]
            assert 429 in statuses
            limited = u.get("/api/v1/me")
            assert limited.status_code == 429 and limited.headers["retry-after"]
        with client(base, admin) as c:
            assert c.delete(f"/api/v1/keys/{made['id']}").status_code == 204
        assert client(base, user_key).get("/api/v1/me").status_code == 401


def test_target_policy_refuses_internal_targets_and_webhooks(tmp_path: Path) -> None:
    """Without --allow-network the service scans nothing internal: loopback, metadata, a name
    that resolves inside, and no webhook to such places either."""
    with (
        service_on_loopback(tmp_path, allow=()) as (base, _service, admin),
        client(base, admin) as c,
    ):
        for url in (
            "http://127.0.0.1:5000/",
            "http://localhost:5000/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:127.0.0.1]/",
            "http://2130706433/",
        ):
            r = c.post("/api/v1/scans", json={"url": url})
            assert r.status_code == 422, (url, r.text)
            assert r.json()["error"]["code"] == "target_refused"
        hook = c.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})
        assert hook.status_code == 422 and hook.json()["error"]["code"] == "target_refused"


async def test_a_rebinding_name_is_refused_at_connect_time() -> None:
    """A name that answers a public address when the scan is checked and 127.0.0.1 when the scan
    connects (our OOB DNS serving a real rebinding name) is refused by the resolver every scan
    connection goes through. Only DNS is exchanged: nothing connects to the public answer."""
    import dns.asyncresolver
    from aiohttp.abc import AbstractResolver

    from firebrick.oob.server import OOBConfig, OOBServer
    from firebrick.target_policy import PolicyResolver

    public = "11.203.255.1"  # global to ipaddress, routed nowhere here; only ever an answer

    class OOBDns(AbstractResolver):
        """Asks the OOB DNS listener directly (stands in for a resolver that reaches the zone)."""

        def __init__(self, port: int) -> None:
            self.r = dns.asyncresolver.Resolver(configure=False)
            self.r.nameservers, self.r.port, self.r.lifetime = ["127.0.0.1"], port, WAIT

        async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[Any]:
            answer = await self.r.resolve(host, "A")
            return [
                {
                    "hostname": host,
                    "host": a.address,
                    "port": port,
                    "family": 2,
                    "proto": 6,
                    "flags": 0,
                }
                for a in answer
            ]

        async def close(self) -> None:
            return None

    async with OOBServer(OOBConfig(advertise_host=public, dnssec=False)) as oob:
        name = oob.rebinding_name(oob.new_token("rebind-test"), "127.0.0.1")
        resolver = PolicyResolver(TargetPolicy())
        resolver._inner = OOBDns(oob.dns_port or 0)
        first = await resolver.resolve(name, 80)  # the check: a public answer, allowed
        assert [a["host"] for a in first] == [public]
        with pytest.raises(OSError, match="refused by the target policy"):
            await resolver.resolve(name, 80)  # the connection: rebound to 127.0.0.1


def test_authenticated_scans_need_proof_of_control(tmp_path: Path) -> None:
    app = Flask("owned")
    proof: dict[str, str] = {}

    @app.get("/.well-known/firebrick-verify.txt")
    def token() -> Any:
        return Response(proof.get("token", ""), mimetype="text/plain") if proof else ("", 404)

    @app.get("/")
    def index() -> Any:
        return {"ok": True}

    with (
        serve(app) as target,
        service_on_loopback(tmp_path) as (base, _service, admin),
        client(base, admin) as c,
    ):
        body = {
            "url": target,
            "headers": {"Authorization": "Bearer secret"},
            "checks": ["inventory"],
        }
        refused = c.post("/api/v1/scans", json=body)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "control_not_proven"
        proof["token"] = c.get("/api/v1/me").json()["verify_token"]
        accepted = c.post("/api/v1/scans", json=body)
        assert accepted.status_code == 202
        assert accepted.json()["request"]["headers"] == ["Authorization"]  # never the value
        wait_done(c, accepted.json()["id"])


def docs_receiver() -> str:
    text = (ROOT / "docs" / "server.md").read_text()
    block = re.search(r"```python\n(# webhook receiver.*?)```", text, re.S)
    assert block, "docs/server.md lost its webhook receiver"
    return block.group(1)


def test_monitor_diffs_runs_and_signed_webhooks_reach_the_docs_receiver(tmp_path: Path) -> None:
    """A target that stops reflecting any Origin (CORS) between two monitor runs: the second
    run's diff becomes a findings.resolved event, delivered signed to the ten-line receiver from
    the docs. (A category both runs assessed: a diff never calls unassessed findings resolved.)"""
    state = {"vulnerable": True}
    target = Flask("monitored")

    @target.get("/items")
    def items() -> Any:
        resp = Response('{"items": []}', mimetype="application/json")
        origin = request.headers.get("Origin")
        if state["vulnerable"] and origin:
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Access-Control-Allow-Credentials"] = "true"
        return resp

    @target.get("/openapi.json")
    def spec() -> Any:
        return {
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": {"/items": {"get": {"responses": {"200": {"description": "items"}}}}},
        }

    namespace: dict[str, Any] = {"__name__": "docs_webhook_receiver"}
    exec(compile(docs_receiver(), "docs/server.md", "exec"), namespace)
    receiver: Flask = namespace["app"]
    received: list[dict[str, Any]] = []

    @receiver.after_request
    def keep(resp: Response) -> Response:
        if resp.status_code == 204:
            received.append(json.loads(request.get_data()))
        return resp

    with (
        serve(target) as target_url,
        serve(receiver) as hook_url,
        service_on_loopback(tmp_path) as (base, service, admin),
        client(base, admin) as c,
    ):
        hook = c.post("/api/v1/webhooks", json={"url": f"{hook_url}/hooks/firebrick"}).json()
        namespace["SECRET"] = hook["secret"]  # the receiver reads its secret at request time
        monitor = c.post(
            "/api/v1/monitors",
            json={
                "url": target_url,
                "spec_url": f"{target_url}/openapi.json",
                "checks": ["input_validation"],
                "interval_s": 60,
            },
        ).json()
        first = _wait_monitor_scan(c, monitor["id"], None)
        state["vulnerable"] = False
        service.db.execute("UPDATE monitors SET next_run_at = 0 WHERE id = ?", (monitor["id"],))
        _wait_monitor_scan(c, monitor["id"], first)
        deadline = time.monotonic() + WAIT
        while not any(e["type"] == "findings.resolved" for e in received):
            assert time.monotonic() < deadline, received
            time.sleep(0.1)
        resolved = next(e for e in received if e["type"] == "findings.resolved")
        kinds = {f["kind"] for f in resolved["data"]["findings"]}
        assert "input_validation.cors-reflected-origin" in kinds
        log = c.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["deliveries"]
        assert any(d["status"] == "delivered" and d["response_status"] == 204 for d in log)
        # a forged or replayed delivery is refused by the same receiver
        body = json.dumps({"type": "scan.completed"}).encode()
        assert not verify(hook["secret"], f"t={int(time.time()) - 3600},v1=00", body)
        forged = httpx.post(
            f"{hook_url}/hooks/firebrick",
            content=body,
            headers={"Firebrick-Signature": "t=1,v1=deadbeef"},
            trust_env=False,
        )
        assert forged.status_code == 400


def _wait_monitor_scan(c: httpx.Client, monitor_id: str, after: str | None) -> str:
    deadline = time.monotonic() + WAIT
    while True:
        last = c.get(f"/api/v1/monitors/{monitor_id}").json()["last_scan_id"]
        if last and last != after:
            return str(last)
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_retries_back_off_and_the_delivery_log_keeps_every_attempt(tmp_path: Path) -> None:
    attempts: list[float] = []
    flaky = Flask("flaky")

    @flaky.post("/hook")
    def hook() -> Any:
        attempts.append(time.monotonic())
        return ("", 503) if len(attempts) < 3 else ("", 200)

    with serve(flaky) as url, service_on_loopback(tmp_path) as (base, service, admin):
        key = service.db.one("SELECT id FROM api_keys WHERE admin = 1")
        with client(base, admin) as c:
            hook_id = c.post("/api/v1/webhooks", json={"url": f"{url}/hook"}).json()["id"]
            service.webhooks.emit(key["id"], "scan.completed", {"scan_id": "x"})
            deadline = time.monotonic() + WAIT
            while True:
                log = c.get(f"/api/v1/webhooks/{hook_id}/deliveries").json()["deliveries"]
                if log and log[0]["status"] == "delivered":
                    break
                assert time.monotonic() < deadline, log
                time.sleep(0.05)
        assert log[0]["attempts"] == 3 and len(attempts) == 3
        # exponential backoff with jitter: the n-th wait is within [b*2^(n-1)/2, b*2^(n-1)]
        backoff = service.config.webhook_backoff
        assert attempts[1] - attempts[0] >= backoff / 2
        assert attempts[2] - attempts[1] >= backoff


def test_serve_command_prints_its_admin_key_once_and_migrates(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "firebrick",
            "serve",
            "--port",
            "0",
            "--database",
            f"sqlite:///{db}",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stderr is not None
        key = url = None
        for line in proc.stderr:
            if m := re.search(r"admin API key \(shown once\): (\S+)", line):
                key = m.group(1)
            if m := re.search(r"dashboard (http://\S+)/ ", line):
                url = m.group(1)
                break
        assert key and url
        assert client(url, key).get("/api/v1/me").json()["admin"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=WAIT)
    versions = sqlite3.connect(db).execute("SELECT version FROM fb_migrations").fetchall()
    assert versions == [(v,) for v, _ in MIGRATIONS]


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)",
)
def test_dashboard_in_a_real_browser(lab: str, tmp_path: Path) -> None:
    """Log in, paste the lab URL, wait for the grade, open a finding, check the chart; keep
    screenshots (test-artifacts/)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chrome'}",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    ARTIFACTS.mkdir(exist_ok=True)
    with service_on_loopback(tmp_path) as (base, _service, admin):
        driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
        wait = WebDriverWait(driver, WAIT)
        try:
            driver.get(f"{base}/")
            wait.until(ec.presence_of_element_located((By.ID, "key"))).send_keys(admin)
            driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
            url = wait.until(ec.presence_of_element_located((By.ID, "url")))
            url.send_keys(lab)
            driver.find_element(By.ID, "start-scan").click()
            grade = wait.until(ec.presence_of_element_located((By.ID, "grade")))  # live → done
            assert grade.text in ("A", "B", "C", "D", "F", "—")
            chart = driver.find_element(By.CSS_SELECTOR, "svg.chart")
            assert chart.find_elements(By.TAG_NAME, "rect"), "the category chart has no bars"
            driver.save_screenshot(str(ARTIFACTS / "dashboard-scan.png"))
            finding = driver.find_element(By.CSS_SELECTOR, "details.finding summary")
            finding.click()
            fix = driver.find_element(By.CSS_SELECTOR, "details.finding[open] .fix")
            assert fix.is_displayed() and fix.text.strip()
            driver.save_screenshot(str(ARTIFACTS / "dashboard-finding.png"))
            # the page ran under the strict CSP with no console errors from our own assets
            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert not [e for e in errors if "/static/" in e["message"]], errors
        finally:
            driver.quit()


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a Unix socket only (no TCP), run as the postgres user."""
    import os
    import pwd
    import shutil
    import tempfile

    pg = _postgres_bin()
    if pg is None:
        pytest.skip("PostgreSQL server binaries are not installed (.ci/run installs them)")
    as_user: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="fb-pg-", dir="/tmp"))
    if os.geteuid() == 0:  # the server refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(workdir, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = workdir / "data"
    subprocess.run(
        [
            *as_user,
            str(pg / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "firebrick",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    start = [
        *as_user,
        str(pg / "pg_ctl"),
        "-D",
        str(data),
        "-w",
        "-t",
        str(int(WAIT)),
        "-o",
        f"-k {workdir} -c listen_addresses='' -p 5433 -c fsync=off",
        "-l",
        str(workdir / "log"),
        "start",
    ]
    subprocess.run(start, check=True, capture_output=True)
    try:
        yield f"postgresql://firebrick@/postgres?host={workdir}&port=5433"
    finally:
        subprocess.run(
            [*as_user, str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(workdir, ignore_errors=True)


def test_postgresql_backend_runs_scans_and_survives_a_restart(
    postgres: str, lab: str, tmp_path: Path
) -> None:
    with service_on_loopback(tmp_path, database=postgres) as (base, service, admin):
        assert service.db.kind == "postgresql"
        with client(base, admin) as c:
            scan = c.post("/api/v1/scans", json={"url": lab, "checks": ["inventory"]}).json()
            done = wait_done(c, scan["id"])
            assert done["status"] == "done"
            assert c.get(f"/api/v1/scans/{scan['id']}/report.json").json()["target"] == lab
    # a second process on the same database: migrations are not re-applied, history is there
    with service_on_loopback(tmp_path, database=postgres) as (base, service, admin):
        versions = service.db.all("SELECT version FROM fb_migrations")
        assert [r["version"] for r in versions] == [v for v, _ in MIGRATIONS]
        with client(base, admin) as c:
            assert c.get(f"/api/v1/scans/{scan['id']}").json()["status"] == "done"


def test_tenants_see_only_their_own_scans_monitors_and_webhooks(lab: str, tmp_path: Path) -> None:
    with service_on_loopback(tmp_path) as (base, _service, admin), client(base, admin) as c:
        alice = c.post("/api/v1/keys", json={"name": "alice"}).json()["key"]
        bob = c.post("/api/v1/keys", json={"name": "bob"}).json()["key"]
        with client(base, alice) as a, client(base, bob) as b:
            scan = a.post("/api/v1/scans", json={"url": lab, "checks": ["inventory"]}).json()
            hook = a.post("/api/v1/webhooks", json={"url": f"{lab}/hook"}).json()
            assert b.get(f"/api/v1/scans/{scan['id']}").status_code == 404  # not even confirmed
            assert b.get(f"/api/v1/scans/{scan['id']}/report.json").status_code == 404
            assert b.delete(f"/api/v1/scans/{scan['id']}").status_code == 404
            assert b.get(f"/api/v1/webhooks/{hook['id']}/deliveries").status_code == 404
            assert scan["id"] not in {s["id"] for s in b.get("/api/v1/scans").json()["scans"]}
            assert b.get("/api/v1/webhooks").json()["webhooks"] == []
            assert a.get(f"/api/v1/scans/{scan['id']}").status_code == 200
            wait_done(a, scan["id"])
        assert c.get(f"/api/v1/scans/{scan['id']}").status_code == 200  # admins see all


def test_firebrick_grades_its_own_service_A(tmp_path: Path) -> None:
    """The service scanned by firebrick (admin key, plus two tenants as identities): grade A with
    a grade given (coverage above the threshold), nothing above low.

    With its default policy (no --allow-network) the service refuses to fetch the scanner's
    loopback callbacks; with loopback allowed it would (rightly) be reported as fetching them."""
    import asyncio
    import json as _json

    from firebrick.engine import run_scan
    from firebrick.options import ScanOptions

    with (
        service_on_loopback(tmp_path, allow=()) as (base, service, admin),
        client(base, admin) as c,
    ):
        alice = c.post("/api/v1/keys", json={"name": "alice"}).json()["key"]
        bob = c.post("/api/v1/keys", json={"name": "bob"}).json()["key"]
        # one stored scan, written directly (no traffic), so that object routes have a real id
        admin_id = c.get("/api/v1/me").json()["id"]
        service.db.execute(
            "INSERT INTO scans (id, key_id, target, request_json, status, created_at, error)"
            " VALUES ('seedscan0000', ?, 'http://app.example.com/', ?, 'failed', ?, 'seed')",
            (
                admin_id,
                _json.dumps({"url": "http://app.example.com/"}),
                "2026-01-01T00:00:00+00:00",
            ),
        )
        options = ScanOptions(
            target=base,
            spec=f"{base}/api/v1/openapi.json",
            rate=200.0,
            max_time=120.0,
            headers={"Authorization": f"Bearer {admin}"},
            identities={
                "alice": {"Authorization": f"Bearer {alice}"},
                "bob": {"Authorization": f"Bearer {bob}"},
            },
        )
        result = asyncio.run(run_scan(options))
    worse = [
        (f.kind, f.severity.value, f.operation) for f in result.findings if f.severity.rank > 1
    ]
    assert not worse, worse  # low or info at most
    assert not result.grade_incomplete, result.to_dict()["coverage_summary"]
    assert result.grade == "A", [(f.kind, f.severity.value, f.operation) for f in result.findings]
