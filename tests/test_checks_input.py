"""input_validation against the lab: every vulnerable variant found, every hardened twin clean."""

from __future__ import annotations

import asyncio

import pytest

from firebrick.lab.web_lab import scan_lab
from firebrick.model import Confidence, ScanResult, Severity

EXPECTED = [
    ("input_validation.debugger-exposed", None, Severity.CRITICAL),
    ("input_validation.template-injection", "GET /api/web/greet", Severity.CRITICAL),
    ("input_validation.sql-error", "GET /api/web/search", Severity.HIGH),
    ("input_validation.cors-reflected-origin", None, Severity.HIGH),
    ("input_validation.cors-null-origin", None, Severity.HIGH),
    ("input_validation.host-header-injection", "GET /api/web/links", Severity.MEDIUM),
    ("input_validation.stack-trace", "POST /api/web/notes", Severity.MEDIUM),
    ("input_validation.undocumented-methods", "OPTIONS /api/web/links", Severity.LOW),
    # issue 14: the injection engine in every input kind, CORS regex bypasses
    ("input_validation.sql-error", "GET /api/shop/products", Severity.HIGH),
    ("input_validation.sql-error", "POST /api/shop/orders/search", Severity.HIGH),
    ("input_validation.sql-boolean", "POST /api/shop/login", Severity.CRITICAL),
    ("input_validation.command-injection", "GET /api/shop/report", Severity.CRITICAL),
    ("input_validation.template-injection", "GET /api/shop/label", Severity.CRITICAL),
    ("input_validation.reflected-xss", "GET /shop/search", Severity.HIGH),
    ("input_validation.cors-origin-bypass", "GET /api/partner/catalog", Severity.HIGH),
]


def describe(result: ScanResult, category: str) -> str:
    return "\n".join(
        f"{f.kind} {f.severity.value} {f.operation} {f.input}"
        for f in result.findings
        if f.category == category
    )


@pytest.mark.parametrize(("kind", "op", "severity"), EXPECTED)
def test_vulnerable_found(
    vulnerable_scan: ScanResult, kind: str, op: str | None, severity: Severity
) -> None:
    hits = [
        f for f in vulnerable_scan.findings if f.kind == kind and (op is None or f.operation == op)
    ]
    assert hits, f"missing {kind} on {op}:\n{describe(vulnerable_scan, 'input_validation')}"
    f = hits[0]
    assert f.category == "input_validation" and f.severity is severity, describe(
        vulnerable_scan, "input_validation"
    )
    assert f.evidence.exchanges and f.evidence.exchanges[0].curl.startswith("curl ")
    assert f.remediation


def test_evidence_shows_the_signal(vulnerable_scan: ScanResult) -> None:
    tmpl = next(
        f for f in vulnerable_scan.findings if f.kind == "input_validation.template-injection"
    )
    assert tmpl.confidence is Confidence.CONFIRMED and "{{" in tmpl.evidence.payloads_worked[0]
    sql = next(
        f
        for f in vulnerable_scan.findings
        if f.kind == "input_validation.sql-error" and f.operation == "GET /api/web/search"
    )
    assert "'" in sql.evidence.payloads_worked[0] and "sqlite3" in sql.description
    cors = next(
        f for f in vulnerable_scan.findings if f.kind == "input_validation.cors-reflected-origin"
    )
    assert cors.evidence.details["credentials"] is True


def test_hardened_clean(hardened_scan: ScanResult) -> None:
    assert describe(hardened_scan, "input_validation") == ""
    tested = {
        c.input
        for c in hardened_scan.coverage
        if c.check == "input_validation" and c.status == "passed"
    }
    assert {"query:q", "query:name", "header:Origin", "GET /console"} <= tested


@pytest.fixture(scope="module")
def full_scans() -> tuple[ScanResult, ScanResult]:
    async def both() -> tuple[ScanResult, ScanResult]:
        v = await scan_lab(False, mode="full", checks=["input_validation"])
        h = await scan_lab(True, mode="full", checks=["input_validation"])
        return v, h

    return asyncio.run(both())


def test_full_mode_trace_and_text_plain(full_scans: tuple[ScanResult, ScanResult]) -> None:
    vulnerable, hardened = full_scans
    kinds = {(f.kind, f.confidence) for f in vulnerable.findings}
    assert ("input_validation.trace-enabled", Confidence.CONFIRMED) in kinds
    csrf = [f for f in vulnerable.findings if f.kind == "input_validation.json-as-text-plain"]
    assert "POST /api/web/notes" in [f.operation for f in csrf]
    assert any(
        f.kind == "input_validation.undocumented-methods" and f.confidence is Confidence.CONFIRMED
        for f in vulnerable.findings
    )
    assert describe(hardened, "input_validation") == ""
