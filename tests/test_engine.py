"""The engine as a user relies on it: modes, the hard time limit, and never triggering itself."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask, request

from firebrick.engine import run_scan
from firebrick.options import ScanOptions
from support import openapi_doc, serve

SPEC = openapi_doc(
    {
        "/preview": {
            "get": {
                "parameters": [
                    {
                        "name": "url",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "format": "uri"},
                    }
                ],
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/slow": {
            "get": {
                "parameters": [
                    {"name": "link", "in": "query", "schema": {"type": "string", "format": "uri"}}
                ],
                "responses": {"200": {"description": "ok"}},
            }
        },
    }
)


@pytest.fixture()
def api() -> Iterator[str]:
    app = Flask("engine")

    @app.get("/openapi.json")
    def spec() -> dict[str, object]:
        return SPEC

    @app.get("/preview")
    def preview() -> dict[str, str]:
        # Looks at the URL but never fetches it.
        return {"title": "preview of " + request.args.get("url", "")[:0] + "a page"}

    @app.get("/slow")
    def slow() -> str:
        time.sleep(1.0)  # the target under test is slow; the scanner must not wait past --max-time
        return "done"

    with serve(app) as base:
        yield base


async def test_a_target_that_never_fetches_sees_no_interactions(api: str) -> None:
    # The scanner never resolves or fetches its own payloads: with a target that fetches nothing,
    # the OOB server must record nothing at all.
    result = await run_scan(ScanOptions(target=api, rate=200, max_time=30, checks=["ssrf"]))
    assert result.stats.oob_interactions == 0
    assert [f for f in result.findings if f.category == "ssrf"] == []
    assert result.complete
    # Silence proves nothing when our only callbacks were loopback and an unresolvable name:
    # not "passed" but not determined, naming the way to full depth.
    url = [c for c in result.coverage if c.operation == "GET /preview" and c.input == "query:url"]
    assert [c.status for c in url] == ["not_determined"]
    assert "--launch" in url[0].reason and "--oob-server" in url[0].reason
    assert result.grade is None and result.grade_incomplete
    summary = result.coverage_summary
    assert summary is not None and summary.operations_discovered == 2


async def test_passive_mode_sends_no_probes(api: str) -> None:
    result = await run_scan(ScanOptions(target=api, rate=200, mode="passive"))
    assert set(result.stats.requests_by_check) == {"discovery"}
    assert {(c.status, c.cause) for c in result.coverage if c.check == "ssrf"} == {
        ("not_determined", "not_selected")
    }
    ssrf = {c.category: c for c in result.categories}["ssrf"]
    assert not ssrf.assessed and ssrf.score is None


async def test_max_time_cuts_the_scan_and_says_so(api: str) -> None:
    started = time.monotonic()
    result = await run_scan(ScanOptions(target=api, rate=200, max_time=1.5, timeout=5))
    assert time.monotonic() - started < 4  # the limit holds (plus teardown), not the slow target
    assert not result.complete
    assert any("time limit" in w or "did not finish" in w for w in result.warnings)
