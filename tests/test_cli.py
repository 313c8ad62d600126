"""The command line as a user meets it: exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from flask import Flask

from support import run_firebrick, serve

ROOT = Path(__file__).resolve().parents[1]
# an OOB server on the zone used below, every listener on a free port
OOB_SERVER = ("oob-server", "--zone", "oob.example.com")
FREE_PORTS = ("--http-port", "0", "--https-port", "0", "--dns-port", "0")


def firebrick(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return run_firebrick(*args, timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("firebrick: error:")
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def tiny_api() -> Iterator[str]:
    app = Flask("tiny")

    @app.get("/")
    def index() -> dict[str, str]:
        return {"hello": "world"}

    with serve(app) as base:
        yield base


def test_help_reads_like_a_tool() -> None:
    proc = firebrick("--help")
    assert proc.returncode == 0
    for word in ("scan", "demo", "oob-server", "Exit codes"):
        assert word in proc.stdout
    proc = firebrick("scan", "--help")
    for flag in (
        "--spec",
        "--header",
        "--mode",
        "--rate",
        "--max-time",
        "--format",
        "--output",
        "--fail-below",
        "--explain-score",
        "--oob-listen",
        "--oob-advertise",
        "--oob-zone",
    ):
        assert flag in proc.stdout, flag


def test_bad_url_is_a_usage_error() -> None:
    proc = firebrick("scan", "not-a-url")
    assert proc.returncode == 3
    assert "invalid target URL" in one_line_error(proc)


def test_unknown_flag_is_a_usage_error() -> None:
    proc = firebrick("scan", "http://127.0.0.1:1", "--no-such-flag")
    assert proc.returncode == 3
    one_line_error(proc)


def test_unreachable_target_is_incomplete() -> None:
    proc = firebrick("scan", f"http://127.0.0.1:{free_port()}", "-q")
    assert proc.returncode == 2
    assert "did not answer" in one_line_error(proc)


def test_invalid_spec_is_one_line(tiny_api: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("openapi: 3.0.0\npaths: [not, a, mapping\n")
    proc = firebrick("scan", tiny_api, "--spec", str(bad), "-q")
    assert proc.returncode == 3
    assert "bad.yaml" in one_line_error(proc)
    proc = firebrick("scan", tiny_api, "--spec", str(tmp_path / "missing.json"), "-q")
    assert proc.returncode == 3
    one_line_error(proc)
    # A spec URL that does not answer with a document is the user's error too, not a fallback.
    proc = firebrick("scan", tiny_api, "--spec", tiny_api + "/nope.json", "-q", "--no-store")
    assert proc.returncode == 3
    assert "HTTP 404" in one_line_error(proc)


def test_malformed_url_is_a_usage_error() -> None:
    proc = firebrick("scan", "http://[::1", "-q")
    assert proc.returncode == 3
    assert "invalid target URL" in one_line_error(proc)


def test_bad_header_is_one_line(tiny_api: str) -> None:
    proc = firebrick("scan", tiny_api, "-H", "no colon here", "-q")
    assert proc.returncode == 3
    assert "invalid header" in one_line_error(proc)


def test_json_output_follows_the_published_schema(tiny_api: str, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = firebrick("scan", tiny_api, "-q", "-f", "json", "-o", str(out), "--rate", "100")
    # one operation found: the grade is incomplete, so the scan cannot pass a gate (exit 2)
    assert proc.returncode == 2, proc.stderr
    assert "the grade is incomplete" in proc.stderr
    doc = json.loads(out.read_text())
    schema = json.loads((ROOT / "docs" / "scan-result.schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert doc["schema_version"].startswith("2.")
    assert doc["grade"] is None and doc["grade_status"] == "incomplete"
    assert doc["coverage_summary"]["operations_discovered"] == 1
    # JSON to stdout when no --output is given
    proc = firebrick("scan", tiny_api, "-q", "-f", "json", "--rate", "100")
    assert json.loads(proc.stdout)["target"] == tiny_api


def test_demo_fails_below_gate_and_explains_score(tmp_path: Path) -> None:
    out = tmp_path / "demo.json"
    proc = firebrick(
        "demo", "-q", "--fail-below", "B", "--explain-score", "-f", "json", "-o", str(out)
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["grade"] == "F"
    assert "gate failed" in proc.stderr
    # The terminal report is still printed, with the arithmetic of --explain-score.
    assert "Overall = " in proc.stdout and "Letter: " in proc.stdout
    assert "ssrf (weight" in proc.stdout


def test_oob_server_standalone_prints_interactions() -> None:
    import re

    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "firebrick", *OOB_SERVER, "--listen", "127.0.0.1", *FREE_PORTS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        ready = proc.stderr.readline()  # blocks until the server says where it listens
        port = int(re.search(r"http 127\.0\.0\.1:(\d+)", ready).group(1))  # type: ignore[union-attr]
        token = "fbabcdefghij"
        assert httpx.get(f"http://127.0.0.1:{port}/{token}/x", timeout=5).status_code == 200
        line = json.loads(proc.stdout.readline())
        assert (
            line["token"] == token
            and line["protocol"] == "http"
            and line["http_path"] == f"/{token}/x"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_oob_server_wildcard_needs_advertise() -> None:
    proc = firebrick(*OOB_SERVER, *FREE_PORTS)
    assert proc.returncode == 3
    assert "advertise" in one_line_error(proc)
