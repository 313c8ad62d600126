"""encryption: TLS properties against the lab served over HTTPS (web_lab.serve_tls), and the
loopback rule plus cookies and headers on the plain-HTTP demo lab."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from firebrick.engine import run_scan
from firebrick.lab.web_lab import TLSLab, serve_tls
from firebrick.model import ScanResult, Severity
from firebrick.options import ScanOptions


@pytest.fixture(scope="module")
def tls_labs() -> Iterator[tuple[TLSLab, TLSLab]]:
    vulnerable, hardened = serve_tls("vulnerable"), serve_tls("hardened")
    try:
        yield vulnerable, hardened
    finally:  # reverse order: each restores the process-wide allowlist it found
        hardened.stop()
        vulnerable.stop()


def scan(url: str) -> ScanResult:
    options = ScanOptions(
        target=url,
        rate=200.0,
        max_time=30.0,
        checks=["encryption", "data_exposure"],
        crawl=False,
        guess_params=False,
    )
    return asyncio.run(run_scan(options))


def test_vulnerable_tls(tls_labs: tuple[TLSLab, TLSLab]) -> None:
    result = scan(tls_labs[0].url)
    found = {f.kind: f for f in result.findings if f.category == "encryption"}
    assert found["encryption.tls-legacy-protocol"].severity is Severity.MEDIUM
    assert "TLS 1.0" in found["encryption.tls-legacy-protocol"].title
    assert found["encryption.tls-weak-cipher"].severity is Severity.HIGH  # NULL or anonymous suite
    assert found["encryption.tls-cert-expired"].severity is Severity.HIGH
    assert (
        found["encryption.tls-cert-hostname"].evidence.details["subject"] == "CN=wrong.lab.example"
    )
    assert "encryption.tls-cert-untrusted" in found
    assert "encryption.hsts-missing" in found
    assert "encryption.http-not-redirected" in found  # plain HTTP on the same port serves the API


def test_hardened_tls_clean(
    tls_labs: tuple[TLSLab, TLSLab], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tls_labs[1].ca_file
    monkeypatch.setenv("SSL_CERT_FILE", tls_labs[1].ca_file)  # trust the lab CA, as a user would
    result = scan(tls_labs[1].url)
    assert [f.kind for f in result.findings] == []
    tls = [c for c in result.coverage if c.check == "encryption" and c.input == "tls"]
    assert tls and tls[0].status == "passed" and "TLSv1.3" in tls[0].reason
    assert any(c.input == "http->https" and c.status == "passed" for c in result.coverage)


def test_untrusted_without_the_ca(
    tls_labs: tuple[TLSLab, TLSLab], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    found = {f.kind for f in scan(tls_labs[1].url).findings}
    assert found == {"encryption.tls-cert-untrusted"}


def test_plain_http_loopback_rule(vulnerable_scan: ScanResult, hardened_scan: ScanResult) -> None:
    kinds = {f.kind for f in vulnerable_scan.findings if f.category == "encryption"}
    assert {
        "encryption.cookie-flags",
        "encryption.header-nosniff",
        "encryption.header-frame",
        "encryption.cache-control",
    } <= kinds
    assert "encryption.no-https" not in kinds  # loopback target: plain HTTP is normal
    cookie = next(f for f in vulnerable_scan.findings if f.kind == "encryption.cookie-flags")
    assert set(cookie.evidence.details["missing"]) == {"Secure", "HttpOnly", "SameSite"}
    assert [f.kind for f in hardened_scan.findings if f.category == "encryption"] == []
