"""SSRF without --launch, on the same machine: the app resolves through the system resolver
(our zone does not resolve) and our callback address is loopback.

- stage 1 does not hinge on the literal 127.0.0.1: a substring denylist is beaten through the
  callback on another loopback address, and a guard that answers "refused" and "fetch failed"
  differently gets its depth probed on the inside listener;
- silence is never "passed" when every callback we could offer was internal or unresolvable:
  it is not determined, and the reason names --launch and --oob-server;
- a lookup followed by a refusal (resolve-then-refuse) is a coverage note, not a finding.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import dns.message
import dns.query
import dns.rdatatype
import pytest
from flask import Flask, jsonify, request

from firebrick.engine import run_scan
from firebrick.lab.ladder_score import score, table
from firebrick.oob.server import OOBConfig, OOBServer
from firebrick.options import ScanOptions
from support import serve


@pytest.fixture(scope="module")
def ladder_same_machine() -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "firebrick.lab.ladder", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the socket listens
        match = re.search(r":(\d+)$", line.strip())
        assert match, line
        options = ScanOptions(
            target=f"http://127.0.0.1:{match.group(1)}",
            checks=["ssrf"],
            rate=300.0,
            max_time=300.0,
            budget=5000,
            oob_grace=3.0,  # background jobs on a loaded machine: the wait ends at each callback
        )
        yield asyncio.run(run_scan(options)).to_dict()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _coverage(report: dict[str, Any], op: str) -> list[dict[str, Any]]:
    return [c for c in report["coverage"] if c["operation"] == op and c["check"] == "ssrf"]


def test_ladder_same_machine_has_no_false_pass_and_no_false_finding(
    ladder_same_machine: dict[str, Any],
) -> None:
    rows = score(ladder_same_machine)
    assert [r.operation for r in rows if r.verdict == "WRONG"] == [], "\n" + table(rows)
    for row in rows:  # no operation of the ladder may claim "passed" from here
        assert "passed" not in row.coverage.split(","), "\n" + table(rows)


def test_substring_denylist_beaten_through_another_loopback_callback(
    ladder_same_machine: dict[str, Any],
) -> None:
    for op in ("GET /sync/substring", "POST /blind/substring", "POST /jobs/substring"):
        finding = next(
            f
            for f in ladder_same_machine["findings"]
            if f["operation"] == op and f["kind"] == "ssrf.url-validation-bypass"
        )
        stage1 = [i for i in finding["evidence"]["interactions"] if i["listener"] == "public"]
        assert any((i.get("http_host") or "").startswith("127.0.0.2:") for i in stage1), stage1


def test_guard_with_differing_answers_is_depth_probed(ladder_same_machine: dict[str, Any]) -> None:
    """The literal-only check never fetches our (loopback) callback, but answers 400 to it and
    502 to our unresolvable name: the depth probes ran and found the odd spellings."""
    kinds = {
        f["kind"] for f in ladder_same_machine["findings"] if f["operation"] == "GET /sync/literal"
    }
    assert "ssrf.url-validation-bypass" in kinds


def test_silence_is_not_determined_and_names_the_fix(ladder_same_machine: dict[str, Any]) -> None:
    for op in ("POST /blind/literal", "GET /sync/resolve", "GET /sync/ssrfguard"):
        items = _coverage(ladder_same_machine, op)
        assert [c["status"] for c in items] == ["not_determined"], items
        assert "--launch" in items[0]["reason"] and "--oob-server" in items[0]["reason"]


# -- a lookup alone ------------------------------------------------------------------------------
def _lookup(oob: OOBServer, host: str) -> list[str]:
    """The app's resolver: our OOB DNS (what a resolver forwarding our zone would answer)."""
    assert oob.dns_port is not None
    query = dns.message.make_query(host, dns.rdatatype.A)
    answer = dns.query.udp(query, "127.0.0.1", port=oob.dns_port, timeout=2)
    return [r.to_text() for rrset in answer.answer for r in rrset if rrset.rdtype == 1]


@pytest.fixture(scope="module")
def dns_wired() -> Iterator[dict[str, Any]]:
    async def scan() -> dict[str, Any]:
        config = OOBConfig(listen_host="127.0.0.1", inside_host="127.0.0.1")
        async with OOBServer(config) as oob:
            app = Flask("dns-wired")

            def addresses(url: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
                host = urlsplit(url).hostname or ""
                try:
                    return [ipaddress.ip_address(host)]
                except ValueError:
                    return [ipaddress.ip_address(a) for a in _lookup(oob, host)]

            @app.get("/openapi.json")
            def spec() -> Any:
                param = {"name": "url", "in": "query", "schema": {"type": "string"}}
                paths = {
                    p: {"get": {"parameters": [param], "responses": {"200": {"description": "ok"}}}}
                    for p in ("/guarded", "/logged")
                }
                return jsonify(openapi="3.0.3", info={"title": "t", "version": "1"}, paths=paths)

            @app.get("/guarded")
            def guarded() -> Any:
                # Resolve, then refuse anything not global (our names answer 127.0.0.1 here).
                found = addresses(request.args.get("url", ""))
                if not found or any(not a.is_global for a in found):
                    return jsonify(error="url not allowed"), 400
                return jsonify(ok=True)  # never reached in this test

            @app.get("/logged")
            def logged() -> Any:
                addresses(request.args.get("url", ""))  # looks the name up, fetches nothing
                return jsonify(logged=True)

            with serve(app) as base:
                options = ScanOptions(target=base, checks=["ssrf"], rate=300.0, max_time=120.0)
                result = await run_scan(options, oob=oob)
                return result.to_dict()

    yield asyncio.run(scan())


def test_resolve_then_refuse_is_a_note_not_a_finding(dns_wired: dict[str, Any]) -> None:
    assert [f for f in dns_wired["findings"] if f["operation"] == "GET /guarded"] == []
    items = _coverage(dns_wired, "GET /guarded")
    assert [c["status"] for c in items] == ["not_determined"]
    assert "resolved our name" in items[0]["reason"] and "refused" in items[0]["reason"]


def test_lookup_without_refusal_is_still_reported(dns_wired: dict[str, Any]) -> None:
    kinds = [f["kind"] for f in dns_wired["findings"] if f["operation"] == "GET /logged"]
    assert kinds == ["ssrf.dns-lookup-only"]
