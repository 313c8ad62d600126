"""`firebrick mcp` through the official SDK's own client, over stdio and over streamable HTTP,
against the real lab: tools, a scan with progress, findings explained, scans compared, reports
as resources; and the HTTP transport's defences (token, Host/Origin, target policy)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from pydantic import AnyUrl

from firebrick.lab.runner import LabConfig, start_lab
from support import mcp_result

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "test-token-0123456789abcdef"
TOOLS = {"scan_api", "get_scan", "list_scans", "explain_finding", "compare_scans", "scan_source"}
READY_TIMEOUT = float(os.environ.get("FIREBRICK_TEST_READY_TIMEOUT", "60"))


@pytest.fixture(scope="module")
def labs() -> Iterator[dict[str, str]]:
    with (
        start_lab(LabConfig(variant="vulnerable")) as vulnerable,
        start_lab(LabConfig(variant="hardened")) as hardened,
    ):
        yield {"vulnerable": vulnerable.base_url, "hardened": hardened.base_url}


@asynccontextmanager
async def stdio_session(store: Path) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "firebrick", "mcp"],
        env={**os.environ, "FIREBRICK_STORE": str(store)},
        cwd=str(ROOT),
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@contextmanager
def http_server(store: Path, *extra: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "firebrick",
            "mcp",
            "--http",
            "--port",
            "0",
            "--token",
            TOKEN,
            "--store",
            str(store),
            *extra,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stderr is not None
        url = None
        for line in proc.stderr:  # waits on the ready line itself, however slow the machine
            m = re.search(r"listening on (http://\S+/mcp)", line)
            if m:
                url = m.group(1)
                break
        assert url, "the MCP server exited before it listened"
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=READY_TIMEOUT)


@asynccontextmanager
async def http_session(url: str, token: str = TOKEN) -> AsyncIterator[ClientSession]:
    client = httpx.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, trust_env=False, timeout=120
    )
    async with (
        client,
        streamable_http_client(url, http_client=client) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def test_stdio_scan_explain_compare_and_reports(labs: dict[str, str], tmp_path: Path) -> None:
    async with stdio_session(tmp_path / "scans.sqlite") as session:
        tools = {t.name for t in (await session.list_tools()).tools}
        assert tools >= TOOLS

        progress: list[str] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append(message or "")

        args = {"url": labs["vulnerable"], "checks": ["ssrf"], "rate": 200, "max_time": 60}
        first = mcp_result(await session.call_tool("scan_api", args, progress_callback=on_progress))
        assert progress, "no progress notification while the scan ran"
        assert first["scan_id"] and first["findings"]
        kinds = {f["kind"] for f in first["findings"]}
        assert "ssrf.internal-read" in kinds

        stored = mcp_result(await session.call_tool("get_scan", {"scan_id": first["scan_id"]}))
        assert stored["grade"] == first["grade"] and stored["findings"] == first["findings"]
        index = next(f["index"] for f in first["findings"] if f["kind"] == "ssrf.internal-read")
        explained = mcp_result(
            await session.call_tool(
                "explain_finding", {"scan_id": first["scan_id"], "finding": str(index)}
            )
        )
        assert explained["replay"] and explained["replay"][0].startswith("curl ")
        assert "ssrfguard" in explained["fix"]

        args = {"url": labs["hardened"], "checks": ["ssrf"], "rate": 200, "max_time": 60}
        second = mcp_result(await session.call_tool("scan_api", args))
        compared = mcp_result(
            await session.call_tool(
                "compare_scans",
                {"old_scan_id": first["scan_id"], "new_scan_id": second["scan_id"]},
            )
        )
        assert compared["resolved_findings"] and not compared["new_findings"]

        listed = mcp_result(await session.call_tool("list_scans", {"limit": 5}))
        assert {s["id"] for s in listed} >= {first["scan_id"], second["scan_id"]}

        uri = AnyUrl(f"firebrick://scans/{first['scan_id']}/report.md")
        text = (await session.read_resource(uri)).contents[0]
        assert "ssrf" in getattr(text, "text", "").lower()

        source = mcp_result(
            await session.call_tool("scan_source", {"path": str(ROOT / "src/firebrick/lab")})
        )
        assert any(f["kind"] == "source.ssrf-rebinding" for f in source["findings"])

        # bad input: one clear MCP error, not a crash
        bad = await session.call_tool("scan_api", {"url": "ftp://nowhere"})
        assert bad.isError and "ftp" in bad.content[0].text.lower()
        missing = await session.call_tool("get_scan", {"scan_id": 99999})
        assert missing.isError


async def test_http_scans_the_lab_when_the_operator_allows_loopback(
    labs: dict[str, str], tmp_path: Path
) -> None:
    with http_server(tmp_path / "scans.sqlite", "--allow-network", "127.0.0.0/8") as url:
        async with http_session(url) as session:
            assert {t.name for t in (await session.list_tools()).tools} >= TOOLS
            args = {"url": labs["vulnerable"], "checks": ["ssrf"], "rate": 200, "max_time": 60}
            result = mcp_result(await session.call_tool("scan_api", args))
            assert result["grade"] is not None or result["grade_status"] == "incomplete"
            assert any(f["category"] == "ssrf" for f in result["findings"])
            # scan_source reads nothing over HTTP without --source-root
            refused = await session.call_tool("scan_source", {"path": str(ROOT)})
            assert refused.isError and "source-root" in refused.content[0].text


async def test_http_refuses_rebinding_hosts_missing_tokens_and_internal_targets(
    labs: dict[str, str], tmp_path: Path
) -> None:
    with http_server(tmp_path / "scans.sqlite") as url:
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        base = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json, text/event-stream"}
        with httpx.Client(trust_env=False, timeout=30) as c:
            assert c.post(url, json=body, headers={"Accept": base["Accept"]}).status_code == 401
            wrong = {**base, "Authorization": "Bearer wrong-token-0123456789"}
            assert c.post(url, json=body, headers=wrong).status_code == 401
            # the DNS-rebinding attack: a page on evil.example whose name now points at us
            rebound = c.post(url, json=body, headers={**base, "Host": "evil.example"})
            assert rebound.status_code == 421
            foreign = c.post(url, json=body, headers={**base, "Origin": "http://evil.example"})
            assert foreign.status_code == 403
        async with http_session(url) as session:
            refused = await session.call_tool("scan_api", {"url": labs["vulnerable"]})
            assert refused.isError
            assert "non-global" in refused.content[0].text


def test_http_binds_loopback_only(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "firebrick", "mcp", "--http", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=READY_TIMEOUT,
        cwd=ROOT,
    )
    assert proc.returncode == 3
    assert "loopback only" in proc.stderr and "Traceback" not in proc.stderr
