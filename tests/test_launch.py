"""`firebrick scan --launch`: real apps (Flask + requests, FastAPI + httpx, Node's http module)
in the sandbox firebrick builds, resolving through the system resolver (no in-process shim).

One launch per app (module-scoped fixtures): the SSRF guard ladder (30 operations, scored
against its truth table), a FastAPI app with a background task, a Node app whose port is
detected. Each vulnerable shape has a hardened twin that must come out clean and "passed".
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from firebrick.lab.ladder_score import score, table
from firebrick.options import ScanOptions
from firebrick.sandbox import LaunchConfig, launch_scan
from firebrick.sandbox import namespace as nsmod
from support import run_firebrick

ROOT = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / "launch_apps"

needs_sandbox = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="the launch sandbox test needs root and iproute2",
)


# Background jobs call back after the response: a generous grace window keeps their attribution
# right on a loaded machine (the wait ends early for every callback that arrives).
GRACE = "3"


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(ROOT / "src"), "FIREBRICK_OOB_GRACE": GRACE}
    return run_firebrick("scan", *args, timeout=timeout, env=env)


def _kinds(report: dict[str, Any], op: str) -> set[str]:
    return {f["kind"] for f in report["findings"] if f["operation"] == op}


def _coverage(report: dict[str, Any], op: str) -> list[dict[str, Any]]:
    return [c for c in report["coverage"] if c["operation"] == op and c["check"] == "ssrf"]


def _no_leftovers() -> list[str]:
    mine = f"{nsmod.PREFIX}-{os.getpid()}-"
    return [n for n in nsmod.FAMILY.namespaces() if n.startswith(mine)]


# -- the guard ladder ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ladder() -> dict[str, Any]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("the launch sandbox test needs root and iproute2")
    options = ScanOptions(
        checks=["ssrf"], rate=300.0, max_time=400.0, budget=5000, oob_grace=float(GRACE)
    )
    config = LaunchConfig(f"{sys.executable} -m firebrick.lab.ladder")
    result = asyncio.run(launch_scan(options, config))
    return result.to_dict()


@needs_sandbox
def test_ladder_every_operation_right(ladder: dict[str, Any]) -> None:
    rows = score(ladder)
    assert len(rows) == 30
    wrong = [r for r in rows if not r.right]
    assert not wrong, "\n" + table(rows)


@needs_sandbox
def test_ladder_sandbox_leaves_nothing_behind(ladder: dict[str, Any]) -> None:
    assert ladder["complete"]
    assert _no_leftovers() == []


@needs_sandbox
def test_background_jobs_are_depth_tested(ladder: dict[str, Any]) -> None:
    """An unguarded job and an ssrfguard job no longer look alike."""
    assert "ssrf.internal-reach" in _kinds(ladder, "POST /jobs/none")
    assert "ssrf.external-fetch" not in _kinds(ladder, "POST /jobs/none")
    assert _kinds(ladder, "POST /jobs/ssrfguard") == set()
    assert [c["status"] for c in _coverage(ladder, "POST /jobs/ssrfguard")] == ["passed"]
    # The allowlist turns our URL away synchronously (400): refused, never a claimed pass.
    allow = _coverage(ladder, "GET /sync/allowlist")
    assert [(c["status"], c["cause"]) for c in allow] == [("refused", "input_rejected")]


@needs_sandbox
def test_new_spellings_are_sent_and_proven(ladder: dict[str, Any]) -> None:
    """The blocklist forgets 0.0.0.0, [::] and metadata: those spellings reach our listeners."""
    finding = next(
        f
        for f in ladder["findings"]
        if f["operation"] == "GET /sync/blocklist" and f["kind"] == "ssrf.url-validation-bypass"
    )
    worked = " ".join(finding["evidence"]["payloads_worked"])
    # IPv4-mapped forms get through too: the blocklist compares them with IPv4 networks.
    for spelled in ("[::]", "0.0.0.0", "0 (the number 0", "[0:0:0:0:0:ffff:7f00:1]"):
        assert spelled in worked
    refused = " ".join(finding["evidence"]["payloads_failed"])
    for spelled in ("[::1]", "0x7f.1", "0177.1", "127.0.1 (three-part", "2130706433"):
        assert spelled in refused
    metadata = next(
        f
        for f in ladder["findings"]
        if f["operation"] == "POST /blind/blocklist" and f["kind"] == "ssrf.internal-reach"
    )
    assert "metadata" in metadata["title"].lower()
    assert any(i.get("listener") == "metadata" for i in metadata["evidence"]["interactions"])


@needs_sandbox
def test_resolve_then_refuse_is_no_dns_finding(ladder: dict[str, Any]) -> None:
    """ssrfguard and the allowlist may look names up; only a fetch would be a finding."""
    for op in ("GET /sync/allowlist", "POST /blind/allowlist", "GET /sync/ssrfguard"):
        assert "ssrf.dns-lookup-only" not in _kinds(ladder, op)


# -- FastAPI + httpx, with --port ---------------------------------------------------------------
@pytest.fixture(scope="module")
def fastapi_run() -> tuple[int, dict[str, Any]]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("the launch sandbox test needs root and iproute2")
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    cmd = (
        f"{sys.executable} -m uvicorn fastapi_httpx_app:app --app-dir {APPS} "
        "--host 127.0.0.1 --port $PORT"
    )
    done = _cli("--launch", cmd, "--port", "18765", "--check", "ssrf", "--no-store", "-q",
                "-f", "json", "--rate", "200")  # fmt: skip
    assert done.stdout.strip(), done.stderr[-2000:]
    return done.returncode, json.loads(done.stdout)


@needs_sandbox
def test_fastapi_httpx_found_and_twin_clean(fastapi_run: tuple[int, dict[str, Any]]) -> None:
    code, report = fastapi_run
    summary = [(f["operation"], f["kind"]) for f in report["findings"]]
    assert code == 1, summary  # findings at or above the default gate
    assert report["target"] == "http://127.0.0.1:18765"
    assert "ssrf.internal-read" in _kinds(report, "GET /fetch")
    assert "ssrf.internal-reach" in _kinds(report, "POST /hooks"), summary  # BackgroundTasks
    for twin in ("GET /fetch-safe", "POST /hooks-safe"):
        assert _kinds(report, twin) == set()
        assert [c["status"] for c in _coverage(report, twin)] == ["passed"]


# -- Node's http module, port detected ----------------------------------------------------------
@pytest.fixture(scope="module")
def node_run() -> tuple[int, dict[str, Any]]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("the launch sandbox test needs root and iproute2")
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    done = _cli("--launch", f"{node} {APPS / 'node_app.js'}", "--check", "ssrf", "--no-store",
                "-q", "-f", "json", "--rate", "200")  # fmt: skip
    assert done.stdout.strip(), done.stderr[-2000:]
    return done.returncode, json.loads(done.stdout)


@needs_sandbox
def test_node_app_found_and_twin_clean(node_run: tuple[int, dict[str, Any]]) -> None:
    code, report = node_run
    assert code == 1
    kinds = _kinds(report, "GET /proxy")
    assert "ssrf.internal-read" in kinds
    proxy = next(f for f in report["findings"] if f["operation"] == "GET /proxy")
    assert any("metadata" in p for p in proxy["evidence"]["payloads_worked"])
    assert _kinds(report, "GET /proxy-safe") == set()
    assert [c["status"] for c in _coverage(report, "GET /proxy-safe")] == ["passed"]


# -- errors: one line, documented exit code -----------------------------------------------------
@needs_sandbox
def test_app_that_exits_is_one_line_error() -> None:
    done = _cli("--launch", "echo booting; exit 7", "--check", "ssrf", "--no-store", timeout=120)
    assert done.returncode == 3
    assert "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("firebrick: error: the launched app exited with status 7")
    assert "booting" in line
    assert _no_leftovers() == []


@needs_sandbox
def test_app_that_never_listens_on_port_times_out_in_one_line(monkeypatch: Any) -> None:
    from firebrick.sandbox import SandboxError

    monkeypatch.setattr("firebrick.sandbox.launch.READY_TIMEOUT", 1.0)
    config = LaunchConfig("sleep 30", port=18999, ready_timeout=1.0)
    with pytest.raises(SandboxError, match="did not listen on port 18999 within 1s"):
        asyncio.run(launch_scan(ScanOptions(checks=["ssrf"]), config))


def test_launch_and_url_usage_errors() -> None:
    done = _cli("--check", "ssrf", timeout=60)
    assert done.returncode == 3
    assert done.stderr.strip().splitlines()[-1] == (
        "firebrick: error: give the URL to scan, or --launch CMD to start the app under test"
    )
    done = _cli("http://127.0.0.1:9", "--port", "80", timeout=60)
    assert done.returncode == 3
    assert "--port only applies with --launch" in done.stderr


def test_no_namespace_possible_is_one_clear_line(monkeypatch: Any) -> None:
    from firebrick.sandbox import SandboxError
    from firebrick.sandbox.launch import reexec_unprivileged

    monkeypatch.setattr(nsmod.shutil, "which", lambda _name, **_kw: None)
    with pytest.raises(SandboxError) as info:
        reexec_unprivileged(["scan", "--launch", "true"])
    assert str(info.value) == (
        "--launch needs root (network namespaces) or unprivileged user namespaces, and this "
        "kernel refuses the latter (the `unshare` command (util-linux) is missing)"
    )


@needs_sandbox
def test_cleanup_removes_leftovers_of_dead_runs() -> None:
    dead = 4_194_000  # above any pid_max default: never alive
    ns, link = f"{nsmod.PREFIX}-{dead}-250", f"{nsmod.PREFIX}{dead}o250"
    nsmod.ip("netns", "add", ns)
    nsmod.ip("link", "add", link, "type", "veth", "peer", "name", f"{nsmod.PREFIX}{dead}i250")
    (nsmod.NETNS_ETC / ns).mkdir(parents=True, exist_ok=True)
    removed = nsmod.cleanup_leftovers()
    assert ns in removed and link in removed
    assert ns not in nsmod.FAMILY.namespaces()
    assert not (nsmod.NETNS_ETC / ns).exists()


@needs_sandbox
def test_unprivileged_cli_reexecs_into_a_user_namespace(tmp_path: Path) -> None:
    """What a non-root `firebrick scan --launch` does: re-execute itself under
    `unshare --user --map-root-user --net --mount` and build the flat sandbox there. Run here with
    geteuid() faked to a normal user (the child, in its user namespace, is root of it)."""
    if nsmod.unprivileged_possible() is not None:
        pytest.skip("user namespaces are not available here")
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    out = tmp_path / "r.json"
    argv = ["firebrick", "scan", "--launch", f"{node} {APPS / 'node_app.js'}", "--check", "ssrf",
            "--no-store", "-q", "-f", "json", "-o", str(out), "--rate", "200"]  # fmt: skip
    code = (
        "import os, sys\n"
        "os.geteuid = lambda: 1000  # a normal user, as far as the CLI can tell\n"
        f"sys.argv = {argv!r}\n"
        "from firebrick.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "FIREBRICK_OOB_GRACE": GRACE}
    env.pop("FIREBRICK_SANDBOX_FLAT", None)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["target"].startswith("http://127.0.0.1:")
    assert "ssrf.internal-read" in _kinds(report, "GET /proxy")
    proxy = next(f for f in report["findings"] if f["operation"] == "GET /proxy")
    # The flat sandbox has the same world: the metadata canary and both loopback families.
    listeners = {i["listener"] for i in proxy["evidence"]["interactions"]}
    assert {"inside", "metadata"} <= listeners or {"inside", "inside6"} <= listeners
    assert _kinds(report, "GET /proxy-safe") == set()
    # Flat, not the root-mode veth: the app calls our internet address from that same address.
    public = [
        i
        for i in proxy["evidence"]["interactions"]
        if i["listener"] == "public" and i["protocol"] == "http"
    ]
    internet = next(i["http_host"].split(":")[0] for i in public if i["http_host"][0].isdigit())
    assert all(i["source_ip"] == internet for i in public), public
