"""rate_limiting and inventory against the lab: vulnerable variants found, hardened twins clean,
the burst bounded and stopped at the first 429."""

from __future__ import annotations

import pytest

from conftest import credentialed_lab_scan
from firebrick.model import Confidence, ScanResult, Severity

DEMO = [
    ("rate_limiting.no-rate-limit", None, Severity.MEDIUM, Confidence.LIKELY),
    (
        "rate_limiting.login-unthrottled",
        "POST /api/auth/login",
        Severity.MEDIUM,
        Confidence.POSSIBLE,
    ),
    (
        "rate_limiting.unbounded-collection",
        "GET /api/events",
        Severity.MEDIUM,
        Confidence.CONFIRMED,
    ),
    ("rate_limiting.huge-limit", "GET /api/products", Severity.MEDIUM, Confidence.CONFIRMED),
    ("inventory.server-fingerprint", None, Severity.LOW, Confidence.CONFIRMED),
    ("inventory.interactive-docs", "GET /docs", Severity.LOW, Confidence.CONFIRMED),
    ("inventory.old-version-live", "GET /api/v1/catalog", Severity.MEDIUM, Confidence.CONFIRMED),
    ("inventory.deprecated-live", "GET /api/catalog/legacy", Severity.LOW, Confidence.CONFIRMED),
    ("inventory.undocumented-operation", "GET /api/v1", Severity.LOW, Confidence.CONFIRMED),
]
MINE = ("rate_limiting", "inventory")


def describe(result: ScanResult) -> str:
    return "\n".join(
        f"{f.kind} {f.severity.value} {f.operation} {f.input}" for f in result.findings
    )


@pytest.mark.parametrize(("kind", "op", "severity", "confidence"), DEMO)
def test_vulnerable_found(vulnerable_scan: ScanResult, kind, op, severity, confidence) -> None:
    f = next(
        (
            f
            for f in vulnerable_scan.findings
            if f.kind == kind and (op is None or f.operation == op)
        ),
        None,
    )
    assert f is not None, describe(vulnerable_scan)
    assert (f.severity, f.confidence) == (severity, confidence)
    assert f.remediation and f.evidence.summary


def test_burst_is_bounded_and_reported(vulnerable_scan: ScanResult) -> None:
    f = next(f for f in vulnerable_scan.findings if f.kind == "rate_limiting.no-rate-limit")
    assert f.evidence.details["requests"] == 30  # the default --burst
    assert vulnerable_scan.stats.requests_by_check["rate_limiting"] <= 30 + 2 * 3 + 3


def test_fingerprint_names_the_dev_server(vulnerable_scan: ScanResult) -> None:
    f = next(f for f in vulnerable_scan.findings if f.kind == "inventory.server-fingerprint")
    assert "Werkzeug/" in f.evidence.summary


@pytest.mark.parametrize("fixture", ["hardened_scan", "hardened_authz_scan"])
def test_hardened_twin_clean(fixture: str, request: pytest.FixtureRequest) -> None:
    result: ScanResult = request.getfixturevalue(fixture)
    assert [f for f in result.findings if f.category in MINE] == [], describe(result)


def test_hardened_burst_meets_429_and_stops() -> None:
    result = credentialed_lab_scan(hardened=True, burst=60)
    cov = [c for c in result.coverage if c.check == "rate_limiting" and c.input == "burst"]
    assert cov and cov[0].status == "passed" and cov[0].reason.startswith("429 after"), cov
    # Stopped at the first 429: fewer than the 60 asked for (the lab allows 40 per 30 s).
    assert result.stats.requests_by_check["rate_limiting"] < 60
    assert [f for f in result.findings if f.category == "rate_limiting"] == []
