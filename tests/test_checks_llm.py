"""llm_security against the lab's rule-based chat endpoint: the vulnerable one found on every
count (including SSRF through its fetch tool), the hardened one clean also when probed with its
token."""

from __future__ import annotations

import asyncio

import pytest

from firebrick.lab.llm_lab import LAB_TOKEN
from firebrick.lab.web_lab import scan_lab
from firebrick.model import ScanResult, Severity

EXPECTED = {
    "llm.no-auth": Severity.MEDIUM,
    "llm.model-disclosure": Severity.LOW,
    "llm.token-usage": Severity.LOW,
    "llm.system-prompt-disclosure": Severity.HIGH,
    "llm.system-prompt-extraction": Severity.HIGH,
    "llm.instruction-override": Severity.HIGH,
    "llm.encoded-injection": Severity.MEDIUM,
    "llm.tool-ssrf": Severity.HIGH,
}


def found(result: ScanResult) -> dict[str, Severity]:
    return {f.kind: f.severity for f in result.findings if f.category == "llm_security"}


def test_vulnerable_found(vulnerable_scan: ScanResult) -> None:
    assert found(vulnerable_scan) == EXPECTED
    ssrf = next(f for f in vulnerable_scan.findings if f.kind == "llm.tool-ssrf")
    assert any(i.listener == "inside" for i in ssrf.evidence.interactions)
    assert vulnerable_scan.stats.requests_by_check["llm_security"] <= 7  # benign + at most 6 probes
    llm = {c.category: c for c in vulnerable_scan.categories}["llm_security"]
    assert llm.assessed and llm.score is not None and llm.score < 50


def test_hardened_without_token_is_skipped_not_failed(hardened_scan: ScanResult) -> None:
    assert found(hardened_scan) == {}
    skipped = [
        c for c in hardened_scan.coverage if c.check == "llm_security" and c.status == "refused"
    ]
    assert skipped and "401" in skipped[0].reason


@pytest.fixture(scope="module")
def hardened_with_token() -> ScanResult:
    return asyncio.run(
        scan_lab(True, checks=["llm_security"], headers={"Authorization": f"Bearer {LAB_TOKEN}"})
    )


def test_hardened_with_token_refuses(hardened_with_token: ScanResult) -> None:
    assert found(hardened_with_token) == {}
    passed = {
        c.input
        for c in hardened_with_token.coverage
        if c.check == "llm_security" and c.status == "passed"
    }
    assert "tool fetch_url" in passed  # it fetched our public URL and refused 127.0.0.1
    assert hardened_with_token.stats.requests_by_check["llm_security"] >= 5
