"""`firebrick scan --server` and `firebrick mcp --server` against a real `firebrick serve` on
loopback, scanning the real lab: the scan runs on the server (stored there), progress arrives
over server-sent events, and the CLI's own reports, store and exit codes follow; the server's
refusals (bad key, refused target) and an unreachable server are one line and a documented code."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from firebrick.lab.runner import LabConfig, start_lab
from support import mcp_result
from test_server import service_on_loopback

ROOT = Path(__file__).resolve().parents[1]
LAB_SOURCE = ROOT / "src" / "firebrick" / "lab"


@pytest.fixture(scope="module")
def lab() -> Iterator[str]:
    with start_lab(LabConfig(variant="vulnerable")) as running:
        yield running.base_url


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A service that may scan loopback (the lab): (base URL, admin key)."""
    with service_on_loopback(tmp_path_factory.mktemp("served")) as (base, _service, admin):
        yield base, admin


def firebrick(*args: str, key: str | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREBRICK_")}
    env["FIREBRICK_STORE"] = str(cwd / "store.sqlite")
    if key is not None:
        env["FIREBRICK_API_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "firebrick", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def server_scans(base: str, key: str) -> list[dict[str, Any]]:
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {key}"}, trust_env=False, timeout=60
    ) as c:
        scans: list[dict[str, Any]] = c.get("/api/v1/scans").json()["scans"]
        return scans


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("firebrick: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_cli_scan_runs_on_the_server_and_reports_and_gates_locally(
    lab: str, served: tuple[str, str], tmp_path: Path
) -> None:
    base, admin = served
    proc = firebrick(
        "scan",
        lab,
        "--server",
        base,
        "--api-key",
        admin,
        "--rate",
        "200",
        "--source",
        str(LAB_SOURCE),
        "-f",
        "json",
        "-o",
        "x.json",
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr  # the default gate: the lab has high findings
    assert admin not in proc.stderr + proc.stdout  # the key is never printed
    assert "gate failed" in proc.stderr
    assert "queued as scan" in proc.stderr  # progress from the server's event stream
    report = json.loads((tmp_path / "x.json").read_text())
    kinds = {f["kind"] for f in report["findings"]}
    assert "ssrf.internal-read" in kinds, kinds
    assert report["target"].rstrip("/") == lab.rstrip("/")
    # --source is joined locally to the server's result: findings point at the lab's code
    assert any(f.get("source") for f in report["findings"]), report["findings"][:2]

    # the scan ran on the server, and is kept there and in the local history store
    scans = [s for s in server_scans(base, admin) if s["target"].rstrip("/") == lab.rstrip("/")]
    assert scans and scans[0]["status"] == "done" and scans[0]["request"]["rate"] == 200
    with sqlite3.connect(tmp_path / "store.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM scans").fetchone()[0] == 1

    # the key from the environment works the same. One check may or may not reach enough
    # operations for a grade (it depends on how much of the lab the SSRF probes reach): exit 2
    # with "incomplete" when it does not, the gate's exit 1 when it does, as locally.
    partial = firebrick(
        "scan",
        lab,
        "--server",
        base,
        "--check",
        "ssrf",
        "--rate",
        "200",
        "-q",
        "-f",
        "sarif",
        "--no-store",
        key=admin,
        cwd=tmp_path,
    )
    assert partial.returncode in (1, 2), partial.stderr
    expected = "the grade is incomplete" if partial.returncode == 2 else "gate failed"
    assert expected in partial.stderr
    assert json.loads(partial.stdout)["version"] == "2.1.0"


def test_cli_server_errors_are_one_line(lab: str, served: tuple[str, str], tmp_path: Path) -> None:
    base, admin = served
    common = ("--check", "ssrf", "--rate", "200", "--no-store")
    wrong = firebrick("scan", lab, "--server", base, *common, key="fbk_not-a-key", cwd=tmp_path)
    assert wrong.returncode == 3
    assert "refused the API key" in one_error_line(wrong)

    lonely = firebrick("scan", lab, "--api-key", admin, *common, cwd=tmp_path)
    assert lonely.returncode == 3 and "--server" in one_error_line(lonely)
    no_key = firebrick("scan", lab, "--server", base, *common, cwd=tmp_path)
    assert no_key.returncode == 3 and "--api-key" in one_error_line(no_key)

    local_spec = firebrick(
        "scan", lab, "--server", base, "--spec", "openapi.yaml", *common, key=admin, cwd=tmp_path
    )
    assert local_spec.returncode == 3 and "local file" in one_error_line(local_spec)
    local_only = firebrick(
        "scan", lab, "--server", base, "--budget", "5", "--no-oob", *common, key=admin, cwd=tmp_path
    )
    assert local_only.returncode == 3
    assert "--budget, --no-oob cannot be used with --server" in one_error_line(local_only)

    # `firebrick mcp --server` checks its key before it serves
    bad_mcp = firebrick("mcp", "--server", base, key="fbk_not-a-key", cwd=tmp_path)
    assert bad_mcp.returncode == 3 and "refused the API key" in one_error_line(bad_mcp)

    with socket.socket() as s:  # a port nobody listens on: the server is unreachable
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    down = firebrick("scan", lab, "--server", closed, *common, key=admin, cwd=tmp_path)
    assert down.returncode == 2
    assert "cannot reach the firebrick server" in one_error_line(down)


def test_cli_target_the_server_refuses_is_exit_3_with_its_message(lab: str, tmp_path: Path) -> None:
    # without --allow-network the service refuses loopback targets (it is not an SSRF proxy)
    with service_on_loopback(tmp_path, allow=()) as (base, _service, admin):
        proc = firebrick(
            "scan", lab, "--server", base, "--check", "ssrf", "--no-store", key=admin, cwd=tmp_path
        )
        assert proc.returncode == 3
        line = one_error_line(proc)
        assert "target_refused" in line and "127.0.0.1" in line, line
        assert server_scans(base, admin) == []


@asynccontextmanager
async def mcp_session(base: str, key: str, store: Path) -> AsyncIterator[ClientSession]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIREBRICK_")}
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "firebrick", "mcp", "--server", base, "--api-key", key],
        env={**env, "FIREBRICK_STORE": str(store)},
        cwd=str(ROOT),
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def test_mcp_tools_work_against_the_server(
    lab: str, served: tuple[str, str], tmp_path: Path
) -> None:
    base, admin = served
    store = tmp_path / "local.sqlite"
    async with mcp_session(base, admin, store) as session:
        scanned = mcp_result(
            await session.call_tool(
                "scan_api", {"url": lab, "checks": ["ssrf"], "rate": 200, "max_time": 120}
            )
        )
        scan_id = scanned["scan_id"]
        assert isinstance(scan_id, str) and scanned["target"].rstrip("/") == lab.rstrip("/")
        kinds = {f["kind"] for f in scanned["findings"]}
        assert "ssrf.internal-read" in kinds, kinds

        got = mcp_result(await session.call_tool("get_scan", {"scan_id": scan_id}))
        assert got["scan_id"] == scan_id and got["score"] == scanned["score"]
        explained = mcp_result(
            await session.call_tool("explain_finding", {"scan_id": scan_id, "finding": "1"})
        )
        assert explained["fix"] and explained["kind"] == scanned["findings"][0]["kind"]
        listed = mcp_result(await session.call_tool("list_scans", {"limit": 50}))
        assert scan_id in {s["id"] for s in listed}
        same = mcp_result(
            await session.call_tool(
                "compare_scans", {"old_scan_id": scan_id, "new_scan_id": scan_id}
            )
        )
        assert same["new_findings"] == [] and same["resolved_findings"] == []
        resource = await session.read_resource(f"firebrick://scans/{scan_id}/report.json")  # type: ignore[arg-type]
        text = resource.contents[0].text  # type: ignore[union-attr]
        assert json.loads(text)["findings"]

        unknown = await session.call_tool("get_scan", {"scan_id": "0000deadbeef0000"})
        assert unknown.isError and "not_found" in unknown.content[0].text  # type: ignore[union-attr]
    # stored on the server, not in the local store
    assert scan_id in {s["id"] for s in server_scans(base, admin)}
    assert not store.exists()
