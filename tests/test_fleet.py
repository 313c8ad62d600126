"""The fleet for real: a redis-server, two `firebrick worker` processes, targets on loopback.

20 scans complete and are stored once each; a worker killed with SIGKILL mid-scan loses nothing
(another worker runs the scan again and it is stored once); and the per-host rate limit holds
across workers, measured from the target's own request log."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, jsonify, request

from firebrick.server.db import Database
from support import serve

ROOT = Path(__file__).resolve().parents[1]
WAIT = 240.0
REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(
    REDIS is None, reason="redis-server is not installed (.ci/run installs it)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def broker() -> Iterator[str]:
    import redis

    port = free_port()
    proc = subprocess.Popen(
        [
            str(REDIS),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + WAIT
    while True:
        try:
            if client.ping():
                break
        except redis.exceptions.ConnectionError:
            assert proc.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not answer"
            time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class Target:
    """A small API that logs the time of every request it serves."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.lock = threading.Lock()
        app = Flask("fleet-target")

        @app.before_request
        def log() -> None:
            with self.lock:
                self.times.append(time.monotonic())

        @app.get("/openapi.json")
        def spec() -> Any:
            return {
                "openapi": "3.0.3",
                "info": {"title": "fleet target", "version": "1"},
                "paths": {
                    "/items": {
                        "get": {
                            "parameters": [
                                {"name": "q", "in": "query", "schema": {"type": "string"}}
                            ],
                            "responses": {"200": {"description": "items"}},
                        }
                    },
                    "/items/{id}": {
                        "get": {
                            "parameters": [
                                {
                                    "name": "id",
                                    "in": "path",
                                    "required": True,
                                    "schema": {"type": "integer"},
                                }
                            ],
                            "responses": {"200": {"description": "one item"}},
                        }
                    },
                },
            }

        @app.get("/items")
        def items() -> Any:
            return jsonify(items=[{"id": 1, "name": request.args.get("q", "a")}])

        @app.get("/items/<int:item_id>")
        def item(item_id: int) -> Any:
            return jsonify(id=item_id, name="a")

        self.app = app

    def max_per_window(self, window: float = 1.0) -> int:
        times = sorted(self.times)
        best, j = 0, 0
        for i, t in enumerate(times):
            while times[j] < t - window:
                j += 1
            best = max(best, i - j + 1)
        return best


@contextmanager
def worker(broker: str, database: str, name: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "firebrick",
            "worker",
            "--broker",
            broker,
            "--database",
            database,
            "-c",
            "1",
            "--name",
            f"{name}@%h",
            "--visibility-timeout",
            "6",
            "--allow-network",
            "127.0.0.0/8",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,  # its own process group: SIGKILL reaches the pool too
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # waits on the ready line, however loaded the machine
        if "firebrick worker: ready" in line:
            break
    else:
        raise AssertionError("the worker exited before it was ready")
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=WAIT)


def submit(
    broker: str, database: str, targets: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "firebrick",
            "fleet",
            "submit",
            str(targets),
            "--broker",
            broker,
            "--database",
            database,
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=WAIT + 60,
        cwd=ROOT,
    )


def test_twenty_scans_on_two_workers_are_stored_once_each(broker: str, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'fleet.sqlite'}"
    target = Target()
    with serve(target.app) as base, worker(broker, database, "w1"), worker(broker, database, "w2"):
        targets = tmp_path / "targets.txt"
        lines = [f"{base} {base}/openapi.json" for _ in range(20)]
        targets.write_text("# twenty scans of one API\n" + "\n".join(lines) + "\n")
        proc = submit(
            broker, database, targets, "--check", "inventory", "--rate", "200", "--wait", str(WAIT)
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids = re.findall(r"^([0-9a-f]{16}) http", proc.stdout, re.M)
    assert len(ids) == 20
    db = Database(database)
    rows = db.all("SELECT id, status, attempts, result_json FROM scans")
    assert len(rows) == 20 and {r["id"] for r in rows} == set(ids)
    assert all(r["status"] == "done" and r["result_json"] for r in rows)
    assert all(r["attempts"] == 1 for r in rows)  # nothing ran twice


def test_a_worker_killed_mid_scan_loses_nothing(broker: str, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'fleet.sqlite'}"
    target = Target()
    with serve(target.app) as base:
        targets = tmp_path / "one.txt"
        targets.write_text(f'{{"url": "{base}", "spec_url": "{base}/openapi.json", "rate": 4}}\n')
        with worker(broker, database, "doomed") as doomed:
            proc = submit(broker, database, targets, "--check", "input_validation")
            assert proc.returncode == 0, proc.stderr
            scan_id = proc.stdout.split()[0]
            db = Database(database)
            deadline = time.monotonic() + WAIT
            while not (row := db.one("SELECT * FROM scans WHERE id = ?", (scan_id,))) or (
                row["status"] != "running" or len(target.times) < 3
            ):
                assert time.monotonic() < deadline, row
                time.sleep(0.05)
            os.killpg(doomed.pid, signal.SIGKILL)  # mid-scan: no chance to acknowledge or store
            doomed.wait(timeout=WAIT)
        assert (
            db.one("SELECT result_json FROM scans WHERE id = ?", (scan_id,))["result_json"] is None
        )
        with worker(broker, database, "survivor"):
            deadline = time.monotonic() + WAIT
            while (row := db.one("SELECT * FROM scans WHERE id = ?", (scan_id,)))[
                "status"
            ] != "done":
                assert time.monotonic() < deadline, row
                time.sleep(0.1)
    assert row["attempts"] == 2 and row["result_json"]


def test_the_rate_limit_per_host_holds_across_workers(broker: str, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'fleet.sqlite'}"
    target = Target()
    rate = 15
    with serve(target.app) as base, worker(broker, database, "r1"), worker(broker, database, "r2"):
        targets = tmp_path / "two.txt"
        targets.write_text(f"{base} {base}/openapi.json\n" * 2)
        proc = submit(
            broker,
            database,
            targets,
            "--check",
            "input_validation",
            "--rate",
            str(rate),
            "--wait",
            str(WAIT),
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(target.times) > 2 * rate  # long enough to measure
    # Two scans ran at once on two workers, each allowed `rate`: together still `rate` a second,
    # where separate limits would give 2 x rate. Measured over 2 s windows with a little slack:
    # on a loaded machine requests sent on schedule can arrive bunched.
    assert target.max_per_window(2.0) <= 2 * rate + 4, target.max_per_window(2.0)


def test_serve_dispatches_to_the_fleet_and_notifies_when_done(broker: str, tmp_path: Path) -> None:
    """`firebrick serve --broker`: the API queues on the fleet, a worker runs and stores the
    scan, the service sees it finish and sends its webhook."""
    from test_server import client, service_on_loopback, wait_done

    target = Target()
    received: list[dict[str, Any]] = []
    hooks = Flask("hooks")

    @hooks.post("/hook")
    def hook() -> Any:
        received.append(request.get_json())
        return "", 204

    database = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    with (
        serve(target.app) as base,
        serve(hooks) as hook_url,
        service_on_loopback(tmp_path, database=database, broker=broker, fleet_poll=0.1) as (
            api,
            _service,
            admin,
        ),
        worker(broker, database, "svc"),
        client(api, admin) as c,
    ):
        c.post("/api/v1/webhooks", json={"url": f"{hook_url}/hook", "events": ["scan.completed"]})
        scan = c.post(
            "/api/v1/scans",
            json={"url": base, "spec_url": f"{base}/openapi.json", "checks": ["inventory"]},
        ).json()
        done = wait_done(c, scan["id"])
        assert done["status"] == "done" and done["attempts"] == 1
        report = c.get(f"/api/v1/scans/{scan['id']}/report.json").json()
        assert report["target"] == base
        deadline = time.monotonic() + WAIT
        while not received:
            assert time.monotonic() < deadline, "no scan.completed webhook"
            time.sleep(0.05)
        assert received[0]["type"] == "scan.completed"
        assert received[0]["data"]["scan_id"] == scan["id"]
