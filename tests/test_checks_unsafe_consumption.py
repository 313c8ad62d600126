"""unsafe_consumption against the lab: /api/web/unfurl (SSRF-guarded, but verify=False, no
timeout, no size cap, 20 redirects, raw HTML) found on every count; the hardened twin clean."""

from __future__ import annotations

import asyncio

import pytest

from firebrick.lab.web_lab import scan_lab
from firebrick.model import Confidence, ScanResult, Severity

UNFURL = "GET /api/web/unfurl"


def kinds(result: ScanResult, op: str = UNFURL) -> dict[str, Severity]:
    return {
        f.kind: f.severity
        for f in result.findings
        if f.category == "unsafe_consumption" and f.operation == op
    }


def test_unfurl_found(vulnerable_scan: ScanResult) -> None:
    assert kinds(vulnerable_scan) == {
        "unsafe_consumption.tls-unverified": Severity.HIGH,
        "unsafe_consumption.redirects-unbounded": Severity.MEDIUM,
        "unsafe_consumption.unsanitized-content": Severity.MEDIUM,
        "unsafe_consumption.no-size-cap": Severity.MEDIUM,
    }
    tls = next(f for f in vulnerable_scan.findings if f.kind == "unsafe_consumption.tls-unverified")
    assert tls.confidence is Confidence.CONFIRMED
    assert any(i.protocol == "https" and i.http_method == "GET" for i in tls.evidence.interactions)
    # It is not an SSRF: the guard holds, only the consumption is unsafe.
    assert not [
        f for f in vulnerable_scan.findings if f.category == "ssrf" and f.operation == UNFURL
    ]


def test_existing_fetchers_judged_too(vulnerable_scan: ScanResult) -> None:
    # The tutorial image proxy follows 20 redirects and serves upstream HTML as its own page.
    assert set(kinds(vulnerable_scan, "GET /api/image")) == {
        "unsafe_consumption.redirects-unbounded",
        "unsafe_consumption.unsanitized-content",
    }
    # It verifies TLS and caps size: no finding for those.
    assert "unsafe_consumption.tls-unverified" not in kinds(vulnerable_scan, "GET /api/image")


def test_hardened_clean_and_tested(hardened_scan: ScanResult) -> None:
    assert [f.kind for f in hardened_scan.findings if f.category == "unsafe_consumption"] == []
    tested = [
        c
        for c in hardened_scan.coverage
        if c.check == "unsafe_consumption" and c.status == "passed"
    ]
    assert len(tested) >= 5 and any(c.operation == UNFURL for c in tested)


@pytest.fixture(scope="module")
def full_scans() -> tuple[ScanResult, ScanResult]:
    async def both() -> tuple[ScanResult, ScanResult]:
        checks = ["ssrf", "unsafe_consumption"]
        return await asyncio.gather(
            scan_lab(False, mode="full", checks=checks), scan_lab(True, mode="full", checks=checks)
        )

    return asyncio.run(both())  # type: ignore[return-value]


def test_stall_probe_full_mode(full_scans: tuple[ScanResult, ScanResult]) -> None:
    vulnerable, hardened = full_scans
    assert "unsafe_consumption.no-timeout" in kinds(vulnerable)
    # The lab's other fetchers time out after 3 s: not reported.
    assert [
        f.operation for f in vulnerable.findings if f.kind == "unsafe_consumption.no-timeout"
    ] == [UNFURL]
    assert [f.kind for f in hardened.findings if f.category == "unsafe_consumption"] == []
    gave_up = [
        c
        for c in hardened.coverage
        if c.check == "unsafe_consumption" and "gave up after" in c.reason
    ]
    assert gave_up


def test_safe_mode_sends_no_stall(vulnerable_scan: ScanResult) -> None:
    assert "unsafe_consumption.no-timeout" not in kinds(vulnerable_scan)
